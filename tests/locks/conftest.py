"""Fixtures for the door side: space A connected to the Cobot stand-in, a SmartLock connection to the
SmartLock stand-in, mirror rows made to match the stand-in's, and helpers to run queued work."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from django.utils import timezone

from accessbridge.work import work_run_due
from locks.models import AccessRule, AccessSyncJob, Door, LockConnection, VendorDelivery
from locks.vendors import VENDOR_ADAPTERS
from spaces.models import Booking, Membership, Plan, Space
from spaces.signals import mirror_changed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMARTLOCK_TOKEN = "sl-token-123"


@pytest.fixture(autouse=True)
def stand_ins_on_this_machine(settings):
    """The stand-ins listen on 127.0.0.1 over plain http, as in local runs (DEBUG): allowed here.
    Tests of the address rules set it back to False (production)."""
    settings.LOCKS_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture
def resolves_to(monkeypatch, settings):
    """Production address rules, and DNS answers chosen by the test: `resolves_to[host] = [addresses]`
    (socket.getaddrinfo is replaced, not our code)."""
    import socket

    settings.LOCKS_ALLOW_PRIVATE_HOSTS = False
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def fixture_text(vendor: str, name: str) -> str:
    return (FIXTURES / vendor / f"{name}.json").read_text()


def fixture_json(vendor: str, name: str):
    return json.loads(fixture_text(vendor, name))


@pytest.fixture
def cobot_space(cobot, space_a):
    """Space A as it is at the Cobot stand-in, with tok-a as its (admin's) token."""
    cobot.add_space(space_a.subdomain, name=space_a.name, space_id=space_a.cobot_space_id)
    cobot.add_user("tok-a", admin_of=[space_a.subdomain])
    return space_a


def smartlock_connection(space: Space, fake, *, name: str = "SmartLock", **config) -> LockConnection:
    return LockConnection.objects.create(
        space=space,
        vendor="smartlock",
        name=name,
        credentials={"api_token": fake.api_token},
        config={"base_url": fake.url, **config},
        status=LockConnection.Status.OK,
    )


@pytest.fixture
def connection(space_a, smartlock):
    return smartlock_connection(space_a, smartlock)


@pytest.fixture
def front_door(connection):
    return Door.objects.create(connection=connection, vendor_ref="lock_1", name="Front door")


class Members:
    """Makes a member at the Cobot stand-in and the matching mirror row (until tests go through the
    mirror itself), and says "the mirror changed" as the mirror does."""

    def __init__(self, cobot, space: Space):
        self.cobot, self.space = cobot, space

    def plan(self, name: str, *, time_passes=()) -> Plan:
        data = self.cobot.add_plan(self.space.subdomain, name, time_passes=time_passes)
        return Plan.objects.create(
            space=self.space, cobot_id=data["id"], name=name, has_time_passes=bool(time_passes)
        )

    def add(
        self, *, name="Ada Lovelace", email="ada@example.org", plan: Plan | None = None, **fields
    ) -> Membership:
        data = self.cobot.add_membership(
            self.space.subdomain, name=name, email=email, plan_id=plan.cobot_id if plan else None
        )
        values = {
            "name": name,
            "email": email,
            "plan": plan,
            "plan_name": plan.name if plan else "",
            "status": Membership.Status.CONFIRMED,
            "confirmed_at": timezone.now(),
            "cobot_user_id": data["user"]["id"],
            **fields,
        }
        return Membership.objects.create(space=self.space, cobot_id=data["id"], **values)

    def update(self, membership: Membership, **fields) -> Membership:
        Membership.objects.filter(pk=membership.pk).update(**fields)
        membership.refresh_from_db()
        return membership

    def cancel(self, membership: Membership, canceled_to: date) -> Membership:
        self.cobot.cancel_membership(self.space.subdomain, membership.cobot_id, canceled_to)
        ended = canceled_to < timezone.localdate()
        status = Membership.Status.ENDED if ended else Membership.Status.CANCELED
        return self.update(membership, canceled_to=canceled_to, status=status)

    def book(
        self, membership: Membership, *, starts_at, ends_at, resource="room-1", name="Meeting Room"
    ) -> Booking:
        return Booking.objects.create(
            space=self.space,
            cobot_id=f"b-{Booking.objects.count() + 1}",
            membership=membership,
            resource_cobot_id=resource,
            resource_name=name,
            starts_at=starts_at,
            ends_at=ends_at,
        )

    def changed(self, *memberships: Membership, reason: str = "test", full: bool = False) -> None:
        mirror_changed.send(
            sender=Space,
            space=self.space,
            membership_ids=[m.pk for m in memberships],
            reason=reason,
            full=full,
        )


@pytest.fixture
def members(cobot, cobot_space):
    return Members(cobot, cobot_space)


def rule_for(space: Space, *doors: Door, plan: Plan | None = None, **fields) -> AccessRule:
    rule = AccessRule.objects.create(space=space, plan=plan, **fields)
    rule.doors.add(*doors)
    return rule


def run_work() -> int:
    """Run every due work row here (deliveries, access syncs) until none is left that is due."""
    total = 0
    while ran := work_run_due():
        total += ran
    return total


def make_due() -> None:
    AccessSyncJob.objects.filter(status="pending").update(next_attempt_at=timezone.now())
    from spaces.models import InboundDelivery

    InboundDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())
    VendorDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())


@pytest.fixture
def test_vendors(monkeypatch):
    """Register the recording test vendors (tests/locks/vendors_for_tests.py) next to the real ones."""
    from tests.locks import vendors_for_tests

    monkeypatch.setitem(VENDOR_ADAPTERS, "recording", "tests.locks.vendors_for_tests.RecordingAdapter")
    monkeypatch.setitem(VENDOR_ADAPTERS, "windowless", "tests.locks.vendors_for_tests.WindowlessAdapter")
    monkeypatch.setitem(VENDOR_ADAPTERS, "remote", "tests.locks.vendors_for_tests.RemoteOpenAdapter")
    vendors_for_tests.STATE.clear()
    yield vendors_for_tests.STATE
    vendors_for_tests.STATE.clear()


@pytest.fixture
def signed_in(client, alice):
    """Alice's browser: she administers space A."""
    client.force_login(alice)
    return client
