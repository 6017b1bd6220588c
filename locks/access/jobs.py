"""The queue of access syncs: one AccessSyncJob row per pending sync (a member's, or every member's), run by
a worker with the shared retries (accessbridge.work). Changes that arrive while a job waits to start join it;
a running job takes the other members queued for its space (a burst drains in a few runs); a finished run
supersedes the older waiting jobs it covered; finished jobs are pruned."""

from __future__ import annotations

import random
import time
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accessbridge.work import (
    WorkDeferred,
    WorkPermanentError,
    WorkStatus,
    WorkWaiting,
    work_retry,
    work_settle,
)
from locks.access.run import SyncInProgress, SyncReport, access_sync
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


# Another sync of the space holds it (PostgreSQL): try again after this long, spread a little. Short: the
# running sync takes the members queued meanwhile when it finishes, so this is rarely needed at all.
SYNC_BUSY_DELAY_SECONDS = (2, 5)
# A burst: one job takes up to this many members queued for its space at once, and goes on taking those
# queued while it ran for at most this many more rounds, while it has run for less than a third of the task
# timeout (Q_TIMEOUT): a rate-limited vendor (KISI: 5 requests/s) makes each member's turn take a while.
TAKE_AT_ONCE = 100
TAKE_ROUNDS_MAX = 20


def access_sync_job_perform(*, job: AccessSyncJob) -> str | None:
    """Run the job together with every member's job queued for the space (a burst drains in a few runs
    instead of one deferred job per member), then those queued while it ran."""
    started = time.monotonic()
    outcome = _sync_round(job, taken=_queued_jobs_take(job), with_job=True)
    _waiting_jobs_supersede(job)
    for _ in range(TAKE_ROUNDS_MAX):
        if time.monotonic() - started > settings.Q_CLUSTER["timeout"] / 3:
            break  # the rest stay queued for their own jobs
        taken = _queued_jobs_take(job)
        if not taken:
            break
        try:
            _sync_round(job, taken=taken, with_job=False)
        except WorkDeferred:
            break  # another sync holds the space now; it takes them when it finishes
    if outcome is not None:
        raise outcome
    return None


def _sync_round(job: AccessSyncJob, *, taken: list[AccessSyncJob], with_job: bool) -> Exception | None:
    """One access sync of the job's member (if `with_job`) and the taken jobs' members; settles the taken
    jobs and returns what the job itself must raise (None: done)."""
    if with_job and job.membership_id is None:
        membership_ids = None  # every member: covers the taken ones too
    else:
        membership_ids = {t.membership_id for t in taken} | ({job.membership_id} if with_job else set())
    try:
        report = access_sync(
            space=job.space,
            membership_ids=membership_ids,
            refresh=job.refresh and with_job,
            actor_label=f"sync: {job.reason}"[:100],
        )
    except SyncInProgress:
        _taken_release(taken)
        if with_job:
            _access_sync_job_defer(job)
        raise WorkDeferred("another access sync of this space is running", seconds=0) from None
    for other in taken:
        work_settle(other, error=_outcome(report, membership_id=other.membership_id))
        AccessSyncJob.objects.filter(pk=other.pk).update(result={**report.summary(), "taken_by": job.pk})
    if not with_job:
        return None
    AccessSyncJob.objects.filter(pk=job.pk).update(result=report.summary())
    return _outcome(report, membership_id=job.membership_id)


def _outcome(report: SyncReport, *, membership_id: int | None) -> Exception | None:
    """What a job for this member (None: every member) raises after the run: retry, wait, fail, or None."""
    if report.waiting:
        return WorkWaiting("; ".join(report.waiting))
    if report.transient is not None:
        return report.transient
    failed = [
        f"{op.describe()}: {e}" for op, e in report.failed if membership_id and op.membership.pk == membership_id
    ]
    if report.errors or failed:
        return WorkPermanentError("; ".join(report.errors + failed))
    return None


def _queued_jobs_take(job: AccessSyncJob) -> list[AccessSyncJob]:
    """Claim the space's other single-member jobs waiting to start (not those in backoff: they keep their
    time), as work_execute would claim each: running, one attempt more, marked as taken by this job."""
    now = timezone.now()
    queued = (
        AccessSyncJob.objects.filter(space_id=job.space_id, status=WorkStatus.PENDING, membership__isnull=False)
        .filter(Q(next_attempt_at__lte=now) | Q(attempts=0))
        .exclude(pk=job.pk)
    )
    pks = list(queued.order_by("pk").values_list("pk", flat=True)[:TAKE_AT_ONCE])
    if not pks:
        return []
    AccessSyncJob.objects.filter(pk__in=pks, status=WorkStatus.PENDING).update(
        status=WorkStatus.RUNNING, attempts=F("attempts") + 1, result={"taken_by": job.pk}, updated_at=now
    )
    return list(AccessSyncJob.objects.filter(pk__in=pks, status=WorkStatus.RUNNING, result__taken_by=job.pk))


def _taken_release(taken: list[AccessSyncJob]) -> None:
    """Back to waiting to start, untouched: this round did not run."""
    AccessSyncJob.objects.filter(pk__in=[t.pk for t in taken], status=WorkStatus.RUNNING).update(
        status=WorkStatus.PENDING, attempts=F("attempts") - 1, result={}, updated_at=timezone.now()
    )


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
