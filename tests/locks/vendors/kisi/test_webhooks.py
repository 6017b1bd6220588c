"""KISI's Event Webhook, driven by payload fixtures (tests/fixtures/kisi/): X-Signature checked in constant
time (wrong → 401, nothing stored), one event per uuid, refusals never check in, bad input a clear 4xx."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from locks.models import AccessEvent, Door, LockConnection, VendorAccount, VendorDelivery
from locks.selectors import connection_webhook_url
from tests.locks.conftest import fixture_text, run_work

SIGNATURE_KEY = "kisi-signature-key"
PERSON, LOCK = "101", "201"  # the user and lock ids in the fixtures


@pytest.fixture
def connection(space_a):
    return LockConnection.objects.create(
        space=space_a,
        vendor="kisi",
        name="KISI",
        credentials={"api_key": "k", "webhook_signature_key": SIGNATURE_KEY},
        config={},
        status=LockConnection.Status.OK,
    )


@pytest.fixture
def front_door(connection):
    return Door.objects.create(connection=connection, vendor_ref=LOCK, name="Front door", extra={"kind": "lock"})


@pytest.fixture
def ada(members, cobot, connection, front_door):
    ada = members.add(email="ada@example.org")
    VendorAccount.objects.create(connection=connection, membership=ada, vendor_person_id=PERSON)
    cobot.add_check_in_token("space-a", ada.cobot_id, PERSON)
    return ada


@pytest.fixture
def url(connection):
    return connection_webhook_url(connection=connection, reveal=True)


def signed(body: str, key: str = SIGNATURE_KEY) -> str:
    return hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


def post(client, url, name: str, *, signature: str | None = None):
    body = fixture_text("kisi", name)
    headers = {"X-Signature": signed(body) if signature is None else signature}
    return client.post(url, body, content_type="application/json", headers=headers)


def test_a_signed_unlock_checks_the_member_in(client, url, ada, cobot, front_door):
    response = post(client, url, "lock_unlock__success")
    assert response.status_code == 200 and response.json() == {"ok": True, "events": 1, "new": 1}
    delivery = VendorDelivery.objects.get()
    assert (delivery.event_key, delivery.kind) == ("9c1f3e2a-5b7d-4a61-8f0e-2d4c6b8a1e37", "unlock")
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.door, event.checkin_result) == (ada, front_door, "checked_in")
    assert event.occurred_at.isoformat() == "2026-11-25T09:14:03.512000+00:00"
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]


@pytest.mark.parametrize(
    "signature",
    ["", "0" * 64, signed(fixture_text("kisi", "lock_unlock__success"), "another-key"), "not hex at all"],
    ids=["missing", "zeros", "other-key", "garbage"],
)
def test_a_wrong_signature_is_401_and_nothing_is_stored(client, url, ada, cobot, signature):
    response = post(client, url, "lock_unlock__success", signature=signature)
    assert response.status_code == 401
    assert response.json() == {"error": "X-Signature missing or wrong"}
    assert VendorDelivery.objects.count() == 0 and AccessEvent.objects.count() == 0
    assert run_work() == 0 and cobot.check_ins("space-a") == []


def test_the_signature_is_of_the_raw_body(client, url, ada):
    body = fixture_text("kisi", "lock_unlock__success")
    reformatted = json.dumps(json.loads(body))  # the same JSON, other bytes: not what was signed
    response = client.post(url, reformatted, content_type="application/json", headers={"X-Signature": signed(body)})
    assert response.status_code == 401 and VendorDelivery.objects.count() == 0


def test_without_a_signature_key_events_are_taken_unsigned(client, url, connection, ada):
    connection.credentials = {"api_key": "k"}
    connection.save()
    body = fixture_text("kisi", "lock_unlock__success")
    assert client.post(url, body, content_type="application/json").status_code == 200


def test_a_replay_is_one_event_and_one_checkin(client, url, ada, cobot):
    assert post(client, url, "lock_unlock__success").json()["new"] == 1
    assert post(client, url, "lock_unlock__success").json()["new"] == 0
    run_work()
    assert post(client, url, "lock_unlock__success").json()["new"] == 0
    run_work()
    assert VendorDelivery.objects.get().times_received == 3
    assert AccessEvent.objects.count() == 1 and len(cobot.check_ins("space-a")) == 1


def test_a_denied_attempt_is_recorded_and_never_checks_in(client, url, ada, cobot):
    assert post(client, url, "lock_unlock__denied").status_code == 200
    assert VendorDelivery.objects.get().kind == "denied"
    run_work()
    event = AccessEvent.objects.get()
    assert (event.kind, event.checkin_result, event.vendor_person_id) == ("denied", "n/a", PERSON)
    assert cobot.check_ins("space-a") == [] and [r for r in cobot.requests if r.method != "GET"] == []


def test_an_unknown_user_is_stored_unmatched(client, url, ada, cobot):
    assert post(client, url, "lock_unlock__unknown_user").status_code == 200
    run_work()
    stored = AccessEvent.objects.get()
    assert (stored.checkin_result, stored.membership) == ("unmatched", None)
    assert cobot.check_ins("space-a") == []


def test_a_kind_we_do_not_act_on_is_stored_ignored(client, url, ada, cobot):
    assert post(client, url, "lock_lock__success").status_code == 200
    delivery = VendorDelivery.objects.get()
    assert (delivery.kind, delivery.status, delivery.payload["vendor_kind"]) == ("unknown", "ignored", "lock.lock")
    assert run_work() == 0 and cobot.check_ins("space-a") == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "event is not valid JSON"),
        ("[]", "event must be a JSON object"),
        ('{"success": true, "created_at": "2026-11-25T09:14:03Z"}', "uuid is missing"),
        ('{"uuid": "u1", "success": "yes", "created_at": "2026-11-25T09:14:03Z"}', "success must be true or false"),
        ('{"uuid": "u1", "success": true, "created_at": "yesterday"}', "created_at is not an ISO 8601 time"),
        ('{"uuid": "u1", "success": true, "created_at": 5}', "created_at must be an ISO 8601 string"),
        ('{"uuid": "u1", "success": true, "n": NaN}', "NaN, which is not a number we accept"),
    ],
)
def test_malformed_events_are_a_clear_400_and_nothing_is_stored(client, url, ada, body, error):
    response = client.post(url, body, content_type="application/json", headers={"X-Signature": signed(body)})
    assert response.status_code == 400 and error in response.json()["error"]
    assert VendorDelivery.objects.count() == 0
