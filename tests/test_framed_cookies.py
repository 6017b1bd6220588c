"""Set-Cookie inside Cobot's frame: SameSite=None; Secure; Partitioned. At top level: SameSite=Lax, unpartitioned."""

import ast
from http.cookies import Morsel, SimpleCookie

import pytest
from django.urls import reverse

from accessbridge.framed_cookies import partitioned_attribute_register
from tests.test_settings import PRODUCTION, manage

IN_FRAME = {"HTTP_SEC_FETCH_DEST": "iframe", "HTTP_SEC_FETCH_SITE": "cross-site"}
TOP_LEVEL = {"HTTP_SEC_FETCH_DEST": "document", "HTTP_SEC_FETCH_SITE": "none"}


# The cookie settings of production (DEBUG=false), checked against the real ones below; browser tests too.
PRODUCTION_COOKIE_SETTINGS = {
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "CSRF_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "FRAMED_COOKIES": True,
    "FRAMED_COOKIES_PARTITIONED": True,
}


@pytest.fixture
def production_cookies(settings, db):
    for name, value in PRODUCTION_COOKIE_SETTINGS.items():
        setattr(settings, name, value)


def test_these_are_the_cookie_settings_of_production():
    names = ", ".join(PRODUCTION_COOKIE_SETTINGS)
    code = f"from django.conf import settings; print(repr({{n: getattr(settings, n) for n in '{names}'.split(', ')}}))"
    result = manage("shell", "-c", code, env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert ast.literal_eval(result.stdout.strip().splitlines()[-1]) == PRODUCTION_COOKIE_SETTINGS, result.stdout


def set_cookie_headers(response) -> dict[str, str]:
    """The Set-Cookie header lines as the WSGI handler sends them, by cookie name."""
    return {name: morsel.output(header="").strip() for name, morsel in response.cookies.items()}


def attributes(header: str) -> set[str]:
    return {part.strip() for part in header.split(";")[1:]}


def sign_in(client, **headers):
    return client.post(reverse("account_login"), {"login": "alice@example.org", "password": "password-alice"}, **headers)


def test_it_teaches_python_the_partitioned_flag_once():
    partitioned_attribute_register()
    partitioned_attribute_register()
    cookie = SimpleCookie()
    cookie["a"] = "1"
    cookie["a"]["partitioned"] = True
    cookie["a"]["secure"] = True
    assert cookie["a"].OutputString() == "a=1; Partitioned; Secure"
    assert list(Morsel._reserved).count("partitioned") == 1


def test_a_framed_page_sets_a_partitioned_csrf_cookie(client, production_cookies):
    response = client.get(reverse("account_login"), **IN_FRAME)
    header = set_cookie_headers(response)["csrftoken"]
    assert {"SameSite=None", "Secure", "Partitioned"} <= attributes(header)


def test_a_sign_in_inside_the_frame_sets_partitioned_session_and_messages_cookies(client, alice, production_cookies):
    client.get(reverse("account_login"), **IN_FRAME)
    response = sign_in(client, **IN_FRAME)
    assert response.status_code == 302
    headers = set_cookie_headers(response)
    assert {"sessionid", "csrftoken", "messages"} <= set(headers)  # signing in rotates the token, says hello
    for name in ("sessionid", "csrftoken", "messages"):
        assert {"SameSite=None", "Secure", "Partitioned"} <= attributes(headers[name]), name
    assert "HttpOnly" in attributes(headers["sessionid"])


def test_signing_out_inside_the_frame_deletes_the_partitioned_session(client, alice, production_cookies):
    client.get(reverse("account_login"), **IN_FRAME)
    sign_in(client, **IN_FRAME)
    response = client.post(reverse("account_logout"), **IN_FRAME)
    header = set_cookie_headers(response)["sessionid"]
    assert 'sessionid=""' in header and "Max-Age=0" in attributes(header)
    assert {"SameSite=None", "Secure", "Partitioned"} <= attributes(header)


def test_the_top_level_dashboard_keeps_a_lax_unpartitioned_session(client, alice, production_cookies):
    client.get(reverse("account_login"), **TOP_LEVEL)
    response = sign_in(client, **{**TOP_LEVEL, "HTTP_SEC_FETCH_SITE": "same-origin"})
    headers = set_cookie_headers(response)
    for name in ("sessionid", "csrftoken"):
        assert "SameSite=Lax" in attributes(headers[name]) and "Secure" in attributes(headers[name]), name
        assert "Partitioned" not in attributes(headers[name]), name
    assert client.get(reverse("dashboard"), **TOP_LEVEL).status_code == 200


def test_a_browser_without_fetch_metadata_gets_cookies_that_work_in_the_frame(client, production_cookies):
    header = set_cookie_headers(client.get(reverse("account_login")))["csrftoken"]
    assert {"SameSite=None", "Secure", "Partitioned"} <= attributes(header)


def test_without_partitioning_framed_cookies_are_samesite_none_only(client, production_cookies, settings):
    settings.FRAMED_COOKIES_PARTITIONED = False
    header = set_cookie_headers(client.get(reverse("account_login"), **IN_FRAME))["csrftoken"]
    assert {"SameSite=None", "Secure"} <= attributes(header) and "Partitioned" not in attributes(header)


def test_local_runs_over_http_keep_djangos_lax_cookies(client, settings, db):
    settings.FRAMED_COOKIES = False
    header = set_cookie_headers(client.get(reverse("account_login"), **IN_FRAME))["csrftoken"]
    assert "SameSite=Lax" in attributes(header)
    assert not {"Secure", "Partitioned"} & attributes(header)


def test_a_frame_allowed_our_cookies_is_asked_to_send_a_read_again_with_them(client, production_cookies):
    inactive = {**IN_FRAME, "HTTP_SEC_FETCH_STORAGE_ACCESS": "inactive"}
    assert client.get(reverse("account_login"), **inactive)["Activate-Storage-Access"] == "retry; allowed-origin=*"
    assert "Activate-Storage-Access" not in client.post(reverse("account_login"), **inactive)  # never a POST twice


def test_a_framed_page_loaded_with_our_cookies_keeps_them_for_its_own_requests(client, production_cookies):
    active = {**IN_FRAME, "HTTP_SEC_FETCH_STORAGE_ACCESS": "active"}
    assert client.get(reverse("account_login"), **active)["Activate-Storage-Access"] == "load"
    for headers in ({**IN_FRAME, "HTTP_SEC_FETCH_STORAGE_ACCESS": "none"}, IN_FRAME, TOP_LEVEL):
        assert "Activate-Storage-Access" not in client.get(reverse("account_login"), **headers)
