"""Parakey's event-log polling (seed 004) through the poll runner (locks.polling): ETag first, 304 ends a
poll in one request, events since lastFetchedCreatedAt, stored before the cursor moves, once per connection."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from locks import polling
from locks.models import AccessEvent, LockConnection, VendorDelivery
from locks.polling import PollResult, connection_poll, poll_lease
from tests.fakes.base import Response
from tests.locks.conftest import run_work

from .conftest import WEBHOOK_PASSWORD, parakey_connection

EVENT_LOGS = "/eventLogs"


def poll(connection, **kwargs) -> PollResult:
    LockConnection.objects.filter(pk=connection.pk).update(poll_due_at=None)
    return connection_poll(connection_id=connection.pk, **kwargs)


def cursor(connection) -> dict:
    connection.refresh_from_db()
    return connection.poll_cursor


def test_the_first_poll_keeps_only_the_etag(connection, parakey, ada):
    parakey.event_log("ada@example.org", "acc-front")  # happened before we started: not ours to count
    before = timezone.now()
    assert poll(connection) == PollResult("polled", events=0, new=0)
    (probe,) = parakey.requests
    assert probe.query == {"limit": ["1"]} and "if-none-match" not in probe.headers
    assert probe.headers["access-token"] == "pk-token-123"
    saved = cursor(connection)
    assert saved["etag"] == parakey.etag()
    assert datetime.fromisoformat(saved["since"].replace("Z", "+00:00")) >= before.replace(microsecond=0)
    assert VendorDelivery.objects.count() == 0


def test_a_304_ends_the_poll_in_one_request(connection, parakey, ada):
    poll(connection)
    first = cursor(connection)
    parakey.requests.clear()
    assert poll(connection) == PollResult("polled", events=0, new=0)
    (request,) = parakey.requests
    assert request.headers["if-none-match"] == first["etag"] and request.query == {"limit": ["1"]}
    assert cursor(connection) == first


def test_a_change_fetches_since_the_cursor_and_moves_it_to_the_newest_created_at(
    connection, parakey, ada, cobot
):
    poll(connection)
    since = cursor(connection)["since"]
    created = datetime.now(UTC) + timedelta(seconds=5)
    entry = parakey.event_log("ada@example.org", "acc-front", created_at=created)
    parakey.requests.clear()
    assert poll(connection) == PollResult("polled", events=1, new=1)
    probe, fetch = parakey.requests
    assert fetch.query == {"startDate": [since], "orderBy": ["createdAt:DESC"]}
    assert cursor(connection) == {"etag": parakey.etag(), "since": entry["createdAt"]}
    run_work()
    assert AccessEvent.objects.get().checkin_result == "checked_in"
    assert len(cobot.check_ins("space-a")) == 1


def test_an_event_pushed_by_webhook_and_polled_again_is_stored_once(client, connection, parakey, ada, cobot):
    from locks.selectors import connection_webhook_url
    from locks.vendors.parakey.webhooks import basic_auth_header

    poll(connection)
    entry = parakey.event_log("ada@example.org", "acc-front")
    url = connection_webhook_url(connection=connection, reveal=True)
    auth = basic_auth_header(username="accessbridge", password=WEBHOOK_PASSWORD)
    assert (
        client.post(url, entry, content_type="application/json", HTTP_AUTHORIZATION=auth).status_code == 200
    )
    assert poll(connection) == PollResult("polled", events=1, new=0)
    delivery = VendorDelivery.objects.get()
    assert (delivery.source, delivery.times_received) == ("webhook", 2)
    run_work()
    assert AccessEvent.objects.count() == 1 and len(cobot.check_ins("space-a")) == 1


class WorkerDied(BaseException):
    """The worker is gone between storing the events and saving the cursor."""


def test_a_crash_between_fetch_and_cursor_save_loses_nothing(connection, parakey, ada, cobot, monkeypatch):
    poll(connection)
    first = cursor(connection)
    entries = [parakey.event_log("ada@example.org", "acc-front") for _ in range(2)]
    finish = polling._poll_finish

    def die(**kwargs):
        raise WorkerDied

    monkeypatch.setattr(polling, "_poll_finish", die)
    crashed_at = timezone.now()
    with pytest.raises(WorkerDied):
        connection_poll(connection_id=connection.pk, now=crashed_at + timedelta(minutes=2))
    monkeypatch.setattr(polling, "_poll_finish", finish)
    assert VendorDelivery.objects.count() == 2 and cursor(connection) == first

    later = crashed_at + timedelta(minutes=2) + poll_lease() + timedelta(seconds=1)
    assert connection_poll(connection_id=connection.pk, now=later) == PollResult("polled", events=2, new=0)
    assert sorted(VendorDelivery.objects.values_list("event_key", flat=True)) == sorted(
        e["id"] for e in entries
    )
    assert cursor(connection)["etag"] == parakey.etag()
    run_work()
    assert AccessEvent.objects.count() == 2 and len(cobot.check_ins("space-a")) == 1  # the second: "already"


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_poll_one_connection_at_once(space_a, parakey):
    connection = parakey_connection(space_a, parakey)
    inside, release = threading.Event(), threading.Event()
    results = {}
    slow = Response(200, [], {"ETag": '"e1"'})

    def worker(name):
        try:
            results[name] = connection_poll(connection_id=connection.pk)
        finally:
            connections.close_all()

    real_dispatch = parakey._dispatch

    def held_dispatch(request):
        inside.set()
        release.wait(30)
        return real_dispatch(request)

    parakey._dispatch = held_dispatch
    parakey.force(slow, path=EVENT_LOGS)
    first = threading.Thread(target=worker, args=("first",))
    first.start()
    try:
        assert inside.wait(10)
        second = threading.Thread(target=worker, args=("second",))
        second.start()
        second.join(30)
        assert results["second"] == PollResult("skipped")
    finally:
        release.set()
        first.join(30)
    assert results["first"] == PollResult("polled", events=0, new=0)
    assert len(parakey.requests_to("GET", EVENT_LOGS)) == 1


def test_a_429_waits_as_long_as_retry_after_says(connection, parakey, ada):
    poll(connection)
    first = cursor(connection)
    parakey.force(Response(429, {"message": "Too many requests"}, {"Retry-After": "240"}), path=EVENT_LOGS)
    now = timezone.now() + timedelta(seconds=60)  # the next poll is due
    result = connection_poll(connection_id=connection.pk, now=now)
    assert result.status == "failed" and "429" in result.error
    connection.refresh_from_db()
    assert connection.poll_cursor == first
    assert connection.poll_due_at == now + timedelta(seconds=240)
    assert connection_poll(connection_id=connection.pk, now=now + timedelta(seconds=239)).status == "skipped"
    assert connection_poll(connection_id=connection.pk, now=now + timedelta(seconds=240)).status == "polled"


def test_polls_are_never_due_more_often_than_every_minute(connection, parakey):
    now = timezone.now()
    connection_poll(connection_id=connection.pk, now=now)
    connection.refresh_from_db()
    assert connection.poll_due_at == now + timedelta(seconds=60)
    assert connection_poll(connection_id=connection.pk, now=now + timedelta(seconds=59)).status == "skipped"
    assert len(parakey.requests) == 1


def test_malformed_polled_event_logs_are_failed_deliveries_and_the_poll_moves_on(
    connection, parakey, ada, cobot
):
    from tests.locks.conftest import fixture_json

    poll(connection)
    for name in ("event_log__no_id", "event_log__bad_timestamp", "event_log__no_user"):
        entry = fixture_json("parakey", name)
        entry["createdAt"] = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
        parakey.event_logs.append(entry)
    parakey.event_logs.append(42)  # not even an object
    good = parakey.event_log(
        "ada@example.org", "acc-front", created_at=datetime.now(UTC) + timedelta(seconds=6)
    )

    assert poll(connection) == PollResult("polled", events=5, new=5)
    failed = VendorDelivery.objects.filter(status="failed").values_list("last_error", flat=True)
    assert sorted(failed) == [
        "its timestamp 'yesterday at noon' is not an ISO 8601 time",
        "the event log has no id",
        "the event log is not a JSON object",
        "the event log names no user",
    ]
    assert cursor(connection)["since"] == good["createdAt"]
    run_work()
    assert list(AccessEvent.objects.values_list("vendor_event_id", "checkin_result")) == [
        (good["id"], "checked_in")
    ]
    assert len(cobot.check_ins("space-a")) == 1
