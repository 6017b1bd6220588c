"""Scheduled entry points (accessbridge.apps.SCHEDULES): thin, they queue work and prune history."""

import logging
from datetime import timedelta

from django.utils import timezone

from locks.access.boundaries import access_boundaries_prune
from locks.access.jobs import access_sync_all_spaces_enqueue, access_sync_jobs_prune
from locks.models import LockConnection
from locks.polling import connection_poll, connections_poll_due
from locks.services import connection_status_refresh, connections_status_refresh_enqueue

logger = logging.getLogger(__name__)

KEEP_FINISHED_SYNCS = timedelta(days=14)


def access_sync_due() -> int:
    """Every 15 minutes: dates move on (canceled_to passes, bookings start and end) without a webhook."""
    return access_sync_all_spaces_enqueue(reason="schedule")


def access_sync_daily() -> int:
    """Once a day: also compare with each vendor's own list of people (changes made at the vendor)."""
    access_sync_jobs_prune(before=timezone.now() - KEEP_FINISHED_SYNCS)
    access_boundaries_prune(before=timezone.now() - KEEP_FINISHED_SYNCS)
    return access_sync_all_spaces_enqueue(reason="daily check with the vendors", refresh=True)


def status_refresh_due() -> int:
    """Every 5 minutes: door state, battery and gateway status of every enabled connection that reports them,
    one task per connection (an offline gateway only slows down its own)."""
    return connections_status_refresh_enqueue()


def connection_status_refresh_task(connection_id: int) -> dict:
    connection = LockConnection.objects.select_related("space").filter(pk=connection_id, enabled=True).first()
    if connection is None:
        return {"skipped": "no such enabled connection"}
    ok, message = connection_status_refresh(connection=connection)
    if not ok:
        # Stored on the gateway and door rows (shown on the doors page); the next run tries again.
        logger.info("status refresh of %s: %s", connection, message)
    return {"ok": ok, "message": message}


def events_poll_due() -> int:
    """Every minute: one poll task per connection whose vendor polls and whose poll is due (locks.polling)."""
    from django_q.tasks import async_task

    due = connections_poll_due()
    for connection_id in due:
        async_task(
            "locks.tasks.connection_poll_task",
            connection_id,
            task_name=f"poll of lock connection #{connection_id}",
            group="locks.poll",
        )
    return len(due)


def connection_poll_task(connection_id: int) -> dict:
    result = connection_poll(connection_id=connection_id)
    return {"status": result.status, "events": result.events, "new": result.new, "error": result.error}
