"""The framed sign-in's fallback when no cookie comes back, and the framed CSRF failure page."""

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse

from locks.models import Door, LockConnection
from tests.spaces.test_embedded import ada, assert_framable_by_cobot_only, member_page, space  # noqa: F401 (fixtures)
from tests.test_csp import csp_directives

IN_FRAME = {"HTTP_SEC_FETCH_DEST": "iframe", "HTTP_SEC_FETCH_SITE": "same-origin"}
TOP_LEVEL = {"HTTP_SEC_FETCH_DEST": "document", "HTTP_SEC_FETCH_SITE": "same-origin"}


@pytest.fixture
def strict_client(db):
    """A browser that sends no cookie back, as inside a frame where third-party cookies are blocked."""
    return Client(enforce_csrf_checks=True)


def sign_in_post_url(space, next_url) -> str:  # noqa: F811
    query = {"process": "login", "next": next_url, "cobot_subdomain": space.subdomain, "purpose": "member"}
    return f"{reverse('cobot_login')}?{urlencode(query)}"


def test_the_sign_in_page_carries_the_hidden_fallback_and_its_script(client, space, cobot_app):  # noqa: F811
    url, query = member_page(space, cobot_user_id="user-ada")
    body = client.get(url, query).content.decode()
    assert 'id="cookie-fallback"' in body and f'data-probe-url="{reverse("embedded_cookies_check")}"' in body
    fallback = body.split('id="cookie-fallback"', 1)[1].split(">", 1)[0]
    assert " hidden" in fallback  # shown by the script only when no cookie came back
    new_tab = body.split('id="open-in-new-tab" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert new_tab == f"{url}?{urlencode(query)}"
    assert "Allow cookies for AccessBridge" in body
    assert '<script src="/static/js/framed.js" defer></script>' in body
    assert "onclick" not in body  # no inline handlers: CSP with nonces later


def test_the_probe_says_whether_the_csrf_cookie_came_back(client, db):
    answer = client.get(reverse("embedded_cookies_check")).json()
    assert answer["cookies"] is False and answer["csrf_token"]
    answer = client.get(reverse("embedded_cookies_check")).json()  # the first answer set the cookie
    assert answer["cookies"] is True


def test_the_probe_sets_a_cookie_for_the_frame(client, settings, db):
    settings.FRAMED_COOKIES = settings.CSRF_COOKIE_SECURE = True
    # A script's fetch says "empty", not "iframe": the probe is only asked from inside the frame.
    response = client.get(reverse("embedded_cookies_check"), HTTP_SEC_FETCH_DEST="empty")
    header = response.cookies["csrftoken"].output(header="")
    assert "SameSite=None" in header and "Partitioned" in header
    assert response["Cache-Control"].startswith("max-age=0")
    # Typed into the address bar: a top-level page, whose cookie stays Lax.
    response = client.get(reverse("embedded_cookies_check"), HTTP_SEC_FETCH_DEST="document")
    assert "SameSite=Lax" in response.cookies["csrftoken"].output(header="")


def test_sign_in_posted_without_a_cookie_inside_the_frame_is_a_readable_framed_page(strict_client, space, cobot_app):  # noqa: F811
    url, query = member_page(space, cobot_user_id="user-ada")
    page = f"{url}?{urlencode(query)}"
    response = strict_client.post(sign_in_post_url(space, page), **IN_FRAME)
    assert response.status_code == 403
    assert_framable_by_cobot_only(response)
    body = response.content.decode()
    assert "Your browser keeps no cookies for AccessBridge inside Cobot" in body
    assert "Allow cookies for AccessBridge" in body
    new_tab = body.split('id="open-in-new-tab" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert new_tab == page
    assert "data-show-now" in body and "Reason: CSRF cookie not set." in body


def test_a_door_opened_without_a_cookie_inside_the_frame_is_framed_too(strict_client, space, db):  # noqa: F811
    connection = LockConnection.objects.create(space=space, vendor="smartlock", name="SmartLock", status="ok")
    door = Door.objects.create(connection=connection, vendor_ref="lock_1", name="Front door")
    next_url = reverse("embedded_member_page", args=[space.key])
    response = strict_client.post(
        reverse("member_door_open", args=[space.subdomain, door.pk]), {"next": next_url}, **IN_FRAME
    )
    assert response.status_code == 403
    assert_framable_by_cobot_only(response)
    assert f'href="{next_url}" target="_blank"' in response.content.decode()


def test_a_csrf_failure_at_top_level_stays_unframable_and_says_what_to_do(strict_client, alice):
    strict_client.force_login(alice)
    response = strict_client.post(reverse("space_connect_token"), {"subdomain": "x"}, **TOP_LEVEL)
    assert response.status_code == 403
    assert response["X-Frame-Options"] == "DENY" and csp_directives(response)["frame-ancestors"] == ["'none'"]
    body = response.content.decode()
    assert "Please try again" in body and "reload the page" in body
    assert "cookie-fallback" not in body


@pytest.mark.parametrize("next_url", ["https://evil.example/x", "//evil.example/x", "javascript:alert(1)"])
def test_the_new_tab_link_never_leaves_accessbridge(strict_client, space, cobot_app, next_url):  # noqa: F811
    response = strict_client.post(sign_in_post_url(space, next_url), **IN_FRAME)
    assert response.status_code == 403
    assert "evil.example" not in response.content.decode() and "javascript:" not in response.content.decode()
    assert 'id="open-in-new-tab"' not in response.content.decode()


def test_a_framed_csrf_failure_for_an_unknown_space_keeps_deny(strict_client, db):
    response = strict_client.post(f"{reverse('cobot_login')}?cobot_subdomain=nowhere", **IN_FRAME)
    assert response.status_code == 403 and response["X-Frame-Options"] == "DENY"
