"""Cobot drop-in (day) passes into the mirror: read defensively, webhook and full sync, visitors."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from accessbridge.work import work_run_due
from spaces.cobot.records import CobotDataError, drop_in_pass_record
from spaces.models import DropInPass, FeatureProblem, InboundDelivery, Membership
from spaces.sync import space_sync
from tests.spaces.conftest import cobot_payload, webhook_post


def test_it_reads_a_json_api_pass():
    record = drop_in_pass_record(cobot_payload("drop_in_pass__api2"))
    assert (record.cobot_id, record.name, record.email) == (
        "d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2", "Vera Visitor", "vera@example.org"
    )  # fmt: skip
    assert record.day == date(2026, 11, 3)
    assert record.valid_from == datetime(2026, 11, 3, 7, tzinfo=UTC)
    assert record.valid_until == datetime(2026, 11, 3, 17, tzinfo=UTC)
    assert not record.canceled
    assert record.raw["relationships"]["space"]["data"]["id"] == "space-harbour"  # kept whole


def test_it_reads_a_flat_pass_with_its_person_nested():
    record = drop_in_pass_record(cobot_payload("drop_in_pass__api1"))
    assert (record.name, record.email, record.day) == ("Vera Visitor", "vera@example.org", date(2026, 11, 4))
    assert (record.valid_from, record.valid_until, record.canceled) == (None, None, False)


def test_a_canceled_pass_reads_as_canceled():
    assert drop_in_pass_record(cobot_payload("drop_in_pass__canceled")).canceled


@pytest.mark.parametrize(
    "data, message",
    [
        (cobot_payload("drop_in_pass__no_date"), "names no day"),
        (cobot_payload("drop_in_pass__unknown_format"), "not a Cobot date: 'next Tuesday'"),
        ({"id": "x", "date": "2026-11-03", "validFrom": "2026-11-03T18:00Z", "validUntil": "2026-11-03T08:00Z"},
         "ends before it starts"),
        ({"id": "x", "date": 20261103}, "not a Cobot date"),
        ({"date": "2026-11-03"}, "without an id"),
        (["not", "an", "object"], "expected an object"),
    ],
)  # fmt: skip
def test_a_pass_it_cannot_read_is_an_error_naming_why(data, message):
    with pytest.raises(CobotDataError, match=message):
        drop_in_pass_record(data)


@pytest.fixture
def deliver(client, connected, django_capture_on_commit_callbacks):
    def deliver(payload=None):
        payload = payload if payload is not None else cobot_payload("created_drop_in_pass__basic")
        assert webhook_post(client, connected, "created_drop_in_pass", payload).status_code == 200
        # A repeat of the same body waits for its repeats to settle (spaces.inbound.REPEAT_SETTLE): that time
        # has passed, as far as this test is concerned.
        InboundDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            work_run_due()
        return InboundDelivery.objects.filter(event="created_drop_in_pass").order_by("-pk").first()

    return deliver


def test_connecting_subscribes_to_created_drop_in_pass(connected, harbour):
    events = {s["event"] for s in harbour.space("harbour").subscriptions.values()}
    assert "created_drop_in_pass" in events


def test_a_new_pass_makes_a_visitor_and_tells_the_door_side(deliver, harbour, signals_received):
    today = timezone.localdate()
    data = harbour.add_drop_in_pass("harbour", day=today, name="Vera Visitor", email="Vera@Example.org")
    # The payload's url names API 2's host, not the space's: it is never fetched, the list is read instead.
    delivery = deliver()
    assert delivery.status == "done", delivery.last_error
    drop_in_pass = DropInPass.objects.get(cobot_id=data["id"])
    assert (drop_in_pass.day, drop_in_pass.status, drop_in_pass.raw) == (today, "active", data)
    visitor = drop_in_pass.visitor
    assert (visitor.kind, visitor.status, visitor.email) == ("visitor", "confirmed", "Vera@Example.org")
    assert visitor.cobot_id.startswith("visitor:")
    assert signals_received[-1]["membership_ids"] == [visitor.pk]
    assert harbour.calls("GET", r"/api2/spaces/space-harbour/drop_in_passes") == 1

    # The same person's next pass: the same visitor.
    harbour.add_drop_in_pass("harbour", day=today + timedelta(days=7), name="Vera V.", email="vera@example.org")
    assert deliver().status == "done"
    assert Membership.objects.filter(kind="visitor").count() == 1
    assert Membership.objects.get(kind="visitor").drop_in_passes.count() == 2


def test_malformed_passes_fail_the_delivery_with_a_reason_and_the_others_apply(deliver, harbour, signals_received):
    good = harbour.add_drop_in_pass("harbour", day=timezone.localdate(), email="vera@example.org")
    harbour.put_drop_in_pass("harbour", cobot_payload("drop_in_pass__no_date"))
    harbour.put_drop_in_pass("harbour", cobot_payload("drop_in_pass__unknown_format"))
    delivery = deliver()
    assert delivery.status == "failed"
    assert "drop-in pass f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4 names no day" in delivery.last_error
    assert "not a Cobot date: 'next Tuesday'" in delivery.last_error
    assert list(DropInPass.objects.values_list("cobot_id", flat=True)) == [good["id"]]
    assert not Membership.objects.filter(email__in=["nora@example.org", "uma@example.org"]).exists()
    visitor = Membership.objects.get(kind="visitor")
    assert signals_received[-1]["membership_ids"] == [visitor.pk]


@pytest.mark.parametrize(
    "answer, reason",
    [
        (b"not json", "answer is not JSON"),
        (b'{"data": {"id": "1"}}', "expected a list of drop-in passes"),
        (b"[1, 2]", "expected a list of drop-in passes"),
    ],
)
def test_an_unreadable_list_fails_the_delivery_without_a_crash(deliver, harbour, answer, reason):
    from tests.fakes.base import Response

    harbour.force(Response(200, answer), path=r"/drop_in_passes")
    delivery = deliver()
    assert delivery.status == "failed"
    assert reason in delivery.last_error
    assert not DropInPass.objects.exists()


def test_the_full_sync_notices_a_pass_that_disappeared(connected, harbour):
    today = timezone.localdate()
    old = DropInPass.objects.create(space=connected, cobot_id="old", day=today - timedelta(days=3))
    kept = harbour.add_drop_in_pass("harbour", day=today, email="vera@example.org")
    gone = harbour.add_drop_in_pass("harbour", day=today + timedelta(days=1), email="gus@example.org")
    result = space_sync(space=connected)
    assert result["drop_in_passes"] == {"created": 2, "updated": 0, "gone": 0}
    gus = DropInPass.objects.get(cobot_id=gone["id"]).visitor

    harbour.remove_drop_in_pass("harbour", gone["id"])
    result = space_sync(space=connected)
    assert result["drop_in_passes"] == {"created": 0, "updated": 0, "gone": 1}
    assert DropInPass.objects.get(cobot_id=gone["id"]).status == "gone"
    assert DropInPass.objects.get(cobot_id=kept["id"]).status == "active"
    assert DropInPass.objects.get(pk=old.pk).status == "active"  # an earlier day: over anyway, left alone
    gus.refresh_from_db()
    assert gus.status == "ended"
    # Visitors are ours: the sync of Cobot's memberships list (which never names them) does not end them.
    assert DropInPass.objects.get(cobot_id=kept["id"]).visitor.status == "confirmed"


def test_a_visitor_ends_after_their_last_pass_day(connected, harbour):
    data = harbour.add_drop_in_pass("harbour", day=timezone.localdate(), email="vera@example.org")
    space_sync(space=connected)
    visitor = DropInPass.objects.get(cobot_id=data["id"]).visitor
    assert visitor.status == "confirmed"
    from spaces.drop_in_passes import visitors_status_refresh

    assert visitors_status_refresh(space=connected, today=timezone.localdate() + timedelta(days=1)) == {visitor.pk}
    visitor.refresh_from_db()
    assert visitor.status == "ended"


def test_a_cobot_without_drop_in_passes_keeps_the_rest_of_the_sync(connected, harbour):
    harbour.add_membership("harbour", name="Ada", email="ada@example.com")
    harbour.endpoint_remove("GET", r"/drop_in_passes")
    result = space_sync(space=connected)
    assert result["parts_failed"] == ["drop_in_passes"]
    assert result["drop_in_passes"] is None
    assert Membership.objects.filter(email="ada@example.com").exists()
    problem = FeatureProblem.objects.get(space=connected, feature="drop_in_passes")
    assert "404" in problem.error
