import pytest
import requests
import responses

from accessbridge.http import AUTH, PERMANENT, TRANSIENT, ServiceError, http_request, parse_retry_after

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
