"""Gateway timestamps that never go backwards, and one call at a time per gateway, across workers.

Seed 003 ("Génération du hmac"): "Le timestamp est unique par requête et on ne peut pas utiliser un
timestamp plus ancien que le précédent." We read both halves: a timestamp is never older than the previous
one AND never reused, so each claim is strictly greater than the last (max(now, last + 1)). Equal would be
allowed by the second half alone, but "unique par requête" rules it out, and a strict firmware would
answer 33 to it. The cost: more than one signed call per second makes the timestamp run ahead of the clock
by the backlog; the gateway serves one request at a time and a lock action takes about a second, so the
lead stays small and shrinks as soon as calls slow down.

The claim is one UPDATE (`last_signing_ts = GREATEST(now, last_signing_ts + 1)`) read back inside the same
transaction: the row stays locked (PostgreSQL) or the database write-locked (SQLite) from the UPDATE to the
commit, so two workers can never claim the same value. Call it outside any long transaction: a rolled-back
outer transaction would also roll back a claim the gateway has already seen.

Exclusivity (the gateway does one thing at a time, seed 003 "Si la gateway est occupée"): a per-process
lock, plus on PostgreSQL a session advisory lock keyed by the gateway, held across claim + call, so claims
reach the gateway in the order they were made. On SQLite (one machine, web + worker processes) there is no
lock that could be held across a LAN call without blocking every other write; a collision between two
processes shows up as "busy" (retried after a pause) or as 33 on a timestamp overtaken by the other process
(retried once with a fresh one), both handled by the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, router, transaction
from django.db.models import BigIntegerField, F, Value
from django.db.models.functions import Greatest

from locks.advisory import advisory_key, advisory_try_lock, advisory_unlock
from locks.models import Gateway
from locks.vendors.base import VendorNotFound, VendorTransientError

from .codes import SERVICE

# First key of pg_try_advisory_lock(int, int): a constant for "The Keys gateway", the second is the row id.
ADVISORY_NAMESPACE = 0x544B  # "TK"
EXCLUSIVE_WAIT_SECONDS = 30.0
# Someone waits at the door (an interactive open): give up sooner, the whole open has about 10 s.
INTERACTIVE_WAIT_SECONDS = 5.0

_process_locks: dict[tuple[str, int], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def signing_ts_claim(*, gateway_id: int, now: int | None = None) -> int:
    """Claim the next signing timestamp for a gateway: strictly greater than every earlier claim."""
    now = int(time.time()) if now is None else int(now)
    using = router.db_for_write(Gateway)
    with transaction.atomic(using=using):
        rows = Gateway.objects.using(using).filter(pk=gateway_id)
        claimed = Greatest(Value(now, output_field=BigIntegerField()), F("last_signing_ts") + 1)
        if rows.update(last_signing_ts=claimed) != 1:
            raise VendorNotFound("The gateway was removed from AccessBridge.", service=SERVICE)
        return rows.values_list("last_signing_ts", flat=True).get()


@contextmanager
def gateway_exclusive(*, gateway_id: int, wait: float = EXCLUSIVE_WAIT_SECONDS) -> Iterator[None]:
    """Hold the gateway for one operation (its retries included) against this process and, on PostgreSQL,
    every other worker."""
    using = router.db_for_write(Gateway)
    deadline = time.monotonic() + wait
    with _process_lock(using, gateway_id, deadline):
        connection = connections[using]
        if connection.vendor != "postgresql":
            yield
            return
        key = advisory_key(ADVISORY_NAMESPACE, gateway_id)
        _advisory_acquire(connection, key, deadline)
        try:
            yield
        finally:
            advisory_unlock(connection, key)


@contextmanager
def _process_lock(using: str, gateway_id: int, deadline: float) -> Iterator[None]:
    with _process_locks_guard:
        lock = _process_locks.setdefault((using, gateway_id), threading.Lock())
    if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise _still_in_use()
    try:
        yield
    finally:
        lock.release()


def _advisory_acquire(connection, key: tuple[int, int], deadline: float) -> None:
    # pg_try_* in a loop rather than a blocking pg_advisory_lock: the wait stays bounded without touching
    # the session's lock_timeout, and works the same inside or outside a transaction.
    pause = 0.002
    while True:
        if advisory_try_lock(connection, key):
            return
        if time.monotonic() >= deadline:
            raise _still_in_use()
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _still_in_use() -> VendorTransientError:
    return VendorTransientError(
        "Another call to this gateway did not finish in time; try again in a moment.", service=SERVICE
    )
