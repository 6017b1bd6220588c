"""Work runs at its due time: the due-work clock sends rows put off to later as they come due, and
follow-ups run in the same task as the row that queued them (issue #10). No wall-clock timing: `now=`."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from accessbridge import work, work_clock
from accessbridge.http import TRANSIENT, ServiceError
from accessbridge.work import WorkStatus, work_due_send, work_execute
from spaces import inbound
from spaces.models import InboundDelivery


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(work, "_send", lambda label, pk: calls.append((label, pk)))
    return calls


def delivery(space, key, **fields):
    return InboundDelivery.objects.create(source="cobot", space=space, event="confirmed_membership", dedupe_key=key,
                                          **fields)


def put_off(row, *, at):
    """As a retry or a deferral leaves a row: pending, its next attempt after its last write."""
    InboundDelivery.objects.filter(pk=row.pk).update(
        status=WorkStatus.PENDING, next_attempt_at=at, updated_at=at - timedelta(seconds=4)
    )


def test_a_retry_is_sent_when_it_comes_due_not_before(space_a, sent):
    now = timezone.now()
    row = delivery(space_a, "k1")
    put_off(row, at=now + timedelta(seconds=4))
    assert work_due_send(since=now - timedelta(seconds=2), now=now) == 0
    assert work_due_send(since=now, now=now + timedelta(seconds=2)) == 0
    assert work_due_send(since=now + timedelta(seconds=2), now=now + timedelta(seconds=4)) == 1
    assert sent == [("spaces.InboundDelivery", row.pk)]
    # The next look starts where this one ended: the row is not sent again.
    assert work_due_send(since=now + timedelta(seconds=4), now=now + timedelta(seconds=6)) == 0


def test_rows_queued_for_now_are_not_sent_again(space_a, sent):
    delivery(space_a, "k1")  # enqueued when written: next_attempt_at is not after updated_at
    now = timezone.now()
    assert work_due_send(since=now - timedelta(minutes=1), now=now + timedelta(seconds=1)) == 0
    assert sent == []


def test_running_and_finished_rows_are_not_sent(space_a, sent):
    now = timezone.now()
    for key, status in (("k1", WorkStatus.RUNNING), ("k2", WorkStatus.DONE), ("k3", WorkStatus.FAILED)):
        row = delivery(space_a, key)
        put_off(row, at=now)
        InboundDelivery.objects.filter(pk=row.pk).update(status=status)
    assert work_due_send(since=now - timedelta(seconds=2), now=now) == 0


def test_a_transient_failure_comes_back_at_its_backoff_time(space_a, sent, monkeypatch, settings):
    settings.WORK_BACKOFF_BASE_SECONDS = 4
    monkeypatch.setitem(
        inbound._handlers, "cobot", mock.Mock(side_effect=ServiceError("vendor 500", kind=TRANSIENT))
    )
    row = delivery(space_a, "k1")
    assert work_execute("spaces.InboundDelivery", row.pk) == WorkStatus.PENDING
    row.refresh_from_db()
    assert 2 <= (row.next_attempt_at - timezone.now()).total_seconds() <= 4  # backoff with jitter, as designed
    assert work_due_send(since=row.next_attempt_at - timedelta(seconds=2), now=row.next_attempt_at) == 1


def test_a_look_that_fails_otherwise_does_not_stop_the_clock(monkeypatch):
    monkeypatch.setattr(work_clock, "close_old_connections", mock.Mock(side_effect=RuntimeError("no database")))
    since = timezone.now() - timedelta(seconds=2)
    assert work_clock.work_clock_tick(since=since) == since


def test_the_clock_looks_at_the_same_stretch_again_after_a_database_error(monkeypatch):
    from django.db import OperationalError

    monkeypatch.setattr(work_clock, "work_due_send", mock.Mock(side_effect=OperationalError("locked")))
    since = timezone.now() - timedelta(seconds=2)
    assert work_clock.work_clock_tick(since=since) == since


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in a worker
def test_follow_ups_run_in_the_same_task_after_their_row(space_a, monkeypatch, sent):
    order = []
    follow = delivery(space_a, "follow")
    InboundDelivery.objects.filter(pk=follow.pk).update(status=WorkStatus.DONE)

    def first(*, delivery):
        order.append(delivery.dedupe_key)
        if delivery.dedupe_key == "first":
            InboundDelivery.objects.filter(pk=follow.pk).update(status=WorkStatus.PENDING)
            follow.enqueue(follow_up=True)
            order.append("queued")

    monkeypatch.setitem(inbound._handlers, "cobot", first)
    row = delivery(space_a, "first")
    assert work_execute("spaces.InboundDelivery", row.pk) == WorkStatus.DONE
    assert order == ["first", "queued", "follow"]
    assert sent == []  # no broker hop
    follow.refresh_from_db()
    assert follow.status == WorkStatus.DONE


def test_a_follow_up_outside_a_worker_goes_through_the_broker(space_a, sent, django_capture_on_commit_callbacks):
    row = delivery(space_a, "k1")
    with django_capture_on_commit_callbacks(execute=True):
        row.enqueue(follow_up=True)
    assert sent == [("spaces.InboundDelivery", row.pk)]
