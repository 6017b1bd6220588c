"""accessbridge.ratelimit with Redis (REDIS_URL set): the same exact slots as the database keeps, shared by
every client of the server, and the database takes over while Redis does not answer."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redis

from accessbridge import ratelimit
from accessbridge.models import RateSlot


def free_port() -> int:
    """A loopback port nothing listens on now (a private redis-server for this module, not CI's 6379)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):  # until it answers (not a timing assertion: it only waits for the start)
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


class FrozenClock:
    now = 1_800_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = FrozenClock()
    monkeypatch.setattr(ratelimit, "clock", clock)
    return clock


@pytest.fixture
def with_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    redis.Redis.from_url(redis_url).flushdb()
    ratelimit._redis.clear()
    yield
    ratelimit._redis.clear()


def test_redis_keeps_exact_slots_and_no_burst_after_a_quiet_time(db, with_redis, clock):
    waits = [ratelimit.rate_slot_reserve(key="kisi:k", per_second=5) for _ in range(6)]
    assert waits == [n * 204_000 / 1_000_000 for n in range(6)]
    clock.now += 60
    assert [ratelimit.rate_slot_reserve(key="kisi:k", per_second=5) for _ in range(2)] == [0, 0.204]
    assert RateSlot.objects.count() == 0  # all in Redis


def test_every_redis_client_shares_the_slots(db, with_redis, redis_url, clock):
    ratelimit.rate_slot_reserve(key="kisi:k", per_second=5)
    ratelimit._redis.clear()  # another worker process: its own connection to the same server
    assert ratelimit.rate_slot_reserve(key="kisi:k", per_second=5) == 0.204
    assert ratelimit.rate_slot_reserve(key="kisi:other", per_second=5) == 0


def test_the_database_takes_over_while_redis_does_not_answer(db, settings, clock):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    ratelimit._redis.clear()
    try:
        assert [ratelimit.rate_slot_reserve(key="kisi:k", per_second=5) for _ in range(2)] == [0, 0.204]
    finally:
        ratelimit._redis.clear()
    assert RateSlot.objects.get().key == "kisi:k"
