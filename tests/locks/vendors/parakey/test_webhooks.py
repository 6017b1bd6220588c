"""Parakey's webhooks and bad event logs: Basic auth we made (401 and nothing stored otherwise), one event
log per POST, malformed event logs stored as failed with the reason (never a 500, never a check-in), and
unlocks reported late stored without a check-in, the reason on the events page."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from locks.models import AccessEvent, VendorDelivery
from locks.selectors import connection_webhook_url
from locks.vendors.parakey.webhooks import basic_auth_header
from tests.fakes.parakey import iso
from tests.locks.conftest import fixture_json, fixture_text, run_work

from .conftest import WEBHOOK_PASSWORD

AUTH = basic_auth_header(username="accessbridge", password=WEBHOOK_PASSWORD)


@pytest.fixture
def post(client, connection):
    url = connection_webhook_url(connection=connection, reveal=True)

    def post(body, *, auth=AUTH, raw=False):
        data = body if raw else json.dumps(body)
        headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
        return client.post(url, data, content_type="application/json", **headers)

    return post


def today_unlock(name="event_log__unlock"):
    entry = fixture_json("parakey", name)
    entry["timestamp"] = entry["createdAt"] = iso(timezone.now())
    return entry


def test_an_unlock_pushed_with_the_right_credentials_checks_the_member_in(post, ada, doors, cobot):
    response = post(today_unlock())
    assert response.status_code == 200 and response.json() == {"ok": True, "events": 1, "new": 1}
    run_work()
    event = AccessEvent.objects.get()
    assert (event.vendor_event_id, event.membership, event.door) == ("evl_7f3a9c", ada, doors["front"])
    assert event.checkin_result == "checked_in"
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "",
        basic_auth_header(username="accessbridge", password="wrong"),
        basic_auth_header(username="someone", password=WEBHOOK_PASSWORD),
        "Bearer " + WEBHOOK_PASSWORD,
        "Basic not-base64!!",
    ],
)
def test_wrong_or_missing_credentials_are_a_401_and_nothing_is_stored(post, ada, cobot, auth):
    response = post(today_unlock(), auth=auth)
    assert response.status_code == 401
    assert VendorDelivery.objects.count() == 0 and AccessEvent.objects.count() == 0


def test_a_connection_without_webhook_credentials_accepts_no_webhook(post, connection, ada):
    connection.credentials = {"api_token": "pk-token-123"}
    connection.save()
    assert post(today_unlock(), auth=basic_auth_header(username="", password="")).status_code == 401
    assert VendorDelivery.objects.count() == 0


def test_a_wrong_secret_in_the_path_is_a_404(client, connection, ada):
    url = connection_webhook_url(connection=connection, reveal=True).rsplit("/", 2)[0] + "/wrong/"
    response = client.post(url, today_unlock(), content_type="application/json", HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 404 and VendorDelivery.objects.count() == 0


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"unlock"', b'{"id": NaN}'])
def test_a_body_that_is_not_an_event_log_is_a_400(post, ada, body):
    response = post(body, raw=True)
    assert response.status_code == 400 and VendorDelivery.objects.count() == 0


@pytest.mark.parametrize(
    "name, reason",
    [
        ("event_log__no_id", "the event log has no id"),
        ("event_log__bad_timestamp", "its timestamp 'yesterday at noon' is not an ISO 8601 time"),
        ("event_log__no_user", "the event log names no user"),
    ],
)
def test_a_malformed_event_log_is_stored_as_failed_with_its_reason(post, ada, cobot, name, reason):
    body = fixture_text("parakey", name)
    for _ in range(2):  # Parakey retries: the same body is the same delivery
        assert post(body, raw=True).status_code == 200
    delivery = VendorDelivery.objects.get()
    assert (delivery.status, delivery.last_error, delivery.times_received) == ("failed", reason, 2)
    assert run_work() == 0
    assert AccessEvent.objects.count() == 0 and cobot.check_ins("space-a") == []


def test_an_unlock_by_a_user_we_do_not_know_is_unmatched_and_checks_nobody_in(post, ada, cobot):
    entry = today_unlock("event_log__unknown_user")
    assert post(entry).status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.checkin_result, event.checkin_message) == ("unmatched", "unknown person at Parakey")
    assert cobot.check_ins("space-a") == []


def test_an_event_log_of_another_kind_is_stored_ignored(post, ada, cobot):
    assert post(fixture_json("parakey", "event_log__unknown_type")).status_code == 200
    assert VendorDelivery.objects.get().status == "ignored"
    assert AccessEvent.objects.get().checkin_result == "ignored"
    assert cobot.check_ins("space-a") == []


def test_an_unlock_of_an_earlier_day_at_the_space_is_stored_without_a_check_in(
    post, signed_in, space_a, ada, cobot
):
    space_a.time_zone = "Pacific/Auckland"  # far from UTC: the day is the space's, not the server's
    space_a.save()
    zone = ZoneInfo("Pacific/Auckland")
    midnight = timezone.localtime(timezone.now(), zone).replace(hour=0, minute=0, second=0, microsecond=0)
    entry = today_unlock()
    entry["timestamp"] = iso(midnight - timedelta(minutes=1))  # yesterday at the space, synced late
    assert post(entry).status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    day = (midnight - timedelta(minutes=1)).date()
    assert (event.membership, event.checkin_result) == (ada, "ignored")
    assert event.checkin_message == (
        f"unlocked on {day:%Y-%m-%d} (the space's time), reported late by Parakey: "
        "only unlocks of the current day check in at Cobot"
    )
    assert cobot.check_ins("space-a") == []
    page = signed_in.get(reverse("access_events", args=["space-a"])).content.decode()
    assert "reported late by Parakey" in page

    # An unlock of now is today at the space, whatever the day in UTC.
    entry = today_unlock()
    entry["id"] = "evl_today"
    assert post(entry).status_code == 200
    run_work()
    assert AccessEvent.objects.get(vendor_event_id="evl_today").checkin_result == "checked_in"
