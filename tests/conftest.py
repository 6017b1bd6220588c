"""Shared fixtures. Users follow healthchecks' convention: alice (admin of space A), bob (admin of
space B), charlie (signed in, administers nothing)."""

import copy

import pytest
from django.contrib.auth import get_user_model

from spaces.models import Space, SpaceAdmin


def pytest_runtest_setup(item):
    # Concurrency tests need real concurrent writers; SQLite serializes them.
    if item.get_closest_marker("postgres_only"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL (concurrent writers)")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.org", "password-alice")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", "bob@example.org", "password-bob")


@pytest.fixture
def charlie(db):
    return get_user_model().objects.create_user("charlie", "charlie@example.org", "password-charlie")


@pytest.fixture
def space_a(alice):
    space = Space.objects.create(subdomain="space-a", name="Space A", cobot_space_id="space-a-id", access_token="tok-a")
    SpaceAdmin.objects.create(user=alice, space=space)
    return space


@pytest.fixture
def space_b(bob):
    space = Space.objects.create(subdomain="space-b", name="Space B", cobot_space_id="space-b-id", access_token="tok-b")
    SpaceAdmin.objects.create(user=bob, space=space)
    return space


@pytest.fixture
def cobot(settings):
    """The Cobot stand-in, with AccessBridge's Cobot URLs pointing at it."""
    from tests.fakes.cobot import CobotFake

    with CobotFake() as fake:
        cobot_urls_point_to(fake, settings=settings)
        yield fake


def cobot_urls_point_to(fake, *, settings) -> None:
    settings.COBOT_SITE_URL = fake.url
    settings.COBOT_API2_URL = fake.api2_url
    settings.COBOT_SPACE_URL_TEMPLATE = fake.space_url_template
    # As settings.py derives it from the Cobot URLs at start: "Sign in with Cobot" posts on to Cobot.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(fake.url)
    settings.CONTENT_SECURITY_POLICY = policy


@pytest.fixture
def smartlock():
    from tests.fakes.smartlock import SmartLockFake

    with SmartLockFake() as fake:
        yield fake


@pytest.fixture
def no_sleep(monkeypatch):
    """Waits (Retry-After, gateway busy) return at once; the calls record what was asked."""
    import time

    waited: list[float] = []
    monkeypatch.setattr(time, "sleep", waited.append)
    return waited
