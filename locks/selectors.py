"""Reads on the door side: who may open what, and what the dashboard shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from locks.engine import access_desired, space_rules_load
from locks.models import Door, LockConnection
from locks.vendors import adapter_for
from locks.vendors.base import Capability
from spaces.models import Booking, Membership


def member_may_open(*, membership: Membership, door: Door, at: datetime | None = None) -> bool:
    """May this member open this door at `at` (now)? The same rules as the engine, decided live.

    Vendors that only open on demand (The Keys) hold no per-person access: this is their access check.
    """
    return door.pk in member_doors_open(membership=membership, at=at)


def member_doors_open(*, membership: Membership, at: datetime | None = None) -> set[int]:
    """Ids of the doors the member may open at `at`."""
    at = at or timezone.now()
    rules = space_rules_load(space=membership.space)
    if not rules.doors:
        return set()
    bookings = Booking.objects.filter(
        membership=membership, status=Booking.Status.ACTIVE, ends_at__gt=at - rules.max_buffer_after
    )
    desire = access_desired(membership=membership, rules=rules, bookings=bookings, now=at)
    return desire.doors_now(at)


def member_remote_doors(*, membership: Membership, at: datetime | None = None) -> list[Door]:
    """Doors this member may open from AccessBridge right now ("my doors")."""
    allowed = member_doors_open(membership=membership, at=at)
    doors = Door.objects.filter(pk__in=allowed).select_related("connection").order_by("name")
    return [d for d in doors if adapter_for(d.connection).supports(Capability.REMOTE_OPEN)]


def door_opens_remotely(*, door: Door) -> bool:
    return (
        door.enabled
        and door.connection.enabled
        and adapter_for(door.connection).supports(Capability.REMOTE_OPEN)
    )


def connection_webhook_url(*, connection: LockConnection, reveal: bool = False) -> str:
    """The URL the vendor posts its events to; the secret part masked unless `reveal`."""
    secret = connection.webhook_secret if reveal else "•" * 8
    path = reverse("vendor_webhook", kwargs={"connection_key": connection.key, "secret": "SECRET"})
    return settings.ACCESSBRIDGE_BASE_URL.rstrip("/") + path.replace("SECRET", secret)


@dataclass
class MemberAccessRow:
    membership: Membership
    current: bool
    desired: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    actual: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    last_synced_at: datetime | None = None
    errors: list[str] = field(default_factory=list)


def members_access_overview(
    *, space, memberships: list[Membership], now: datetime | None = None
) -> list[MemberAccessRow]:
    """Desired vs actual access for a page of members, with what a sync would change (a dry run)."""
    from locks.engine import access_sync

    report = access_sync(
        space=space, membership_ids=[m.pk for m in memberships], now=now, dry_run=True, keep_members=True
    )
    doors = {d.pk: d for d in Door.objects.filter(connection__space=space).select_related("connection")}
    connections = {c.pk: c for c in LockConnection.objects.filter(space=space)}
    plans = {plan.membership.pk: plan for plan in report.members}
    rows = []
    for membership in memberships:
        plan = plans.get(membership.pk)
        if plan is None:
            continue
        row = MemberAccessRow(membership=membership, current=plan.desire.current)
        row.desired = [_access_label(a, doors) for a in plan.desire.access]
        row.paused = [_access_label(a, doors) for a in plan.desire.paused]
        for connection_id, account in sorted(plan.accounts.items()):
            name = connections[connection_id].name if connection_id in connections else "?"
            person = f" {account.vendor_person_id}" if account.vendor_person_id else ""
            row.actual.append(f"{name}: person{person} ({account.get_status_display().lower()})")
            if account.last_error:
                row.errors.append(f"{name}: {account.last_error}")
            if account.last_synced_at and (
                row.last_synced_at is None or account.last_synced_at > row.last_synced_at
            ):
                row.last_synced_at = account.last_synced_at
        for grants in plan.grants.values():
            row.actual += [_access_label(g, doors) for g in grants]
        row.pending = [op.describe() for op in plan.operations]
        rows.append(row)
    return rows


def _access_label(access, doors: dict[int, Door]) -> str:
    door = doors.get(access.door_id)
    name = door.name if door else f"door #{access.door_id}"
    if access.valid_from or access.valid_until:
        start = timezone.localtime(access.valid_from).strftime("%Y-%m-%d %H:%M") if access.valid_from else "…"
        end = timezone.localtime(access.valid_until).strftime("%Y-%m-%d %H:%M") if access.valid_until else "…"
        return f"{name} ({start} – {end})"
    return name
