"""The access engine: desired access from the mirror, rules and time; the diff against our rows; applying
it through whatever the vendor can do (capabilities)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from locks.access.desired import access_desired, membership_is_current, space_rules_load
from locks.access.run import access_sync
from locks.models import AuditEntry, Door, Grant, LockConnection, VendorAccount
from locks.vendors.base import VendorTransientError
from spaces.models import Booking, CheckInToken, Membership
from tests.locks.conftest import rule_for
from tests.locks.vendors_for_tests import grants_of, persons_of, side_of

NOW = timezone.now().replace(microsecond=0)
TODAY = timezone.localdate(NOW)


@pytest.mark.parametrize(
    "status,canceled_to,starts_at,current",
    [
        ("confirmed", None, None, True),
        ("confirmed", None, TODAY, True),
        ("confirmed", None, TODAY + timedelta(days=1), False),  # starts tomorrow
        ("canceled", TODAY, None, True),  # the last day counts
        ("canceled", TODAY - timedelta(days=1), None, False),
        ("confirmed", TODAY - timedelta(days=1), None, False),  # the mirror has not caught up: the date wins
        ("pending", None, None, False),
        ("ended", None, None, False),
        ("deleted", None, None, False),
    ],
)
def test_who_is_a_current_member(status, canceled_to, starts_at, current):
    membership = Membership(status=status, canceled_to=canceled_to, starts_at=starts_at)
    assert membership_is_current(membership, today=TODAY) is current


@pytest.fixture
def doors(space_a, test_vendors):
    connection = LockConnection.objects.create(space=space_a, vendor="recording", name="Rec", status="ok")
    return {
        name: Door.objects.create(connection=connection, vendor_ref=name, name=name.title())
        for name in ("front", "studio", "room")
    }


def desired(membership, *, now=NOW):
    rules = space_rules_load(space=membership.space)
    bookings = Booking.objects.filter(membership=membership)
    desire = access_desired(membership=membership, rules=rules, bookings=bookings, now=now)
    names = {d.pk: d.vendor_ref for d in Door.objects.all()}
    return (
        sorted((names[a.door_id], a.valid_from, a.valid_until) for a in desire.access),
        sorted(names[a.door_id] for a in desire.paused),
    )


def test_plan_rules_and_all_plan_rules_add_up(members, doors):
    flex, studio = members.plan("Flex"), members.plan("Studio")
    rule_for(members.space, doors["front"])  # every plan
    rule_for(members.space, doors["studio"], plan=studio)
    rule_for(members.space, doors["room"], plan=flex, enabled=False)
    ada = members.add(plan=flex)
    assert desired(ada) == ([("front", None, None)], [])
    members.update(ada, plan=studio)
    assert desired(ada) == ([("front", None, None), ("studio", None, None)], [])


def test_a_rule_that_needs_a_time_pass_pauses_only_its_own_doors(members, doors):
    rule_for(members.space, doors["front"])
    rule_for(members.space, doors["studio"], requires_time_pass=True)
    ada = members.add(unused_time_passes=0)
    assert desired(ada) == ([("front", None, None)], ["studio"])
    members.update(ada, unused_time_passes=None)
    assert desired(ada)[1] == []


def test_bookings_open_their_resource_with_buffers(members, doors):
    rule_for(
        members.space,
        doors["room"],
        kind="booking",
        resource_cobot_id="room-1",
        buffer_before_minutes=10,
        buffer_after_minutes=5,
    )
    ada = members.add()
    start = NOW + timedelta(hours=1)
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=1))
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=1), resource="other-room")
    past = members.book(ada, starts_at=NOW - timedelta(hours=3), ends_at=NOW - timedelta(hours=2))
    gone = members.book(ada, starts_at=start, ends_at=start + timedelta(hours=3))
    Booking.objects.filter(pk=gone.pk).update(status=Booking.Status.DELETED)
    assert past and desired(ada) == (
        [("room", start - timedelta(minutes=10), start + timedelta(hours=1, minutes=5))],
        [],
    )
    members.cancel(ada, TODAY - timedelta(days=1))
    assert desired(ada) == ([], [])


def state(doors):
    connection = next(iter(doors.values())).connection
    return persons_of(connection), grants_of(connection)


def test_door_groups_get_a_person_and_their_doors(members, doors, cobot):
    flex = members.plan("Flex")
    rule_for(members.space, doors["front"], doors["studio"], plan=flex)
    ada = members.add(plan=flex)
    report = access_sync(space=members.space)
    assert [op.action for op in report.applied] == [
        "person_create",
        "access_grant",
        "access_grant",
        "checkin_token_register",
    ]
    persons, grants = state(doors)
    (pid,) = persons
    assert grants == {(pid, "front", None, None), (pid, "studio", None, None)}
    assert cobot.space("space-a").check_in_tokens == {pid: ada.cobot_id}
    assert access_sync(space=members.space).operations == []  # in step now

    members.update(ada, plan=None)
    report = access_sync(space=members.space)
    assert sorted(op.action for op in report.applied) == ["access_revoke", "access_revoke", "person_remove"]
    assert state(doors) == ({}, set())
    assert set(Grant.objects.values_list("status", flat=True)) == {"revoked"}


def test_door_groups_keep_the_person_while_paused(members, doors, cobot):
    rule_for(members.space, doors["front"], requires_time_pass=True)
    ada = members.add(unused_time_passes=1)
    access_sync(space=members.space)
    members.update(ada, unused_time_passes=0)
    report = access_sync(space=members.space)
    assert [op.action for op in report.applied] == ["account_mark", "access_revoke"]
    persons, grants = state(doors)
    assert len(persons) == 1 and grants == set()
    assert VendorAccount.objects.get().status == "paused"
    members.update(ada, unused_time_passes=3)
    report = access_sync(space=members.space)
    assert [op.action for op in report.applied] == ["account_mark", "access_grant"]
    assert VendorAccount.objects.get().status == "active"


def test_time_windows_go_to_the_vendor_ahead_of_the_booking(members, doors, cobot):
    rule_for(
        members.space,
        doors["room"],
        kind="booking",
        resource_cobot_id="room-1",
        buffer_before_minutes=15,
        buffer_after_minutes=15,
    )
    rule_for(members.space, doors["front"])
    ada = members.add()
    start = NOW + timedelta(days=2)
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=2))
    access_sync(space=members.space, now=NOW)
    pid = next(iter(state(doors)[0]))
    assert state(doors)[1] == {
        (pid, "front", None, None),
        (pid, "room", start - timedelta(minutes=15), start + timedelta(hours=2, minutes=15)),
    }
    # A booking of a door the plan opens anyway adds nothing.
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=1), resource="room-1")
    rule_for(members.space, doors["front"], kind="booking", resource_cobot_id="room-1")
    window_start, window_end = start - timedelta(minutes=15), start + timedelta(hours=1, minutes=15)
    assert [op.describe() for op in access_sync(space=members.space, now=NOW).operations] == [
        f"grant Room to {ada} from {window_start:%Y-%m-%d %H:%M} to {window_end:%Y-%m-%d %H:%M}"
    ]


def test_vendors_without_windows_get_the_door_at_the_start_and_lose_it_at_the_end(
    members, space_a, test_vendors, cobot
):
    connection = LockConnection.objects.create(space=space_a, vendor="windowless", name="Groups", status="ok")
    room = Door.objects.create(connection=connection, vendor_ref="room", name="Room")
    rule_for(
        members.space,
        room,
        kind="booking",
        resource_cobot_id="room-1",
        buffer_before_minutes=0,
        buffer_after_minutes=0,
    )
    ada = members.add()
    start = NOW + timedelta(hours=1)
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=1))
    assert access_sync(space=space_a, now=NOW).operations == []
    access_sync(space=space_a, now=start)
    pid = next(iter(persons_of(connection)))
    assert grants_of(connection) == {(pid, "room", None, None)}
    access_sync(space=space_a, now=start + timedelta(hours=1))
    assert grants_of(connection) == set() and persons_of(connection) == {}


def test_a_dry_run_changes_nothing_anywhere(members, doors, cobot):
    rule_for(members.space, doors["front"])
    ada = members.add()
    report = access_sync(space=members.space, dry_run=True)
    assert [op.describe() for op in report.operations] == [
        f"create {ada} at Rec",
        f"grant Front to {ada}",
        f"register the new person id at Cobot as {ada}'s check-in token",
    ]
    assert report.applied == []
    assert state(doors) == ({}, set())
    assert VendorAccount.objects.count() == AuditEntry.objects.count() == 0
    assert cobot.space("space-a").check_in_tokens == {}


def test_a_disabled_door_is_taken_away_and_a_disabled_connection_is_left_alone(members, doors, cobot):
    rule_for(members.space, doors["front"], doors["studio"])
    members.add()
    access_sync(space=members.space)
    Door.objects.filter(pk=doors["studio"].pk).update(enabled=False)
    assert [op.action for op in access_sync(space=members.space).applied] == ["access_revoke"]
    LockConnection.objects.update(enabled=False)
    Membership.objects.update(status="ended")
    assert access_sync(space=members.space).operations == []
    assert len(state(doors)[1]) == 1


def test_every_change_is_audited_with_who_asked(members, doors, cobot, alice):
    rule_for(members.space, doors["front"])
    ada = members.add()
    access_sync(space=members.space, actor=alice, actor_label="dashboard")
    entries = AuditEntry.objects.filter(membership=ada).order_by("pk")
    assert [(e.action, e.result, e.actor, e.actor_label) for e in entries] == [
        ("person_create", "ok", alice, "dashboard"),
        ("access_grant", "ok", alice, "dashboard"),
        ("checkin_token_register", "ok", alice, "dashboard"),
    ]
    assert entries[1].door == doors["front"]


def test_one_member_at_a_time_touches_only_that_member(members, doors, cobot):
    rule_for(members.space, doors["front"])
    ada, bob = members.add(), members.add(name="Bob", email="bob@example.org")
    report = access_sync(space=members.space, membership_ids=[bob.pk])
    assert {op.membership for op in report.applied} == {bob}
    assert not VendorAccount.objects.filter(membership=ada).exists()


def queries(fn) -> int:
    with CaptureQueriesContext(db) as captured:
        fn()
    return len(captured)


@pytest.mark.parametrize("vendor", ["recording", "smartlock"])
def test_queries_per_member_do_not_grow_with_the_number_of_members(
    members, space_a, test_vendors, smartlock, cobot, vendor
):
    if vendor == "smartlock":
        connection = LockConnection.objects.create(
            space=space_a,
            vendor="smartlock",
            name="SL",
            credentials={"api_token": smartlock.api_token},
            config={"base_url": smartlock.url},
            status="ok",
        )
    else:
        connection = LockConnection.objects.create(space=space_a, vendor=vendor, name="Rec", status="ok")
    door = Door.objects.create(connection=connection, vendor_ref="front", name="Front")
    rule_for(space_a, door)
    room = members.plan("Room")
    rule_for(space_a, door, kind="booking", resource_cobot_id="room-1")

    def add(n):
        for i in range(n):
            m = members.add(
                name=f"M{i}", email=f"m{len(Membership.objects.all())}-{i}@example.org", plan=room
            )
            members.book(m, starts_at=NOW, ends_at=NOW + timedelta(hours=1))

    add(5)
    first = queries(lambda: access_sync(space=space_a))
    small = queries(lambda: access_sync(space=space_a))
    add(25)
    second = queries(lambda: access_sync(space=space_a))
    large = queries(lambda: access_sync(space=space_a))
    assert small == large  # nothing to change: a constant number of queries, not one per member
    assert (second - small) / 25 == (first - small) / 5  # applying: the same cost for every member


def test_dates_are_days_at_the_space_not_in_utc(members, doors, cobot):
    rule_for(members.space, doors["front"])
    members.space.time_zone = "America/New_York"
    members.space.save()
    evening = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 22:30 on March 9 in New York
    leaving = members.add(
        name="Leaving", email="l@example.org", status="canceled", canceled_to=date(2026, 3, 9)
    )
    starting = members.add(name="Starting", email="s@example.org", starts_at=date(2026, 3, 10))
    assert desired(leaving, now=evening)[0] == [("front", None, None)]  # her last day is not over there
    assert desired(starting, now=evening) == ([], [])  # his first day has not begun there
    report = access_sync(space=members.space, now=evening)
    assert {op.membership for op in report.applied} == {leaving}
    next_morning = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    report = access_sync(space=members.space, now=next_morning)
    assert {(op.action, op.membership) for op in report.applied} >= {
        ("person_remove", leaving),
        ("person_create", starting),
    }


def test_grants_are_told_whose_they_are(members, doors, cobot, test_vendors):
    rule_for(members.space, doors["front"], doors["studio"])
    ada = members.add()
    access_sync(space=members.space)
    calls = side_of(doors["front"].connection)["calls"]
    assert calls == [("access_grant", ada.cobot_id), ("access_grant", ada.cobot_id)]


def test_a_grant_created_unseen_is_ours_to_finish_or_revoke(members, doors, cobot):
    rule_for(members.space, doors["front"])
    ada = members.add()
    access_sync(space=members.space)  # person and token
    Grant.objects.all().delete()
    side = side_of(doors["front"].connection)
    side["grants"].clear()
    side["fail_after"].append(VendorTransientError("connection reset", service="Rec"))
    report = access_sync(space=members.space)
    assert report.transient is not None
    (pid,) = persons_of(doors["front"].connection)
    assert grants_of(doors["front"].connection) == {(pid, "front", None, None)}  # made, answer lost
    grant = Grant.objects.get()
    assert (grant.status, grant.vendor_ref) == ("pending", "")

    report = access_sync(space=members.space)  # the replay finishes it
    assert [op.describe() for op in report.applied] == [f"grant Front to {ada}"]
    assert len(side["grants"]) == 1
    grant.refresh_from_db()
    assert grant.status == "active" and grant.vendor_ref in side["grants"]

    Grant.objects.filter(pk=grant.pk).update(status="pending", vendor_ref="")  # lost again, then she leaves
    members.cancel(ada, TODAY - timedelta(days=1))
    report = access_sync(space=members.space)
    assert sorted(op.action for op in report.applied) == ["access_revoke", "person_remove"]
    assert state(doors) == ({}, set())


def test_a_checkin_token_cobot_has_for_another_membership_is_not_posted_again(
    members, connection, front_door, smartlock, cobot
):
    rule_for(members.space, front_door)
    ada = members.add(email="team@example.org", name="Ada")
    bob = members.add(email="team@example.org", name="Bob")  # one SmartLock person for both
    for _ in range(3):
        access_sync(space=members.space)
    (person_id,) = smartlock.users
    assert cobot.space("space-a").check_in_tokens == {person_id: ada.cobot_id}
    assert cobot.calls("POST", "/spaces/space-a/api/check_in_tokens") == 1
    assert VendorAccount.objects.get(membership=bob).checkin_token_owner == ada.cobot_id
    assert AuditEntry.objects.filter(membership=bob, action="checkin_token_taken").count() == 1

    # The owner changes: Ada leaves and her token goes at Cobot (and in the mirror). Now Bob gets it.
    members.update(ada, status="ended")
    cobot.remove_check_in_token("space-a", person_id)
    CheckInToken.objects.filter(token=person_id).delete()
    access_sync(space=members.space)
    assert cobot.space("space-a").check_in_tokens == {person_id: bob.cobot_id}
    assert VendorAccount.objects.get(membership=bob).checkin_token_owner == ""
