"""End to end with the Cobot and SmartLock stand-ins: the mirror changes, AccessBridge drives SmartLock
and registers check-in tokens at Cobot; door openings become Cobot check-ins (seed 000 steps 1 and 2)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from locks.access.run import access_sync
from locks.models import AccessEvent, AuditEntry, Door, VendorAccount
from tests.locks.conftest import rule_for, run_work, smartlock_connection


def person_of(smartlock, email):
    return smartlock.user_by_email(email)


def test_it_creates_a_person_and_a_checkin_token_for_a_confirmed_member(
    members, cobot, smartlock, connection, front_door
):
    rule_for(members.space, front_door)
    run_work()
    ada = members.add(email="ada@example.org")
    members.changed(ada, reason="confirmed_membership")
    run_work()

    person = person_of(smartlock, "ada@example.org")
    assert person is not None
    account = VendorAccount.objects.get(membership=ada)
    assert (account.vendor_person_id, account.status) == (person["id"], "active")
    assert cobot.space("space-a").check_in_tokens == {person["id"]: ada.cobot_id}
    assert ada.checkin_tokens.get().token == person["id"]
    actions = list(AuditEntry.objects.filter(membership=ada).values_list("action", "result"))
    assert actions == [("checkin_token_register", "ok"), ("person_create", "ok")]


def test_a_lock_opening_checks_the_member_in_at_cobot(
    live_server, settings, members, cobot, smartlock, connection, front_door
):
    from locks.selectors import connection_webhook_url

    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    rule_for(members.space, front_door)
    ada = members.add(email="ada@example.org")
    members.changed(ada)
    run_work()
    user_id = person_of(smartlock, "ada@example.org")["id"]
    url = connection_webhook_url(connection=connection, reveal=True)

    assert smartlock.lock_opened(url, user_id, door_id="lock_1", event_id="evt_1") == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.door, event.checkin_result) == (ada, front_door, "checked_in")
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]

    # The same day again: Cobot says "already checked in", which is no failure.
    assert smartlock.lock_opened(url, user_id, door_id="lock_1", event_id="evt_2") == 200
    run_work()
    second = AccessEvent.objects.get(vendor_event_id="evt_2")
    assert (second.checkin_result, second.checkin_message) == ("already", "Member is already checked in.")
    assert len(cobot.check_ins("space-a")) == 1
    from locks.models import VendorDelivery

    assert set(VendorDelivery.objects.values_list("status", flat=True)) == {"done"}


def test_the_same_event_twice_is_one_event_and_one_checkin(
    client, members, cobot, smartlock, connection, front_door
):
    from locks.selectors import connection_webhook_url

    rule_for(members.space, front_door)
    ada = members.add()
    members.changed(ada)
    run_work()
    user_id = person_of(smartlock, "ada@example.org")["id"]
    url = connection_webhook_url(connection=connection, reveal=True)
    body = {"event": f'{{"id": "evt_9", "user": {{"id": "{user_id}"}}, "lock": {{"id": "lock_1"}}}}'}
    for _ in range(2):
        assert client.post(url, body).status_code == 200
        run_work()
    assert AccessEvent.objects.count() == 1
    assert len(cobot.check_ins("space-a")) == 1


def test_it_removes_the_person_when_the_membership_ends(members, cobot, smartlock, connection, front_door):
    rule_for(members.space, front_door)
    ada = members.add()
    members.changed(ada)
    run_work()
    user_id = person_of(smartlock, "ada@example.org")["id"]

    today = timezone.localdate()
    members.cancel(ada, today)  # canceled to today: still a member until the day is over
    members.changed(ada, reason="canceled_membership")
    run_work()
    assert person_of(smartlock, "ada@example.org") is not None

    # The next day's schedule catches canceled_to passing; no webhook needed.
    tomorrow = timezone.now() + timedelta(days=1)
    report = access_sync(space=members.space, now=tomorrow)
    assert [op.action for op in report.applied] == ["person_remove"]
    assert person_of(smartlock, "ada@example.org") is None
    assert smartlock.requests_to("DELETE", f"/users/{user_id}")
    assert VendorAccount.objects.get(membership=ada).status == "removed"


def test_the_schedule_queues_a_sync_of_every_space_with_locks(members, connection, front_door):
    from locks.models import AccessSyncJob
    from locks.tasks import access_sync_daily, access_sync_due

    AccessSyncJob.objects.all().delete()
    assert access_sync_due() == 1
    assert access_sync_daily() == 1  # joins the job not yet started, and asks it to read the vendors
    job = AccessSyncJob.objects.get()
    assert (job.membership, job.refresh) == (None, True)


def test_a_plan_change_moves_the_member_to_the_other_doors(members, cobot, smartlock, connection, front_door):
    from tests.fakes.smartlock import SmartLockFake

    with SmartLockFake() as studio_lock:
        studio = smartlock_connection(members.space, studio_lock, name="Studio")
        studio_door = Door.objects.create(connection=studio, vendor_ref="studio", name="Studio door")
        flex, studio_plan = members.plan("Flex"), members.plan("Studio")
        rule_for(members.space, front_door, plan=flex)
        rule_for(members.space, front_door, studio_door, plan=studio_plan)
        ada = members.add(plan=flex)
        members.changed(ada)
        run_work()
        assert person_of(smartlock, "ada@example.org") and not studio_lock.users

        cobot.change_plan("space-a", ada.cobot_id, studio_plan.cobot_id)
        members.update(ada, plan=studio_plan, plan_name="Studio")
        members.changed(ada, reason="changed_membership_plan")
        run_work()
        studio_id = studio_lock.user_by_email("ada@example.org")["id"]
        assert person_of(smartlock, "ada@example.org") is not None
        assert set(cobot.space("space-a").check_in_tokens) == {
            person_of(smartlock, "ada@example.org")["id"],
            studio_id,
        }

        members.update(ada, plan=flex, plan_name="Flex")
        members.changed(ada, reason="changed_membership_plan")
        run_work()
        assert studio_lock.users == {}
        assert person_of(smartlock, "ada@example.org") is not None


def test_no_time_pass_left_pauses_the_member_and_a_new_one_resumes(
    members, cobot, smartlock, connection, front_door
):
    day_passes = members.plan("Day passes", time_passes=("Day Pass",))
    rule_for(members.space, front_door, plan=day_passes, requires_time_pass=True)
    ada = members.add(plan=day_passes, unused_time_passes=2)
    members.changed(ada)
    run_work()
    first_id = person_of(smartlock, "ada@example.org")["id"]

    members.update(ada, unused_time_passes=0)
    members.changed(ada, reason="membership_removed_time_passes")
    run_work()
    assert person_of(smartlock, "ada@example.org") is None
    assert VendorAccount.objects.get(membership=ada).status == "paused"

    members.update(ada, unused_time_passes=5)
    members.changed(ada, reason="membership_added_time_passes")
    run_work()
    resumed = person_of(smartlock, "ada@example.org")
    account = VendorAccount.objects.get(membership=ada)
    assert (account.status, account.vendor_person_id) == ("active", resumed["id"])
    assert cobot.space("space-a").check_in_tokens[resumed["id"]] == ada.cobot_id
    assert first_id != resumed["id"]


def test_an_unknown_number_of_time_passes_does_not_pause(members, smartlock, connection, front_door):
    day_passes = members.plan("Day passes", time_passes=("Day Pass",))
    rule_for(members.space, front_door, plan=day_passes, requires_time_pass=True)
    ada = members.add(plan=day_passes, unused_time_passes=None)
    members.changed(ada)
    run_work()
    assert person_of(smartlock, "ada@example.org") is not None


def test_a_booking_opens_the_room_only_inside_its_window(members, cobot, smartlock, connection):
    room = Door.objects.create(connection=connection, vendor_ref="room_1", name="Room 1")
    rule_for(
        members.space,
        room,
        kind="booking",
        resource_cobot_id="room-1",
        buffer_before_minutes=15,
        buffer_after_minutes=10,
    )
    ada = members.add()
    start = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=1))
    members.changed(ada, reason="created_booking")
    run_work()
    assert person_of(smartlock, "ada@example.org") is None  # not yet

    space = members.space
    assert access_sync(space=space, now=start - timedelta(minutes=16)).operations == []
    access_sync(space=space, now=start - timedelta(minutes=15))
    assert person_of(smartlock, "ada@example.org") is not None
    access_sync(space=space, now=start + timedelta(minutes=69))
    assert person_of(smartlock, "ada@example.org") is not None
    access_sync(space=space, now=start + timedelta(minutes=70))
    assert person_of(smartlock, "ada@example.org") is None
    assert VendorAccount.objects.get(membership=ada).status == "removed"


def test_a_second_membership_with_the_same_email_shares_the_person_and_keeps_it(
    members, smartlock, connection, front_door
):
    rule_for(members.space, front_door)
    ada = members.add(email="team@example.org", name="Ada")
    bob = members.add(email="team@example.org", name="Bob")
    members.changed(ada, bob)
    run_work()
    assert len(smartlock.users) == 1
    members.cancel(bob, timezone.localdate() - timedelta(days=1))
    members.changed(bob)
    run_work()
    assert len(smartlock.users) == 1  # Ada still opens the door
    assert (
        "kept at the vendor" in AuditEntry.objects.filter(membership=bob, action="person_remove").get().detail
    )


@pytest.mark.parametrize("missing", ["email"])
def test_a_member_without_email_fails_visibly_and_others_go_on(
    members, smartlock, connection, front_door, missing
):
    from locks.models import AccessSyncJob

    rule_for(members.space, front_door)
    run_work()
    ada = members.add(email="")
    bob = members.add(email="bob@example.org", name="Bob")
    members.changed(ada, bob)
    run_work()
    assert [u["email"] for u in smartlock.users.values()] == ["bob@example.org"]
    job = AccessSyncJob.objects.get(membership=ada)
    assert job.status == "failed"
    assert "no email address" in job.last_error
    assert "no email address" in VendorAccount.objects.get(membership=ada).last_error


def test_the_check_in_that_used_the_last_time_pass_keeps_the_door_for_the_day(
    client, members, cobot, smartlock, connection, front_door
):
    from locks.selectors import connection_webhook_url

    day_passes = members.plan("Day passes", time_passes=("Day Pass",))
    rule_for(members.space, front_door, plan=day_passes, requires_time_pass=True)
    ada = members.add(plan=day_passes, unused_time_passes=1)
    cobot.set_unused_time_passes("space-a", ada.cobot_id, 1)
    members.changed(ada)
    run_work()
    person = person_of(smartlock, "ada@example.org")
    # Morning: she opens the door; the check-in at Cobot uses her last time pass.
    url = connection_webhook_url(connection=connection, reveal=True)
    body = {
        "event": f'{{"id": "evt_morning", "user": {{"id": "{person["id"]}"}}, "lock": {{"id": "lock_1"}}}}'
    }
    assert client.post(url, body).status_code == 200
    run_work()
    assert AccessEvent.objects.get().checkin_result == "checked_in"
    assert cobot.space("space-a").unused_time_passes[ada.cobot_id] == []
    members.update(ada, unused_time_passes=0)
    members.changed(ada, reason="membership_removed_time_passes")
    run_work()
    # The afternoon: her key still works; a check-in today paid for the day.
    assert person_of(smartlock, "ada@example.org") is not None
    assert not smartlock.requests_to("DELETE", "/users/.*")
    # The next day, with no pass left, she is paused.
    access_sync(space=members.space, now=timezone.now() + timedelta(days=1))
    assert person_of(smartlock, "ada@example.org") is None
    assert VendorAccount.objects.get(membership=ada).status == "paused"


def test_the_audit_says_so_when_no_checkin_token_had_to_be_sent(
    members, cobot, smartlock, connection, front_door
):
    # Two connections to the same SmartLock account: one person, so one check-in token to register.
    second = smartlock_connection(members.space, smartlock, name="Same account, back door")
    rule_for(
        members.space, front_door, Door.objects.create(connection=second, vendor_ref="lock_2", name="Back")
    )
    ada = members.add()
    access_sync(space=members.space)
    (person_id,) = smartlock.users
    assert cobot.calls("POST", "/spaces/space-a/api/check_in_tokens") == 1
    details = list(
        AuditEntry.objects.filter(membership=ada, action="checkin_token_register")
        .order_by("pk")
        .values_list("detail", flat=True)
    )
    assert details == [
        f"registered {person_id[:4]}… at Cobot as {ada}'s check-in token",
        f"{person_id[:4]}… is already {ada}'s check-in token at Cobot; nothing sent",
    ]
