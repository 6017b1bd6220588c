"""A request rate shared by every worker of the deployment (a vendor's "5 requests/s per key").

Each request reserves the next free slot of its limit with one atomic UPDATE … RETURNING on a RateSlot row
(PostgreSQL and SQLite ≥ 3.35 both run it as a single statement, so two workers never get the same slot),
then sleeps until that slot. Slots are a little more than 1/rate apart (MARGIN): no burst, and never more than `per_second` requests in
any second, however many processes share the key. A caller with someone waiting (a Deadline) asks first
how long the wait would be and gives up instead of sleeping past it.

Call it outside transactions (vendor calls are, see locks.access): inside one, PostgreSQL keeps the row
locked until the commit, and the key's other workers wait that long for their slots.

`clock` and `sleep` are module attributes so that tests run on a clock of their own (no wall-clock waits).
"""

from __future__ import annotations

import time

from django.db import connection

from accessbridge.models import RateSlot

clock = time.time
sleep = time.sleep
# Slots are this much further apart than 1/rate: the vendor counts on its own clock, requests arrive with
# jitter, and workers on other hosts read clocks that differ a little. Five a second becomes one per 204 ms.
MARGIN = 1.02


class RateWaitTooLong(Exception):
    """The next free slot is later than the caller can wait."""

    def __init__(self, wait: float):
        super().__init__(f"the next request slot is {wait:.1f} s away")
        self.wait = wait


def rate_slot_reserve(*, key: str, per_second: float) -> float:
    """Reserve the next request slot of `key`; return the seconds to wait for it (0 when it is free now)."""
    interval = int(round(1_000_000 * MARGIN / per_second))
    now = int(clock() * 1_000_000)
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
            return max(0, row[0] - interval - now) / 1_000_000
        RateSlot.objects.bulk_create([RateSlot(key=key, next_at_us=0)], ignore_conflicts=True)
    raise RuntimeError(f"rate slot {key!r} could not be created")


def rate_limited(*, key: str, per_second: float, max_wait: float | None = None) -> None:
    """Wait for this request's slot. With `max_wait`, raise RateWaitTooLong instead of waiting longer."""
    wait = rate_slot_reserve(key=key, per_second=per_second)
    if max_wait is not None and wait > max_wait:
        raise RateWaitTooLong(wait)
    if wait > 0:
        sleep(wait)
