"""Parakey's client and adapter: classified errors, strict answers, the admin-chosen base URL's address
rules, batches read item by item, and idempotent keys against the stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from locks.forms import vendor_settings_form
from locks.models import Grant, LockConnection
from locks.vendors import adapter_for, vendor_choices
from locks.vendors.base import (
    Capability,
    VendorAuthError,
    VendorPermanentError,
    VendorTransientError,
)
from locks.vendors.parakey import api
from locks.vendors.parakey.adapter import ParakeyAdapter
from locks.vendors.parakey.client import ParakeyClient
from spaces.models import Membership
from tests.fakes.base import Response
from tests.fakes.parakey import iso
from tests.locks.conftest import fixture_json

BASE = "https://api.parakey.test"


def client(**kwargs) -> ParakeyClient:
    values = {"base_url": BASE, "api_token": "tok", "token_header": "access-token", **kwargs}
    return ParakeyClient(**values)


def member(email="ada@example.org"):
    return Membership(cobot_id="m1", email=email, name="Ada")


def test_it_is_registered_and_declares_what_it_can_do():
    assert ("parakey", "Parakey") in vendor_choices()
    assert ParakeyAdapter.capabilities == {
        Capability.PERSON_ACCOUNTS,
        Capability.DOOR_GROUPS,
        Capability.TIME_WINDOWS,
        Capability.WEBHOOKS,
        Capability.POLLING,
    }
    assert not ParakeyAdapter.supports(Capability.REMOTE_OPEN)
    assert ParakeyAdapter.poll_interval_seconds >= 60 and ParakeyAdapter.checkin_same_day_only


def test_the_settings_form_has_the_inferred_defaults_and_says_which_keys_it_sees():
    form = vendor_settings_form(vendor="parakey")
    assert form.fields["base_url"].initial == api.DEFAULT_BASE_URL == "https://api.parakey.co"
    assert form.fields["token_header"].initial == api.DEFAULT_TOKEN_HEADER == "access-token"
    assert "Allow to be used with API" in form.fields["api_token"].help_text
    bad = vendor_settings_form(
        vendor="parakey",
        data={"settings-api_token": "t", "settings-base_url": BASE, "settings-token_header": "access token"},
    )
    assert not bad.is_valid() and bad.errors["token_header"] == ["Not a valid HTTP header name."]


@responses.activate
def test_the_base_url_and_token_header_are_connection_settings():
    responses.get(f"{BASE}/v2/accesses", json=fixture_json("parakey", "accesses__two"))
    accesses = client(base_url=f"{BASE}/v2/", token_header="X-Parakey-Token", domain_id="d1").accesses_list()
    assert [a["id"] for a in accesses] == ["acc-front", "acc-studio"]
    (call,) = responses.calls
    assert call.request.headers["X-Parakey-Token"] == "tok" and "access-token" not in call.request.headers
    assert call.request.url == f"{BASE}/v2/accesses?domainId=d1"


@responses.activate
@pytest.mark.parametrize(
    "answer, error, kind_of",
    [
        ({"status": 503}, "Parakey: HTTP 503 Service Unavailable", VendorTransientError),
        (
            {"status": 500, "body": "<html>db password hunter2</html>"},
            "Parakey: HTTP 500 Internal Server Error",
            VendorTransientError,
        ),
        (
            {"status": 401, "json": {"message": "Invalid token"}},
            "Parakey: HTTP 401 Unauthorized",
            VendorAuthError,
        ),
        ({"status": 403}, "Parakey: HTTP 403 Forbidden", VendorAuthError),
        ({"status": 200, "body": "not json"}, "Parakey: answer is not JSON", VendorPermanentError),
        ({"status": 200, "json": {"id": 1}}, "Parakey: expected a JSON list", VendorPermanentError),
        (
            {"status": 200, "json": [{"name": "no id"}]},
            "Parakey: Parakey's answer has a key without an id",
            VendorPermanentError,
        ),
        ({"body": requests.Timeout()}, "Parakey: no answer within", VendorTransientError),
    ],
)
def test_errors_are_classified_and_carry_the_status_never_the_body(answer, error, kind_of):
    responses.get(f"{BASE}/accesses", **answer)
    with pytest.raises(kind_of) as raised:
        client().accesses_list()
    assert str(raised.value).startswith(error) and "hunter2" not in str(raised.value)


@responses.activate
def test_a_429_is_transient_with_its_retry_after():
    responses.get(f"{BASE}/eventLogs", status=429, headers={"Retry-After": "120"})
    with pytest.raises(VendorTransientError) as raised:
        client().event_logs_probe(etag='"e1"')
    assert raised.value.retry_after == 120


@responses.activate
def test_a_running_batch_is_read_again_item_by_item():
    responses.post(
        f"{BASE}/access-keys", json=fixture_json("parakey", "manage_access__processing"), status=202
    )
    responses.get(f"{BASE}/batches/batch_13", json={"id": "batch_13", "status": "processing"})
    responses.get(f"{BASE}/batches/batch_13", json=fixture_json("parakey", "batch__completed"))
    paused = []
    (result,) = client(pause=paused.append).access_manage(insert=[{"access": {"accessId": "acc-front"}}])
    assert (result.ok, result.access_key_id) == (True, "ak_5") and paused == [0.5, 1.0]


@responses.activate
def test_a_batch_still_running_after_the_pauses_is_tried_again_later():
    responses.post(f"{BASE}/access-keys", json={"id": "b1", "status": "processing"})
    responses.get(f"{BASE}/batches/b1", json={"id": "b1", "status": "processing"})
    with pytest.raises(VendorTransientError, match="still processing"):
        client(pause=lambda s: None).access_manage(insert=[{}])


@responses.activate
def test_a_failed_item_is_read_with_its_reason_and_a_short_answer_is_an_error():
    responses.post(f"{BASE}/access-keys", json=fixture_json("parakey", "manage_access__item_failed"))
    (result,) = client().access_manage(insert=[{}])
    assert (result.ok, result.error) == (False, "The key does not allow individual time restrictions")
    with pytest.raises(VendorPermanentError, match="does not list every item"):
        client().access_manage(insert=[{}, {}])


@pytest.mark.parametrize(
    "addresses", [["10.0.0.5"], ["169.254.169.254"], ["::1"], ["93.184.216.34", "192.168.1.2"]]
)
def test_a_base_url_resolving_to_a_private_address_is_never_called(space_a, resolves_to, addresses):
    resolves_to["parakey.example.test"] = addresses
    adapter = adapter_for(
        LockConnection(
            space=space_a,
            vendor="parakey",
            credentials={"api_token": "t"},
            config={"base_url": "https://parakey.example.test"},
        )
    )
    with pytest.raises(VendorPermanentError, match="is not a public internet address"):
        adapter.test_connection()
    with pytest.raises(VendorPermanentError, match="only https://"):
        adapter_for(
            LockConnection(
                space=space_a,
                vendor="parakey",
                credentials={"api_token": "t"},
                config={"base_url": "http://api.parakey.co"},
            )
        ).test_connection()


# --- the adapter against the stand-in ---------------------------------------------------------------
@pytest.fixture
def adapter(connection):
    return adapter_for(connection)


def test_its_doors_are_the_keys_allowed_for_the_api(adapter, parakey, connection):
    parakey.add_access("acc-private", "Managed by hand", api=False)
    assert adapter.test_connection() == "3 key(s) AccessBridge may manage"
    adapter.doors_sync()
    assert sorted(connection.doors.values_list("vendor_ref", "name")) == [
        ("acc-front", "Front door"),
        ("acc-room", "Meeting room"),
        ("acc-studio", "Studio"),
    ]


def test_a_grant_whose_answer_was_lost_gives_back_the_same_key(adapter, parakey, doors):
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    window = {"valid_from": start, "valid_until": start + timedelta(hours=2)}
    first = adapter.access_grant(vendor_person_id="ada@example.org", door=doors["room"], **window)
    again = adapter.access_grant(vendor_person_id="ada@example.org", door=doors["room"], **window)
    assert first == again and len(parakey.access_keys) == 1
    (insert,) = [r.json()["insert"] for r in parakey.requests_to("POST", "/access-keys")]
    assert insert == [
        {
            "access": {"accessId": "acc-room"},
            "user": {"email": "ada@example.org"},
            "startDate": "2026-12-01T09:00:00.000Z",
            "expirationDate": "2026-12-01T11:00:00.000Z",
        }
    ]
    assert parakey.requests_to("POST", "/access-keys")[0].json()["sendInvitationEmail"] is False


def test_revoking_takes_only_the_grants_own_key(adapter, parakey, doors, members, connection):
    ada = members.add()
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    old = Grant.objects.create(
        connection=connection,
        membership=ada,
        door=doors["room"],
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        status="active",
    )
    adapter.access_grant(
        vendor_person_id="ada@example.org",
        door=doors["room"],
        valid_from=start,
        valid_until=start + timedelta(hours=3),
    )
    adapter.access_revoke(grant=old)  # its key was replaced by the longer one: nothing to delete
    assert parakey.keys_of("ada@example.org") == {"acc-room": (iso(start), iso(start + timedelta(hours=3)))}
    old.valid_until = start + timedelta(hours=3)
    adapter.access_revoke(grant=old)  # without vendor_ref: the key of its door and window
    adapter.access_revoke(grant=old)  # already gone: fine
    assert parakey.keys_of("ada@example.org") == {}


def test_removing_a_person_deletes_their_keys_on_our_doors_only(adapter, parakey, doors):
    parakey.add_access("acc-other", "Another integration's key")
    for ref in ("acc-front", "acc-other"):
        parakey._insert({"access": {"accessId": ref}, "user": {"email": "ada@example.org"}})
    adapter.person_remove(vendor_person_id="ada@example.org")
    assert list(parakey.keys_of("ada@example.org")) == ["acc-other"]
    assert adapter.person_find(membership=member("Ada@Example.org ")) == "ada@example.org"
    assert adapter.person_find(membership=member("")) is None


def test_a_stand_in_fault_on_a_grant_is_a_classified_error(adapter, parakey, doors):
    parakey.force(Response(429, {"message": "slow down"}, {"Retry-After": "30"}))
    with pytest.raises(VendorTransientError) as raised:
        adapter.access_grant(vendor_person_id="ada@example.org", door=doors["front"])
    assert raised.value.retry_after == 30 and parakey.access_keys == {}
