import json
import time
from urllib.parse import parse_qs

import pytest
import requests

from tests.fakes.base import FakeServer, Response
from tests.fakes.smartlock import SmartLockFake

TOKEN = "sl-token-123"
AUTH = {"X-Api-Token": TOKEN}


@pytest.fixture
def smartlock():
    with SmartLockFake(api_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def receiver():
    """Plays AccessBridge's webhook endpoint."""
    server = FakeServer()
    server.route("POST", "/lock_open", lambda request, match: Response(200, {"ok": True}))
    server.route("POST", "/broken", lambda request, match: Response(400, {"error": "bad"}))
    with server:
        yield server


def test_it_creates_a_user_from_json(smartlock):
    r = requests.post(f"{smartlock.url}/users", json={"email": "alice@example.com"}, headers=AUTH, timeout=5)
    assert r.status_code == 201
    body = r.json()
    assert body["email"] == "alice@example.com"
    assert body["id"].startswith("usr_")
    assert smartlock.users == {body["id"]: body}


def test_it_creates_a_user_from_a_form(smartlock):
    r = requests.post(f"{smartlock.url}/users", data={"email": "bob@example.com"}, headers=AUTH, timeout=5)
    assert r.status_code == 201
    assert smartlock.user_by_email("BOB@example.com")["id"] == r.json()["id"]


@pytest.mark.parametrize("payload", [{}, {"email": ""}, {"email": "not-an-email"}, {"email": 42}])
def test_it_rejects_a_missing_or_invalid_email(smartlock, payload):
    r = requests.post(f"{smartlock.url}/users", json=payload, headers=AUTH, timeout=5)
    assert r.status_code == 422
    assert r.json() == {"error": "invalid", "field": "email"}
    assert smartlock.users == {}


def test_it_rejects_a_body_that_is_not_json(smartlock):
    r = requests.post(
        f"{smartlock.url}/users",
        data="{nope",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 422


def test_it_answers_conflict_with_the_existing_id(smartlock):
    existing = smartlock.add_user("alice@example.com")
    r = requests.post(f"{smartlock.url}/users", json={"email": "Alice@Example.com"}, headers=AUTH, timeout=5)
    assert r.status_code == 409
    assert r.json() == {"error": "exists", "id": existing["id"]}
    assert len(smartlock.users) == 1


def test_it_lists_gets_and_deletes_users(smartlock):
    alice = smartlock.add_user("alice@example.com")
    bob = smartlock.add_user("bob@example.com")

    r = requests.get(f"{smartlock.url}/users", headers=AUTH, timeout=5)
    assert r.status_code == 200
    assert sorted(u["email"] for u in r.json()) == ["alice@example.com", "bob@example.com"]

    r = requests.get(f"{smartlock.url}/users/{alice['id']}", headers=AUTH, timeout=5)
    assert r.json() == alice

    r = requests.delete(f"{smartlock.url}/users/{alice['id']}", headers=AUTH, timeout=5)
    assert r.status_code == 204
    assert r.content == b""
    assert list(smartlock.users) == [bob["id"]]
    assert smartlock.requests_to("DELETE", "/users/usr_.*")[0].path == f"/users/{alice['id']}"


def test_it_answers_404_for_an_unknown_user(smartlock):
    assert requests.get(f"{smartlock.url}/users/usr_nope", headers=AUTH, timeout=5).status_code == 404
    assert requests.delete(f"{smartlock.url}/users/usr_nope", headers=AUTH, timeout=5).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"X-Api-Token": "wrong"}])
@pytest.mark.parametrize(
    "method,path",
    [("POST", "/users"), ("GET", "/users"), ("GET", "/users/usr_1"), ("DELETE", "/users/usr_1")],
)
def test_it_requires_the_api_token(smartlock, headers, method, path):
    r = requests.request(
        method, f"{smartlock.url}{path}", json={"email": "a@example.com"}, headers=headers, timeout=5
    )
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized"}
    assert smartlock.users == {}


def test_it_records_what_the_client_sent(smartlock):
    requests.post(f"{smartlock.url}/users", json={"email": "alice@example.com"}, headers=AUTH, timeout=5)
    (recorded,) = smartlock.requests_to("POST", "/users")
    assert recorded.headers["x-api-token"] == TOKEN
    assert recorded.json() == {"email": "alice@example.com"}


def test_it_injects_faults(smartlock):
    smartlock.force(Response(500, {"error": "boom"}), times=2, path="^/users$")
    smartlock.force(Response(401, {"error": "unauthorized"}), path="^/users$")
    for expected in (500, 500, 401, 201):
        r = requests.post(
            f"{smartlock.url}/users", json={"email": "alice@example.com"}, headers=AUTH, timeout=5
        )
        assert r.status_code == expected
    assert len(smartlock.users) == 1


def test_it_can_be_slow_enough_to_time_out(smartlock):
    smartlock.force(Response(201, {"id": "usr_late"}, delay=0.5))
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.post(f"{smartlock.url}/users", json={"email": "a@example.com"}, headers=AUTH, timeout=0.1)
    assert time.monotonic() - started < 0.5


def test_it_posts_the_lock_opened_webhook_as_a_form(smartlock, receiver):
    status = smartlock.lock_opened(
        f"{receiver.url}/lock_open",
        "usr_abc",
        headers={"X-Webhook-Secret": "s3cret"},
        event_id="evt_1",
        door_id="lock_front",
        occurred_at="2024-05-01T09:30:00+00:00",
    )
    assert status == 200
    (recorded,) = receiver.requests_to("POST", "/lock_open")
    assert recorded.headers["content-type"] == "application/x-www-form-urlencoded"
    assert recorded.headers["x-webhook-secret"] == "s3cret"
    # Seed 000: `JSON.parse(params['event'])['user']['id']`.
    event = json.loads(parse_qs(recorded.body.decode())["event"][0])
    assert event == {
        "id": "evt_1",
        "user": {"id": "usr_abc"},
        "lock": {"id": "lock_front"},
        "occurred_at": "2024-05-01T09:30:00+00:00",
    }
    assert smartlock.sent_events == [event]


def test_it_posts_the_lock_opened_webhook_as_json(smartlock, receiver):
    assert smartlock.lock_opened(f"{receiver.url}/lock_open", "usr_abc", as_form=False) == 200
    (recorded,) = receiver.requests_to("POST", "/lock_open")
    assert recorded.headers["content-type"] == "application/json"
    event = recorded.json()
    assert event["user"] == {"id": "usr_abc"}
    assert event["id"].startswith("evt_")
    assert event["lock"] == {"id": "lock_1"}
    assert event["occurred_at"].endswith("+00:00")


def test_it_returns_the_webhook_error_status(smartlock, receiver):
    assert smartlock.lock_opened(f"{receiver.url}/broken", "usr_abc") == 400
    assert smartlock.lock_opened(f"{receiver.url}/missing", "usr_abc") == 404
