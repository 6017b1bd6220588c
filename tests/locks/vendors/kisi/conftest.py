"""KISI's fixtures: the stand-in on a clock of the test's own (the shared rate limit sleeps on it, so no
test waits for the wall clock), and a connection to it."""

from __future__ import annotations

import pytest

from accessbridge import ratelimit
from locks.models import Door, LockConnection
from tests.fakes.kisi import KisiFake

API_KEY = "kisi-key-123"


class Clock:
    """Time that moves only when someone sleeps: what the limiter and the stand-in both read."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ratelimit, "clock", clock)
    monkeypatch.setattr(ratelimit, "sleep", clock.sleep)
    return clock


@pytest.fixture
def kisi(clock):
    with KisiFake(API_KEY, clock=clock) as fake:
        yield fake


def kisi_connection(space, fake, *, name="KISI", **config) -> LockConnection:
    return LockConnection.objects.create(
        space=space,
        vendor="kisi",
        name=name,
        credentials={"api_key": fake.api_key, "webhook_signature_key": fake.signature_key},
        config={"base_url": fake.url, **config},
        status=LockConnection.Status.OK,
    )


@pytest.fixture
def connection(space_a, kisi):
    return kisi_connection(space_a, kisi)


@pytest.fixture
def building(kisi):
    """Two locks; the group "Members" opens the front door, "Studio" both."""
    front = kisi.add_lock("Front door")
    studio = kisi.add_lock("Studio door")
    kisi.add_group("Members", locks=(front["id"],))
    kisi.add_group("Studio", locks=(front["id"], studio["id"]))
    return {"front": front, "studio": studio}


def group_door(connection, name: str) -> Door:
    return Door.objects.get(connection=connection, extra__group_name=name)
