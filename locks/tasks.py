"""Scheduled entry points (accessbridge.apps.SCHEDULES): thin, they queue work and prune history."""

from datetime import timedelta

from django.utils import timezone

from locks.services import access_sync_all_spaces_enqueue, access_sync_jobs_prune

KEEP_FINISHED_SYNCS = timedelta(days=14)


def access_sync_due() -> int:
    """Every 15 minutes: dates move on (canceled_to passes, bookings start and end) without a webhook."""
    return access_sync_all_spaces_enqueue(reason="schedule")


def access_sync_daily() -> int:
    """Once a day: also compare with each vendor's own list of people (changes made at the vendor)."""
    access_sync_jobs_prune(before=timezone.now() - KEEP_FINISHED_SYNCS)
    return access_sync_all_spaces_enqueue(reason="daily check with the vendors", refresh=True)
