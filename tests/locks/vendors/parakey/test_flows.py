"""Parakey end to end with the Cobot and Parakey stand-ins: the mirror changes, AccessBridge moves members'
keys at Parakey (plan, time passes, bookings, cancellation); an unlock, polled and pushed, checks in once."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from locks.models import AccessEvent, Grant, LockConnection, VendorAccount, VendorDelivery
from locks.polling import connection_poll
from locks.selectors import connection_webhook_url
from locks.vendors.parakey.webhooks import basic_auth_header
from tests.fakes.parakey import TOKEN, iso
from tests.locks.conftest import rule_for, run_work

from .conftest import WEBHOOK_PASSWORD

AUTH = {"Authorization": basic_auth_header(username="accessbridge", password=WEBHOOK_PASSWORD)}


def synced(members, *memberships):
    members.changed(*memberships)
    run_work()


def test_keys_follow_the_membership_and_an_unlock_checks_in_once(
    live_server, settings, members, cobot, parakey, connection, doors
):
    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    space = members.space
    staff, studio, flex = members.plan("Staff"), members.plan("Studio"), members.plan("Flex")
    rule_for(space, doors["front"], plan=staff)
    rule_for(space, doors["studio"], plan=studio)
    rule_for(space, doors["front"], plan=flex, requires_time_pass=True)
    rule_for(
        space,
        doors["room"],
        kind="booking",
        resource_cobot_id="room-1",
        buffer_before_minutes=0,
        buffer_after_minutes=0,
    )

    # Sign-up: a key for the plan's door, the user created at Parakey by email.
    ada = members.add(email="ada@example.org", plan=staff)
    synced(members, ada)
    assert parakey.keys_of("ada@example.org") == {"acc-front": (None, None)}
    assert "ada@example.org" in parakey.users
    assert VendorAccount.objects.get(membership=ada).vendor_person_id == "ada@example.org"
    assert cobot.space("space-a").check_in_tokens == {}  # an email is no check-in token

    # Plan change: the keys move.
    members.update(ada, plan=studio, plan_name="Studio")
    synced(members, ada)
    assert parakey.keys_of("ada@example.org") == {"acc-studio": (None, None)}

    # A booking: a key with the booking's window.
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=2))
    synced(members, ada)
    assert parakey.keys_of("ada@example.org")["acc-room"] == (iso(start), iso(start + timedelta(hours=2)))

    # Time passes used up: revoked; back: granted again.
    bob = members.add(name="Bob", email="bob@example.org", plan=flex, unused_time_passes=1)
    synced(members, bob)
    assert parakey.keys_of("bob@example.org") == {"acc-front": (None, None)}
    members.update(bob, unused_time_passes=0)
    synced(members, bob)
    assert parakey.keys_of("bob@example.org") == {}
    members.update(bob, unused_time_passes=2)
    synced(members, bob)
    assert parakey.keys_of("bob@example.org") == {"acc-front": (None, None)}

    # Ada unlocks the studio: the webhook brings it, the next poll brings it again: one check-in.
    assert connection_poll(connection_id=connection.pk).new == 0  # the first poll keeps the ETag only
    entry = parakey.event_log("ada@example.org", "acc-studio")
    url = connection_webhook_url(connection=connection, reveal=True)
    assert parakey.webhook_post(url, entry, headers=AUTH) == 200
    LockConnection.objects.filter(pk=connection.pk).update(poll_due_at=None)
    assert connection_poll(connection_id=connection.pk).new == 0
    run_work()
    delivery = VendorDelivery.objects.get()
    assert (delivery.event_key, delivery.times_received, delivery.status) == (entry["id"], 2, "done")
    event = AccessEvent.objects.get()
    assert (event.membership, event.door, event.checkin_result) == (ada, doors["studio"], "checked_in")
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]

    # Cancelled (ended): every key revoked.
    members.cancel(ada, timezone.localdate() - timedelta(days=1))
    synced(members, ada)
    assert parakey.keys_of("ada@example.org") == {}
    assert set(Grant.objects.filter(membership=ada).values_list("status", flat=True)) == {"revoked"}


def test_a_changed_booking_end_is_a_delete_and_an_insert(members, cobot, parakey, connection, doors):
    rule_for(
        members.space,
        doors["room"],
        kind="booking",
        resource_cobot_id="room-1",
        buffer_before_minutes=0,
        buffer_after_minutes=0,
    )
    ada = members.add()
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    booking = members.book(ada, starts_at=start, ends_at=start + timedelta(hours=1))
    synced(members, ada)
    booking.ends_at = start + timedelta(hours=3)
    booking.save()
    synced(members, ada)
    assert parakey.keys_of("ada@example.org") == {"acc-room": (iso(start), iso(start + timedelta(hours=3)))}
    assert list(Grant.objects.filter(status="active").values_list("valid_until", flat=True)) == [
        booking.ends_at
    ]


def test_a_member_without_email_cannot_be_provisioned_and_the_members_page_says_so(
    signed_in, members, cobot, parakey, connection, doors
):
    rule_for(members.space, doors["front"])
    nomail = members.add(name="No Mail", email="")
    synced(members, nomail)
    assert parakey.users == {} and parakey.access_keys == {}
    page = signed_in.get(reverse("access_members", args=["space-a"])).content.decode()
    assert '<div class="error">Parakey: cannot be provisioned: no email</div>' in page


def test_a_failed_batch_item_is_a_failed_grant_with_its_reason(
    signed_in, members, cobot, parakey, connection, doors
):
    rule_for(members.space, doors["front"])
    parakey.fail_items.append("The key does not allow individual time restrictions")
    ada = members.add()
    synced(members, ada)
    assert parakey.access_keys == {}
    assert not Grant.objects.filter(status="active").exists()
    reason = (
        "Parakey did not give Front door to the member: The key does not allow individual time restrictions"
    )
    assert (
        f'<div class="error">Parakey: {reason}</div>'
        in signed_in.get(reverse("access_members", args=["space-a"])).content.decode()
    )

    # Once Parakey takes it, the next sync grants the key.
    synced(members, ada)
    assert parakey.keys_of("ada@example.org") == {"acc-front": (None, None)}


def test_connecting_shows_the_webhook_credentials_once_and_keeps_them_encrypted(signed_in, parakey, space_a):
    form = {
        "vendor": "parakey",
        "name": "Parakey",
        "settings-api_token": TOKEN,
        "settings-base_url": parakey.url,
        "settings-token_header": "access-token",
    }
    page = signed_in.post(reverse("connection_add", args=["space-a"]), form, follow=True).content.decode()
    connection = LockConnection.objects.get()
    password = connection.credentials["webhook_password"]
    header = basic_auth_header(username="accessbridge", password=password)
    assert "Parakey: 3 key(s) AccessBridge may manage" in page
    assert connection_webhook_url(connection=connection, reveal=True) in page
    assert f"add the custom header Authorization with the value: {header}" in page
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM locks_lockconnection WHERE id = %s", [connection.pk])
        assert password not in cursor.fetchone()[0]
    again = signed_in.get(reverse("connections", args=["space-a"])).content.decode()
    assert password not in again and connection.webhook_secret not in again

    # A new webhook URL comes with new credentials, shown once again.
    rotate = reverse("connection_webhook_rotate", args=["space-a", connection.pk])
    page = signed_in.post(rotate, follow=True).content.decode()
    connection.refresh_from_db()
    assert connection.credentials["webhook_password"] != password
    assert (
        basic_auth_header(username="accessbridge", password=connection.credentials["webhook_password"])
        in page
    )


def test_a_token_without_keys_for_the_api_says_how_to_allow_them(signed_in, parakey, connection):
    for access in parakey.accesses.values():
        access["api"] = False
    page = signed_in.post(reverse("connection_doors_refresh", args=["space-a", connection.pk]), follow=True)
    assert "Allow to be used with API" in page.content.decode()


def test_a_sync_with_nothing_changed_asks_parakey_nothing(members, cobot, parakey, connection, doors):
    rule_for(members.space, doors["front"])
    ada = members.add()
    synced(members, ada)
    parakey.requests.clear()
    members.changed(ada, full=True)
    run_work()
    assert parakey.requests == []
