"""Writes on the door side (HackSoft style: keyword-only arguments, <noun>_<verb> names)."""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accessbridge.http import ServiceError
from accessbridge.work import WorkDeferred, WorkPermanentError, WorkStatus, WorkWaiting, work_retry
from locks.engine import CURRENT_STATUSES, SyncInProgress, access_sync
from locks.models import AccessEvent, AccessSyncJob, AuditEntry, Door, Grant, LockConnection, VendorAccount
from locks.selectors import adapter_offers, connection_status_summary, member_may_open
from locks.vendors import adapter_class, adapter_for
from locks.vendors.base import Capability, Deadline, DeviceAction, DeviceLevel, DeviceOffline, VendorEvent
from spaces.cobot.client import CheckInResult, checkin_by_membership, checkin_by_token
from spaces.models import CheckInToken, Membership, Space, new_secret

logger = logging.getLogger(__name__)


# --- connections -------------------------------------------------------------------------------------
def connection_status_set(*, connection: LockConnection, status: str, error: str = "") -> None:
    now = timezone.now()
    LockConnection.objects.filter(pk=connection.pk).update(
        status=status, last_error=error[:2000], last_checked_at=now
    )
    connection.status, connection.last_error, connection.last_checked_at = status, error[:2000], now


def connection_settings_apply(*, connection: LockConnection, values: dict) -> None:
    """Split a vendor settings form's cleaned data: secrets → credentials (encrypted), the rest → config.

    Merged into what is stored, never replacing it: config keys the form does not edit (The Keys'
    api_base_url, lock_ids, gateway_read_timeout) stay. An empty secret field keeps the stored secret:
    secrets are never rendered back into the form.
    """
    secret_fields = adapter_class(connection.vendor).secret_fields
    credentials = dict(connection.credentials or {})
    config = dict(connection.config or {})
    for name, value in values.items():
        if name in secret_fields:
            if value not in (None, ""):
                credentials[name] = value
        else:
            config[name] = value
    connection.credentials, connection.config = credentials, config


def connection_test(*, connection: LockConnection) -> tuple[bool, str]:
    """A real, harmless call with the connection's settings. Records the outcome on the row if saved."""
    try:
        description = adapter_for(connection).test_connection()
    except ServiceError as exc:
        status = LockConnection.Status.CREDENTIALS_REJECTED if exc.is_auth else LockConnection.Status.ERROR
        if connection.pk:
            connection_status_set(connection=connection, status=status, error=str(exc))
        else:
            connection.status, connection.last_error = status, str(exc)
        return False, str(exc)
    if connection.pk:
        was = connection.status
        connection_status_set(connection=connection, status=LockConnection.Status.OK)
        if was != LockConnection.Status.OK:
            # Work that waited for these credentials can go on now.
            access_sync_waiting_retry(space_id=connection.space_id)
    return True, description or "Connection works."


def connection_save(
    *, space: Space, vendor: str, name: str, values: dict, connection: LockConnection | None = None
):
    """Create or update a connection after a successful test call. Returns (connection, error message)."""
    if connection is None:
        connection = LockConnection(space=space, vendor=vendor)
    connection.name = name
    connection_settings_apply(connection=connection, values=values)
    ok, message = connection_test(
        connection=LockConnection(
            space=space,
            vendor=connection.vendor,
            credentials=connection.credentials,
            config=connection.config,
        )
    )
    if not ok:
        return None, message
    is_new = connection.pk is None
    connection.status, connection.last_error, connection.last_checked_at = (
        LockConnection.Status.OK,
        "",
        timezone.now(),
    )
    connection.save()
    access_sync_waiting_retry(space_id=space.pk)
    if not is_new:
        access_sync_enqueue(space=space, reason="lock connection changed")
    return connection, message


def connection_webhook_secret_rotate(*, connection: LockConnection) -> str:
    connection.webhook_secret = new_secret()
    connection.save(update_fields=["webhook_secret"])
    return connection.webhook_secret


def doors_refresh(*, connection: LockConnection) -> list[Door]:
    doors = adapter_for(connection).doors_sync()
    access_sync_enqueue(space=connection.space, reason="doors refreshed")
    return doors


# --- deleting connections and doors ---------------------------------------------------------------------
class DeletionRefused(Exception):
    """Deleting now would leave people or door grants we created at the vendor, out of our reach."""


def connection_deletion_blockers(*, connection: LockConnection) -> list[str]:
    """Why the connection cannot be deleted yet ([]: it can). Our rows are the only record of the people
    and grants we created at the vendor; they go only once nobody is left there."""
    Status = VendorAccount.Status
    live = [Status.ACTIVE, Status.PENDING]
    if Capability.DOOR_GROUPS in adapter_class(connection.vendor).capabilities:
        live.append(Status.PAUSED)  # door-group vendors keep a paused member's person
    people = VendorAccount.objects.filter(connection=connection, status__in=live).count()
    grants = Grant.objects.filter(
        connection=connection, status__in=[Grant.Status.ACTIVE, Grant.Status.PENDING]
    )
    grant_count = grants.count()
    if not (people or grant_count):
        return []
    vendor = connection.get_vendor_display()
    held = " and ".join(
        part
        for part in (
            f"{people} {'person' if people == 1 else 'people'}" if people else "",
            f"{grant_count} door grant{'' if grant_count == 1 else 's'}" if grant_count else "",
        )
        if part
    )
    enable = "" if connection.enabled else "Enable the connection, then take"
    how = (
        f"{enable or 'Take'} its doors out of the access rules (or disable them): the next sync removes them"
    )
    return [
        f"{connection.name} cannot be deleted yet: {held} that AccessBridge created at {vendor} would be left "
        f"there. {how} at {vendor}. Then delete the connection."
    ]


def door_deletion_blockers(*, door: Door) -> list[str]:
    grants = Grant.objects.filter(door=door, status__in=[Grant.Status.ACTIVE, Grant.Status.PENDING]).count()
    if not grants:
        return []
    held = f"{grants} door grant{'' if grants == 1 else 's'}"
    return [
        f"{door.name} cannot be deleted yet: {held} that AccessBridge made at the vendor would be left there. "
        "Disable the door (the next sync revokes them), then delete it."
    ]


def connection_delete(*, connection: LockConnection, actor=None) -> None:
    """Delete a connection with its doors and our history of it, once nobody holds access there through us."""
    blockers = connection_deletion_blockers(connection=connection)
    if blockers:
        raise DeletionRefused(" ".join(blockers))
    with transaction.atomic():
        _deletion_audit(connection.space, actor, "connection_delete", f"deleted connection {connection}")
        Grant.objects.filter(connection=connection).delete()
        VendorAccount.objects.filter(connection=connection).delete()
        connection.delete()


def door_delete(*, door: Door, actor=None) -> None:
    blockers = door_deletion_blockers(door=door)
    if blockers:
        raise DeletionRefused(" ".join(blockers))
    space = door.connection.space
    with transaction.atomic():
        _deletion_audit(space, actor, "door_delete", f"deleted door {door} of {door.connection}")
        Grant.objects.filter(door=door).delete()
        door.delete()
        # A person-only vendor's person stands for all the connection's doors: the rules may want fewer now.
        access_sync_enqueue(space=space, reason="door deleted")


def _deletion_audit(space: Space, actor, action: str, detail: str) -> None:
    AuditEntry.objects.create(
        space=space,
        actor=actor,
        actor_label=f"admin: {actor or 'system'}"[:100],
        action=action,
        detail=detail,
    )


# --- device status and maintenance (gateways, locks) ----------------------------------------------------
def connection_status_refresh(*, connection: LockConnection) -> tuple[bool, str]:
    """Read door state, battery and gateway status from the vendor now. (all well?, message for the admin).

    The adapter stores what it read, and each gateway's or door's error, on the rows; an error that stops
    the whole refresh comes back here instead of raising.
    """
    if not adapter_offers(connection.vendor, "status_refresh"):
        return False, f"{connection.get_vendor_display()} reports no door status."
    try:
        adapter_for(connection).status_refresh()
    except ServiceError as exc:
        logger.info("status refresh of connection %s failed: %s", connection.pk, exc)
        return False, f"status refresh failed: {exc}"
    return connection_status_summary(connection=connection)


def connections_status_refresh_enqueue() -> int:
    """The schedule: one task per enabled connection whose vendor reports status, so that a gateway that
    times out delays (or fails) only its own connection's refresh."""
    from django_q.tasks import async_task

    connections = LockConnection.objects.filter(enabled=True, space__status=Space.Status.ACTIVE)
    queued = 0
    for connection_id, vendor in connections.order_by("pk").values_list("pk", "vendor"):
        if not adapter_offers(vendor, "status_refresh"):
            continue
        async_task(
            "locks.tasks.connection_status_refresh_task",
            connection_id,
            task_name=f"status refresh of lock connection #{connection_id}",
            group="locks.status",
        )
        queued += 1
    return queued


def device_action_run(*, action: DeviceAction, target, actor=None) -> tuple[bool, str]:
    """Run a gateway or lock maintenance call (synchronize, update firmware) and audit it, whatever happens.

    `target` is a Gateway or a Door (as `action.level` says) of the connection the adapter is made for
    (it checks that too).
    """
    connection = target.connection
    at_gateway = action.level == DeviceLevel.GATEWAY
    door = None if at_gateway else target
    where = f" (gateway at {target.host})" if at_gateway else ""
    what = f"{action.label}: {target}{where}"
    adapter = adapter_for(connection)
    if not connection.enabled:
        ok, message, detail = False, f"{connection.name} is disabled.", f"{what}: connection disabled"
    elif action not in adapter.device_actions:
        ok, message = False, f"{connection.get_vendor_display()} cannot do this: {action.label.lower()}."
        detail = f"{what}: not offered"
    else:
        try:
            getattr(adapter, action.method)(**{str(action.level): target})
        except ServiceError as exc:
            ok, message, detail = False, f"{target}: {action.label.lower()} failed: {exc}", f"{what}: {exc}"
        else:
            ok, message, detail = True, action.done.format(name=target), what
    AuditEntry.objects.create(
        space=connection.space,
        actor=actor,
        actor_label=f"dashboard: {actor or 'system'}"[:100],
        action=action.name,
        door=door,
        connection=connection,
        result="ok" if ok else "failed",
        detail=detail[:4000],
    )
    return ok, message


# --- access sync work -----------------------------------------------------------------------------------
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
        job.enqueue()
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


# --- door events → Cobot check-ins ----------------------------------------------------------------------
def vendor_events_store(*, connection: LockConnection, events: list[VendorEvent]) -> int:
    """Store each event as an inbound delivery (deduplicated on the vendor's event id); returns new ones."""
    from spaces.inbound import delivery_store

    created = 0
    for event in events:
        event_id = (
            event.event_id
            if len(event.event_id) <= 150
            else hashlib.sha256(event.event_id.encode()).hexdigest()
        )
        _, is_new = delivery_store(
            source="vendor",
            space=connection.space,
            event=event.kind[:100],
            dedupe_key=f"vendor:{connection.pk}:{event_id}",
            payload={
                "event_id": event.event_id,
                "occurred_at": event.occurred_at.isoformat(),
                "kind": event.kind,
                "person_ref": event.person_ref,
                "door_ref": event.door_ref,
                "raw": event.raw,
            },
            source_ref=str(connection.pk),
        )
        created += is_new
    return created


CHECKIN_OUTCOMES = {
    "checked_in": AccessEvent.CheckIn.CHECKED_IN,
    "already": AccessEvent.CheckIn.ALREADY,
    "refused": AccessEvent.CheckIn.REFUSED,
    "not_member": AccessEvent.CheckIn.NOT_MEMBER,
}
EVENT_KINDS = {AccessEvent.Kind.UNLOCK, AccessEvent.Kind.DENIED}


def checkin_from_delivery(*, delivery) -> str | None:
    """A vendor's door event: record it, find the member, check them in at Cobot, keep Cobot's answer.

    Idempotent: the event row is unique per connection and vendor event id, and a decided check-in is
    never sent again. An unknown person or door is recorded as "unmatched", a person several members
    could be as "ambiguous"; neither is ever guessed. A member whose vendor id is not (yet) their check-in
    token at Cobot is checked in by membership instead.
    """
    connection = LockConnection.objects.select_related("space").filter(pk=delivery.source_ref or None).first()
    if connection is None:
        return WorkStatus.IGNORED
    payload = delivery.payload or {}
    event = _event_record(connection=connection, payload=payload)
    if event.checkin_result not in (AccessEvent.CheckIn.PENDING, AccessEvent.CheckIn.ERROR):
        return None
    if event.kind != AccessEvent.Kind.UNLOCK:
        _event_result(event, AccessEvent.CheckIn.NOT_APPLICABLE, "")
        return None
    door, door_known = _event_door(connection=connection, door_ref=str(payload.get("door_ref") or ""))
    adapter = adapter_for(connection)
    token = (
        adapter.checkin_token_for(vendor_person_id=event.vendor_person_id) if event.vendor_person_id else ""
    )
    membership, ambiguous = _event_membership(
        connection=connection, person_ref=event.vendor_person_id, token=token
    )
    event.door, event.membership = door, membership
    event.save(update_fields=["door", "membership"])
    if ambiguous:
        message = f"several members match person {event.vendor_person_id} at {connection.name}"
        _event_result(event, AccessEvent.CheckIn.AMBIGUOUS, message)
        return None
    if not door_known or membership is None:
        what = "person" if membership is None else "door"
        _event_result(event, AccessEvent.CheckIn.UNMATCHED, f"unknown {what} at {connection.name}")
        return None
    registered = CheckInToken.objects.filter(
        space_id=connection.space_id, token=token, membership_cobot_id=membership.cobot_id
    ).exists()
    membership.space = connection.space
    try:
        if registered:
            result = checkin_by_token(space=connection.space, token=token)
        else:
            result = _member_checkin(membership=membership)
    except ServiceError as exc:
        if exc.transient or exc.is_auth:
            raise  # the delivery is retried (or waits for a reconnect); the event stays pending
        _event_result(event, AccessEvent.CheckIn.ERROR, str(exc))
        return None
    _event_result(event, CHECKIN_OUTCOMES.get(result.outcome, AccessEvent.CheckIn.ERROR), result.message)
    return None


def _event_record(*, connection: LockConnection, payload: dict) -> AccessEvent:
    kind = payload.get("kind") if payload.get("kind") in EVENT_KINDS else AccessEvent.Kind.UNLOCK
    occurred_at = _parse_time(payload.get("occurred_at")) or timezone.now()
    vendor_event_id = str(payload.get("event_id") or "")[:200]
    try:
        with transaction.atomic():
            event, _ = AccessEvent.objects.get_or_create(
                connection=connection,
                vendor_event_id=vendor_event_id,
                defaults={
                    "kind": kind,
                    "occurred_at": occurred_at,
                    "vendor_person_id": str(payload.get("person_ref") or "")[:200],
                    "raw": payload.get("raw") or {},
                },
            )
    except IntegrityError:
        event = AccessEvent.objects.get(connection=connection, vendor_event_id=vendor_event_id)
    return event


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _event_door(*, connection: LockConnection, door_ref: str) -> tuple[Door | None, bool]:
    """The door named by the event. No door named: the connection's only door, else none (still known)."""
    if door_ref:
        door = Door.objects.filter(connection=connection, vendor_ref=door_ref).first()
        return door, door is not None
    doors = list(Door.objects.filter(connection=connection)[:2])
    return (doors[0] if len(doors) == 1 else None), True


def _event_membership(
    *, connection: LockConnection, person_ref: str, token: str
) -> tuple[Membership | None, bool]:
    """The member behind a vendor person id, or (None, True) when several members match equally.

    Most telling first: a current member's live account with that person id (where several memberships
    share one person, the one Cobot has the id as check-in token for); then the member Cobot has it as
    check-in token for; then any account that ever had it (a former member: Cobot will say so).
    """
    if not person_ref:
        return None, False
    Status = VendorAccount.Status
    accounts = Membership.objects.filter(
        vendor_accounts__connection=connection, vendor_accounts__vendor_person_id=person_ref
    )
    token_holders = Membership.objects.filter(
        checkin_tokens__space_id=connection.space_id, checkin_tokens__token=token
    )
    current = accounts.filter(
        status__in=CURRENT_STATUSES, vendor_accounts__status__in=[Status.ACTIVE, Status.PAUSED]
    )
    for candidates in (current, token_holders, accounts):
        members = list(candidates.distinct()[:2])
        if len(members) > 1 and candidates is current:
            narrowed = list(current.filter(pk__in=token_holders.values("pk")).distinct()[:2])
            members = narrowed if len(narrowed) == 1 else members
        if len(members) == 1:
            return members[0], False
        if members:
            return None, True
    return None, False


def _event_result(event: AccessEvent, result: str, message: str) -> None:
    event.checkin_result, event.checkin_message = result, message[:2000]
    event.save(update_fields=["checkin_result", "checkin_message"])


# --- remote open ------------------------------------------------------------------------------------------
# Someone waits at the door: the whole open (gateway lock, busy pauses, retries) is answered within this,
# well inside the web server's 30 s. After a check-in Cobot accepted (maybe using a time pass), the door
# still gets at least DOOR_MIN_SECONDS, however long Cobot took.
OPEN_SECONDS = 10.0
DOOR_MIN_SECONDS = 5.0


@dataclass(frozen=True)
class DoorOpenResult:
    ok: bool
    message: str = ""
    event: AccessEvent | None = None


def door_open(
    *,
    door: Door,
    membership: Membership | None = None,
    actor=None,
    via: str = "dashboard",
    seconds: float = OPEN_SECONDS,
) -> DoorOpenResult:
    """Open a door on demand: for a member (who must be allowed now), or for an admin (membership None).

    With `space.opens_count_as_checkins`, a member is checked in at Cobot first and a refusal keeps the
    door shut, with Cobot's message ("No time passes left."). Every try is an AccessEvent (opened,
    refused, or failed with the check-in Cobot made) and an AuditEntry.

    Always called in the request of the person at the door, never queued as retryable work: a vendor
    error is answered once, as a result, even a "transient" one (DeviceOffline), within `seconds`. A read
    timeout may mean the door did open, and a retry minutes later would open it for nobody.
    Call it outside any transaction (the views are non_atomic_requests): the gateway signing timestamp is
    claimed and committed before the call (The Keys' signing.py), and a rollback of an outer transaction
    would hand the gateway an already used timestamp next time.
    """
    return _door_command(door=door, membership=membership, actor=actor, via=via, close=False, seconds=seconds)


def door_close(
    *, door: Door, actor=None, via: str = "dashboard", seconds: float = OPEN_SECONDS
) -> DoorOpenResult:
    return _door_command(door=door, membership=None, actor=actor, via=via, close=True, seconds=seconds)


def _door_command(*, door: Door, membership, actor, via: str, close: bool, seconds: float) -> DoorOpenResult:
    deadline = Deadline.within(seconds)
    connection = door.connection
    space = connection.space
    adapter = adapter_for(connection)
    action = "door_close" if close else "door_open"
    verb, done = ("close", "closed") if close else ("open", "opened")
    label = f"{via}: {membership or actor or 'system'}"[:100]
    checkin_result, checkin_message = AccessEvent.CheckIn.NOT_APPLICABLE, ""

    def finish(ok: bool, message: str, *, kind: str, audit_result: str, detail: str, error: str = ""):
        raw = {"via": via, "error": error[:500]} if error else {"via": via}
        event = AccessEvent.objects.create(
            connection=connection,
            vendor_event_id=f"accessbridge:{uuid.uuid4()}",
            door=door,
            membership=membership,
            actor=actor,
            kind=kind,
            occurred_at=timezone.now(),
            checkin_result=checkin_result,
            checkin_message=checkin_message[:2000],
            raw=raw,
        )
        AuditEntry.objects.create(
            space=space,
            actor=actor,
            actor_label=label,
            action=action,
            membership=membership,
            door=door,
            connection=connection,
            result=audit_result,
            detail=detail[:4000],
        )
        return DoorOpenResult(ok, message, event)

    Kind = AccessEvent.Kind
    if not adapter.supports(Capability.REMOTE_OPEN) or not (door.enabled and connection.enabled):
        return finish(
            False,
            f"{door} cannot be {done} from here.",
            kind=Kind.DENIED,
            audit_result="refused",
            detail=f"{door} cannot be {done} from AccessBridge",
        )
    if membership is not None and not member_may_open(membership=membership, door=door, at=timezone.now()):
        return finish(
            False,
            "You have no access to this door right now.",
            kind=Kind.DENIED,
            audit_result="refused",
            detail=f"{membership} has no access to {door} now",
        )

    if membership is not None and space.opens_count_as_checkins:
        try:
            # Cobot gets what the budget leaves after the door's own minimum.
            outcome = _member_checkin(
                membership=membership, seconds=max(1.0, deadline.remaining() - DOOR_MIN_SECONDS)
            )
        except ServiceError as exc:
            checkin_result, checkin_message = AccessEvent.CheckIn.ERROR, str(exc)
            return finish(
                False,
                "Cobot did not answer the check-in; please try again in a moment.",
                kind=Kind.DENIED,
                audit_result="failed",
                detail=f"check-in at Cobot failed: {exc}",
            )
        checkin_result = CHECKIN_OUTCOMES.get(outcome.outcome, AccessEvent.CheckIn.ERROR)
        checkin_message = outcome.message
        if not outcome.allowed:
            return finish(
                False,
                outcome.message or "Cobot refused the check-in.",
                kind=Kind.DENIED,
                audit_result="refused",
                detail=f"Cobot refused the check-in: {outcome.message}",
            )
        if deadline.remaining() < DOOR_MIN_SECONDS:
            deadline = Deadline.within(DOOR_MIN_SECONDS)

    try:
        if close:
            adapter.door_close(door=door, deadline=deadline)
        else:
            adapter.door_open(door=door, deadline=deadline)
    except ServiceError as exc:
        # Answered here, never re-raised into a retry (see door_open). Members get no LAN addresses or
        # setup advice; the admin reads the detail in the audit trail and on the event.
        reason = _member_error(exc) if membership is not None else exc.message
        return finish(
            False,
            f"The door did not {verb}: {reason}",
            kind=Kind.CLOSE_FAILED if close else Kind.OPEN_FAILED,
            audit_result="failed",
            detail=f"{verb} {door}: {exc}",
            error=str(exc),
        )
    return finish(
        True,
        f"{door} {done}.",
        kind=Kind.REMOTE_CLOSE if close else Kind.REMOTE_OPEN,
        audit_result="ok",
        detail=f"{done} {door}",
    )


def _member_error(exc: ServiceError) -> str:
    if isinstance(exc, DeviceOffline):
        return "the lock's gateway did not answer. Please check the door, then try again or tell the staff."
    if exc.transient:
        return "the lock is busy. Please try again in a moment."
    return "something went wrong at the lock. Please tell the staff."


def _member_checkin(*, membership: Membership, seconds: float | None = None) -> CheckInResult:
    """Check a member in: by one of their check-in tokens (Cobot API 2 answers with a reason), or
    by membership for members who have none (vendors without person ids: remote open only)."""
    token = (
        CheckInToken.objects.filter(space_id=membership.space_id, membership_cobot_id=membership.cobot_id)
        .order_by("pk")
        .values_list("token", flat=True)
        .first()
    )
    if token is not None:
        return checkin_by_token(space=membership.space, token=token, seconds=seconds)
    return checkin_by_membership(space=membership.space, membership_cobot_id=membership.cobot_id, seconds=seconds)
