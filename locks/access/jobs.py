"""The queue of access syncs: one AccessSyncJob row per pending sync (a member's, or every member's), run by
a worker with the shared retries (accessbridge.work). Changes that arrive while a job waits to start join it;
a finished run supersedes the older waiting jobs it covered; finished jobs are pruned."""

from __future__ import annotations

import random
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accessbridge.work import WorkDeferred, WorkPermanentError, WorkStatus, WorkWaiting, work_retry
from locks.access.run import SyncInProgress, access_sync
from locks.models import AccessSyncJob, LockConnection
from spaces.models import Membership, Space


def access_sync_enqueue(
    *, space: Space, membership: Membership | None = None, reason: str, refresh: bool = False
) -> AccessSyncJob | None:
    """Queue an access sync for one member (or all), joining a job for them that has not started yet.

    A job in backoff keeps its time: running it sooner would only meet the same failing vendor.
    """
    if not LockConnection.objects.filter(space=space, enabled=True).exists():
        return None
    with transaction.atomic():
        pending = AccessSyncJob.objects.select_for_update().filter(space=space, status=WorkStatus.PENDING)
        if membership is not None and pending.filter(membership=None, attempts=0).exists():
            return None  # a sync of every member is about to start; it covers this one
        job = pending.filter(membership=membership).order_by("pk").first()
        if job is not None:
            job.reason = _reason_join(job.reason, reason)
            job.refresh = job.refresh or refresh
            job.save(update_fields=["reason", "refresh", "updated_at"])
            return job
        job = AccessSyncJob.objects.create(
            space=space, membership=membership, reason=reason[:300], refresh=refresh
        )
        # One member's sync queued while a worker processes their Cobot delivery runs right after it, in
        # the same task: the webhook reaches the door without a second trip through the broker.
        job.enqueue(follow_up=membership is not None)
    return job


def access_sync_waiting_retry(*, space_id: int) -> int:
    return work_retry(AccessSyncJob.objects.filter(space_id=space_id, status=WorkStatus.WAITING))


def _reason_join(current: str, new: str) -> str:
    parts = [p for p in current.split(", ") if p]
    if new not in parts:
        parts.append(new)
    return ", ".join(parts)[:300]


# Another sync of the space holds it (PostgreSQL): try again after this long, spread a little.
SYNC_BUSY_DELAY_SECONDS = (20, 40)


def access_sync_job_perform(*, job: AccessSyncJob) -> str | None:
    try:
        report = access_sync(
            space=job.space,
            membership_ids=[job.membership_id] if job.membership_id else None,
            refresh=job.refresh,
            actor_label=f"sync: {job.reason}"[:100],
        )
    except SyncInProgress:
        _access_sync_job_defer(job)
    AccessSyncJob.objects.filter(pk=job.pk).update(result=report.summary())
    _waiting_jobs_supersede(job)
    if report.waiting:
        raise WorkWaiting("; ".join(report.waiting))
    if report.transient is not None:
        raise report.transient
    if report.errors or (report.failed and job.membership_id):
        raise WorkPermanentError(
            "; ".join(report.errors + [f"{op.describe()}: {e}" for op, e in report.failed])
        )
    return None


def _access_sync_job_defer(job: AccessSyncJob):
    """Back to the queue a little later, without counting an attempt: the job did nothing yet."""
    AccessSyncJob.objects.filter(pk=job.pk).update(result={"deferred": "another access sync of this space was running"})
    raise WorkDeferred("another access sync of this space is running", seconds=random.uniform(*SYNC_BUSY_DELAY_SECONDS))


def _waiting_jobs_supersede(job: AccessSyncJob) -> int:
    """Older waiting jobs this run covered (all of the space's, or the same member's) are history now: the
    space keeps one waiting job per scope instead of a new one every 15 minutes."""
    covered = AccessSyncJob.objects.filter(space_id=job.space_id, status=WorkStatus.WAITING, pk__lt=job.pk)
    if job.membership_id is not None:
        covered = covered.filter(membership_id=job.membership_id)
    return covered.update(
        status=WorkStatus.IGNORED,
        last_error=f"covered by a later access sync (#{job.pk})",
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def access_sync_jobs_prune(*, before: datetime) -> int:
    """Finished syncs are history the audit trail already holds: keep the recent ones only."""
    finished = [WorkStatus.DONE, WorkStatus.IGNORED]
    deleted, _ = AccessSyncJob.objects.filter(status__in=finished, finished_at__lt=before).delete()
    return deleted


def access_sync_all_spaces_enqueue(*, reason: str = "schedule", refresh: bool = False) -> int:
    """The schedule: dates move on (canceled_to passes, bookings start and end) without any webhook.

    Every space with locks, whatever its Cobot connection says: access must end at canceled_to also in a
    space that needs a reconnect (only registering check-in tokens waits for Cobot).
    """
    spaces = Space.objects.filter(lock_connections__enabled=True).distinct()
    return sum(1 for space in spaces if access_sync_enqueue(space=space, reason=reason, refresh=refresh))
