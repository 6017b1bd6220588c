"""Time-bound access is exact (issue #10): one due row per instant a member's access changes without a
webhook, created, moved and dropped with bookings, memberships and rules. No wall clock: `now=`."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accessbridge.work import WorkStatus, work_execute
from locks.access.boundaries import (
    BOOKING_ENDS,
    BOOKING_STARTS,
    MEMBERSHIP_ENDS,
    MEMBERSHIP_STARTS,
    access_boundaries_update,
)
from locks.models import AccessBoundary, AccessSyncJob, Door, LockConnection
from spaces.models import Booking, Space
from tests.locks.conftest import rule_for

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("UTC"))
START = NOW + timedelta(hours=3)


def rows():
    return sorted(
        (row.membership.name, row.next_attempt_at, row.reason)
        for row in AccessBoundary.objects.filter(status=WorkStatus.PENDING).select_related("membership")
    )


@pytest.fixture
def room_rule(members, front_door):
    return rule_for(members.space, front_door, kind="booking", resource_cobot_id="room-1",
                    buffer_before_minutes=15, buffer_after_minutes=10)


def test_a_booking_at_a_vendor_without_windows_gets_a_row_at_each_edge(members, room_rule):
    ada = members.add(name="Ada")
    members.book(ada, starts_at=START, ends_at=START + timedelta(hours=2))
    assert access_boundaries_update(space=members.space, membership_ids=[ada.pk], now=NOW) == (2, 0)
    assert rows() == [
        ("Ada", START - timedelta(minutes=15), BOOKING_STARTS),
        ("Ada", START + timedelta(hours=2, minutes=10), BOOKING_ENDS),
    ]
    # Nothing changed: nothing created or dropped.
    assert access_boundaries_update(space=members.space, membership_ids=[ada.pk], now=NOW) == (0, 0)


def test_a_moved_booking_moves_its_rows_and_a_deleted_one_drops_them(members, room_rule):
    ada = members.add(name="Ada")
    booking = members.book(ada, starts_at=START, ends_at=START + timedelta(hours=2))
    access_boundaries_update(space=members.space, membership_ids=[ada.pk], now=NOW)

    later = START + timedelta(days=1)
    Booking.objects.filter(pk=booking.pk).update(starts_at=later, ends_at=later + timedelta(hours=1))
    assert access_boundaries_update(space=members.space, membership_ids=[ada.pk], now=NOW) == (2, 2)
    assert rows() == [
        ("Ada", later - timedelta(minutes=15), BOOKING_STARTS),
        ("Ada", later + timedelta(hours=1, minutes=10), BOOKING_ENDS),
    ]

    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.DELETED)
    assert access_boundaries_update(space=members.space, membership_ids=[ada.pk], now=NOW) == (0, 2)
    assert rows() == []


def test_edges_already_past_get_no_row(members, room_rule):
    ada = members.add(name="Ada")
    members.book(ada, starts_at=NOW - timedelta(minutes=5), ends_at=NOW + timedelta(hours=1))
    access_boundaries_update(space=members.space, now=NOW)
    assert rows() == [("Ada", NOW + timedelta(hours=1, minutes=10), BOOKING_ENDS)]


def test_a_changed_buffer_moves_the_rows(members, room_rule):
    ada = members.add(name="Ada")
    members.book(ada, starts_at=START, ends_at=START + timedelta(hours=2))
    access_boundaries_update(space=members.space, now=NOW)
    room_rule.buffer_before_minutes = 30
    room_rule.save()  # the rule's receiver brings the rows in step (at the real now: START is long past)
    access_boundaries_update(space=members.space, now=NOW)
    assert rows()[0] == ("Ada", START - timedelta(minutes=30), BOOKING_STARTS)


def test_vendors_with_time_windows_need_no_booking_rows(members, space_a, test_vendors):
    connection = LockConnection.objects.create(space=space_a, vendor="recording", name="Windows", status="ok")
    room = Door.objects.create(connection=connection, vendor_ref="room", name="Room")
    rule_for(members.space, room, kind="booking", resource_cobot_id="room-1")
    ada = members.add(name="Ada")
    members.book(ada, starts_at=START, ends_at=START + timedelta(hours=2))
    access_boundaries_update(space=members.space, now=NOW)
    assert rows() == []


def test_membership_start_and_end_take_effect_at_the_spaces_local_midnight(members):
    Space.objects.filter(pk=members.space.pk).update(time_zone="Europe/Berlin")
    members.space.refresh_from_db()
    ada = members.add(name="Ada", starts_at=date(2026, 3, 5), canceled_to=date(2026, 3, 31))
    berlin = ZoneInfo("Europe/Berlin")
    access_boundaries_update(space=members.space, now=NOW)
    assert rows() == [
        ("Ada", datetime(2026, 3, 5, tzinfo=berlin), MEMBERSHIP_STARTS),
        ("Ada", datetime(2026, 4, 1, tzinfo=berlin), MEMBERSHIP_ENDS),
    ]
    members.update(ada, canceled_to=None)  # uncanceled at Cobot
    access_boundaries_update(space=members.space, membership_ids=[ada.pk], now=NOW)
    assert rows() == [("Ada", datetime(2026, 3, 5, tzinfo=berlin), MEMBERSHIP_STARTS)]


def test_the_mirrors_signal_keeps_the_rows_in_step(members, room_rule):
    ada = members.add(name="Ada")
    soon = timezone.now() + timedelta(hours=3)
    members.book(ada, starts_at=soon, ends_at=soon + timedelta(hours=1))
    members.changed(ada)
    assert [reason for _, _, reason in rows()] == [BOOKING_STARTS, BOOKING_ENDS]


def test_a_due_boundary_queues_the_members_sync(members, room_rule):
    ada = members.add(name="Ada")
    members.book(ada, starts_at=START, ends_at=START + timedelta(hours=2))
    access_boundaries_update(space=members.space, now=NOW)
    AccessSyncJob.objects.all().delete()
    boundary = AccessBoundary.objects.order_by("next_attempt_at").first()
    assert work_execute("locks.AccessBoundary", boundary.pk) == WorkStatus.DONE  # due: START is past
    job = AccessSyncJob.objects.get()
    assert (job.membership, job.reason) == (ada, BOOKING_STARTS)


def test_a_day_pass_at_a_vendor_without_windows_gets_a_row_at_each_edge_of_its_window(members, front_door):
    from datetime import time

    from locks.access.boundaries import PASS_ENDS, PASS_STARTS
    from spaces.models import DropInPass, Membership

    Space.objects.filter(pk=members.space.pk).update(time_zone="Europe/Berlin")
    members.space.refresh_from_db()
    rule_for(members.space, front_door, kind="day_pass", day_from=time(9, 0), day_until=time(17, 30))
    vera = Membership.objects.create(
        space=members.space, cobot_id="visitor:vera", kind=Membership.Kind.VISITOR, name="Vera",
        email="vera@example.org", status=Membership.Status.CONFIRMED,
    )  # fmt: skip
    tomorrow = date(2026, 3, 3)
    drop_in_pass = DropInPass.objects.create(space=members.space, cobot_id="p1", visitor=vera, day=tomorrow)
    berlin = ZoneInfo("Europe/Berlin")

    assert access_boundaries_update(space=members.space, membership_ids=[vera.pk], now=NOW) == (2, 0)
    assert rows() == [
        ("Vera", datetime(2026, 3, 3, 9, 0, tzinfo=berlin), PASS_STARTS),
        ("Vera", datetime(2026, 3, 3, 17, 30, tzinfo=berlin), PASS_ENDS),
    ]
    DropInPass.objects.filter(pk=drop_in_pass.pk).update(status=DropInPass.Status.CANCELED)
    assert access_boundaries_update(space=members.space, membership_ids=[vera.pk], now=NOW) == (0, 2)
    assert rows() == []
