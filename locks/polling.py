"""Polling vendors: one runner for every adapter that declares Capability.POLLING.

Every minute the schedule (locks.tasks.events_poll_due) queues one task per connection whose poll is due.
A poll first claims its connection with one conditional UPDATE (lease free or run out, poll due): atomic on
PostgreSQL and SQLite alike, so two workers never poll one connection at once, and a worker that dies
leaves a lease that runs out by itself. It then asks the adapter for the events after the stored cursor,
stores them (each delivery committed, locks.checkins), and only then saves the new cursor, under its own
lease. A poll that dies in between is repeated from the old cursor: the events it gets again are the same
rows (unique per connection and vendor event id), so nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accessbridge.http import ServiceError
from locks.checkins import vendor_events_store
from locks.models import LockConnection, VendorDelivery
from locks.vendors import VENDOR_ADAPTERS, adapter_class, adapter_for
from locks.vendors.base import Capability, VendorPermanentError
from spaces.models import Space

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    status: str  # "polled" | "skipped" (not due, or another worker polls it) | "failed"
    events: int = 0
    new: int = 0
    error: str = ""


def poll_lease() -> timedelta:
    """How long a claim holds: past the task timeout, after which django-q has stopped the worker."""
    return timedelta(seconds=settings.Q_CLUSTER["timeout"] + 30)


def polling_vendors() -> list[str]:
    return [key for key in VENDOR_ADAPTERS if adapter_class(key).supports(Capability.POLLING)]


def _due(now: datetime) -> Q:
    lease_free = Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lte=now)
    return lease_free & (Q(poll_due_at__isnull=True) | Q(poll_due_at__lte=now))


def connections_poll_due(*, now: datetime | None = None) -> list[int]:
    """Enabled connections of connected spaces whose vendor polls, due now and not being polled."""
    now = now or timezone.now()
    connections = LockConnection.objects.filter(
        _due(now), enabled=True, space__status=Space.Status.ACTIVE, vendor__in=polling_vendors()
    )
    return list(connections.order_by("pk").values_list("pk", flat=True))


def connection_poll(*, connection_id: int, now: datetime | None = None) -> PollResult:
    """Poll one connection once, if it is due and no other worker polls it now."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    if not _poll_claim(connection_id=connection_id, token=token, now=now):
        return PollResult("skipped")
    connection = LockConnection.objects.select_related("space").get(pk=connection_id)
    adapter = adapter_for(connection)
    try:
        events, cursor = adapter.events_poll(cursor=dict(connection.poll_cursor or {}))
        if not isinstance(cursor, dict):
            raise VendorPermanentError(f"{connection.get_vendor_display()} gave no cursor to continue from.")
        new = vendor_events_store(connection=connection, events=events, source=VendorDelivery.Source.POLL)
    except ServiceError as exc:
        wait = max(adapter.poll_interval_seconds, exc.retry_after or 0)
        _poll_release(connection=connection, token=token, due_at=now + timedelta(seconds=wait), error=str(exc))
        logger.info("poll of connection %s failed: %s", connection_id, exc)
        return PollResult("failed", error=str(exc))
    _poll_finish(connection=connection, token=token, cursor=cursor, now=now)
    return PollResult("polled", events=len(events), new=new)


def _poll_claim(*, connection_id: int, token: str, now: datetime) -> bool:
    claimed = LockConnection.objects.filter(_due(now), pk=connection_id, enabled=True).update(
        poll_lease_until=now + poll_lease(), poll_lease_token=token
    )
    return claimed == 1


def _poll_finish(*, connection: LockConnection, token: str, cursor: dict, now: datetime) -> None:
    """The events are stored: save the cursor, free the lease, say when the next poll is due."""
    interval = timedelta(seconds=adapter_class(connection.vendor).poll_interval_seconds)
    saved = LockConnection.objects.filter(pk=connection.pk, poll_lease_token=token).update(
        poll_cursor=cursor,
        poll_due_at=now + interval,
        poll_lease_until=None,
        poll_lease_token="",
        polled_at=now,
        poll_error="",
    )
    if not saved:
        # Our lease ran out and another poll took over from the old cursor: its events are ours again.
        logger.warning("poll of connection %s outlived its lease; cursor left to the next poll", connection.pk)


def _poll_release(*, connection: LockConnection, token: str, due_at: datetime, error: str) -> None:
    LockConnection.objects.filter(pk=connection.pk, poll_lease_token=token).update(
        poll_due_at=due_at, poll_lease_until=None, poll_lease_token="", poll_error=error[:2000]
    )
