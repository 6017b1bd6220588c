"""Tenancy: a space admin sees only their spaces; another space's ids answer 404 in every view.

`test_every_space_view_answers_404_to_a_foreign_admin` walks all URL patterns of the apps, so a new
view is covered the day it is added: give its URL kwargs a foreign value in `foreign_kwargs`.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accessbridge.tenancy import administered_spaces
from spaces.models import SpaceAdmin

# Views that are not for space admins, with their own authentication (tested where they live).
NOT_ADMIN_VIEWS = {
    "cobot_webhook",  # Cobot → us: per-space secret in the path
    "vendor_webhook",  # vendor → us: per-connection secret (+ signature)
    "reader_request",  # card reader → us: API key
    "reader_allowlist",  # card reader → us: API key
    "reader_api_schema",  # public description of the reader API
    "reader_api_docs",  # public page for device makers
}


def app_patterns():
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.name and p.callback.__module__.split(".")[0] in ("spaces", "locks"):
                yield p

    return list(walk(get_resolver().url_patterns))


def foreign_kwargs(pattern, space_b):
    """URL kwargs naming objects of space B (bob's), for alice to try."""
    from locks.models import AccessRule, Door, Gateway, LockConnection, Reader

    values = {}
    for name in pattern.pattern.converters:
        if name == "subdomain":
            values[name] = space_b.subdomain
        elif name == "space_key":
            values[name] = str(space_b.key)
        elif name == "connection_id":
            values[name] = LockConnection.objects.get(space=space_b).pk
        elif name == "door_id":
            values[name] = Door.objects.get(connection__space=space_b).pk
        elif name == "gateway_id":
            values[name] = Gateway.objects.get(connection__space=space_b).pk
        elif name in ("level", "device_id", "action"):  # device actions: both levels in their own test
            values.update(level="gateway", action="gateway_synchronize")
            values["device_id"] = Gateway.objects.get(connection__space=space_b).pk
        elif name == "reader_id":
            values[name] = Reader.objects.get(space=space_b).pk
        elif name == "rule_id":
            values[name] = AccessRule.objects.get(space=space_b).pk
        elif name == "admin_id":
            values[name] = SpaceAdmin.objects.get(space=space_b).pk
        else:
            pytest.fail(f"URL {pattern.name} takes {name!r}: add a foreign value for it to foreign_kwargs().")
    return values


@pytest.fixture
def space_b_objects(space_b):
    from locks.models import AccessRule, Door, Gateway, LockConnection, Reader

    connection = LockConnection.objects.create(space=space_b, vendor="thekeys", name="B's locks")
    gateway = Gateway.objects.create(connection=connection, vendor_ref="gw-b", host="192.0.2.10")
    door = Door.objects.create(connection=connection, gateway=gateway, vendor_ref="front", name="B front door")
    rule = AccessRule.objects.create(space=space_b)
    rule.doors.add(door)
    Reader.objects.create(space=space_b, door=door, name="B reader", api_key_hash="")
    return space_b


def test_it_lists_only_the_spaces_a_user_administers(alice, space_a, space_b, charlie):
    assert list(administered_spaces(alice)) == [space_a]
    assert list(administered_spaces(charlie)) == []


def test_the_dashboard_shows_only_my_spaces(client, alice, space_a, space_b):
    client.force_login(alice)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"Space A" in response.content
    assert b"Space B" not in response.content


def test_the_dashboard_needs_a_sign_in(client, db):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_space_view_answers_404_to_a_foreign_admin(client, alice, space_a, space_b_objects, method):
    client.force_login(alice)
    checked = []
    for pattern in app_patterns():
        if pattern.name in NOT_ADMIN_VIEWS or not pattern.pattern.converters:
            continue
        url = reverse(pattern.name, kwargs=foreign_kwargs(pattern, space_b_objects))
        response = getattr(client, method)(url)
        assert response.status_code in (404, 405), f"{method.upper()} {url} answered {response.status_code}"
        if response.status_code == 404:
            checked.append(pattern.name)
    assert "space_detail" in checked


@pytest.mark.parametrize(
    "level,action", [("gateway", "gateway_synchronize"), ("door", "door_synchronize"), ("door", "nonsense")]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_device_actions_answer_404_for_a_foreign_door_or_gateway(
    client, alice, space_a, space_b_objects, level, action, method
):
    from locks.models import Door, Gateway

    model = Door if level == "door" else Gateway
    device = model.objects.get(connection__space=space_b_objects)
    client.force_login(alice)
    for subdomain in (space_a.subdomain, space_b_objects.subdomain):
        url = reverse(
            "device_action",
            kwargs={"subdomain": subdomain, "level": level, "device_id": device.pk, "action": action},
        )
        assert getattr(client, method)(url).status_code == 404, url


def test_a_space_admin_sees_their_own_space(client, alice, space_a):
    client.force_login(alice)
    assert client.get(reverse("space_detail", args=[space_a.subdomain])).status_code == 200
