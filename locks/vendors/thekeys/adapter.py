"""The Keys adapter: doors are locks behind a LAN gateway; AccessBridge opens them itself.

The gateway knows no people (seed 003: one share code per lock↔gateway signs every call), so the only
honest capability is REMOTE_OPEN: the access engine grants a door by letting the member open it through
AccessBridge, never by provisioning a person at the vendor. Unlock history polling (/lockers "last_log")
is not claimed: no primary source documents it (vendors.md marks it unverified).

Where things are kept (no model of our own):
- LockConnection.credentials: {"password"}; config: {"username", "gateway_host", optional "api_base_url",
  "lock_ids" (cloud lock ids to sync; empty = all), "gateway_read_timeout" (seconds)}.
- Gateway: vendor_ref = the cloud accessory id; status JSON = {"id_accessoire", "cloud_ip",
  "cloud_last_seen", "current_status", "reachable", "last_error", "checked_at"}.
- Door: vendor_ref = the cloud lock id; vendor_secrets (encrypted) = {"share_code", "share_id"}, the gateway share;
  extra = {"identifier" (id_serrure, what the gateway calls the lock), "gateway_accessory_id",
  "battery_unit": "mV", "rssi", "last_log", "detected", "status_error"}. Door.battery holds the raw
  reading the gateway reports (millivolts according to openHAB's binding; unverified).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.utils import timezone

from accessbridge.http import Timeout
from locks.models import Door, Gateway
from locks.vendors.base import (
    Capability,
    Deadline,
    DeviceOffline,
    LockAdapter,
    VendorDoor,
    VendorError,
    VendorNotFound,
    VendorPermanentError,
)

from .actions import DEVICE_ACTIONS
from .client import DEFAULT_TIMEOUT, GatewayClient, GatewayLocker, GatewayStatus, LockerStatus
from .cloud import DEFAULT_BASE_URL, CloudAccessory, CloudLock, CloudShare, TheKeysCloud
from .codes import SERVICE
from .forms import TheKeysSettingsForm
from .signing import EXCLUSIVE_WAIT_SECONDS, INTERACTIVE_WAIT_SECONDS, gateway_exclusive, signing_ts_claim

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Shown in The Keys app's list of shares, so the lock owner knows who holds this access.
SHARE_NAME = "AccessBridge"


class TheKeysAdapter(LockAdapter):
    key = "thekeys"
    label = "The Keys"
    capabilities = frozenset({Capability.REMOTE_OPEN, Capability.STATUS})
    settings_form = TheKeysSettingsForm
    secret_fields = ("password",)
    device_actions = DEVICE_ACTIONS

    # --- clients ------------------------------------------------------------------------------------
    def cloud(self) -> TheKeysCloud:
        return TheKeysCloud(
            username=self.config.get("username", ""),
            password=self.credentials.get("password", ""),
            base_url=self.config.get("api_base_url") or DEFAULT_BASE_URL,
        )

    def gateway_client(self, gateway: Gateway, deadline: Deadline | None = None) -> GatewayClient:
        return GatewayClient(
            gateway.host,
            claim_ts=lambda: signing_ts_claim(gateway_id=gateway.pk),
            timeout=self._gateway_timeout(),
            deadline=deadline,
        )

    def _gateway_timeout(self) -> Timeout:
        read = self.config.get("gateway_read_timeout")
        if isinstance(read, int | float) and not isinstance(read, bool) and read > 0:
            return Timeout(connect=min(DEFAULT_TIMEOUT.connect, float(read)), read=float(read))
        return DEFAULT_TIMEOUT

    # --- every adapter ------------------------------------------------------------------------------
    def test_connection(self) -> str:
        locks = self.cloud().locks()
        gateways = {g.id for lock in locks for g in lock.gateways}
        summary = (
            f"Signed in to The Keys as {self.config.get('username')}: "
            f"{_count(len(locks), 'lock')} and {_count(len(gateways), 'gateway')}."
        )
        host = self.config.get("gateway_host")
        if host:
            lockers = GatewayClient(host, timeout=self._gateway_timeout()).lockers()
            summary += f" The gateway at {host} answers and sees {_count(len(lockers), 'lock')}."
        return summary

    def list_doors(self) -> list[VendorDoor]:
        return [
            VendorDoor(
                vendor_ref=str(lock.id),
                name=lock.name,
                extra={"identifier": lock.identifier, "has_gateway": bool(lock.gateways)},
            )
            for lock in self.cloud().locks()
        ]

    def doors_sync(self) -> list[Door]:
        """Gateways and doors from the account, and one gateway share per door (found again, not duplicated)."""
        cloud = self.cloud()
        locks = cloud.locks()
        selected = {str(x) for x in self.config.get("lock_ids") or []}
        if selected:
            locks = [lock for lock in locks if str(lock.id) in selected]
        account_gateways = {g.id for lock in locks for g in lock.gateways}
        gateways: dict[int, Gateway] = {}
        doors = []
        for lock in locks:
            accessory = self._gateway_accessory_for(lock)
            if accessory is None:
                logger.info("The Keys lock %s has no gateway; it cannot be opened remotely", lock.id)
                continue
            if accessory.id not in gateways:
                gateways[accessory.id] = self._gateway_upsert(
                    cloud, accessory, only_gateway=len(account_gateways) == 1
                )
            try:
                share = self._share_ensure(cloud, lock, accessory)
            except (VendorPermanentError, VendorNotFound) as exc:
                # One lock the account may not share (someone else's) must not stop the others.
                doors.append(
                    self._door_upsert(lock, gateways[accessory.id], accessory, None, error=exc.message)
                )
                continue
            doors.append(self._door_upsert(lock, gateways[accessory.id], accessory, share))
        return doors

    def status_refresh(self) -> None:
        """Gateway version and status, and each door's state and battery. Errors land on the rows.

        The gateway is held call by call, not for the whole refresh: an open waits for one call at most.
        """
        for gateway in self.connection.gateways.all():
            try:
                self._gateway_refresh(gateway)
            except VendorError as exc:
                logger.info("The Keys gateway %s: status refresh failed: %s", gateway.pk, exc)
                self._gateway_mark(gateway, reachable=not isinstance(exc, DeviceOffline), error=exc.message)

    # --- REMOTE_OPEN --------------------------------------------------------------------------------
    def door_open(self, *, door: Door, deadline: Deadline | None = None) -> None:
        gateway, identifier = self._door_target(door)
        self._on_gateway(
            gateway, lambda c: c.open(identifier=identifier, share_code=share_code_of(door)), deadline=deadline
        )
        self._door_state_set(door, door.State.OPEN)

    def door_close(self, *, door: Door, deadline: Deadline | None = None) -> None:
        gateway, identifier = self._door_target(door)
        self._on_gateway(
            gateway, lambda c: c.close(identifier=identifier, share_code=share_code_of(door)), deadline=deadline
        )
        self._door_state_set(door, door.State.CLOSED)

    # --- gateway admin actions (the dashboard asks for confirmation before a firmware update) -------
    def gateway_synchronize(self, *, gateway: Gateway) -> None:
        self._check_owned(gateway.connection_id)
        self._on_gateway(gateway, lambda c: c.synchronize())

    def gateway_update_firmware(self, *, gateway: Gateway) -> None:
        """Seed 003: the gateway updates itself even when its firmware is current."""
        self._check_owned(gateway.connection_id)
        self._on_gateway(gateway, lambda c: c.update())

    def locker_synchronize(self, *, door: Door) -> None:
        gateway, identifier = self._door_target(door, needs_share=False)
        self._on_gateway(gateway, lambda c: c.locker_synchronize(identifier=identifier))

    def locker_update_firmware(self, *, door: Door) -> None:
        gateway, identifier = self._door_target(door, needs_share=False)
        self._on_gateway(gateway, lambda c: c.locker_update(identifier=identifier))

    # --- gateway calls ------------------------------------------------------------------------------
    def _on_gateway(
        self, gateway: Gateway, action: Callable[[GatewayClient], T], *, deadline: Deadline | None = None
    ) -> T:
        client = self.gateway_client(gateway, deadline)
        wait = min(INTERACTIVE_WAIT_SECONDS, deadline.remaining()) if deadline else EXCLUSIVE_WAIT_SECONDS
        try:
            with gateway_exclusive(gateway_id=gateway.pk, wait=wait):
                result = action(client)
        except DeviceOffline as exc:
            self._gateway_mark(gateway, reachable=False, error=exc.message)
            raise
        self._gateway_mark(gateway, reachable=True)
        return result

    def _gateway_mark(self, gateway: Gateway, *, reachable: bool, error: str = "", **status) -> None:
        now = timezone.now()
        if reachable and not error and not status:
            # The usual open: only "seen now" when the row already says all is well (checked in the
            # database, not on a possibly stale instance); the status JSON belongs to the refresh.
            healthy = Gateway.objects.filter(pk=gateway.pk, status__reachable=True, status__last_error="")
            if healthy.update(last_seen_at=now):
                gateway.last_seen_at = now
                return
        current = Gateway.objects.filter(pk=gateway.pk).values_list("status", flat=True).first()
        gateway.status = {
            **(current or {}),
            **status,
            "reachable": reachable,
            "last_error": error,
            "checked_at": now.isoformat(),
        }
        fields = {"status": gateway.status}
        if reachable:
            gateway.last_seen_at = fields["last_seen_at"] = now
        # A queryset update, never gateway.save(): that would write back a stale last_signing_ts.
        Gateway.objects.filter(pk=gateway.pk).update(**fields)

    def _door_target(self, door: Door, *, needs_share: bool = True) -> tuple[Gateway, str]:
        self._check_owned(door.connection_id)
        gateway = door.gateway
        identifier = str((door.extra or {}).get("identifier") or "")
        if gateway is None or not identifier:
            raise VendorPermanentError(
                f"The door “{door.name}” is not linked to a gateway yet: run “Sync doors” on the connection.",
                service=SERVICE,
            )
        if needs_share and not share_code_of(door):
            raise VendorPermanentError(
                f"The door “{door.name}” has no gateway share yet: run “Sync doors” on the connection.",
                service=SERVICE,
            )
        return gateway, identifier

    def _check_owned(self, connection_id: int) -> None:
        if connection_id != self.connection.pk:
            raise VendorNotFound("This door or gateway belongs to another connection.", service=SERVICE)

    def _door_state_set(self, door: Door, state: str) -> None:
        door.state, door.last_status_at = state, timezone.now()
        Door.objects.filter(pk=door.pk).update(state=door.state, last_status_at=door.last_status_at)

    # --- status -------------------------------------------------------------------------------------
    def _gateway_refresh(self, gateway: Gateway) -> None:
        doors = list(Door.objects.filter(connection=self.connection, gateway=gateway, enabled=True))

        def read_status(client: GatewayClient) -> GatewayStatus | None:
            try:
                return client.status()
            except VendorNotFound:
                return None  # /status exists from firmware 17 on (seed 003)

        status = self._on_gateway(gateway, read_status)
        seen = {locker.identifier: locker for locker in self._on_gateway(gateway, lambda c: c.lockers())}
        states: dict[int, LockerStatus | VendorError | None] = {}
        for door in doors:
            locker = seen.get(str(door.extra.get("identifier", "")))
            if locker is None or not share_code_of(door) or not _state_may_have_changed(door, locker):
                states[door.pk] = None
                continue
            try:
                states[door.pk] = self._on_gateway(
                    gateway,
                    lambda c, locker=locker, door=door: c.locker_status(
                        identifier=locker.identifier, share_code=share_code_of(door)
                    ),
                )
            except DeviceOffline:
                raise
            except VendorError as exc:
                states[door.pk] = exc
        if status is not None:
            gateway.version = status.version
            Gateway.objects.filter(pk=gateway.pk).update(version=status.version)
        self._gateway_mark(
            gateway,
            reachable=True,
            current_status=status.current_status if status else "",
            status_endpoint=status is not None,
        )
        now = timezone.now()
        for door in doors:
            self._door_status_apply(
                door, seen.get(str(door.extra.get("identifier", ""))), states[door.pk], now
            )

    def _door_status_apply(self, door: Door, locker: GatewayLocker | None, state, now) -> None:
        extra = {**door.extra, "detected": locker is not None}
        fields = ["extra"]
        if locker is not None:
            extra.update(rssi=locker.rssi, last_log=locker.last_log)
            if locker.battery is not None:
                door.battery = locker.battery
                fields.append("battery")
        if isinstance(state, LockerStatus):
            door.state, door.last_status_at = state.state, now
            fields += ["state", "last_status_at"]
            if state.battery is not None:
                door.battery = state.battery
                fields.append("battery")
            extra["status_error"] = ""
        elif isinstance(state, VendorError):
            extra["status_error"] = state.message
        elif locker is None:
            extra["status_error"] = "The gateway does not see this lock."
        door.extra = extra
        door.save(update_fields=sorted(set(fields)))

    # --- doors_sync parts ---------------------------------------------------------------------------
    def _gateway_accessory_for(self, lock: CloudLock) -> CloudAccessory | None:
        gateways = sorted(lock.gateways, key=lambda g: g.id)
        if not gateways:
            return None
        door = Door.objects.filter(connection=self.connection, vendor_ref=str(lock.id)).first()
        linked = (door.extra or {}).get("gateway_accessory_id") if door else None
        # Keep a door on the gateway it already uses when the lock is paired with several.
        return next((g for g in gateways if g.id == linked), gateways[0])

    def _gateway_upsert(
        self, cloud: TheKeysCloud, accessory: CloudAccessory, *, only_gateway: bool
    ) -> Gateway:
        info = cloud.accessory(accessory.id)
        # The admin's address wins (a fixed IP, a port forward); with several gateways it cannot say which.
        host = (self.config.get("gateway_host") if only_gateway else "") or info.ip
        gateway = Gateway.objects.filter(connection=self.connection, vendor_ref=str(accessory.id)).first()
        status = {
            **(gateway.status if gateway else {}),
            "id_accessoire": accessory.id_accessoire,
            "cloud_ip": info.ip,
            "cloud_last_seen": info.last_seen,
        }
        if gateway is None:
            return Gateway.objects.create(
                connection=self.connection,
                vendor_ref=str(accessory.id),
                name=accessory.name,
                host=host,
                status=status,
            )
        gateway.name, gateway.host, gateway.status = accessory.name or gateway.name, host, status
        gateway.save(update_fields=["name", "host", "status"])
        return gateway

    def _share_description(self, lock: CloudLock, accessory: CloudAccessory) -> str:
        # Our id in the share, to find it again after a lost database or a crash between create and save.
        return f"accessbridge:{self.connection.key}:{lock.id}:{accessory.id}"

    def _share_ensure(self, cloud: TheKeysCloud, lock: CloudLock, accessory: CloudAccessory) -> CloudShare:
        description = self._share_description(lock, accessory)
        ours = sorted(
            (
                s
                for s in cloud.shares(lock.id)
                if s.description == description and s.accessory_id in (None, accessory.id)
            ),
            key=lambda s: s.id,
            reverse=True,
        )
        keep = next((s for s in ours if s.code), None)
        if keep is None:
            keep = cloud.share_create(
                lock_id=lock.id,
                id_accessoire=accessory.id_accessoire,
                name=SHARE_NAME,
                description=description,
            )
        elif not keep.active:
            cloud.share_activate(share_id=keep.id)
        for extra in ours:
            if extra.id != keep.id:
                # Only one of our codes may open the door; a duplicate is left over from an interrupted sync.
                cloud.share_delete(share_id=extra.id)
        return keep

    def _door_upsert(
        self,
        lock: CloudLock,
        gateway: Gateway,
        accessory: CloudAccessory,
        share: CloudShare | None,
        *,
        error: str = "",
    ) -> Door:
        door = Door.objects.filter(connection=self.connection, vendor_ref=str(lock.id)).first()
        if door is None:
            door = Door(connection=self.connection, vendor_ref=str(lock.id))
        door.name = lock.name
        door.gateway = gateway
        if share is not None:
            door.vendor_secrets = {
                **(door.vendor_secrets or {}), "share_code": share.code, "share_id": str(share.id)
            }
        if lock.battery is not None and door.battery is None:
            door.battery = lock.battery
        door.extra = {
            **(door.extra or {}),
            "identifier": lock.identifier,
            "gateway_accessory_id": accessory.id,
            "battery_unit": "mV",
            "sync_error": error,
        }
        door.save()
        return door


def share_code_of(door: Door) -> str:
    """The code of the door's gateway share, which signs every gateway call ("" before the first doors sync)."""
    return str((door.vendor_secrets or {}).get("share_code") or "")


def _state_may_have_changed(door: Door, locker: GatewayLocker) -> bool:
    """Each /locker_status wakes the lock over Bluetooth. When /lockers reports a last_log (openHAB reads it;
    the seed does not show it) and it has not moved since we last knew the state, the state has not either."""
    if locker.last_log is None or door.state == door.State.UNKNOWN:
        return True
    return door.extra.get("last_log") != locker.last_log


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
