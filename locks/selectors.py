"""Reads on the door side: who may open what, and what the dashboard shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince

from locks.access.desired import access_desired, members_checked_in_today, space_rules_load
from locks.access.run import access_sync
from locks.models import Door, Gateway, LockConnection
from locks.vendors import adapter_class
from locks.vendors.base import Capability, DeviceAction, DeviceLevel
from spaces.localtime import space_today
from spaces.models import Booking, DropInPass, Membership


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
    checked_in = rules.counts_time_passes and membership.pk in members_checked_in_today(
        space=membership.space, membership_ids=[membership.pk], now=at
    )
    passes = DropInPass.objects.filter(visitor=membership, status=DropInPass.Status.ACTIVE)
    desire = access_desired(
        membership=membership, rules=rules, bookings=bookings, now=at, checked_in_today=checked_in, passes=passes
    )
    allowed = desire.doors_now(at)
    return allowed | doors_in_groups(groups=[rules.doors[pk] for pk in allowed if pk in rules.doors])


def door_is_group(door: Door) -> bool:
    """A door group (a Door row of a door-group vendor, KISI's groups) lists the vendor refs of the doors it
    opens in `extra["opens"]`: it is granted, never opened itself."""
    return isinstance(door.extra.get("opens"), list)


def doors_in_groups(*, groups: list[Door]) -> set[int]:
    """Ids of the doors these door groups open: who holds a group may open its doors on demand."""
    wanted = [(g.connection_id, g.extra["opens"]) for g in groups if door_is_group(g)]
    if not wanted:
        return set()
    query = Q()
    for connection_id, refs in wanted:
        query |= Q(connection_id=connection_id, vendor_ref__in=[str(ref) for ref in refs])
    return set(Door.objects.filter(query).values_list("pk", flat=True))


def member_remote_doors(*, membership: Membership, at: datetime | None = None) -> list[Door]:
    """Doors this member may open from AccessBridge right now ("my doors")."""
    allowed = member_doors_open(membership=membership, at=at)
    doors = (
        Door.objects.filter(pk__in=allowed, enabled=True, connection__enabled=True)
        .select_related("connection")
        .order_by("name")
    )
    return [
        d for d in doors if adapter_class(d.connection.vendor).supports(Capability.REMOTE_OPEN) and not door_is_group(d)
    ]


# --- device maintenance (gateway and lock actions) -----------------------------------------------------------
def device_actions_offered(*, vendor: str, level: str) -> list[DeviceAction]:
    return adapter_class(vendor).device_actions_at(level)


# --- the doors page ------------------------------------------------------------------------------------------
def door_battery_label(*, door: Door) -> str:
    """The battery as the vendor reports it: a raw reading in its unit (The Keys: "4065 mV"), else percent."""
    if door.battery is None:
        return ""
    unit = (door.extra or {}).get("battery_unit")
    return f"{door.battery} {unit}" if unit else f"{door.battery}%"


def door_problems(*, door: Door) -> list[str]:
    """What the last status refresh or doors sync said went wrong with this door."""
    extra = door.extra or {}
    problems = []
    if extra.get("sync_error"):
        problems.append(f"Sync: {extra['sync_error']}")
    if extra.get("status_error"):
        problems.append(f"Status: {extra['status_error']}")
    return problems


@dataclass
class DoorRow:
    door: Door
    remote: bool
    reports_state: bool  # False: the vendor never tells the state, "unknown" would only be noise
    battery: str
    status_age: str  # "3 minutes ago"
    problems: list[str]
    gateway_unreachable: bool
    actions: list[DeviceAction]


@dataclass
class GatewayRow:
    gateway: Gateway
    reachable: bool | None  # None: never checked
    current_status: str
    last_error: str
    checked_at: datetime | None
    checked_age: str
    seen_age: str


@dataclass
class ConnectionDoors:
    connection: LockConnection
    doors: list[DoorRow]
    gateways: list[GatewayRow]
    gateway_actions: list[DeviceAction]
    refreshable: bool  # the adapter reads door/gateway status
    lists_doors: bool  # "Sync doors" fetches them from the vendor


def space_doors_overview(*, space) -> list[ConnectionDoors]:
    """The doors page: per connection, its doors with state and battery, its gateways, what can be done."""
    connections = list(LockConnection.objects.filter(space=space).order_by("name", "pk"))
    doors = Door.objects.filter(connection__space=space).select_related("gateway").order_by("name", "pk")
    gateways = Gateway.objects.filter(connection__space=space).order_by("name", "pk")
    by_connection = {c.pk: [] for c in connections}
    for door in doors:
        by_connection[door.connection_id].append(door)
    gateways_of = {c.pk: [] for c in connections}
    for gateway in gateways:
        gateways_of[gateway.connection_id].append(gateway)
    overview = []
    for connection in connections:
        adapter = adapter_class(connection.vendor)
        remote = connection.enabled and adapter.supports(Capability.REMOTE_OPEN)
        door_actions = device_actions_offered(vendor=connection.vendor, level=DeviceLevel.DOOR)
        gateway_rows = [_gateway_row(g) for g in gateways_of[connection.pk]]
        unreachable = {row.gateway.pk for row in gateway_rows if row.reachable is False}
        refreshable = adapter.supports(Capability.STATUS)
        overview.append(
            ConnectionDoors(
                connection=connection,
                doors=[
                    DoorRow(
                        door=door,
                        remote=remote and door.enabled and not door_is_group(door),
                        reports_state=refreshable or door.state != Door.State.UNKNOWN,
                        battery=door_battery_label(door=door),
                        status_age=_ago(door.last_status_at),
                        problems=door_problems(door=door),
                        gateway_unreachable=door.gateway_id in unreachable,
                        actions=door_actions,
                    )
                    for door in by_connection[connection.pk]
                ],
                gateways=gateway_rows,
                gateway_actions=device_actions_offered(vendor=connection.vendor, level=DeviceLevel.GATEWAY),
                refreshable=refreshable,
                lists_doors=adapter.lists_doors,
            )
        )
    return overview


def _gateway_row(gateway: Gateway) -> GatewayRow:
    status = gateway.status if isinstance(gateway.status, dict) else {}
    reachable = status.get("reachable")
    checked = status.get("checked_at")
    checked_at = parse_datetime(checked) if isinstance(checked, str) else None
    return GatewayRow(
        gateway=gateway,
        reachable=reachable if isinstance(reachable, bool) else None,
        current_status=str(status.get("current_status") or ""),
        last_error=str(status.get("last_error") or ""),
        checked_at=checked_at,
        checked_age=_ago(checked_at),
        seen_age=_ago(gateway.last_seen_at),
    )


def _ago(when: datetime | None) -> str:
    if when is None:
        return ""
    if timezone.now() - when < timedelta(minutes=1):
        return "just now"
    return f"{timesince(when)} ago"


def connection_status_summary(*, connection: LockConnection) -> tuple[bool, str]:
    """After a status refresh: (all well?, what an admin reads) from what the refresh stored on the rows."""
    gateways = [_gateway_row(g) for g in Gateway.objects.filter(connection=connection).order_by("name", "pk")]
    doors = list(Door.objects.filter(connection=connection, enabled=True).order_by("name", "pk"))
    # What this refresh found; a door's sync error stays on its row (the refresh did not cause it).
    problems = [f"{row.gateway}: {row.last_error}" for row in gateways if row.last_error]
    problems += [
        f"{door}: {door.extra['status_error']}" for door in doors if (door.extra or {}).get("status_error")
    ]
    states = ", ".join(f"{door} {door.get_state_display().lower()}" for door in doors)
    summary = f"status refreshed ({states})." if states else "status refreshed."
    if problems:
        return False, f"{summary} Problems: " + " ".join(_sentence(p) for p in problems)
    return True, summary


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."


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
    passes: list[DropInPass] = field(default_factory=list)  # a day visitor's recent drop-in passes


def members_access_overview(
    *, space, memberships: list[Membership], now: datetime | None = None
) -> list[MemberAccessRow]:
    """Desired vs actual access for a page of members, with what a sync would change (a dry run)."""
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


VISITORS_SHOWN = 50
VISITOR_NO_EMAIL = "cannot be provisioned: no email"


def visitors_access_overview(*, space, now: datetime | None = None) -> list[MemberAccessRow]:
    """Day visitors with a drop-in pass from yesterday on (newest first), their access shown as members' is."""
    now = now or timezone.now()
    since = space_today(space, now) - timedelta(days=1)
    visitors = list(
        Membership.objects.filter(space=space, kind=Membership.Kind.VISITOR, drop_in_passes__day__gte=since)
        .distinct()
        .order_by("-pk")[:VISITORS_SHOWN]
    )
    rows = members_access_overview(space=space, memberships=visitors, now=now)
    for row in rows:
        row.passes = list(row.membership.drop_in_passes.filter(day__gte=since).order_by("day", "pk"))
        if not row.membership.email:
            row.errors.insert(0, VISITOR_NO_EMAIL)
    return rows


def _access_label(access, doors: dict[int, Door]) -> str:
    door = doors.get(access.door_id)
    name = door.name if door else f"door #{access.door_id}"
    if access.valid_from or access.valid_until:
        start = timezone.localtime(access.valid_from).strftime("%Y-%m-%d %H:%M") if access.valid_from else "…"
        end = timezone.localtime(access.valid_until).strftime("%Y-%m-%d %H:%M") if access.valid_until else "…"
        return f"{name} ({start} – {end})"
    return name
