"""Polling (locks.polling) with the example vendor: polled events become check-ins, the cursor is saved
only after the events are stored, and one connection is polled by one worker at a time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from accessbridge.apps import SCHEDULES
from accessbridge.http import TRANSIENT
from locks import polling
from locks.models import AccessEvent, Door, LockConnection, VendorAccount, VendorDelivery
from locks.polling import PollResult, connection_poll, connections_poll_due, poll_lease
from locks.tasks import connection_poll_task, events_poll_due
from locks.vendors.base import VendorTransientError
from tests.locks.conftest import run_work, smartlock_connection

from .conftest import example_connection


@pytest.fixture
def ada(members, cobot, connection, site):
    """A member whose person at the vendor is known, with her id as her Cobot check-in token."""
    Door.objects.create(connection=connection, vendor_ref="lock-1", name="Front door")
    ada = members.add(email="ada@example.org")
    site.people["person-ada"] = ada.email
    VendorAccount.objects.create(connection=connection, membership=ada, vendor_person_id="person-ada")
    cobot.add_check_in_token("space-a", ada.cobot_id, "person-ada")
    return ada


def poll(connection, **kwargs) -> PollResult:
    return connection_poll(connection_id=connection.pk, **kwargs)


def test_polling_runs_every_minute_and_queues_one_task_per_due_connection(
    connection, space_a, space_b, smartlock, site
):
    entry = next(e for e in SCHEDULES if e["func"] == "locks.tasks.events_poll_due")
    assert entry["minutes"] == 1
    assert Schedule.objects.filter(func="locks.tasks.events_poll_due", minutes=1).exists()
    other = example_connection(space_b, name="B")
    disabled = example_connection(space_a, name="Off")
    LockConnection.objects.filter(pk=disabled.pk).update(enabled=False)
    smartlock_connection(space_a, smartlock)  # SmartLock does not poll

    assert events_poll_due() == 2
    queued = [q.task for q in OrmQ.objects.order_by("pk")]
    assert [(t["func"], t["args"]) for t in queued] == [
        ("locks.tasks.connection_poll_task", (connection.pk,)),
        ("locks.tasks.connection_poll_task", (other.pk,)),
    ]
    assert connection_poll_task(connection.pk) == {"status": "polled", "events": 0, "new": 0, "error": ""}


def test_polled_unlocks_become_checkins_and_the_cursor_moves_on(connection, site, ada, cobot):
    site.event_add("door.unlocked", person="person-ada", door="lock-1")
    now = timezone.now()

    assert poll(connection, now=now) == PollResult("polled", events=1, new=1)
    delivery = VendorDelivery.objects.get()
    assert (delivery.source, delivery.kind, delivery.status) == ("poll", "unlock", "pending")
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.door.vendor_ref, event.checkin_result) == (ada, "lock-1", "checked_in")
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]

    connection.refresh_from_db()
    assert connection.poll_cursor == {"after": 1} and connection.polled_at == now
    assert connection.poll_due_at == now + timedelta(seconds=90)  # the adapter's interval
    assert (connection.poll_lease_until, connection.poll_lease_token) == (None, "")

    # Not due again before the interval has passed; then it continues from the cursor.
    assert connections_poll_due(now=now + timedelta(seconds=89)) == []
    assert poll(connection, now=now + timedelta(seconds=89)).status == "skipped"
    site.event_add("door.unlocked", person="person-ada", door="lock-1")
    assert connections_poll_due(now=now + timedelta(seconds=90)) == [connection.pk]
    assert poll(connection, now=now + timedelta(seconds=90)) == PollResult("polled", events=1, new=1)
    assert site.polls == [{}, {"after": 1}]


def test_a_polled_event_of_a_kind_we_do_not_act_on_is_ignored(connection, site, ada, cobot):
    site.event_add("door.held_open", door="lock-1")
    site.event_add("firmware.rebooted", door="lock-1")
    assert poll(connection) == PollResult("polled", events=2, new=2)
    assert set(VendorDelivery.objects.values_list("kind", "status")) == {
        ("held_open", "ignored"),
        ("unknown", "ignored"),
    }
    assert run_work() == 0
    assert set(AccessEvent.objects.values_list("checkin_result", flat=True)) == {"ignored"}
    assert cobot.check_ins("space-a") == []


class WorkerDied(BaseException):
    """The worker process is gone (killed, out of memory): nothing of ours runs after it."""


def test_a_crash_between_storing_events_and_saving_the_cursor_loses_and_duplicates_nothing(
    connection, site, ada, cobot, monkeypatch
):
    for _ in range(2):
        site.event_add("door.unlocked", person="person-ada", door="lock-1")
    finish = polling._poll_finish

    def die(**kwargs):
        raise WorkerDied

    monkeypatch.setattr(polling, "_poll_finish", die)
    crashed_at = timezone.now()
    with pytest.raises(WorkerDied):
        poll(connection, now=crashed_at)
    monkeypatch.setattr(polling, "_poll_finish", finish)

    # The events are stored; the cursor is not, and the dead worker's lease holds until it runs out.
    assert VendorDelivery.objects.count() == 2
    connection.refresh_from_db()
    assert connection.poll_cursor == {} and connection.poll_lease_until == crashed_at + poll_lease()
    assert poll(connection, now=crashed_at + timedelta(seconds=5)).status == "skipped"
    assert connections_poll_due(now=crashed_at + timedelta(seconds=5)) == []

    # Once it has run out, the next poll repeats from the old cursor: the same events, the same rows.
    later = crashed_at + poll_lease() + timedelta(seconds=1)
    assert connections_poll_due(now=later) == [connection.pk]
    assert poll(connection, now=later) == PollResult("polled", events=2, new=0)
    assert site.polls == [{}, {}]
    assert list(VendorDelivery.objects.values_list("times_received", flat=True)) == [2, 2]
    connection.refresh_from_db()
    assert connection.poll_cursor == {"after": 2}

    run_work()
    assert AccessEvent.objects.count() == 2
    assert sorted(AccessEvent.objects.values_list("checkin_result", flat=True)) == ["already", "checked_in"]
    assert len(cobot.check_ins("space-a")) == 1


def test_a_second_worker_does_not_poll_a_connection_being_polled(connection, site):
    seen = []
    site.during_poll = lambda: seen.append(poll(connection))
    assert poll(connection).status == "polled"
    assert seen == [PollResult("skipped")] and len(site.polls) == 1


def test_a_failing_poll_is_shown_and_tried_again_after_the_interval(connection, site, signed_in):
    site.fail_next.append(VendorTransientError("HTTP 503", kind=TRANSIENT, retry_after=300))
    now = timezone.now()
    result = poll(connection, now=now)
    assert (result.status, result.error) == ("failed", "HTTP 503")
    connection.refresh_from_db()
    assert (connection.poll_error, connection.poll_cursor, connection.poll_lease_token) == ("HTTP 503", {}, "")
    assert connection.poll_due_at == now + timedelta(seconds=300)  # Retry-After beats the 90 s interval
    assert "Polling door events failed: HTTP 503" in signed_in.get("/spaces/space-a/connections/").content.decode()

    assert poll(connection, now=now + timedelta(seconds=300)).status == "polled"
    connection.refresh_from_db()
    assert connection.poll_error == ""


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_poll_one_connection_at_once(space_a, site):
    """Two threads, each with its own database connection, as two workers are (PostgreSQL and SQLite)."""
    connection = example_connection(space_a)
    site.event_add("door.held_open", door="lock-1")
    inside, release = threading.Event(), threading.Event()

    def slow_poll():
        inside.set()
        release.wait(30)

    site.during_poll = slow_poll
    results = {}

    def worker(name):
        try:
            results[name] = poll(connection)
        finally:
            connections.close_all()

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    try:
        assert inside.wait(10)
        site.during_poll = None
        second = threading.Thread(target=worker, args=("second",))
        second.start()
        second.join(30)
        assert results["second"] == PollResult("skipped")
    finally:
        release.set()
        first.join(30)
    assert results["first"] == PollResult("polled", events=1, new=1)
    assert len(site.polls) == 1 and VendorDelivery.objects.count() == 1


def test_a_polled_event_the_database_cannot_hold_is_a_failed_delivery_and_the_poll_moves_on(
    connection, site, ada, cobot
):
    # requests' .json() reads NaN and Infinity; PostgreSQL's jsonb refuses them (a DataError on every poll).
    site.event_add("door.unlocked", person="person-ada", door="lock-1")["battery"] = float("nan")
    site.event_add("door.unlocked", person="person-ada", door="lock-1")

    assert poll(connection) == PollResult("polled", events=2, new=2)
    failed, stored = VendorDelivery.objects.order_by("pk")
    assert (failed.status, failed.payload["raw"]) == ("failed", None)
    assert failed.last_error == (
        "The vendor's event could not be stored as it came: the data holds a number JSON cannot carry (NaN or Infinity)."
    )
    assert stored.status == "pending"
    run_work()
    assert [e.checkin_result for e in AccessEvent.objects.all()] == ["checked_in"]  # only the storable one
    assert LockConnection.objects.get(pk=connection.pk).poll_cursor == {"after": 2}
