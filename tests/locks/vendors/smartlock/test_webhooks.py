"""SmartLock's lock-opened webhook, driven by payload fixtures (tests/fixtures/smartlock/)."""

import json

import pytest
from django.urls import reverse

from locks.models import AccessEvent, Door, VendorAccount, VendorDelivery
from locks.selectors import connection_webhook_url
from spaces.models import CheckInToken
from tests.locks.conftest import fixture_json, fixture_text, run_work

PERSON = "usr_3c9d2e1f0a7b"  # the user id in the fixtures


@pytest.fixture
def ada(members, cobot, connection, front_door):
    ada = members.add(email="ada@example.org")
    VendorAccount.objects.create(connection=connection, membership=ada, vendor_person_id=PERSON)
    cobot.add_check_in_token("space-a", ada.cobot_id, PERSON)
    return ada


@pytest.fixture
def url(connection):
    return connection_webhook_url(connection=connection, reveal=True)


def post_form(client, url, name, **headers):
    return client.post(url, {"event": fixture_text("smartlock", name)}, headers=headers)


def post_json(client, url, name, **headers):
    return client.post(url, fixture_text("smartlock", name), content_type="application/json", headers=headers)


@pytest.mark.parametrize("post", [post_form, post_json], ids=["form", "json"])
def test_it_checks_the_member_in(client, url, ada, cobot, front_door, post):
    response = post(client, url, "lock_opened__full")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "events": 1, "new": 1}
    delivery = VendorDelivery.objects.get()
    assert (delivery.connection, delivery.source, delivery.event_key, delivery.kind) == (
        front_door.connection,
        "webhook",
        "evt_5f2a91c0d3e4",
        "unlock",
    )
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.door, event.vendor_person_id) == (ada, front_door, PERSON)
    assert event.occurred_at.isoformat() == "2026-03-02T08:59:12+00:00"
    assert event.checkin_result == "checked_in"
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]


def test_it_takes_the_event_wrapped_in_a_json_body(client, url, ada):
    assert post_json(client, url, "lock_opened__wrapped").status_code == 200
    run_work()
    assert AccessEvent.objects.get().vendor_event_id == "evt_wrapped_1"


@pytest.fixture
def clock(monkeypatch):
    """Django's clock, held still or moved on, for events that carry no time of their own."""
    from datetime import timedelta

    from django.utils import timezone

    # Ahead of the real clock (rows created with the real one are due), early in a minute.
    state = {"now": (timezone.now() + timedelta(minutes=1)).replace(second=5, microsecond=0)}
    monkeypatch.setattr(timezone, "now", lambda: state["now"])

    def move(**delta):
        state["now"] += timedelta(**delta)

    return move


def test_the_seeds_minimal_event_names_only_the_user(client, url, ada, front_door, cobot, clock):
    assert post_form(client, url, "lock_opened__seed_minimal").status_code == 200
    clock(seconds=20)
    assert post_form(client, url, "lock_opened__seed_minimal").status_code == 200  # a resend
    delivery = VendorDelivery.objects.get()
    assert delivery.times_received == 2
    run_work()
    event = AccessEvent.objects.get()
    assert event.vendor_event_id.startswith("sha256:")
    assert (event.door, event.checkin_result) == (front_door, "checked_in")  # the connection's only door


def test_a_later_opening_without_id_or_time_is_a_new_event(client, url, ada, cobot, clock):
    assert post_form(client, url, "lock_opened__seed_minimal").status_code == 200
    run_work()
    clock(hours=4)  # back from lunch: the same member opens again
    assert post_form(client, url, "lock_opened__seed_minimal").status_code == 200
    run_work()
    assert VendorDelivery.objects.count() == 2
    first, second = AccessEvent.objects.order_by("received_at")
    assert first.vendor_event_id != second.vendor_event_id
    # Cobot's stand-in still has the member checked in today: not a failure.
    assert (first.checkin_result, second.checkin_result) == ("checked_in", "already")


def test_events_without_id_but_with_a_time_differ_by_their_time(client, url, ada, cobot):
    event = {"user": {"id": PERSON}, "occurred_at": "2026-03-02T08:59:12Z"}
    for _ in range(2):  # a resend
        assert client.post(url, {"event": json.dumps(event)}).status_code == 200
    event["occurred_at"] = "2026-03-03T09:01:00Z"  # the next day's opening
    assert client.post(url, {"event": json.dumps(event)}).status_code == 200
    assert VendorDelivery.objects.count() == 2


def test_numeric_ids_are_read_as_text(client, url, connection, members, cobot):
    ada = members.add()
    VendorAccount.objects.create(connection=connection, membership=ada, vendor_person_id="42")
    Door.objects.create(connection=connection, vendor_ref="7", name="Side door")
    assert post_json(client, url, "lock_opened__numeric_ids").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.vendor_event_id, event.door.name, event.membership) == ("9001", "Side door", ada)


def test_an_unknown_person_is_stored_unmatched_and_nobody_is_checked_in(client, url, ada, cobot):
    event = fixture_json("smartlock", "lock_opened__full")
    event["user"]["id"] = "usr_somebody_else"
    assert client.post(url, {"event": json.dumps(event)}).status_code == 200
    run_work()
    stored = AccessEvent.objects.get()
    assert (stored.checkin_result, stored.membership) == ("unmatched", None)
    assert stored.checkin_message == "unknown person at SmartLock"
    assert cobot.calls("POST", "/api2/check_ins") == 0


def test_an_unknown_door_is_stored_unmatched_and_nobody_is_checked_in(client, url, ada, cobot):
    assert post_form(client, url, "lock_opened__unknown_lock").status_code == 200
    run_work()
    stored = AccessEvent.objects.get()
    assert (stored.checkin_result, stored.door) == ("unmatched", None)
    assert stored.checkin_message == "unknown door at SmartLock"
    assert cobot.calls("POST", "/api2/check_ins") == 0


def test_a_person_two_memberships_share_is_not_guessed(client, url, ada, members, connection, cobot):
    bob = members.add(name="Bob", email="bob@example.org")
    VendorAccount.objects.create(connection=connection, membership=bob, vendor_person_id=PERSON)
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.checkin_result, event.membership) == ("ambiguous", None)
    assert event.checkin_message == f"several members match person {PERSON} at SmartLock"
    assert cobot.calls("POST", "/api2/check_ins") == 0
    assert cobot.calls("POST", r"/spaces/space-a/api/memberships/.*/work_sessions") == 0


def test_a_member_known_only_by_checkin_token_is_checked_in(
    client, url, members, cobot, connection, front_door
):
    ada = members.add()
    CheckInToken.objects.create(
        space=members.space, membership=ada, membership_cobot_id=ada.cobot_id, token=PERSON
    )
    cobot.add_check_in_token("space-a", ada.cobot_id, PERSON)
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    assert (AccessEvent.objects.get().membership, AccessEvent.objects.get().checkin_result) == (
        ada,
        "checked_in",
    )


def test_cobots_refusal_is_stored_with_its_message(client, url, members, cobot, connection, front_door):
    passes = members.plan("Day passes", time_passes=("Day Pass",))
    ada = members.add(plan=passes)
    VendorAccount.objects.create(connection=connection, membership=ada, vendor_person_id=PERSON)
    cobot.add_check_in_token("space-a", ada.cobot_id, PERSON)
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.checkin_result, event.checkin_message) == ("refused", "No time passes left.")


def test_a_token_cobot_does_not_know_is_not_a_member(client, url, members, connection, front_door, cobot):
    # Nobody we know: the mirror has the token, Cobot has not (deleted there meanwhile).
    ada = members.add()
    CheckInToken.objects.create(
        space=members.space, membership=ada, membership_cobot_id=ada.cobot_id, token=PERSON
    )
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.checkin_result) == (ada, "not_member")
    assert event.checkin_message == "Check-in token not found."


def test_a_member_whose_token_is_not_registered_yet_is_checked_in_by_membership(
    client, url, members, connection, front_door, cobot
):
    # We created the person, but registering the id as check-in token at Cobot has not happened (yet).
    ada = members.add()
    VendorAccount.objects.create(connection=connection, membership=ada, vendor_person_id=PERSON)
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.checkin_result) == (ada, "checked_in")
    assert cobot.calls("POST", "/api2/check_ins") == 0
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]


@pytest.mark.parametrize(
    "body,content_type,error",
    [
        ({"event": fixture_text("smartlock", "lock_opened__no_user")}, None, "event.user.id is missing"),
        (
            {"event": fixture_text("smartlock", "lock_opened__bad_time")},
            None,
            "occurred_at is not an ISO 8601 time",
        ),
        ({"event": "{not json"}, None, "event is not valid JSON"),
        ({"event": "[1, 2]"}, None, "event must be a JSON object"),
        ({"other": "x"}, None, "form field `event` is missing"),
        ("{nope", "application/json", "event is not valid JSON"),
        ("", "application/json", "event is not valid JSON"),
    ],
)
def test_malformed_payloads_are_a_clear_400_and_nothing_is_stored(
    client, url, ada, body, content_type, error
):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post(url, body, **kwargs)
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert VendorDelivery.objects.count() == 0


def test_a_wrong_secret_or_unknown_connection_is_404(client, connection, ada):
    good = connection_webhook_url(connection=connection, reveal=True)
    wrong_secret = good.replace(connection.webhook_secret, "x" * len(connection.webhook_secret))
    unknown_key = good.replace(str(connection.key), "00000000-0000-4000-8000-000000000000")
    for url in (wrong_secret, unknown_key):
        response = client.post(url, {"event": fixture_text("smartlock", "lock_opened__full")})
        assert (response.status_code, response.json()) == (404, {"error": "not found"})
    connection.enabled = False
    connection.save()
    assert client.post(good, {"event": fixture_text("smartlock", "lock_opened__full")}).status_code == 404
    assert VendorDelivery.objects.count() == 0


def test_the_shared_secret_header_is_checked_when_set(client, url, connection, ada):
    connection.credentials = {**connection.credentials, "webhook_shared_secret": "s3cret"}
    connection.save()
    assert post_form(client, url, "lock_opened__full").status_code == 403
    assert post_form(client, url, "lock_opened__full", X_Webhook_Secret="wrong").status_code == 403
    assert VendorDelivery.objects.count() == 0
    assert post_form(client, url, "lock_opened__full", X_Webhook_Secret="s3cret").status_code == 200


def test_it_answers_only_posts(client, url):
    assert client.get(url).status_code == 405


def test_it_refuses_a_huge_body(client, url):
    response = client.post(url, "x" * (300 * 1024), content_type="application/json")
    assert response.status_code == 413


def test_a_member_who_left_and_came_back_is_matched_to_the_current_membership(
    client, url, members, connection, front_door, cobot
):
    # Same email, same SmartLock person: the old membership's row is history, the new one is live.
    old = members.add(status="ended")
    VendorAccount.objects.create(
        connection=connection, membership=old, vendor_person_id=PERSON, status="removed"
    )
    new = members.add()
    VendorAccount.objects.create(connection=connection, membership=new, vendor_person_id=PERSON)
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.checkin_result) == (new, "checked_in")
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [new.cobot_id]


def test_a_person_two_current_memberships_share_goes_to_the_one_cobot_has_the_token_for(
    client, url, ada, members, connection, cobot
):
    bob = members.add(name="Bob", email="bob@example.org")
    VendorAccount.objects.create(connection=connection, membership=bob, vendor_person_id=PERSON)
    CheckInToken.objects.create(
        space=members.space, membership=ada, membership_cobot_id=ada.cobot_id, token=PERSON
    )
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    assert (AccessEvent.objects.get().membership, AccessEvent.objects.get().checkin_result) == (
        ada,
        "checked_in",
    )


def test_a_check_in_cobot_refuses_for_good_is_stored_as_an_error(client, url, ada, cobot):
    from tests.fakes.base import Response

    cobot.force(Response(404, {"error": "not found"}), path="work_sessions")
    assert post_form(client, url, "lock_opened__full").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.checkin_result, event.checkin_message) == ("error", "Cobot: HTTP 404: not found")
    assert VendorDelivery.objects.get().status == "done"


# --- kinds of events -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,kind,word",
    [("door_event__unknown_kind", "unknown", "tamper_alarm"), ("door_event__held_open", "held_open", "door_held_open")],
)
def test_an_event_of_a_kind_we_do_not_act_on_is_stored_as_ignored_and_never_checks_in(
    client, url, ada, cobot, front_door, alice, name, kind, word
):
    response = post_json(client, url, name)
    assert response.status_code == 200 and response.json() == {"ok": True, "events": 1, "new": 1}
    delivery = VendorDelivery.objects.get()
    assert (delivery.kind, delivery.status, delivery.payload["vendor_kind"]) == (kind, "ignored", word)
    assert run_work() == 0  # never queued

    event = AccessEvent.objects.get()
    assert (event.kind, event.checkin_result, event.membership) == (kind, "ignored", None)
    assert f"reported “{word}”: not an opening" in event.checkin_message
    assert cobot.check_ins("space-a") == [] and [r for r in cobot.requests if r.method != "GET"] == []

    # A resend changes nothing; the events page shows it, with the vendor's word.
    assert post_json(client, url, name).json()["new"] == 0
    assert VendorDelivery.objects.get().times_received == 2 and AccessEvent.objects.count() == 1
    client.force_login(alice)
    page = client.get(reverse("access_events", args=["space-a"])).content.decode()
    assert "Ignored (not an opening)" in page and word in page


def test_a_refusal_is_recorded_without_a_checkin(client, url, ada, cobot):
    assert post_json(client, url, "door_event__denied").status_code == 200
    run_work()
    event = AccessEvent.objects.get()
    assert (event.kind, event.checkin_result) == ("denied", "n/a")
    assert VendorDelivery.objects.get().status == "done" and cobot.check_ins("space-a") == []


def test_an_unlock_still_needs_its_person(client, url, ada):
    body = {"id": "evt_x", "type": "unlocked", "lock": {"id": "lock_1"}}
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and VendorDelivery.objects.count() == 0
