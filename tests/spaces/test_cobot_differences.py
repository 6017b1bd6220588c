"""A Cobot that differs from ours in small, plausible ways never stops a space (issue 16).

The stand-in refuses one event name (422), lacks one list endpoint and token inspection (404), and
lists navigation links without their `url`: each part that works is applied, each one that does not is
shown on the overview in words, and tried again.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from spaces.cobot.features import FEATURES_BY_KEY
from spaces.mirror import EVENT_FEATURES, SUBSCRIBED_EVENTS
from spaces.models import Booking, CobotSubscription, FeatureProblem, Membership, NavigationLink, Space
from spaces.sync import space_sync
from tests.fakes.base import Response
from tests.spaces.conftest import ADMIN_TOKEN

REFUSED = "membership_added_time_passes"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def different(harbour):
    """The stand-in, differing from our Cobot in the four ways of issue 16."""
    harbour.webhook_events.discard(REFUSED)
    harbour.endpoint_remove("GET", r"/api/work_sessions$")
    harbour.endpoint_remove("GET", r"^/api/access_tokens/[^/]+$")
    harbour.navigation_links_listed_without = ("url",)
    return harbour


@pytest.fixture
def admin_client(client, alice, base_url):
    client.force_login(alice)
    return client


def overview(admin_client) -> str:
    response = admin_client.get(reverse("space_detail", args=["harbour"]))
    assert response.status_code == 200
    return response.content.decode()


def test_connect_sync_and_disconnect_survive_a_cobot_that_differs(admin_client, different, django_capture_on_commit_callbacks):
    different.add_memberships("harbour", 3)
    response = admin_client.post(reverse("space_connect_token"), {"subdomain": "harbour", "token": ADMIN_TOKEN})
    assert messages_of(admin_client.get(response["Location"]))[0] == "Harbour Works is connected to Cobot."
    space = Space.objects.get(subdomain="harbour")
    assert space.status == "active" and space.last_error == ""

    at_cobot = different.space("harbour")
    assert sorted(s["event"] for s in at_cobot.subscriptions.values()) == sorted(set(SUBSCRIBED_EVENTS) - {REFUSED})
    assert {link["section"] for link in at_cobot.navigation_links.values()} == {"admin/manage", "members"}
    refused = CobotSubscription.objects.get(space=space, event=REFUSED)
    assert (refused.active, refused.refusal) == (False, "Cobot answered HTTP 422: is not included in the list")

    with django_capture_on_commit_callbacks(execute=True):
        result = space_sync(space=space)
    assert Membership.objects.filter(space=space).count() == 3
    assert result["parts_failed"] == ["work_sessions"] and result["memberships"]["created"] == 3
    assert result["subscriptions"]["refused"] == 1

    body = overview(admin_client)
    assert "membership_added_time_passes" in body and "not offered by this Cobot" in body
    assert "is not included in the list" in body
    assert "Time passes: changes come with the full sync (counts older than an hour" in body
    assert "Check-ins seen at Cobot" in body and "HTTP 404" in body and "Tried again with the next full sync" in body

    response = admin_client.post(reverse("space_disconnect", args=["harbour"]))
    assert messages_of(admin_client.get(response["Location"]))[-1] == (
        "Harbour Works is disconnected from Cobot. Its history stays here."
    )
    assert at_cobot.navigation_links == {} and at_cobot.subscriptions == {}


def test_a_refused_event_is_asked_for_again_by_the_next_sync(connected, harbour):
    harbour.webhook_events.discard(REFUSED)
    lost = next(sid for sid, s in harbour.space("harbour").subscriptions.items() if s["event"] == REFUSED)
    del harbour.space("harbour").subscriptions[lost]
    space_sync(space=connected)
    assert CobotSubscription.objects.get(space=connected, event=REFUSED).refusal

    harbour.webhook_events.add(REFUSED)  # this Cobot offers it now
    result = space_sync(space=connected)
    assert result["subscriptions"]["created"] == 1 and result["subscriptions"]["refused"] == 0
    row = CobotSubscription.objects.get(space=connected, event=REFUSED)
    assert (row.active, row.refusal) == (True, "")
    assert REFUSED in {s["event"] for s in harbour.space("harbour").subscriptions.values()}


def test_a_failing_part_changes_nothing_of_its_own_and_is_retried(connected, harbour):
    members = harbour.add_memberships("harbour", 2)
    soon = timezone.now() + timedelta(days=1)
    booking = harbour.add_booking("harbour", from_=soon, to=soon + timedelta(hours=1))
    space_sync(space=connected)
    assert Membership.objects.filter(space=connected, status="confirmed").count() == 2

    harbour.delete_membership("harbour", members[0]["id"])
    harbour.delete_booking("harbour", booking["id"])
    harbour.force(Response(500, {"error": "boom"}), path="/api/memberships$")
    harbour.force(Response(404, {"error": "not found"}), path="/api/bookings$")
    result = space_sync(space=connected)
    assert result["parts_failed"] == ["bookings", "memberships"] and result["memberships"] is None
    # Not listed because the list failed: nobody is ended, no booking deleted.
    assert Membership.objects.filter(space=connected, status="confirmed").count() == 2
    assert Booking.objects.filter(space=connected, status="active").count() == 1
    problems = dict(FeatureProblem.objects.filter(space=connected).values_list("feature", "error"))
    assert problems == {"memberships": "Cobot: HTTP 500: boom", "bookings": "Cobot: HTTP 404: not found"}

    result = space_sync(space=connected)  # the next run: Cobot answers again
    assert result["parts_failed"] == [] and result["memberships"]["ended"] == 1 and result["bookings"]["deleted"] == 1
    assert not FeatureProblem.objects.filter(space=connected).exists()


def test_a_later_403_names_the_missing_scope(admin_client, connected, harbour):
    harbour.force(Response(403, {"error": "insufficient_scope"}), path="/api/check_in_tokens$")
    space_sync(space=connected)
    body = overview(admin_client)
    assert "Check-in tokens" in body and "<code>checkin_tokens</code>" in body
    assert "sign in with Cobot again to grant it" in body


def test_disconnect_reports_a_link_it_could_not_remove_with_where_to_remove_it(admin_client, connected, harbour):
    harbour.navigation_links_listed_without = ("url",)
    NavigationLink.objects.filter(space=connected, section="members").update(api_url="")  # an old row: no url
    member_page = next(link for link in harbour.space("harbour").navigation_links.values() if link["section"] == "members")

    response = admin_client.post(reverse("space_disconnect", args=["harbour"]))
    shown = messages_of(admin_client.get(response["Location"]))
    assert "Could not remove the page “Doors” from Cobot's navigation" in shown[0]
    assert member_page["user_url"] in shown[0]
    assert "not everything at Cobot could be undone" in shown[-1]
    assert not any("is disconnected from Cobot" in message for message in shown)
    assert [link["section"] for link in harbour.space("harbour").navigation_links.values()] == ["members"]

    body = overview(admin_client)
    assert "Could not remove the page “Doors”" in body
    assert f'href="{member_page["user_url"]}"' in body and "Remove it by hand in Cobot" in body


def test_every_event_says_what_keeps_its_data_current_without_it():
    assert set(EVENT_FEATURES) == set(SUBSCRIBED_EVENTS)
    assert set(EVENT_FEATURES.values()) <= set(FEATURES_BY_KEY)


def test_without_the_time_pass_events_the_sync_refreshes_counts_hourly(connected, harbour):
    ten_days = harbour.add_plan("harbour", "Ten Days", time_passes=["Day Pass"])
    (ada,) = harbour.add_memberships("harbour", 1, plan_id=ten_days["id"])
    space_sync(space=connected)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    Membership.objects.filter(cobot_id=ada["id"]).update(time_passes_synced_at=two_hours_ago)
    harbour.set_unused_time_passes("harbour", ada["id"], 5)  # bought at Cobot: no webhook reaches us

    assert space_sync(space=connected)["time_passes"]["refreshed"] == 0  # the events would have told us

    harbour.webhook_events.difference_update({"membership_added_time_passes", "membership_removed_time_passes"})
    harbour.space("harbour").subscriptions.clear()
    space_sync(space=connected)  # learns that this Cobot refuses them
    assert Membership.objects.get(cobot_id=ada["id"]).unused_time_passes == 5
