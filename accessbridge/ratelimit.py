"""A request rate shared by every worker of the deployment (a vendor's "5 requests/s per key").

Each request reserves the next free slot of its limit in one atomic step, then sleeps until that slot:
- with REDIS_URL set, in Redis (a Lua script: one GET and SET that no other client can split);
- otherwise (or while Redis does not answer) in the database: one UPDATE … RETURNING on a RateSlot row,
  a single statement on PostgreSQL and SQLite ≥ 3.35.
Either way two workers never get the same slot. Slots are a little more than 1/rate apart (MARGIN): no burst,
and never more than `per_second` requests in any second, however many processes share the key. A caller
with someone waiting (a Deadline) asks how long the wait would be and gives up instead of sleeping past it.

Call it outside transactions (vendor calls are, see locks.access): inside one, PostgreSQL keeps the row
locked until the commit, and the key's other workers wait that long for their slots.

`clock` and `sleep` are module attributes so that tests run on a clock of their own (no wall-clock waits).
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from django.db import connection

from accessbridge.models import RateSlot

logger = logging.getLogger(__name__)

clock = time.time
sleep = time.sleep
# Slots are this much further apart than 1/rate: the vendor counts on its own clock, requests arrive with
# jitter, and workers on other hosts read clocks that differ a little. Five a second becomes one per 204 ms.
MARGIN = 1.02
REDIS_PREFIX = "accessbridge:rate:"
# KEYS[1]: the limit; ARGV: now and the interval in µs. Returns the reserved slot. '%.0f' keeps all digits
# of the µs time (Lua's default number format would round it to 14).
_RESERVE_LUA = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', math.floor((slot - now) / 1000) + 60000)
return string.format('%.0f', slot)
"""
_redis: dict[str, redis.Redis] = {}


class RateWaitTooLong(Exception):
    """The next free slot is later than the caller can wait."""

    def __init__(self, wait: float):
        super().__init__(f"the next request slot is {wait:.1f} s away")
        self.wait = wait


def rate_slot_reserve(*, key: str, per_second: float) -> float:
    """Reserve the next request slot of `key`; return the seconds to wait for it (0 when it is free now)."""
    interval = int(round(1_000_000 * MARGIN / per_second))
    now = int(clock() * 1_000_000)
    slot = None
    if settings.REDIS_URL:
        try:
            slot = _redis_slot(key, now, interval)
        except redis.RedisError as exc:
            logger.warning("rate limit %s: Redis did not answer (%s); the database keeps the slots", key, exc)
    if slot is None:
        slot = _database_slot(key, now, interval)
    return max(0, slot - now) / 1_000_000


def rate_limited(*, key: str, per_second: float, max_wait: float | None = None) -> None:
    """Wait for this request's slot. With `max_wait`, raise RateWaitTooLong instead of waiting longer."""
    wait = rate_slot_reserve(key=key, per_second=per_second)
    if max_wait is not None and wait > max_wait:
        raise RateWaitTooLong(wait)
    if wait > 0:
        sleep(wait)


def _redis_slot(key: str, now: int, interval: int) -> int:
    client = _redis.get(settings.REDIS_URL)
    if client is None:
        client = _redis[settings.REDIS_URL] = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
    return int(client.eval(_RESERVE_LUA, 1, REDIS_PREFIX + key, now, interval))


def _database_slot(key: str, now: int, interval: int) -> int:
    table, key_column = connection.ops.quote_name(RateSlot._meta.db_table), connection.ops.quote_name("key")
    sql = (
        f"UPDATE {table} SET next_at_us = (CASE WHEN next_at_us > %s THEN next_at_us ELSE %s END) + %s "
        f"WHERE {key_column} = %s RETURNING next_at_us"
    )
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, now, interval, key])
            row = cursor.fetchone()
        if row is not None:
            return row[0] - interval
        RateSlot.objects.bulk_create([RateSlot(key=key, next_at_us=0)], ignore_conflicts=True)
    raise RuntimeError(f"rate slot {key!r} could not be created")
