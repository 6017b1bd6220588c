"""Is the task worker alive? Read by /health/; the worker records its own start (`worker_start_record`).

The work dispatcher is scheduled every minute, so a running worker leaves a recent finished task. Right
after a start there is none yet (django-q2 runs its first schedules about 30 s in): that is "starting",
not "not running", as long as a worker process started within the same few minutes.
"""

import logging
import socket
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Max
from django.utils import timezone

from accessbridge.models import WorkerStart

logger = logging.getLogger(__name__)

WORKER_QUIET_LIMIT = timedelta(minutes=3)


WORKER_START_KEPT = timedelta(days=1)


def worker_start_record(**kwargs) -> None:
    """django-q2's post_spawn: a worker process of this host has (re)started."""
    now = timezone.now()
    try:
        WorkerStart.objects.update_or_create(host=socket.gethostname()[:255], defaults={"started_at": now})
        # Containers get a new host name with each start: only recent starts matter for /health/.
        WorkerStart.objects.filter(started_at__lt=now - WORKER_START_KEPT).delete()
    except DatabaseError as exc:
        # The worker retries the database for its tasks anyway; a missing mark must not stop it.
        logger.warning("Could not record the worker's start: %s", exc)


def worker_health() -> dict:
    """The worker's state ("ok", "starting", "not running") with a sentence saying why, for /health/."""
    from django_q.models import OrmQ, Success

    now = timezone.now()
    last = Success.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    started = WorkerStart.objects.aggregate(latest=Max("started_at"))["latest"]
    limit = int(WORKER_QUIET_LIMIT.total_seconds() // 60)
    if last and last > now - WORKER_QUIET_LIMIT:
        state, detail = "ok", f"a task finished in the last {limit} minutes"
    elif started and started > now - WORKER_QUIET_LIMIT:
        seconds = int((now - started).total_seconds())
        state, detail = "starting", f"a worker started {seconds} s ago; its first task finishes within a minute"
    else:
        state = "not running"
        detail = (
            f"no task finished and no worker started in the last {limit} minutes: is `manage.py qcluster` running?"
        )
    return {
        "worker": state,
        "worker_detail": detail,
        "worker_started_at": started.isoformat() if started else None,
        "last_task_finished_at": last.isoformat() if last else None,
        "queued_tasks": OrmQ.objects.count(),
    }
