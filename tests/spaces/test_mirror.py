"""Processing Cobot deliveries into the mirror, against the stand-in (webhook in, work_run_due, rows out)."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accessbridge.http import ServiceError
from accessbridge.work import WorkDeferred, work_run_due
from spaces.inbound import REPEAT_SETTLE
from spaces.models import Booking, CheckInToken, InboundDelivery, Membership, Plan, Space
from tests.fakes.base import Response
from tests.spaces.conftest import ADMIN_TOKEN, BOOKING_ID, MEMBER_ID, PLAN_ID, cobot_payload, webhook_post


@pytest.fixture
def deliver(client, connected, harbour, django_capture_on_commit_callbacks):
    """Post a fixture payload to our webhook, then run the queued work (as a worker would)."""

    def deliver(event: str, payload: dict | str | None = None):
        payload = cobot_payload(payload or f"{event}__basic", harbour) if not isinstance(payload, dict) else payload
        assert webhook_post(client, connected, event, payload).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            work_run_due()
        return InboundDelivery.objects.filter(event=event).order_by("-pk").first()

    return deliver


def run_once_due(delivery) -> InboundDelivery:
    """Run the delivery as the due-work clock would once its time comes."""
    InboundDelivery.objects.filter(pk=delivery.pk).update(status="pending", next_attempt_at=timezone.now())
    work_run_due()
    return InboundDelivery.objects.get(pk=delivery.pk)


def test_a_confirmed_membership_is_mirrored(deliver, ada, signals_received, connected):
    delivery = deliver("confirmed_membership")
    assert delivery.status == "done", delivery.last_error
    membership = Membership.objects.get(cobot_id=MEMBER_ID)
    assert (membership.name, membership.email, membership.cobot_user_id) == ("Ada Lovelace", "ada@example.com", "user-ada")
    assert membership.status == "confirmed"
    assert membership.plan == Plan.objects.get(space=connected, cobot_id=PLAN_ID)
    assert membership.plan.has_time_passes and membership.plan_name == "Ten Days"
    assert membership.unused_time_passes == 0  # a time-pass plan: its count is fetched with it
    assert signals_received == [
        {"signal": signals_received[0]["signal"], "space": connected, "membership_ids": [membership.pk],
         "reason": "confirmed_membership", "full": False}
    ]  # fmt: skip


def test_a_cancellation_keeps_access_until_canceled_to_then_ends(deliver, ada, harbour):
    deliver("confirmed_membership")
    last_day = timezone.localdate() + timedelta(days=10)
    harbour.cancel_membership("harbour", MEMBER_ID, last_day)
    deliver("canceled_membership")
    membership = Membership.objects.get(cobot_id=MEMBER_ID)
    assert (membership.status, membership.canceled_to) == ("canceled", last_day)

    harbour.cancel_membership("harbour", MEMBER_ID, None)
    deliver("uncanceled_membership")
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == "confirmed"

    harbour.cancel_membership("harbour", MEMBER_ID, timezone.localdate() - timedelta(days=1))
    deliver("membership_cancellation_date_reached", "canceled_membership__basic")
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == "ended"


def test_a_repeated_delivery_is_processed_again_and_changes_nothing(
    deliver, ada, signals_received, django_capture_on_commit_callbacks
):
    deliver("confirmed_membership")
    before = Membership.objects.get(cobot_id=MEMBER_ID)
    delivery = deliver("confirmed_membership")
    # A repeat right after the first run waits for its repeats to settle (REPEAT_SETTLE), then runs.
    assert (delivery.status, delivery.times_received) == ("pending", 2)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = run_once_due(delivery)
    assert delivery.status == "done"
    after = Membership.objects.get(cobot_id=MEMBER_ID)
    assert after.updated_at == before.updated_at
    assert Membership.objects.count() == 1 and len(signals_received) == 2


def test_a_deleted_membership_uses_the_object_in_the_payload(deliver, ada, harbour):
    deliver("confirmed_membership")
    harbour.delete_membership("harbour", MEMBER_ID)
    requests_before = len(harbour.requests)
    assert deliver("deleted_membership").status == "done"
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == "deleted"
    assert len(harbour.requests) == requests_before  # nothing to fetch


def test_a_delete_event_that_names_no_object_fails_with_a_reason(deliver, harbour, connected):
    from spaces.cobot.client import space_api_url

    delivery = deliver("deleted_booking", {"url": space_api_url(connected, "bookings")})
    assert delivery.status == "failed"
    assert delivery.last_error == "Cannot tell which booking was deleted: the delivery names none."


def test_a_membership_gone_at_cobot_is_marked_deleted(deliver, ada, harbour):
    deliver("confirmed_membership")
    harbour.delete_membership("harbour", MEMBER_ID)
    assert deliver("changed_membership_plan", "confirmed_membership__basic").status == "done"
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == "deleted"


def test_time_pass_events_refresh_the_unused_passes(deliver, ada, harbour):
    deliver("confirmed_membership")
    harbour.set_unused_time_passes("harbour", MEMBER_ID, 3)
    deliver("membership_added_time_passes")
    membership = Membership.objects.get(cobot_id=MEMBER_ID)
    assert membership.unused_time_passes == 3 and membership.time_passes_synced_at is not None
    harbour.set_unused_time_passes("harbour", MEMBER_ID, 1)
    deliver("membership_removed_time_passes", "membership_added_time_passes__basic")
    assert Membership.objects.get(cobot_id=MEMBER_ID).unused_time_passes == 1


def test_bookings_are_mirrored_and_deleted(deliver, ada, harbour, signals_received):
    starts = timezone.now() + timedelta(hours=2)
    harbour.add_booking("harbour", from_=starts, to=starts + timedelta(hours=1), membership_id=MEMBER_ID, booking_id=BOOKING_ID)
    deliver("created_booking")  # before the membership is mirrored: linked when it arrives
    booking = Booking.objects.get(cobot_id=BOOKING_ID)
    assert booking.membership is None and booking.membership_cobot_id == MEMBER_ID
    assert booking.starts_at == starts.replace(microsecond=0) and booking.resource_name == "Meeting Room"

    deliver("confirmed_membership")
    booking.refresh_from_db()
    assert booking.membership == Membership.objects.get(cobot_id=MEMBER_ID)

    harbour.delete_booking("harbour", BOOKING_ID)
    deliver("deleted_booking")
    booking.refresh_from_db()
    assert booking.status == "deleted"
    assert signals_received[-1]["membership_ids"] == [booking.membership_id]


def test_check_in_token_events_reread_the_token_list(deliver, ada, harbour, connected):
    deliver("confirmed_membership")
    harbour.add_check_in_token("harbour", MEMBER_ID, "04A1B2")
    deliver("created_checkin_token")
    token = CheckInToken.objects.get(space=connected)
    assert (token.token, token.membership.cobot_id) == ("04A1B2", MEMBER_ID)
    harbour.remove_check_in_token("harbour", "04A1B2")
    deliver("deleted_checkin_token", {"check_in_token": {"token": "04A1B2"}})
    assert not CheckInToken.objects.exists()


def test_a_bad_record_fails_that_delivery_only(deliver, ada, harbour):
    harbour.update_membership("harbour", MEMBER_ID, confirmed_at="the day before yesterday")
    delivery = deliver("confirmed_membership")
    assert delivery.status == "failed"
    assert "not a Cobot time" in delivery.last_error
    assert not Membership.objects.exists()

    other = harbour.add_membership("harbour", name="Grace")
    assert deliver("confirmed_membership", {"url": harbour.membership_url("harbour", other["id"])}).status == "done"
    assert Membership.objects.get().name == "Grace"


def test_a_rate_limit_is_waited_out(deliver, ada, harbour, no_sleep):
    harbour.force(Response(429, {"error": "rate limit exceeded"}, {"Retry-After": "7"}), path=f"/memberships/{MEMBER_ID}$")
    assert deliver("confirmed_membership").status == "done"
    assert no_sleep == [7.0]


def test_a_revoked_token_makes_work_wait_until_reconnected(client, alice, deliver, ada, harbour, connected):
    harbour.revoke_token(connected.access_token)
    delivery = deliver("confirmed_membership")
    assert delivery.status == "waiting"
    connected.refresh_from_db()
    assert connected.status == "reconnect_needed"
    assert "401" in connected.last_error

    # More deliveries wait too, without asking Cobot with the dead token again.
    calls = len(harbour.requests)
    assert deliver("canceled_membership").status == "waiting"
    assert len(harbour.requests) == calls

    client.force_login(alice)
    page = client.get(f"/spaces/{connected.subdomain}/")
    assert b"Reconnect needed" in page.content
    assert page.content.count(b"Waiting for an admin") == 2
    client.post("/dashboard/connect-token/", {"subdomain": "harbour", "token": ADMIN_TOKEN})
    connected.refresh_from_db()
    assert connected.status == "active"
    assert set(InboundDelivery.objects.values_list("status", flat=True)) == {"pending"}
    work_run_due()
    assert set(InboundDelivery.objects.values_list("status", flat=True)) == {"done"}
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == "confirmed"


def test_deliveries_of_a_disconnected_space_are_ignored(deliver, ada, connected):
    webhook_delivery = InboundDelivery.objects.create(
        source="cobot", space=connected, event="confirmed_membership", dedupe_key="k",
        payload=cobot_payload("confirmed_membership__basic"),
    )  # fmt: skip
    Space.objects.filter(pk=connected.pk).update(status=Space.Status.DISCONNECTED)
    work_run_due()
    webhook_delivery.refresh_from_db()
    assert webhook_delivery.status == "ignored"


def test_the_spaces_app_never_imports_locks():
    root = Path(__file__).resolve().parents[2] / "spaces"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if any(line.strip().startswith(("import locks", "from locks")) for line in path.read_text().splitlines())
    ]
    assert offenders == []


# --- a reconnect while a worker still holds the old token ---------------------------------------------
def test_a_401_for_a_token_that_a_reconnect_replaced_is_retried_not_a_reconnect(client, connected, ada, harbour):
    from spaces.cobot import client as cobot_client
    from spaces.services import space_connect

    assert webhook_post(client, connected, "confirmed_membership", cobot_payload("confirmed_membership__basic", harbour)).status_code == 200
    delivery = InboundDelivery.objects.select_related("space").get()  # a worker loaded it, with the token…
    space_connect(subdomain="harbour", user_token=ADMIN_TOKEN)  # …then an admin reconnected: old token revoked

    with pytest.raises(ServiceError) as excinfo:
        delivery.perform()
    assert excinfo.value.transient and excinfo.value.status == 401  # the work runner retries it
    with pytest.raises(ServiceError) as excinfo:
        cobot_client.membership_get(space=delivery.space, membership_cobot_id=MEMBER_ID)
    assert excinfo.value.transient
    connected.refresh_from_db()
    assert (connected.status, connected.last_error) == ("active", "")

    # The retry loads the space again and uses the new token.
    assert work_run_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "done" and Membership.objects.get(cobot_id=MEMBER_ID).status == "confirmed"


def test_a_401_after_a_disconnect_leaves_the_space_disconnected(connected, harbour):
    from spaces.cobot import client as cobot_client
    from spaces.disconnect import space_disconnect

    held = Space.objects.get(pk=connected.pk)
    space_disconnect(space=connected)
    with pytest.raises(ServiceError) as excinfo:
        cobot_client.plans_list(space=held)
    assert excinfo.value.transient
    connected.refresh_from_db()
    assert connected.status == "disconnected"


# --- a delivery Cobot repeats while it is being processed ----------------------------------------------
def test_a_delivery_received_again_while_it_runs_is_processed_again(client, deliver, ada, harbour, connected):
    deliver("confirmed_membership")
    before = harbour.membership("harbour", MEMBER_ID)
    payload = cobot_payload("canceled_membership__basic", harbour)
    assert webhook_post(client, connected, "canceled_membership", payload).status_code == 200
    delivery = InboundDelivery.objects.get(event="canceled_membership")
    InboundDelivery.objects.filter(pk=delivery.pk).update(status="running")  # a worker claimed it…
    running = InboundDelivery.objects.get(pk=delivery.pk)  # …and loaded it (received once)

    # Its fetch reads Cobot's state from before the cancellation; the cancellation lands and Cobot sends
    # the same delivery again while the first copy is still running.
    harbour.force(Response(200, before), path=f"/memberships/{MEMBER_ID}$")
    last_day = timezone.localdate() + timedelta(days=10)
    harbour.cancel_membership("harbour", MEMBER_ID, last_day)
    assert webhook_post(client, connected, "canceled_membership", payload).status_code == 200
    repeated = InboundDelivery.objects.get(pk=delivery.pk)
    assert (repeated.status, repeated.times_received) == ("running", 2)  # not re-armed: it is running

    with pytest.raises(WorkDeferred):  # it notices the repeat: once more, after the repeats settle
        running.perform()
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == "confirmed"  # its fetch was too early
    run_once_due(running)
    membership = Membership.objects.get(cobot_id=MEMBER_ID)
    assert (membership.status, membership.canceled_to) == ("canceled", last_day)
    assert harbour.calls("GET", f"/spaces/harbour/api/memberships/{MEMBER_ID}") == 3  # confirmed + two passes


def test_a_hundred_repeats_of_a_delivery_cost_at_most_two_fetches(client, deliver, ada, harbour, connected):
    payload = cobot_payload("confirmed_membership__basic", harbour)
    fetches = lambda: harbour.calls("GET", f"/spaces/harbour/api/memberships/{MEMBER_ID}")  # noqa: E731
    assert webhook_post(client, connected, "confirmed_membership", payload).status_code == 200
    delivery = InboundDelivery.objects.get(event="confirmed_membership")
    InboundDelivery.objects.filter(pk=delivery.pk).update(status="running")  # a worker claimed it…
    running = InboundDelivery.objects.get(pk=delivery.pk)
    for _ in range(40):  # …and Cobot repeats it while the first fetch runs
        assert webhook_post(client, connected, "confirmed_membership", payload).status_code == 200
    with pytest.raises(WorkDeferred):
        running.perform()
    InboundDelivery.objects.filter(pk=delivery.pk).update(  # deferred, as work_execute does
        status="pending", next_attempt_at=timezone.now() + REPEAT_SETTLE
    )
    for _ in range(59):  # more repeats while it waits: absorbed, nothing is fetched for them
        assert webhook_post(client, connected, "confirmed_membership", payload).status_code == 200
        work_run_due()
    assert fetches() == 1
    run_once_due(delivery)
    assert fetches() == 2
    assert InboundDelivery.objects.get(pk=delivery.pk).times_received == 100


def test_repeats_after_it_finished_settle_into_one_more_fetch(client, deliver, ada, harbour, connected):
    delivery = deliver("confirmed_membership")
    payload = cobot_payload("confirmed_membership__basic", harbour)
    for _ in range(99):
        assert webhook_post(client, connected, "confirmed_membership", payload).status_code == 200
        work_run_due()  # a worker ready all along: not due yet
    assert harbour.calls("GET", f"/spaces/harbour/api/memberships/{MEMBER_ID}") == 1
    delivery = run_once_due(delivery)
    assert delivery.status == "done" and delivery.times_received == 100
    assert harbour.calls("GET", f"/spaces/harbour/api/memberships/{MEMBER_ID}") == 2


# --- dates are the space's local days --------------------------------------------------------------------
def test_space_today_is_the_date_at_the_space():
    from spaces.localtime import space_today

    evening_utc = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)
    assert space_today(Space(time_zone="UTC"), evening_utc) == date(2026, 11, 1)
    assert space_today(Space(time_zone="Pacific/Auckland"), evening_utc) == date(2026, 11, 2)
    assert space_today(Space(time_zone="America/Los_Angeles"), datetime(2026, 11, 2, 3, 0, tzinfo=UTC)) == date(2026, 11, 1)


def test_a_cancellation_ends_on_the_space_local_day(deliver, ada, harbour, connected):
    from spaces.localtime import space_today

    # A zone where today is not the UTC date right now: a day ahead (UTC+14) or behind (UTC-12).
    now = timezone.now()
    ahead = now.hour >= 10
    Space.objects.filter(pk=connected.pk).update(time_zone="Etc/GMT-14" if ahead else "Etc/GMT+12")
    connected.refresh_from_db()
    local_today = space_today(connected)
    assert local_today != now.date()

    # Canceled to the UTC date: at the space, that day is over (ahead) or still today (behind).
    harbour.cancel_membership("harbour", MEMBER_ID, now.date() if ahead else now.date() - timedelta(days=1))
    deliver("canceled_membership")
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == ("ended" if ahead else "canceled")
