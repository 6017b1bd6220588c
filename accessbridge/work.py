"""Work with retries: every unit of work is a database row that knows how to perform itself.

A row is `pending` until a worker claims it (atomically, so two workers never run it twice),
then `done`, `ignored`, `waiting` (an admin must act: credentials rejected, reconnect needed),
or back to `pending` with a later `next_attempt_at` after a transient error (exponential backoff
with jitter, at least what Retry-After asked), and `failed` once the attempts reach the cap.
django-q2 only carries "run row X now" messages; the retry state is ours, so it survives restarts
and shows on the dashboard. A row put off to later (a retry, a deferral, a row due at a set time) is sent
when it comes due by each worker's due-work clock (accessbridge.work_clock, `work_due_send`); the minute
schedule (`work_dispatch_due`) is the safety net for anything missed and frees stuck rows.

A row enqueued as a follow-up (`follow_up=True`) while a worker runs another row is run by that worker
right after it, in the same task: a webhook's member reaches the vendor without a second broker hop.
"""

import logging
import random
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from accessbridge.http import ServiceError

logger = logging.getLogger(__name__)

# Model label → the function that does a row's work. Each app registers its own in AppConfig.ready(), so
# that its models never import the services they run (services import the models).
_performers: dict[str, Callable[..., str | None]] = {}


class WorkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    IGNORED = "ignored", "Ignored"
    WAITING = "waiting", "Waiting for an admin"
    FAILED = "failed", "Failed"


class WorkWaiting(Exception):
    """The work cannot go on until an admin acts (reconnect, fix credentials). Not an attempt lost."""


class WorkDeferred(Exception):
    """Not now, and not a failure: run again in `seconds` (e.g. another worker holds the resource)."""

    def __init__(self, reason: str, *, seconds: float):
        super().__init__(reason)
        self.seconds = seconds


class WorkPermanentError(Exception):
    """The work can never succeed as it is (bad payload): fail at once, no retry."""


class RetryableWork(models.Model):
    status = models.CharField(max_length=16, choices=WorkStatus.choices, default=WorkStatus.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def perform(self) -> str | None:
        """Do the work (the performer registered for this model). Return a final status (e.g.
        WorkStatus.IGNORED) or None for done.

        Raise ServiceError (classified), WorkWaiting or WorkPermanentError to steer retries.
        """
        performer = _performers.get(self._meta.label)
        if performer is None:
            raise NotImplementedError(f"no performer registered for {self._meta.label}")
        return performer(self)

    def enqueue(self, *, follow_up: bool = False) -> None:
        work_enqueue(self, follow_up=follow_up)


def work_performer_register(model: type[RetryableWork], performer: Callable[..., str | None]) -> None:
    """`performer(row)` does the work of `model`'s rows (see RetryableWork.perform)."""
    _performers[model._meta.label] = performer


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Delay before the next attempt after `attempts` failed ones: exponential, capped, jittered.

    Jitter is "equal jitter" (half fixed, half random) so retries of many rows spread out while
    the delay still grows with every attempt.
    """
    base = settings.WORK_BACKOFF_BASE_SECONDS
    ceiling = settings.WORK_BACKOFF_MAX_SECONDS
    exponential = min(ceiling, base * (2 ** max(0, attempts - 1)))
    delay = exponential / 2 + random.uniform(0, exponential / 2)
    if retry_after:
        delay = max(delay, retry_after)
    return delay


def retryable_models() -> list[type[RetryableWork]]:
    return [m for m in apps.get_models() if issubclass(m, RetryableWork)]


# Rows enqueued as follow-ups by the row a worker is running (None outside work_execute); at most
# FOLLOW_UPS_MAX run in the same task, the rest go through the broker as usual.
_follow_ups: ContextVar[list[tuple[str, object]] | None] = ContextVar("work_follow_ups", default=None)
FOLLOW_UPS_MAX = 20


def work_enqueue(item: RetryableWork, *, follow_up: bool = False) -> None:
    """Ask a worker to run this row once the current transaction commits.

    follow_up: when a worker is running another row, run this one right after it in the same task
    (small work that continues the current row's, like one member's access after their mirror row).
    """
    label, pk = item._meta.label, item.pk
    transaction.on_commit(lambda: _send_or_follow(label, pk, follow_up))


def _send_or_follow(label: str, pk, follow_up: bool) -> None:
    queued = _follow_ups.get()
    if follow_up and queued is not None and len(queued) < FOLLOW_UPS_MAX:
        queued.append((label, pk))
        return
    _send(label, pk)


def _send(label: str, pk: int) -> None:
    from django_q.tasks import async_task

    async_task("accessbridge.work.work_execute", label, pk, task_name=f"{label}#{pk}", group=label)


def _claim(model: type[RetryableWork], pk) -> bool:
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=WorkStatus.PENDING, next_attempt_at__lte=now).update(
        status=WorkStatus.RUNNING, attempts=F("attempts") + 1, updated_at=now
    )
    return claimed == 1


def work_execute(model_label: str, pk) -> str:
    """Run one row if it is due and nobody else is running it, then its follow-ups. Returns the row's
    new status."""
    model = apps.get_model(model_label)
    if not _claim(model, pk):
        return "skipped"
    item = model.objects.get(pk=pk)
    queued: list[tuple[str, object]] = []
    token = _follow_ups.set(queued)
    try:
        try:
            result = item.perform()
        except Exception as exc:
            work_settle(item, error=exc)
        else:
            work_settle(item, result=result)
    finally:
        _follow_ups.reset(token)
    for label, follow_pk in queued:
        work_execute(label, follow_pk)
    return item.status


def work_settle(item: RetryableWork, *, error: Exception | None = None, result: str | None = None) -> None:
    """Record a claimed row's outcome: `error` raised by its work (classified for retries), or `result`."""
    try:
        if error is not None:
            raise error
    except WorkDeferred as exc:
        _defer(item, str(exc), exc.seconds)
    except WorkWaiting as exc:
        _finish(item, WorkStatus.WAITING, error=str(exc), count_attempt=False)
    except WorkPermanentError as exc:
        _finish(item, WorkStatus.FAILED, error=str(exc))
    except ServiceError as exc:
        if exc.is_auth:
            _finish(item, WorkStatus.WAITING, error=str(exc), count_attempt=False)
        elif exc.transient:
            _retry_later(item, str(exc), exc.retry_after)
        else:
            _finish(item, WorkStatus.FAILED, error=str(exc))
    except Exception as exc:
        # Our own bug or an unexpected answer: keep it visible and retry, it may be a race.
        logger.exception("work %s#%s crashed", item._meta.label, item.pk)
        _retry_later(item, f"internal error: {exc.__class__.__name__}: {exc}", None)
    else:
        _finish(item, result or WorkStatus.DONE, error="")


def _retry_later(item: RetryableWork, error: str, retry_after: float | None) -> None:
    if item.attempts >= settings.WORK_MAX_ATTEMPTS:
        _finish(item, WorkStatus.FAILED, error=f"{error} (gave up after {item.attempts} attempts)")
        return
    item.status = WorkStatus.PENDING
    item.last_error = error
    item.next_attempt_at = timezone.now() + timedelta(seconds=backoff_seconds(item.attempts, retry_after))
    item.save(update_fields=["status", "last_error", "next_attempt_at", "updated_at"])


def _defer(item: RetryableWork, reason: str, seconds: float) -> None:
    item.status = WorkStatus.PENDING
    item.attempts = max(0, item.attempts - 1)  # it did nothing: keep the attempt budget
    item.last_error = f"deferred: {reason}"
    item.next_attempt_at = timezone.now() + timedelta(seconds=seconds)
    item.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "updated_at"])


def _finish(item: RetryableWork, status: str, *, error: str, count_attempt: bool = True) -> None:
    item.status = status
    item.last_error = error
    fields = ["status", "last_error", "updated_at"]
    if not count_attempt:
        # Waiting for an admin is not a failed attempt: keep the budget for after the fix.
        item.attempts = max(0, item.attempts - 1)
        fields.append("attempts")
    if status in (WorkStatus.DONE, WorkStatus.IGNORED, WorkStatus.FAILED):
        item.finished_at = timezone.now()
        fields.append("finished_at")
    item.save(update_fields=fields)


def work_retry(queryset) -> int:
    """Put failed or waiting rows back in the queue now, with a fresh attempt budget."""
    now = timezone.now()
    rows = list(queryset.filter(status__in=[WorkStatus.FAILED, WorkStatus.WAITING]).values_list("pk", flat=True))
    if not rows:
        return 0
    model = queryset.model
    model.objects.filter(pk__in=rows).update(
        status=WorkStatus.PENDING, attempts=0, next_attempt_at=now, finished_at=None, updated_at=now
    )
    label = model._meta.label
    for pk in rows:
        transaction.on_commit(lambda pk=pk: _send(label, pk))
    return len(rows)


def work_dispatch_due(limit: int = 500) -> int:
    """Scheduled every minute: enqueue due rows, and free rows a dead worker left running."""
    now = timezone.now()
    stuck_after = timedelta(seconds=settings.Q_CLUSTER["retry"] * 2)
    sent = 0
    for model in retryable_models():
        model.objects.filter(status=WorkStatus.RUNNING, updated_at__lt=now - stuck_after).update(
            status=WorkStatus.PENDING, next_attempt_at=now, updated_at=now
        )
        due = model.objects.filter(status=WorkStatus.PENDING, next_attempt_at__lte=now)
        for pk in due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit]:
            _send(model._meta.label, pk)
            sent += 1
    return sent


def work_due_send(*, since: datetime, now: datetime | None = None) -> int:
    """Send the rows that were put off to later and came due in (since, now]: retries, deferrals, rows due
    at a set time. Rows enqueued for "now" were sent when written (their next_attempt_at is not after
    their updated_at), so a queue backlog is never sent twice."""
    now = now or timezone.now()
    sent = 0
    for model in retryable_models():
        due = model.objects.filter(
            status=WorkStatus.PENDING, next_attempt_at__gt=since, next_attempt_at__lte=now
        ).filter(next_attempt_at__gt=F("updated_at"))
        for pk in due.order_by("next_attempt_at").values_list("pk", flat=True):
            _send(model._meta.label, pk)
            sent += 1
    return sent


def work_run_due(*, model: type[RetryableWork] | None = None, limit: int = 10_000) -> int:
    """Run every due row here and now, in this process (tests, `manage.py work_run`)."""
    ran = 0
    for m in [model] if model else retryable_models():
        for pk in m.objects.filter(status=WorkStatus.PENDING, next_attempt_at__lte=timezone.now()).order_by(
            "next_attempt_at", "pk"
        ).values_list("pk", flat=True)[:limit]:
            if work_execute(m._meta.label, pk) != "skipped":
                ran += 1
    return ran
