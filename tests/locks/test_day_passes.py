"""Day visitors end to end: Cobot (stand-in) sells a drop-in pass and POSTs created_drop_in_pass to AccessBridge
on the live server; the mirror reads the passes, the engine drives SmartLock (stand-in) for the pass's day."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from locks.access.desired import access_desired, space_rules_load
from locks.access.run import access_sync
from locks.models import AccessEvent, AuditEntry, Grant, VendorAccount
from locks.selectors import connection_webhook_url
from spaces.localtime import space_today
from spaces.models import DropInPass, InboundDelivery, Membership
from spaces.services import subscriptions_ensure
from tests.locks.conftest import rule_for, run_work
from tests.spaces.conftest import cobot_payload


@pytest.fixture
def bridge(live_server, settings, cobot_space):
    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    subscriptions_ensure(space=cobot_space)
    return cobot_space


def pass_sold(cobot, **fields) -> DropInPass:
    """Cobot sells a pass and says so; AccessBridge's worker then does its work."""
    data = cobot.add_drop_in_pass("space-a", **fields)
    results = cobot.deliver("space-a", "created_drop_in_pass", {"url": f"{cobot.api2_url}/drop_in_passes/{data['id']}"})
    assert [status for _, status in results] == [200]
    run_work()
    return DropInPass.objects.filter(cobot_id=data["id"]).first()


def day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)  # space A's time zone is UTC


def test_a_pass_for_today_puts_the_visitor_at_smartlock_at_once(bridge, cobot, smartlock, connection, front_door):
    rule_for(bridge, front_door, kind="day_pass")
    now = timezone.now()
    drop_in_pass = pass_sold(
        cobot, day=space_today(bridge, now), email="vera@example.org",
        valid_from=now - timedelta(hours=1), valid_until=now + timedelta(hours=8),
    )  # fmt: skip
    user = smartlock.user_by_email("vera@example.org")
    assert user is not None
    visitor = drop_in_pass.visitor
    assert VendorAccount.objects.get(membership=visitor).status == "active"
    # A visitor has no Cobot membership: no check-in token is registered for them.
    assert cobot.space("space-a").check_in_tokens == {}
    assert list(AuditEntry.objects.filter(membership=visitor).values_list("action", "result")) == [
        ("person_create", "ok")
    ]


def test_a_pass_for_tomorrow_opens_nothing_until_tomorrows_start_and_ends_after_the_day(
    bridge, cobot, smartlock, connection, front_door
):
    rule_for(bridge, front_door, kind="day_pass")
    tomorrow = space_today(bridge) + timedelta(days=1)
    drop_in_pass = pass_sold(cobot, day=tomorrow, email="vera@example.org")
    assert smartlock.users == {}
    assert VendorAccount.objects.count() == 0

    access_sync(space=bridge, now=day_start(tomorrow) - timedelta(minutes=1))  # the schedule, just before
    assert smartlock.users == {}
    access_sync(space=bridge, now=day_start(tomorrow) + timedelta(minutes=1))
    assert smartlock.user_by_email("vera@example.org") is not None

    access_sync(space=bridge, now=day_start(tomorrow + timedelta(days=1)) + timedelta(minutes=1))
    assert smartlock.users == {}
    assert VendorAccount.objects.get(membership=drop_in_pass.visitor).status == "removed"


def test_a_pass_without_an_email_is_shown_as_not_provisionable(
    bridge, cobot, smartlock, connection, front_door, signed_in
):
    rule_for(bridge, front_door, kind="day_pass")
    drop_in_pass = pass_sold(cobot, day=space_today(bridge), name="Nemo Nomail", email="")
    assert drop_in_pass.visitor.email == ""
    assert smartlock.users == {}
    page = signed_in.get(reverse("access_members", args=["space-a"])).content.decode()
    visitors = page[page.index("Day visitors") :]
    assert "Nemo Nomail" in visitors and "cannot be provisioned: no email" in visitors


def test_malformed_passes_are_failed_deliveries_and_open_nothing(bridge, cobot, smartlock, connection, front_door):
    rule_for(bridge, front_door, kind="day_pass")
    for name in ("drop_in_pass__no_date", "drop_in_pass__unknown_format"):
        cobot.put_drop_in_pass("space-a", cobot_payload(name))
    cobot.deliver("space-a", "created_drop_in_pass", {"url": f"{cobot.api2_url}/drop_in_passes/x"})
    run_work()
    delivery = InboundDelivery.objects.get(event="created_drop_in_pass")
    assert delivery.status == "failed"
    assert "names no day" in delivery.last_error and "not a Cobot date" in delivery.last_error
    assert smartlock.users == {}
    assert not Membership.objects.filter(kind="visitor").exists()


def test_a_visitor_opening_the_door_is_not_checked_in_again(
    bridge, cobot, smartlock, connection, front_door
):
    rule_for(bridge, front_door, kind="day_pass")
    now = timezone.now()
    drop_in_pass = pass_sold(
        cobot, day=space_today(bridge, now), email="vera@example.org",
        valid_from=now - timedelta(hours=1), valid_until=now + timedelta(hours=8),
    )  # fmt: skip
    user_id = smartlock.user_by_email("vera@example.org")["id"]
    webhook = connection_webhook_url(connection=connection, reveal=True)
    for event_id in ("evt_1", "evt_2"):
        assert smartlock.lock_opened(webhook, user_id, door_id="lock_1", event_id=event_id) == 200
        run_work()
    events = AccessEvent.objects.order_by("pk")
    assert [(e.membership, e.checkin_result) for e in events] == [(drop_in_pass.visitor, "n/a")] * 2
    assert "drop-in pass is their visit at Cobot" in events[0].checkin_message
    assert cobot.check_ins("space-a") == []


def test_members_and_visitors_keep_to_their_own_rules(members, front_door):
    side_door = front_door.connection.doors.create(vendor_ref="lock_2", name="Side door")
    rule_for(members.space, front_door)  # every plan
    rule_for(members.space, side_door, kind="day_pass")
    ada = members.add()
    today = space_today(members.space)
    visitor = Membership.objects.create(space=members.space, cobot_id="visitor:v", kind="visitor", status="confirmed")
    drop_in_pass = DropInPass.objects.create(space=members.space, cobot_id="dp", visitor=visitor, day=today)
    rules = space_rules_load(space=members.space)
    now = day_start(today) + timedelta(hours=12)
    member = access_desired(membership=ada, rules=rules, bookings=[], now=now, passes=[drop_in_pass])
    assert [a.door_id for a in member.access] == [front_door.pk]
    guest = access_desired(membership=visitor, rules=rules, bookings=[], now=now, passes=[drop_in_pass])
    assert [(a.door_id, a.valid_from, a.valid_until) for a in guest.access] == [
        (side_door.pk, day_start(today), day_start(today + timedelta(days=1)))
    ]
    drop_in_pass.status = DropInPass.Status.CANCELED
    assert access_desired(membership=visitor, rules=rules, bookings=[], now=now, passes=[drop_in_pass]).access == []


def test_a_windowed_vendor_gets_the_rules_local_hours_of_the_pass_day(space_a, test_vendors):
    from locks.models import Door, LockConnection

    space_a.time_zone = "Europe/Berlin"
    space_a.save()
    connection = LockConnection.objects.create(space=space_a, vendor="recording", name="Rec", credentials={"token": "t"})
    door = Door.objects.create(connection=connection, vendor_ref="d1", name="Front")
    rule_for(space_a, door, kind="day_pass", day_from=time(9), day_until=time(17, 30))
    day = datetime(2026, 11, 3).date()
    visitor = Membership.objects.create(
        space=space_a, cobot_id="visitor:v", kind="visitor", status="confirmed", email="vera@example.org"
    )
    DropInPass.objects.create(space=space_a, cobot_id="dp", visitor=visitor, day=day)
    access_sync(space=space_a, now=datetime(2026, 11, 2, 12, tzinfo=UTC))  # the day before: the window is sent
    grant = Grant.objects.get(membership=visitor)
    # Berlin is UTC+1 in November.
    assert (grant.valid_from, grant.valid_until) == (
        datetime(2026, 11, 3, 8, tzinfo=UTC), datetime(2026, 11, 3, 16, 30, tzinfo=UTC)
    )  # fmt: skip
    access_sync(space=space_a, now=datetime(2026, 11, 3, 16, 31, tzinfo=UTC))  # over: revoked, person removed
    grant.refresh_from_db()
    assert grant.status == "revoked"
    assert VendorAccount.objects.get(membership=visitor).status == "removed"


def test_the_rule_form_takes_a_day_pass_rule_with_hours(signed_in, space_a, front_door):
    url = reverse("rule_add", args=["space-a"])
    data = {"kind": "day_pass", "doors": [front_door.pk], "buffer_before_minutes": 15, "buffer_after_minutes": 15,
            "enabled": "on", "day_from": "18:00", "day_until": "09:00"}  # fmt: skip
    response = signed_in.post(url, data)
    assert response.status_code == 200
    assert "close after they open" in response.content.decode()
    response = signed_in.post(url, {**data, "day_from": "09:00", "day_until": "18:00"})
    assert response.status_code == 302
    rule = space_a.access_rules.get()
    assert (rule.kind, rule.day_from, rule.day_until, rule.plan) == ("day_pass", time(9), time(18), None)
