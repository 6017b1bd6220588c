"""No dashboard or framed view answers 500 to bad input: empty or garbage forms, odd query strings.

Walks every app URL like tests/test_tenancy.py, as the rightful admin this time, so a new view is
covered the day it is added. (Each view's own tests check the exact message the user sees.)
"""

import pytest
from django.urls import reverse

from tests.test_tenancy import NOT_ADMIN_VIEWS, app_patterns, foreign_kwargs

GARBAGE_FORM = {
    "subdomain": "../x",
    "token": "",
    "pk": "abc",
    "vendor": "nope",
    "plan": "999",
    "doors": ["x"],
    "buffer_before_minutes": "-5",
    "name": "x" * 500,
    "label": "a\x00b",
    "q": "\x00",
}
ODD_QUERIES = [{"page": "abc", "q": "\x00x", "status": "bogus", "kind": "zzz"}, {"page": "-1"}, {"page": "99999"}]


@pytest.fixture
def own_space(space_a):
    from locks.models import AccessRule, Door, Gateway, LockConnection, Reader

    connection = LockConnection.objects.create(
        space=space_a, vendor="thekeys", name="Locks", config={"username": "+33600000000"}
    )
    gateway = Gateway.objects.create(connection=connection, vendor_ref="gw", host="192.0.2.1")
    door = Door.objects.create(connection=connection, gateway=gateway, vendor_ref="front", name="Front")
    AccessRule.objects.create(space=space_a).doors.add(door)
    Reader.objects.create(space=space_a, door=door, name="Reader", api_key_hash="")
    return space_a


def urls_of(space):
    for pattern in app_patterns():
        if pattern.name not in NOT_ADMIN_VIEWS:
            # foreign_kwargs names the objects of whichever space it is given: here, alice's own.
            yield pattern.name, reverse(pattern.name, kwargs=foreign_kwargs(pattern, space))


@pytest.mark.parametrize("data", [{}, GARBAGE_FORM], ids=["empty", "garbage"])
def test_no_view_answers_500_to_a_bad_form(client, alice, own_space, data, settings):
    settings.HTTP_CONNECT_TIMEOUT = settings.HTTP_READ_TIMEOUT = 0.2  # the gateway address goes nowhere
    client.force_login(alice)
    names = {name for name, _ in urls_of(own_space)}
    assert {"rule_add", "connection_add", "space_connect_token", "member_door_open"} <= names  # the walk is real
    failures = [(name, r.status_code) for name, url in urls_of(own_space) if (r := client.post(url, data)).status_code >= 500]
    assert failures == []


def test_no_view_answers_500_to_odd_query_strings(client, alice, own_space):
    client.force_login(alice)
    failures = [
        (name, query)
        for name, url in urls_of(own_space)
        for query in ODD_QUERIES
        if client.get(url, query).status_code >= 500
    ]
    assert failures == []


def test_a_nul_character_in_the_address_is_a_clear_400(client, alice, space_a):
    client.force_login(alice)
    response = client.get(reverse("access_members", args=[space_a.subdomain]), {"q": "a\x00b"})
    assert (response.status_code, response.content) == (400, b"The address contains a NUL character.")


@pytest.mark.parametrize("body", ['{"url": "https://x\\u0000"}', '{"url": "x\u0000"}'], ids=["escaped", "raw"])
def test_a_webhook_body_with_a_nul_character_is_a_clear_400_and_stores_nothing(client, space_a, body):
    from spaces.models import InboundDelivery

    url = reverse(
        "cobot_webhook",
        kwargs={"space_key": space_a.key, "secret": space_a.webhook_secret, "event": "confirmed_membership"},
    )
    response = client.post(url, body, content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"error": "body contains a NUL character"})
    assert not InboundDelivery.objects.exists()
