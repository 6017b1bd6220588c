"""Full sync: bounded Cobot calls at any member count, reconciliation, idempotence, scheduling."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from accessbridge.apps import SCHEDULES
from accessbridge.http import ServiceError
from accessbridge.work import work_run_due
from spaces.cobot import client as cobot_client
from spaces.cobot.records import cobot_datetime
from spaces.mirror import SUBSCRIBED_EVENTS
from spaces.models import Booking, CheckInToken, CobotSubscription, Membership, Plan, Space
from spaces.sync import space_sync, sync_apply
from spaces.sync_fetch import TIME_PASS_REFRESHES_PER_SYNC, sync_fetch
from spaces.tasks import space_sync_task, spaces_sync_all
from tests.fakes.base import Response
from tests.spaces.conftest import webhook_post

# plans, memberships, check-in tokens, bookings, work sessions, drop-in passes; since the space's time zone is
# kept current (space details) and deactivated webhook subscriptions are repaired (subscriptions list): 8.
FIXED_CALLS = 8


@pytest.fixture
def space(connected, harbour):
    harbour.requests.clear()
    return connected


@pytest.fixture
def sync(django_capture_on_commit_callbacks, harbour):
    def sync(space):
        harbour.requests.clear()
        with django_capture_on_commit_callbacks(execute=True):
            return space_sync(space=space)

    return sync


def test_2000_members_take_a_bounded_number_of_calls_and_a_second_run_changes_nothing(
    space, harbour, sync, signals_received
):
    harbour.rate_limit(60)  # Cobot: about 60/min per user
    harbour.memberships_limit(6)  # and GET /api/memberships about 6/min
    flex = harbour.add_plan("harbour", "Flex Desk")
    ten_days = harbour.add_plan("harbour", "Ten Days", time_passes=["Day Pass"])
    members = harbour.add_memberships("harbour", 1990, plan_id=flex["id"])
    on_passes = harbour.add_memberships("harbour", 10, plan_id=ten_days["id"])
    harbour.set_unused_time_passes("harbour", on_passes[0]["id"], 4)
    soon = timezone.now() + timedelta(hours=3)
    harbour.add_booking("harbour", from_=soon, to=soon + timedelta(hours=1), membership_id=members[0]["id"])
    harbour.add_check_in_token("harbour", members[1]["id"], "04A1B2")

    result = sync(space)

    # Exactly these calls: a 429 would have shown as a repeated call.
    assert len(harbour.requests) == FIXED_CALLS + 10 == result["cobot_calls"]
    assert harbour.calls("GET", "/spaces/harbour/api/memberships") == 1
    assert result["memberships"] == {"created": 2000, "updated": 0, "ended": 0, "unchanged": 0, "listed": 2000}
    assert result["bookings"]["created"] == 1 and result["checkin_tokens"]["created"] == 1
    assert result["time_passes"] == {"refreshed": 10, "pending": 0}
    assert Membership.objects.filter(space=space, status="confirmed").count() == 2000
    assert Membership.objects.get(cobot_id=on_passes[0]["id"]).unused_time_passes == 4
    assert Booking.objects.get().membership.cobot_id == members[0]["id"]
    assert CheckInToken.objects.get().membership.cobot_id == members[1]["id"]
    space.refresh_from_db()
    assert space.last_synced_at is not None and space.last_sync_result["changed_rows"] > 2000

    last_write = Membership.objects.aggregate(Max("updated_at"))["updated_at__max"]
    again = sync(space)
    assert again["changed_rows"] == 0
    assert again["memberships"]["unchanged"] == 2000
    assert len(harbour.requests) == FIXED_CALLS  # no time pass needs a look
    assert Membership.objects.aggregate(Max("updated_at"))["updated_at__max"] == last_write

    assert [(s["full"], s["reason"], len(s["membership_ids"])) for s in signals_received] == [
        (True, "full_sync", 2000),
        (True, "full_sync", 0),
    ]


def test_time_pass_lookups_are_capped_per_run_and_continue_in_the_next(space, harbour, sync):
    ten_days = harbour.add_plan("harbour", "Ten Days", time_passes=["Day Pass"])
    harbour.add_memberships("harbour", 2000, plan_id=ten_days["id"])

    first = sync(space)
    assert len(harbour.requests) == FIXED_CALLS + TIME_PASS_REFRESHES_PER_SYNC
    assert first["time_passes"] == {"refreshed": TIME_PASS_REFRESHES_PER_SYNC, "pending": 2000 - TIME_PASS_REFRESHES_PER_SYNC}
    second = sync(space)
    assert len(harbour.requests) == FIXED_CALLS + TIME_PASS_REFRESHES_PER_SYNC
    assert Membership.objects.filter(unused_time_passes__isnull=False).count() == 2 * TIME_PASS_REFRESHES_PER_SYNC
    assert second["time_passes"]["pending"] == 2000 - 2 * TIME_PASS_REFRESHES_PER_SYNC


def test_a_member_who_used_a_time_pass_is_looked_at_again(space, harbour, sync):
    ten_days = harbour.add_plan("harbour", "Ten Days", time_passes=["Day Pass"])
    ada, grace = harbour.add_memberships("harbour", 2, plan_id=ten_days["id"])
    harbour.set_unused_time_passes("harbour", ada["id"], 3)
    sync(space)
    cobot_client.checkin_by_membership(space=space, membership_cobot_id=ada["id"])  # uses a pass at Cobot

    result = sync(space)
    assert [r.path for r in harbour.requests if "time_passes" in r.path] == [
        f"/spaces/harbour/api/memberships/{ada['id']}/time_passes/unused"
    ]
    assert result["changed_rows"] == 1
    assert Membership.objects.get(cobot_id=ada["id"]).unused_time_passes == 2


def test_it_reconciles_what_changed_at_cobot(space, harbour, sync):
    flex = harbour.add_plan("harbour", "Flex Desk")
    fixed = harbour.add_plan("harbour", "Fixed Desk")
    ada, grace, linus, joan = harbour.add_memberships("harbour", 4, plan_id=flex["id"])
    soon = timezone.now() + timedelta(days=1)
    booking = harbour.add_booking("harbour", from_=soon, to=soon + timedelta(hours=1), membership_id=ada["id"])
    harbour.add_check_in_token("harbour", ada["id"], "04A1B2")
    sync(space)

    today = timezone.localdate()
    harbour.change_plan("harbour", ada["id"], fixed["id"])
    harbour.cancel_membership("harbour", grace["id"], today + timedelta(days=14))
    harbour.cancel_membership("harbour", linus["id"], today - timedelta(days=1))  # no longer listed
    harbour.delete_membership("harbour", joan["id"])
    harbour.delete_booking("harbour", booking["id"])
    harbour.remove_check_in_token("harbour", "04A1B2")
    result = sync(space)

    statuses = dict(Membership.objects.values_list("cobot_id", "status"))
    assert statuses == {ada["id"]: "confirmed", grace["id"]: "canceled", linus["id"]: "ended", joan["id"]: "ended"}
    assert Membership.objects.get(cobot_id=ada["id"]).plan == Plan.objects.get(cobot_id=fixed["id"])
    assert Membership.objects.get(cobot_id=grace["id"]).canceled_to == today + timedelta(days=14)
    assert result["memberships"] == {"created": 0, "updated": 2, "ended": 2, "unchanged": 0, "listed": 2}
    assert Booking.objects.get().status == "deleted"
    assert not CheckInToken.objects.exists()
    assert result["changed_rows"] == 2 + 2 + 1 + 1


def test_bookings_beyond_the_window_are_left_alone(space, harbour, sync):
    far = timezone.now() + timedelta(days=90)
    Booking.objects.create(
        space=space, cobot_id="far", resource_cobot_id="r", starts_at=far, ends_at=far + timedelta(hours=1)
    )
    sync(space)
    assert Booking.objects.get().status == "active"


def test_an_unreadable_record_is_counted_and_skipped(space, harbour, sync):
    ada, grace = harbour.add_memberships("harbour", 2)
    sync(space)
    # (The stand-in itself parses canceled_to, so the unreadable value goes in confirmed_at.)
    harbour.update_membership("harbour", ada["id"], confirmed_at="last Tuesday", name="Ada L.")
    harbour.update_membership("harbour", grace["id"], name="Grace H.")
    result = sync(space)
    assert result["error_count"] == 1 and "not a Cobot time" in result["errors"][0]
    assert not result["ok"]
    ada_row = Membership.objects.get(cobot_id=ada["id"])
    assert ada_row.status == "confirmed" and ada_row.name != "Ada L."  # untouched, and not ended either
    assert Membership.objects.get(cobot_id=grace["id"]).name == "Grace H."


def test_a_revoked_token_stops_the_sync_and_asks_for_a_reconnect(space, harbour, sync):
    harbour.revoke_token(space.access_token)
    with pytest.raises(ServiceError):
        sync(space)
    space.refresh_from_db()
    assert space.status == "reconnect_needed"
    assert "401" in space.last_sync_result["error"]
    assert space_sync(space=space) == {"skipped": "space is reconnect needed"}
    with pytest.raises(CommandError, match="reconnect"):
        Space.objects.filter(pk=space.pk).update(status="active")
        call_command("sync_space", "harbour")


def test_the_sync_space_command_prints_the_counts(space, harbour, capsys):
    harbour.add_memberships("harbour", 3)
    call_command("sync_space", "harbour")
    assert json.loads(capsys.readouterr().out)["memberships"]["created"] == 3
    with pytest.raises(CommandError, match="No space"):
        call_command("sync_space", "nowhere")


def test_the_commands_take_a_subdomain_as_typed_and_name_the_known_ones(space, harbour, capsys):
    call_command("sync_space", " Harbour ")  # as someone might paste it
    assert json.loads(capsys.readouterr().out)["ok"] is True
    with pytest.raises(CommandError, match=r"No space with the subdomain 'harbor'\. Known: harbour\."):
        call_command("sync_space", "harbor")
    with pytest.raises(CommandError, match="Known: harbour"):
        call_command("disconnect_space", "harbor")
    with pytest.raises(CommandError, match="Known: harbour"):
        call_command("sync_access", "harbor")


def test_a_sync_runs_every_15_minutes_for_every_connected_space(space, space_a, space_b):
    entry = next(e for e in SCHEDULES if e["func"] == "spaces.tasks.spaces_sync_all")
    assert entry["minutes"] == 15
    assert Schedule.objects.filter(func="spaces.tasks.spaces_sync_all", minutes=15).exists()
    Space.objects.filter(pk=space_b.pk).update(status="disconnected")
    assert spaces_sync_all() == 2
    assert OrmQ.objects.count() == 2


def test_the_sync_task_records_a_failure_instead_of_crashing(space, harbour):
    harbour.revoke_token(space.access_token)
    assert space_sync_task(space.pk)["ok"] is False
    assert space_sync_task(999_999) == {"skipped": "no such space"}


def test_sync_now_enqueues_a_sync(client, alice, space, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("space_sync_now", args=["harbour"]))
    assert response.status_code == 302
    assert OrmQ.objects.count() == 1


# --- webhooks processed while the sync fetches are newer than what it fetched ------------------------------
def test_webhooks_processed_while_the_sync_fetches_are_not_overwritten(
    client, space, harbour, sync, django_capture_on_commit_callbacks
):
    from spaces.services import checkin_token_ensure

    flex = harbour.add_plan("harbour", "Flex Desk")
    ada, grace = harbour.add_memberships("harbour", 2, plan_id=flex["id"])
    soon = timezone.now() + timedelta(hours=3)
    booking = harbour.add_booking("harbour", from_=soon, to=soon + timedelta(hours=1), membership_id=ada["id"])
    sync(space)

    fetched = sync_fetch(space=space)  # step 1: Cobot as it was
    # Meanwhile at Cobot, each change announced by a webhook that a worker processes before step 2:
    linus = harbour.add_membership("harbour", name="Linus", plan_id=flex["id"])
    harbour.delete_membership("harbour", grace["id"])
    harbour.delete_booking("harbour", booking["id"])
    for event, payload in (
        ("confirmed_membership", {"url": harbour.membership_url("harbour", linus["id"])}),
        ("deleted_membership", {"membership": grace}),
        ("deleted_booking", {"booking": booking}),
    ):
        assert webhook_post(client, space, event, payload).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert work_run_due() == 3
    # …and a door connection registers a card as Ada's check-in token.
    checkin_token_ensure(membership=Membership.objects.get(cobot_id=ada["id"]), token="CARD-2")

    with django_capture_on_commit_callbacks(execute=True):
        result = sync_apply(space=space, fetched=fetched)  # step 2

    statuses = dict(Membership.objects.values_list("cobot_id", "status"))
    assert statuses == {ada["id"]: "confirmed", grace["id"]: "deleted", linus["id"]: "confirmed"}
    assert Booking.objects.get(cobot_id=booking["id"]).status == "deleted"
    assert CheckInToken.objects.filter(token="CARD-2").exists()
    assert result["skipped_changed_meanwhile"] == 4  # grace, linus (not listed), the booking, the token
    assert result["changed_rows"] == 0

    again = sync(space)  # the next run agrees with the webhooks
    assert again["changed_rows"] == 0 and again["skipped_changed_meanwhile"] == 0
    assert CheckInToken.objects.filter(token="CARD-2").exists()


# --- bookings: from a day back, and only those starting in the window can be gone ------------------
def test_bookings_in_progress_are_not_taken_for_deleted(space, harbour, sync):
    ada = harbour.add_membership("harbour")
    now = timezone.now()
    meeting = harbour.add_booking("harbour", from_=now - timedelta(hours=2), to=now + timedelta(hours=2), membership_id=ada["id"])
    week = harbour.add_booking("harbour", from_=now - timedelta(days=2), to=now + timedelta(days=5), membership_id=ada["id"])
    sync(space)
    assert Booking.objects.filter(status="active").count() == 2
    (request,) = harbour.requests_to("GET", "/spaces/harbour/api/bookings")
    assert cobot_datetime(request.query["from"][0]) <= now - timedelta(days=1)

    # Should Cobot list only bookings STARTING in the window, the week-long one is missing from the answer.
    harbour.force(Response(200, [meeting]), path="/api/bookings$")
    result = sync(space)
    assert result["bookings"]["deleted"] == 0
    assert set(Booking.objects.filter(status="active").values_list("cobot_id", flat=True)) == {meeting["id"], week["id"]}


# --- webhook subscriptions Cobot deactivated are repaired ------------------------------------------------
def test_the_sync_repairs_subscriptions_cobot_deactivated_or_lost(space, harbour, sync):
    at_cobot = harbour.space("harbour")
    deactivated = next(s for s in at_cobot.subscriptions.values() if s["event"] == "confirmed_membership")
    deactivated["active"] = False  # Cobot gave up after ~20 h of failed deliveries
    lost = next(sid for sid, s in at_cobot.subscriptions.items() if s["event"] == "created_booking")
    del at_cobot.subscriptions[lost]

    result = sync(space)
    kept = len(SUBSCRIBED_EVENTS) - 2
    assert result["subscriptions"] == {"kept": kept, "created": 2, "deleted": 1, "refused": 0}
    assert len(harbour.requests) == result["cobot_calls"] == FIXED_CALLS + 3
    active = [s for s in at_cobot.subscriptions.values() if s["active"]]
    assert sorted(s["event"] for s in active) == sorted(SUBSCRIBED_EVENTS) and len(at_cobot.subscriptions) == len(active)
    assert CobotSubscription.objects.get(space=space, event="confirmed_membership").cobot_id == next(
        s["id"] for s in active if s["event"] == "confirmed_membership"
    )

    again = sync(space)
    assert again["subscriptions"] == {"kept": len(SUBSCRIBED_EVENTS), "created": 0, "deleted": 0, "refused": 0}
    assert len(harbour.requests) == FIXED_CALLS


def test_a_subscription_list_cobot_refuses_does_not_stop_the_sync(space, harbour, sync):
    harbour.add_memberships("harbour", 2)
    harbour.force(Response(403, {"error": "insufficient_scope"}), path="/api/subscriptions$")
    result = sync(space)
    assert result["memberships"]["created"] == 2
    assert not result["ok"] and "subscriptions: HTTP 403" in result["errors"][0]
    assert result["parts_failed"] == ["subscriptions"]
    space.refresh_from_db()
    assert space.status == "active"
    problem = space.feature_problems.get()
    assert problem.feature == "subscriptions" and problem.missing_scope == "read_subscriptions write_subscriptions"


# --- the space's time zone -----------------------------------------------------------------------------------
def test_the_sync_keeps_the_time_zone_and_uses_the_local_date(space, harbour, sync):
    now = timezone.now()
    ahead = now.hour >= 10  # a zone where today is the UTC date + 1 (UTC+14) or - 1 (UTC-12) right now
    zone = "Etc/GMT-14" if ahead else "Etc/GMT+12"
    details = {"id": "space-harbour", "name": "Harbour Works", "subdomain": "harbour", "time_zone_name": zone}
    ada, grace = harbour.add_memberships("harbour", 2)
    # Canceled to today's UTC date: still current for the stand-in (which counts in UTC) and listed.
    harbour.cancel_membership("harbour", ada["id"], now.date())
    harbour.force(Response(200, details), path="^/api/spaces/harbour$")

    sync(space)
    space.refresh_from_db()
    assert space.time_zone == zone
    assert Membership.objects.get(cobot_id=ada["id"]).status == ("ended" if ahead else "canceled")
    assert Membership.objects.get(cobot_id=grace["id"]).status == "confirmed"
