"""Writes on the door side: connections, deleting them and their doors, device status and maintenance.

HackSoft style: keyword-only arguments, <noun>_<verb> names. Elsewhere: the access engine and its job
queue (locks.access), door events → check-ins (locks.checkins), remote open and close (locks.door_commands).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from accessbridge.http import ServiceError
from locks.access.jobs import access_sync_enqueue, access_sync_waiting_retry
from locks.connection_status import connection_status_set
from locks.models import AuditEntry, Door, Grant, LockConnection, VendorAccount
from locks.selectors import connection_status_summary
from locks.vendors import adapter_class, adapter_for
from locks.vendors.base import Capability, DeviceAction, DeviceLevel
from spaces.models import Space, new_secret

logger = logging.getLogger(__name__)


# --- connections -------------------------------------------------------------------------------------
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
    if is_new:
        _webhook_credentials_renew(connection)
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
    _webhook_credentials_renew(connection)
    connection.save(update_fields=["webhook_secret", "credentials"])
    return connection.webhook_secret


def _webhook_credentials_renew(connection: LockConnection) -> None:
    """New webhook secrets the vendor sends back (Parakey's Basic auth), made with each new webhook URL."""
    if adapter_class(connection.vendor).supports(Capability.WEBHOOKS):
        made = adapter_for(connection).webhook_credentials_make()
        connection.credentials = {**(connection.credentials or {}), **made}


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
    if adapter_class(connection.vendor).supports(Capability.DOOR_GROUPS):
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
    if not adapter_class(connection.vendor).supports(Capability.STATUS):
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
        if not adapter_class(vendor).supports(Capability.STATUS):
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
