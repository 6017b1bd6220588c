import logging

import pytest
import requests
import responses

from accessbridge.http import AUTH, PERMANENT, TRANSIENT, ServiceError, http_request, parse_retry_after
from accessbridge.logging import SecretMaskingFilter, mask_secrets

URL = "https://vendor.example/api/thing"


@responses.activate
def test_it_returns_the_response_on_success():
    responses.get(URL, json={"ok": True})
    assert http_request("GET", URL, service="Vendor").json() == {"ok": True}


@responses.activate
def test_it_sends_our_user_agent_and_a_timeout(settings):
    responses.get(URL, json={})
    http_request("GET", URL, service="Vendor")
    request = responses.calls[0].request
    assert request.headers["User-Agent"].startswith("AccessBridge/")
    assert request.req_kwargs["timeout"] == (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT)


@responses.activate
def test_it_turns_a_timeout_into_a_transient_error():
    responses.get(URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(ServiceError) as excinfo:
        http_request("GET", URL, service="Vendor", timeout=(1, 2))
    assert excinfo.value.kind == TRANSIENT
    assert str(excinfo.value) == "Vendor: no answer within 2 s"


@responses.activate
def test_it_turns_a_refused_connection_into_a_transient_error():
    responses.get(URL, body=requests.ConnectionError("refused"))
    with pytest.raises(ServiceError) as excinfo:
        http_request("GET", URL, service="Vendor")
    assert excinfo.value.kind == TRANSIENT


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@responses.activate
def test_it_classifies_5xx_as_transient(status):
    responses.get(URL, status=status, json={"error": "down"})
    with pytest.raises(ServiceError) as excinfo:
        http_request("GET", URL, service="Vendor")
    assert excinfo.value.kind == TRANSIENT
    assert excinfo.value.status == status
    assert "down" in str(excinfo.value)


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_it_classifies_401_and_403_as_auth(status):
    responses.get(URL, status=status, json={"error": "invalid_token"})
    with pytest.raises(ServiceError) as excinfo:
        http_request("GET", URL, service="Vendor")
    assert excinfo.value.kind == AUTH
    assert excinfo.value.is_auth


@responses.activate
def test_it_classifies_other_4xx_as_permanent():
    responses.post(URL, status=422, json={"errors": [{"detail": "No time passes left."}]})
    with pytest.raises(ServiceError) as excinfo:
        http_request("POST", URL, service="Cobot")
    assert excinfo.value.kind == PERMANENT
    assert "No time passes left." in str(excinfo.value)


@responses.activate
def test_it_honours_retry_after_seconds_on_429():
    responses.get(URL, status=429, headers={"Retry-After": "42"})
    with pytest.raises(ServiceError) as excinfo:
        http_request("GET", URL, service="Cobot")
    assert excinfo.value.kind == TRANSIENT
    assert excinfo.value.retry_after == 42


def test_it_reads_retry_after_as_an_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480) == 30
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("999999") == 3600  # capped


@responses.activate
def test_it_does_not_follow_redirects_with_our_credentials():
    responses.get(URL, status=302, headers={"Location": "https://attacker.example/"})
    with pytest.raises(ServiceError) as excinfo:
        http_request("GET", URL, service="Cobot", headers={"Authorization": "Bearer secret"})
    assert excinfo.value.status == 302
    assert len(responses.calls) == 1


@responses.activate
def test_it_accepts_extra_ok_statuses():
    responses.get(URL, status=404)
    assert http_request("GET", URL, service="Vendor", ok_statuses=(404,)).status_code == 404


# --- secrets never reach the logs ----------------------------------------------------------------------
TOKEN_URL = "https://www.cobot.test/api/access_tokens/s3cret-token"


@pytest.mark.parametrize("status", [403, 500])
@responses.activate
def test_a_token_in_the_url_path_is_never_logged(caplog, status):
    caplog.set_level(logging.INFO, logger="accessbridge.http")
    responses.delete(TOKEN_URL, status=status, json={"error": "nope"})
    responses.post(f"{TOKEN_URL}/space", status=status, json={"error": "nope"})
    for method, url in (("DELETE", TOKEN_URL), ("POST", f"{TOKEN_URL}/space")):
        with pytest.raises(ServiceError):
            http_request(method, url, service="Cobot")
    assert "s3cret-token" not in caplog.text
    assert "/api/access_tokens/[masked] →" in caplog.text
    assert "/api/access_tokens/[masked]/space →" in caplog.text


@responses.activate
def test_a_caller_can_say_what_the_logs_show_instead_of_the_url(caplog):
    caplog.set_level(logging.INFO, logger="accessbridge.http")
    responses.get(URL + "/secret-id", status=500)
    with pytest.raises(ServiceError):
        http_request("GET", URL + "/secret-id?key=also-secret", service="Vendor", log_url=URL + "/[id]")
    assert "secret-id" not in caplog.text and "also-secret" not in caplog.text
    assert "GET https://vendor.example/api/thing/[id] → 500 (transient)" in caplog.text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/hooks/cobot/6b1c/s3cret/confirmed_membership/", "/hooks/cobot/6b1c/[masked]/confirmed_membership/"),
        ('"POST /hooks/vendor/6b1c/s3cret/ HTTP/1.1" 400', '"POST /hooks/vendor/6b1c/[masked]/ HTTP/1.1" 400'),
        ("https://x.example/api/access_tokens/s3cret/space", "https://x.example/api/access_tokens/[masked]/space"),
        ("/hooks/cobot/6b1c/", "/hooks/cobot/6b1c/"),  # nothing secret in it
        ("/dashboard/?next=/spaces/", "/dashboard/?next=/spaces/"),
    ],
)
def test_mask_secrets(text, expected):
    assert mask_secrets(text) == expected


@pytest.mark.parametrize("name", ["django.request", "django.server", "urllib3.connectionpool"])
def test_loggers_that_print_request_paths_mask_secrets(caplog, name):
    logger = logging.getLogger(name)
    logger.addHandler(caplog.handler)  # django.server does not propagate to the root logger
    try:
        logger.warning('"%s" %s %s', "POST /hooks/cobot/6b1c/s3cret/confirmed_membership/ HTTP/1.1", "400", 12)
        logger.warning("Bad Request: /hooks/vendor/6b1c/s3cret/")
    finally:
        logger.removeHandler(caplog.handler)
    assert "s3cret" not in caplog.text
    assert '"POST /hooks/cobot/6b1c/[masked]/confirmed_membership/ HTTP/1.1" 400 12' in caplog.text
    assert "Bad Request: /hooks/vendor/6b1c/[masked]/" in caplog.text


def test_the_masking_filter_leaves_other_arguments_alone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %d %(x)s", None, None)
    record.args = ("/hooks/cobot/k/s3cret/e/", 3)
    SecretMaskingFilter().filter(record)
    assert record.args == ("/hooks/cobot/k/[masked]/e/", 3)
    record.msg, record.args = "%(path)s", {"path": "/hooks/cobot/k/s3cret/e/", "n": 1}
    SecretMaskingFilter().filter(record)
    assert record.getMessage() == "/hooks/cobot/k/[masked]/e/" and record.args["n"] == 1
