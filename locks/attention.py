"""What needs an admin's attention in a space, in one list: every failed, waiting or retrying unit of work
with its error in words, since when and what to do; each lock connection's health from its real recent
calls; and whether members' access is behind.

Shown on the space overview, the dashboard, the work page and the admin page inside Cobot, and polled
there (django-htmx) while work is in flight. A connection is never "Working" while its calls fail: its
health comes from the audit trail, where every call to the vendor is recorded with its result
(locks.access.apply, locks.door_commands), not only from the last connection test.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timeuntil

from accessbridge.work import WorkStatus
from locks.models import AccessSyncJob, AuditEntry, LockConnection, VendorDelivery
from locks.selectors import ago_words
from spaces.localtime import space_today, space_zone
from spaces.models import InboundDelivery, Space

# The kinds of work an admin can retry: key → (model, lookup from the row to its space).
WORK_KINDS = {
    "sync": (AccessSyncJob, "space"),
    "delivery": (InboundDelivery, "space"),
    "vendor_delivery": (VendorDelivery, "connection__space"),
}
_STUCK = (WorkStatus.FAILED, WorkStatus.WAITING)
_DEFERRED_PREFIX = "deferred: "  # accessbridge.work._defer: not an error, another worker had the space


@dataclass(frozen=True)
class AttentionItem:
    kind: str  # a WORK_KINDS key: the retry button posts it
    pk: int
    what: str
    status: str  # failed, waiting, retrying
    state: str  # in words: Failed, Waiting for an admin, Retrying
    error: str
    since: datetime
    fix_url: str = ""
    fix_label: str = ""
    retry_note: str = ""  # a retrying row: which attempt failed, when the next one is

    @property
    def retryable(self) -> bool:
        return self.status in _STUCK

    @property
    def since_words(self) -> str:
        return ago_words(self.since)


@dataclass(frozen=True)
class ConnectionHealth:
    connection: LockConnection
    ok: bool
    label: str
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    consecutive_failures: int

    @property
    def last_success_words(self) -> str:
        return ago_words(self.last_success_at) or "never"

    @property
    def last_error_words(self) -> str:
        return ago_words(self.last_error_at)


@dataclass
class SpaceAttention:
    space: Space
    items: list[AttentionItem] = field(default_factory=list)
    connections: list[ConnectionHealth] = field(default_factory=list)
    access_behind: str = ""  # the red banner's text, "" when members' access is in step
    in_flight: bool = False  # work is queued or running: the list is polled

    @property
    def problems(self) -> int:
        return len(self.items) + sum(1 for health in self.connections if not health.ok)


def _stuck_or_retrying() -> Q:
    retrying = Q(status=WorkStatus.PENDING, attempts__gt=0) & ~Q(last_error="") & ~Q(
        last_error__startswith=_DEFERRED_PREFIX
    )
    return Q(status__in=_STUCK) | retrying


def _item(kind: str, row, what: str, **fix) -> AttentionItem:
    error = row.last_error or "No error was recorded."
    if row.status != WorkStatus.PENDING:
        return AttentionItem(kind, row.pk, what, row.status, row.get_status_display(), error, row.created_at, **fix)
    wait = (row.next_attempt_at - timezone.now()).total_seconds()
    when = "now" if wait <= 0 else "in under a minute" if wait < 60 else f"in {timeuntil(row.next_attempt_at)}"
    note = f"attempt {row.attempts} of {settings.WORK_MAX_ATTEMPTS} failed; next try {when}"
    return AttentionItem(kind, row.pk, what, "retrying", "Retrying", error, row.created_at, retry_note=note, **fix)


def _work_items(space: Space, limit: int) -> list[AttentionItem]:
    items = []
    jobs = AccessSyncJob.objects.filter(_stuck_or_retrying(), space=space).select_related("membership")
    for job in jobs.order_by("created_at")[:limit]:
        who = job.membership or "every member"
        items.append(_item("sync", job, f"Access sync: {who}", **_sync_fix(space, job)))
    for delivery in InboundDelivery.objects.filter(_stuck_or_retrying(), space=space).order_by("received_at")[:limit]:
        fix = _reconnect_fix(space) if delivery.status == WorkStatus.WAITING else {}
        items.append(_item("delivery", delivery, f"Cobot change: {delivery.event}", **fix))
    events = VendorDelivery.objects.filter(_stuck_or_retrying(), connection__space=space).select_related("connection")
    for delivery in events.order_by("received_at")[:limit]:
        what = f"Door event from {delivery.connection.name}: {delivery.get_kind_display()} → Cobot check-in"
        items.append(_item("vendor_delivery", delivery, what))
    return sorted(items, key=lambda item: item.since)


def _sync_fix(space: Space, job: AccessSyncJob) -> dict:
    """Where the cause of a waiting access sync is fixed: credentials or the Cobot connection."""
    if job.status != WorkStatus.WAITING:
        return {}
    if "reconnect" in job.last_error:
        return _reconnect_fix(space)
    return {"fix_url": reverse("connections", args=[space.subdomain]), "fix_label": "Fix the credentials"}


def _reconnect_fix(space: Space) -> dict:
    return {"fix_url": reverse("space_detail", args=[space.subdomain]) + "#connection", "fix_label": "Reconnect the space"}


def connection_health(*, connection: LockConnection) -> ConnectionHealth:
    """From the calls audited for this connection and its last test: last success, last error, failures
    in a row since the last success."""
    calls = AuditEntry.objects.filter(connection=connection, result__in=["ok", "failed"]).order_by("-created_at")
    last_ok = calls.filter(result="ok").values_list("created_at", flat=True).first()
    failed = calls.filter(result="failed")
    last_failed = failed.values_list("created_at", "detail").first()
    tested_ok = connection.status == LockConnection.Status.OK and connection.last_checked_at
    if tested_ok and (last_ok is None or connection.last_checked_at > last_ok):
        last_ok = connection.last_checked_at
    consecutive = failed.filter(created_at__gt=last_ok).count() if last_ok else failed.count()
    error_at, error = last_failed if last_failed else (None, "")
    tested_bad = connection.status in (LockConnection.Status.ERROR, LockConnection.Status.CREDENTIALS_REJECTED)
    if tested_bad and connection.last_checked_at and (error_at is None or connection.last_checked_at >= error_at):
        error_at, error = connection.last_checked_at, connection.last_error or connection.get_status_display()
        consecutive += 1 if not last_ok or connection.last_checked_at > last_ok else 0
    return ConnectionHealth(
        connection, *_health_label(connection, last_ok, error_at, consecutive), last_ok, error_at, error, consecutive
    )


def _health_label(connection, last_ok, error_at, consecutive) -> tuple[bool, str]:
    if not connection.enabled:
        return True, "Disabled"
    if connection.status == LockConnection.Status.CREDENTIALS_REJECTED:
        return False, "Credentials rejected"
    if consecutive:
        return False, f"Failing: {consecutive} call{'s' if consecutive != 1 else ''} in a row"
    if last_ok is None:
        return True, "Not used yet"
    return True, "Working"


def _access_behind(space: Space, items: list[AttentionItem], connections: list[ConnectionHealth]) -> str:
    syncs = [item for item in items if item.kind == "sync"]
    failing = [health.connection.name for health in connections if not health.ok and health.label != "Disabled"]
    if not syncs and not failing:
        return ""
    since = min((item.since for item in syncs), default=None)
    text = "Members' access is behind"
    if since:
        local = timezone.localtime(since, space_zone(space))
        text += f" since {local:%H:%M}" if local.date() == space_today(space) else f" since {local:%Y-%m-%d %H:%M}"
    text += ": "
    if failing:
        text += f"{', '.join(failing)} {'is' if len(failing) == 1 else 'are'} failing. "
    text += (
        "People who should lose access may still open doors, and new members wait. "
        "AccessBridge retries by itself; the list below says what failed and how to act."
    )
    return text


def space_attention(*, space: Space, limit: int = 50) -> SpaceAttention:
    items = _work_items(space, limit)
    connections = [connection_health(connection=c) for c in space.lock_connections.order_by("name", "pk")]
    in_flight_q = Q(status__in=[WorkStatus.PENDING, WorkStatus.RUNNING])
    in_flight = any(
        model.objects.filter(in_flight_q, **{lookup: space}).exists() for model, lookup in WORK_KINDS.values()
    )
    return SpaceAttention(space, items, connections, _access_behind(space, items, connections), in_flight)
