"""Issue 12 acceptance, end to end with the Cobot and KISI stand-ins: groups synced and default rules shown,
sign-up, plan change moves groups, cancel, time passes, a booking window, an unlock → Cobot check-in, and a
remote open from the member page."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from locks.access.run import access_sync
from locks.models import AccessEvent, AccessRule, AccessSyncJob, Door, VendorAccount
from locks.selectors import connection_webhook_url
from locks.vendors import adapter_for
from tests.locks.conftest import rule_for, run_work
from tests.locks.vendors.thekeys.test_member_open import member_page, sign_in_as

from .conftest import group_door, kisi_connection


def url(name, *args):
    return reverse(name, args=["space-a", *args])


def groups_of(kisi, email: str) -> list[str]:
    return kisi.groups_of(kisi.user_of(email)["id"])


def test_groups_become_rules_and_members_follow_their_plan(signed_in, members, cobot, kisi, building):
    members_plan, studio_plan, flex = members.plan("Members"), members.plan("Studio"), members.plan("Flex")
    connection = kisi_connection(members.space, kisi, default_group="Members")
    signed_in.post(url("connection_doors_refresh", connection.pk))

    # Locks and groups are doors; each plan got the group of its exact name, Flex the default group.
    assert set(Door.objects.values_list("name", flat=True)) == {
        "Front door", "Studio door", "Group: Members", "Group: Studio"
    }
    rules = {r.plan.name: [d.name for d in r.doors.all()] for r in AccessRule.objects.all()}
    assert rules == {"Members": ["Group: Members"], "Studio": ["Group: Studio"], "Flex": ["Group: Members"]}
    page = signed_in.get(url("rules")).content.decode()
    assert "Group: Studio" in page and "Flex" in page

    # Sign-up: a KISI user (invited by KISI: not a managed user) holding the plan's group.
    ada = members.add(email="Ada@Example.org", plan=members_plan)
    members.changed(ada)
    run_work()
    user = kisi.user_of("ada@example.org")
    assert (user["send_emails"], user["confirmed"]) == (True, False)
    assert kisi.groups_of(user["id"]) == ["Members"]
    assert VendorAccount.objects.get(membership=ada).vendor_person_id == str(user["id"])
    assert cobot.space("space-a").check_in_tokens == {str(user["id"]): ada.cobot_id}

    # A plan change moves her to the other group.
    members.update(ada, plan=studio_plan, plan_name="Studio")
    members.changed(ada, reason="changed_membership_plan")
    run_work()
    assert kisi.groups_of(user["id"]) == ["Studio"]

    # Canceled and past her last day: her role assignments go; the KISI user stays (it may be used elsewhere).
    members.cancel(ada, timezone.localdate() - timedelta(days=1))
    members.changed(ada)
    run_work()
    assert kisi.groups_of(user["id"]) == [] and kisi.user_of("ada@example.org")
    assert flex  # Flex's rule is the default group's (asserted above)


def test_no_time_pass_pauses_the_group_and_a_new_one_gives_it_back(members, kisi, building, connection):
    day = members.plan("Day passes", time_passes=("Day Pass",))
    adapter_for(connection).doors_sync()
    rule_for(members.space, group_door(connection, "Members"), plan=day, requires_time_pass=True)
    bob = members.add(email="bob@example.org", name="Bob", plan=day, unused_time_passes=1)
    members.changed(bob)
    run_work()
    assert groups_of(kisi, "bob@example.org") == ["Members"]

    members.update(bob, unused_time_passes=0)
    members.changed(bob, reason="membership_removed_time_passes")
    run_work()
    assert groups_of(kisi, "bob@example.org") == []
    assert VendorAccount.objects.get(membership=bob).status == "paused"

    members.update(bob, unused_time_passes=3)
    members.changed(bob, reason="membership_added_time_passes")
    run_work()
    assert groups_of(kisi, "bob@example.org") == ["Members"]


def test_a_booking_is_a_role_assignment_with_its_window(members, kisi, building, connection):
    adapter_for(connection).doors_sync()
    studio = group_door(connection, "Studio")
    rule_for(members.space, studio, kind="booking", resource_cobot_id="room-1", buffer_before_minutes=15)
    ada = members.add()
    start = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=1))
    members.changed(ada, reason="created_booking")
    run_work()
    (assignment,) = kisi.role_assignments.values()
    assert assignment["group_id"] == int(studio.extra["group_id"])
    assert (assignment["valid_from"], assignment["valid_until"]) == (
        (start - timedelta(minutes=15)).isoformat(),
        (start + timedelta(hours=1, minutes=15)).isoformat(),
    )
    access_sync(space=members.space, now=start + timedelta(hours=1, minutes=16))
    assert kisi.role_assignments == {}


def test_an_unlock_checks_in_and_the_member_page_opens_a_lock_of_her_group(
    live_server, settings, client, members, cobot, kisi, building, connection, charlie
):
    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    adapter_for(connection).doors_sync()
    plan = members.plan("Members")
    rule_for(members.space, group_door(connection, "Members"), plan=plan)
    ada = members.add(plan=plan)
    members.changed(ada)
    run_work()
    user_id = kisi.user_of("ada@example.org")["id"]

    # Her unlock at the front door, from KISI's Event Webhook signed with the key both sides know: a check-in.
    kisi.signature_key = "sig-key-1"
    connection.credentials = {**connection.credentials, "webhook_signature_key": "sig-key-1"}
    connection.save(update_fields=["credentials"])
    webhook = connection_webhook_url(connection=connection, reveal=True)
    unlock = kisi.event(user_id=user_id, lock_id=building["front"]["id"])
    assert kisi.event_send(webhook, unlock, signature="f" * 64) == 401
    assert kisi.event_send(webhook, unlock) == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.door.name, event.checkin_result) == (ada, "Front door", "checked_in")
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]

    # From the member page inside Cobot: the front door (in her group) opens, the studio door is not hers.
    sign_in_as(client, charlie, ada)
    front, studio = Door.objects.get(name="Front door"), Door.objects.get(name="Studio door")
    page = client.get(member_page(members.space)).content.decode()
    assert reverse("member_door_open", args=["space-a", front.pk]) in page
    assert reverse("member_door_open", args=["space-a", studio.pk]) not in page
    group = group_door(connection, "Members")  # granted, not opened: no button
    assert reverse("member_door_open", args=["space-a", group.pk]) not in page
    response = client.post(reverse("member_door_open", args=["space-a", front.pk]), follow=True)
    assert "Front door opened." in response.content.decode()
    assert kisi.unlocked == [building["front"]["id"]]
    client.post(reverse("member_door_open", args=["space-a", studio.pk]))
    assert kisi.unlocked == [building["front"]["id"]]


def test_a_member_without_email_cannot_be_provisioned_and_says_so(members, kisi, building, connection):
    adapter_for(connection).doors_sync()
    rule_for(members.space, group_door(connection, "Members"))
    run_work()
    ada = members.add(email="")
    bob = members.add(email="bob@example.org", name="Bob")
    members.changed(ada, bob)
    run_work()
    assert [u["email"] for u in kisi.users.values()] == ["bob@example.org"]
    assert "cannot be provisioned: no email" in VendorAccount.objects.get(membership=ada).last_error
    assert AccessSyncJob.objects.get(membership=ada).status == "failed"
