"""Fixtures for the Cobot side: the stand-in seeded with a space, payload fixtures, a connected space."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cobot"
BASE_URL = "https://bridge.example"
ADMIN_TOKEN = "token-alice-harbour"  # Alice's Cobot user token; she administers "harbour"
MEMBER_ID = "5b8d0c2e7f1a4e3b9c6d2a1f0e9b8c7d"  # the membership in the payload fixtures
BOOKING_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PLAN_ID = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def cobot_payload(name: str, cobot=None) -> dict:
    """tests/fixtures/cobot/<name>.json, its Cobot hosts pointed at the stand-in when given."""
    text = (FIXTURES / f"{name}.json").read_text()
    if cobot is not None:
        for subdomain in ("harbour", "dock"):
            text = text.replace(f"https://{subdomain}.cobot.me", cobot.space_url(subdomain))
    return json.loads(text)


def webhook_url(space, event: str, secret: str | None = None) -> str:
    return reverse(
        "cobot_webhook", kwargs={"space_key": space.key, "secret": secret or space.webhook_secret, "event": event}
    )


def webhook_post(client, space, event: str, payload, **kwargs):
    body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    return client.post(webhook_url(space, event, **kwargs), data=body, content_type="application/json")


@pytest.fixture
def base_url(settings):
    settings.ACCESSBRIDGE_BASE_URL = BASE_URL
    return BASE_URL


@pytest.fixture
def harbour(cobot):
    """The stand-in with spaces "harbour" and "dock", and Alice (token ADMIN_TOKEN) administering harbour."""
    cobot.add_space("harbour", name="Harbour Works", space_id="space-harbour")
    cobot.add_space("dock", name="Dock Office", space_id="space-dock")
    cobot.add_user(ADMIN_TOKEN, admin_of=["harbour"], email="alice@example.com", name="Alice", user_id="user-alice")
    return cobot


@pytest.fixture
def ada(harbour):
    """The member of the payload fixtures, on a plan with time passes, at the stand-in."""
    harbour.add_plan("harbour", "Ten Days", time_passes=["Day Pass"], plan_id=PLAN_ID)
    return harbour.add_membership(
        "harbour", membership_id=MEMBER_ID, name="Ada Lovelace", email="ada@example.com", plan_id=PLAN_ID,
        user_id="user-ada",
    )  # fmt: skip


@pytest.fixture
def connected(harbour, alice, base_url):
    """harbour connected by Alice with her pasted token (subscriptions and links made at the stand-in)."""
    from spaces.services import space_connect

    return space_connect(subdomain="harbour", user_token=ADMIN_TOKEN, user=alice)


@pytest.fixture
def cobot_app(settings):
    """A configured Cobot OAuth app, so that "Sign in with Cobot" is offered."""
    settings.SOCIALACCOUNT_PROVIDERS = {
        "cobot": {"APPS": [{"client_id": "accessbridge-test", "secret": "app-secret"}], "OAUTH_PKCE_ENABLED": True}
    }
    return settings.SOCIALACCOUNT_PROVIDERS["cobot"]["APPS"][0]


@pytest.fixture
def signals_received():
    """Every mirror_changed sent, as a list of its keyword arguments."""
    from spaces.signals import mirror_changed

    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    mirror_changed.connect(receiver, weak=False, dispatch_uid="test_signals_received")
    yield received
    mirror_changed.disconnect(dispatch_uid="test_signals_received")
