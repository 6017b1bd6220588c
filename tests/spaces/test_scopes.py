"""A space whose token lacks a feature's scope: that feature shows as unavailable, the rest works (issue 18)."""

import pytest
from django.urls import reverse

from spaces.cobot.features import FEATURES_BY_KEY
from spaces.mirror import EVENT_FEATURES, SUBSCRIBED_EVENTS
from spaces.models import FeatureProblem, Membership, Space
from spaces.sync import space_sync
from tests.fakes.cobot import SCOPES

NO_BOOKINGS = "token-no-bookings"


@pytest.fixture
def without_bookings(harbour, alice, base_url):
    """harbour connected with a token Cobot gave without read_bookings."""
    from spaces.services import space_connect

    harbour.add_user(NO_BOOKINGS, admin_of=["harbour"], scopes=[s for s in SCOPES if s != "read_bookings"])
    harbour.add_memberships("harbour", 2)
    return space_connect(subdomain="harbour", user_token=NO_BOOKINGS, user=alice)


def test_bookings_are_unavailable_and_members_still_sync(client, alice, without_bookings, harbour):
    space = without_bookings
    result = space_sync(space=space)
    assert result["memberships"]["created"] == 2 and Membership.objects.filter(space=space).count() == 2
    assert result["parts_failed"] == ["bookings"] and result["bookings"] is None
    problem = FeatureProblem.objects.get(space=space)
    assert (problem.feature, problem.missing_scope) == ("bookings", "read_bookings")

    # Booking events could only fail to be read: not subscribed until a token grants the scope.
    booking_events = {e for e in SUBSCRIBED_EVENTS if EVENT_FEATURES[e] == "bookings"}
    at_cobot = {s["event"] for s in harbour.space("harbour").subscriptions.values()}
    assert at_cobot == set(SUBSCRIBED_EVENTS) - booking_events
    assert len(harbour.space("harbour").navigation_links) == 2

    client.force_login(alice)
    body = client.get(reverse("space_detail", args=["harbour"])).content.decode()
    assert "<strong>Bookings</strong>" in body and "<code>read_bookings</code>" in body
    assert "sign in with Cobot again to grant it" in body
    assert "Members mirrored</dt><dd>2" in body
    assert Space.objects.get(pk=space.pk).status == "active"


def test_connecting_again_with_the_scope_granted_makes_bookings_available(without_bookings, harbour, alice):
    from spaces.services import space_connect
    from tests.spaces.conftest import ADMIN_TOKEN

    space = space_connect(subdomain="harbour", user_token=ADMIN_TOKEN, user=alice)
    assert not FeatureProblem.objects.filter(space=space).exists()
    assert {s["event"] for s in harbour.space("harbour").subscriptions.values()} == set(SUBSCRIBED_EVENTS)
    assert space_sync(space=space)["parts_failed"] == []


def test_every_feature_names_scopes_that_the_default_asks_for():
    from spaces.cobot.features import DEFAULT_SCOPES

    for feature in FEATURES_BY_KEY.values():
        assert set(feature.scopes) <= set(DEFAULT_SCOPES), feature.key
