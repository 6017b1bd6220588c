"""The due-work clock: in each task worker process, a thread that sends rows as they come due.

A retry after 4 s, a deferral, a booking's door boundary: their rows wait in the database with a later
`next_attempt_at`. Every WORK_DUE_POLL_SECONDS the clock sends those that came due since its last look
(accessbridge.work.work_due_send: one indexed query per work model, so an idle worker stays idle). Each
worker process runs one; a row sent twice is claimed once (the second message is "skipped").
"""

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from accessbridge.work import work_due_send

logger = logging.getLogger(__name__)

_started = threading.Event()


def work_clock_start(**kwargs) -> None:
    """django-q2's post_spawn (a worker process started): run the clock in a daemon thread, once."""
    if _started.is_set() or settings.WORK_DUE_POLL_SECONDS <= 0:
        return
    _started.set()
    threading.Thread(target=_work_clock_loop, name="work-clock", daemon=True).start()


def _work_clock_loop() -> None:
    interval = settings.WORK_DUE_POLL_SECONDS
    # The first look reaches back one minute dispatcher period: rows that came due while no worker ran.
    since = timezone.now() - timedelta(seconds=60)
    stop = threading.Event()
    while not stop.wait(interval):
        since = work_clock_tick(since=since)


def work_clock_tick(*, since):
    """One look: send what came due in (since, now]; return where the next look starts.

    Never raises: the clock is a thread of its own, and one failed look must not stop the next ones (the
    minute dispatcher would otherwise be all that is left, silently).
    """
    now = timezone.now()
    try:
        close_old_connections()  # a database restart or a dropped connection heals on the next look
        work_due_send(since=since, now=now)
    except DatabaseError as exc:
        logger.warning("due-work clock: %s (trying again)", exc)
        return since  # look at the same stretch again next time
    except Exception:
        logger.exception("due-work clock: a look failed (trying again)")
        return since
    return now
