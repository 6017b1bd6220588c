"""The access engine: desired access (mirror + rules + now) minus actual access (our rows) = operations.

`access_sync` is the one entry point. It serves one member (after a Cobot webhook), every member (the
schedule, "Sync now") and the dry run ("Preview sync", `manage.py sync_access --dry-run`), which returns
the operations without applying them.

What a vendor can do decides what "access" means there (capabilities, never vendor names):
- person accounts without door groups (SmartLock): a person exists while the member should open at
  least one of the connection's doors right now; pausing and the end of a booking remove the person.
- door groups: the person (if the vendor has people) stays while the member is current; doors are
  granted and revoked one by one, with the booking window when the vendor takes time windows, else
  at the window's start and end (the schedule runs the engine every few minutes).
- neither (remote open only, The Keys): nothing to apply; `member_may_open` decides at open time.

Dates: Cobot's dates (canceled_to, starts_at) are days at the space, compared with the space's own
today (spaces.selectors.space_today), never the server's.

Time passes: a rule that "requires an unused time pass" pauses a member who has none left, except on a
day they already checked in (a door event or an open from AccessBridge that Cobot accepted, "checked
in" or "already", on the space's calendar day): that check-in is what used their last pass, and it pays
for the rest of the day.

Errors: a vendor that fails transiently or rejects our credentials is left alone for the rest of the
run (its pending changes stay for the retry). A failed read of the vendor's list of people leaves that
list unknown: it only serves to re-create people missing at the vendor, so nothing is removed and
nothing else is held back because of it. A space whose Cobot connection needs a reconnect is still
synced: only the check-in token registrations wait. Nothing is revoked because of an error.

Crashes: each step commits on its own, so a vendor call never sits inside a long transaction. Before
asking a vendor to create a person or a grant, a PENDING row is committed: if the worker dies between
the vendor's answer and our row, the next run finds the PENDING row, looks the person up by email
(to adopt them, or to remove them if the member has gone meanwhile) or repeats the grant (adapters
make it idempotent), so nothing created at a vendor is ever unknown to us.

One sync per space at a time: on PostgreSQL an advisory lock (space_sync_exclusive) makes a second
sync of the same space give way (SyncInProgress: the job runner tries again shortly). On SQLite, writes
are serialized by the database; two worker processes can still interleave their vendor calls, which
the PENDING rows and the vendors' idempotent create (an email they know is looked up, not duplicated)
keep harmless.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import ClassVar

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from accessbridge.http import ServiceError
from locks.advisory import advisory_key, advisory_try_lock, advisory_unlock
from locks.models import AccessEvent, AccessRule, AuditEntry, Door, Grant, LockConnection, VendorAccount
from locks.vendors import adapter_for
from locks.vendors.base import Capability, LockAdapter, VendorNotFound
from spaces.models import Booking, CheckInToken, Membership, Space, time_zone_is_valid
from spaces.selectors import space_today

logger = logging.getLogger(__name__)

CURRENT_STATUSES = (Membership.Status.CONFIRMED, Membership.Status.CANCELED)
CHUNK_SIZE = 500
COBOT = "cobot"  # the run's key for Cobot calls (check-in tokens), next to connection ids
CHECKED_IN = (AccessEvent.CheckIn.CHECKED_IN, AccessEvent.CheckIn.ALREADY)
# First key of pg_try_advisory_lock(int, int) for "access sync of a space"; the second is the space id.
ADVISORY_NAMESPACE = 0x4153  # "AS"


# --- desired access ---------------------------------------------------------------------------------
def membership_is_current(membership: Membership, *, today: date) -> bool:
    """Confirmed (or canceled, until the end of its last day `canceled_to`), and already started."""
    if membership.status not in CURRENT_STATUSES:
        return False
    if membership.canceled_to and membership.canceled_to < today:
        return False
    return not (membership.starts_at and membership.starts_at > today)


def members_checked_in_today(*, space: Space, membership_ids: Iterable[int], now: datetime) -> set[int]:
    """Of these members, those with a check-in Cobot accepted today (the space's day) through our doors."""
    zone = zoneinfo.ZoneInfo(space.time_zone if time_zone_is_valid(space.time_zone) else "UTC")
    day_start = datetime.combine(space_today(space, now), time.min, tzinfo=zone)
    return set(
        AccessEvent.objects.filter(
            membership_id__in=list(membership_ids),
            checkin_result__in=CHECKED_IN,
            occurred_at__gte=day_start,
            occurred_at__lt=day_start + timedelta(days=1),
        ).values_list("membership_id", flat=True)
    )


@dataclass(frozen=True)
class DoorAccess:
    """One door for a member: always (no window) or from `valid_from` until `valid_until`."""

    door_id: int
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    booking_id: int | None = None

    def covers(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        return (self.valid_from, self.valid_until)


@dataclass(frozen=True)
class RuleDoors:
    rule_id: int
    plan_id: int | None
    resource: str
    requires_time_pass: bool
    before: timedelta
    after: timedelta
    door_ids: frozenset[int]


@dataclass
class SpaceRules:
    """A space's enabled rules, reduced to door ids of enabled doors at enabled connections."""

    plan_rules: list[RuleDoors]
    booking_rules: dict[str, list[RuleDoors]]
    doors: dict[int, Door]

    @property
    def max_buffer_after(self) -> timedelta:
        return max((r.after for rules in self.booking_rules.values() for r in rules), default=timedelta(0))

    @property
    def counts_time_passes(self) -> bool:
        return any(r.requires_time_pass for r in self.plan_rules) or any(
            r.requires_time_pass for rules in self.booking_rules.values() for r in rules
        )


def space_rules_load(*, space: Space) -> SpaceRules:
    usable_doors = Door.objects.filter(enabled=True, connection__enabled=True).select_related("connection")
    rules = AccessRule.objects.filter(space=space, enabled=True).prefetch_related(
        Prefetch("doors", queryset=usable_doors)
    )
    plan_rules: list[RuleDoors] = []
    booking_rules: dict[str, list[RuleDoors]] = defaultdict(list)
    doors: dict[int, Door] = {}
    for rule in rules:
        rule_doors = list(rule.doors.all())
        doors.update((d.pk, d) for d in rule_doors)
        entry = RuleDoors(
            rule_id=rule.pk,
            plan_id=rule.plan_id,
            resource=rule.resource_cobot_id,
            requires_time_pass=rule.requires_time_pass,
            before=timedelta(minutes=rule.buffer_before_minutes),
            after=timedelta(minutes=rule.buffer_after_minutes),
            door_ids=frozenset(d.pk for d in rule_doors),
        )
        if rule.kind == AccessRule.Kind.BOOKING:
            if rule.resource_cobot_id:
                booking_rules[rule.resource_cobot_id].append(entry)
        else:
            plan_rules.append(entry)
    return SpaceRules(plan_rules=plan_rules, booking_rules=dict(booking_rules), doors=doors)


@dataclass
class Desire:
    """What a member should have: `access` (doors, maybe windowed) and `paused` (withheld: no time pass)."""

    current: bool
    access: list[DoorAccess] = field(default_factory=list)
    paused: list[DoorAccess] = field(default_factory=list)

    def doors_now(self, at: datetime) -> set[int]:
        return {a.door_id for a in self.access if a.covers(at)}


def access_desired(
    *,
    membership: Membership,
    rules: SpaceRules,
    bookings: Iterable[Booking],
    now: datetime,
    today: date | None = None,
    checked_in_today: bool = False,
) -> Desire:
    """today: the space's calendar day at `now` (computed when not given). checked_in_today: the member
    has a check-in today that Cobot accepted, so running out of time passes does not pause them yet."""
    if today is None:
        today = space_today(membership.space, now)
    if not membership_is_current(membership, today=today):
        return Desire(current=False)
    desire = Desire(current=True)
    # Unknown (None) is not zero: never pause someone because Cobot's count was not fetched yet.
    out_of_passes = membership.unused_time_passes == 0 and not checked_in_today

    def add(rule: RuleDoors, **window) -> None:
        target = desire.paused if rule.requires_time_pass and out_of_passes else desire.access
        for door_id in sorted(rule.door_ids):
            access = DoorAccess(door_id, **window)
            if access not in target:
                target.append(access)

    for rule in rules.plan_rules:
        if rule.plan_id is None or rule.plan_id == membership.plan_id:
            add(rule)
    for booking in bookings:
        if booking.status != Booking.Status.ACTIVE or booking.membership_id != membership.pk:
            continue
        for rule in rules.booking_rules.get(booking.resource_cobot_id, ()):
            valid_until = booking.ends_at + rule.after
            if valid_until > now:
                add(
                    rule,
                    valid_from=booking.starts_at - rule.before,
                    valid_until=valid_until,
                    booking_id=booking.pk,
                )
    return desire


# --- operations ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """One change at a vendor (or at Cobot, for check-in tokens). `describe()` is for people."""

    action: ClassVar[str] = ""
    connection: LockConnection
    membership: Membership

    @property
    def target(self):
        return self.connection.pk

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class PersonCreate(Operation):
    """Create the person; with `lookup`, first look for them by email (an earlier create's answer was lost)."""

    action: ClassVar[str] = "person_create"
    reason: str = ""
    then_status: str = VendorAccount.Status.ACTIVE
    lookup: bool = False

    def describe(self) -> str:
        return f"create {self.membership} at {self.connection.name}" + (
            f" ({self.reason})" if self.reason else ""
        )


@dataclass(frozen=True)
class PersonRemove(Operation):
    """Remove the person at the vendor; the account row then says `then_status` (paused or removed)."""

    action: ClassVar[str] = "person_remove"
    vendor_person_id: str = ""
    then_status: str = VendorAccount.Status.REMOVED

    def describe(self) -> str:
        why = (
            "paused: no unused time pass" if self.then_status == VendorAccount.Status.PAUSED else "no access"
        )
        return f"remove {self.membership} from {self.connection.name} ({why})"


@dataclass(frozen=True)
class PersonForget(Operation):
    """A create was started for a member who should no longer have a person there: find them by email
    and remove them if that create did reach the vendor."""

    action: ClassVar[str] = "person_forget"
    then_status: str = VendorAccount.Status.REMOVED

    def describe(self) -> str:
        return (
            f"remove {self.membership} from {self.connection.name} if an unfinished registration created them"
        )


@dataclass(frozen=True)
class AccountMark(Operation):
    """A change of our own record only (the vendor already has the right state)."""

    action: ClassVar[str] = "account_mark"
    status: str = VendorAccount.Status.REMOVED

    def describe(self) -> str:
        return f"mark {self.membership} at {self.connection.name} as {self.status}"


@dataclass(frozen=True)
class AccessGrant(Operation):
    """Grant a door; `pending`: the row of an earlier grant whose answer was lost, to finish."""

    action: ClassVar[str] = "access_grant"
    door: Door | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    booking_id: int | None = None
    pending: Grant | None = None

    def describe(self) -> str:
        window = (
            f" from {self.valid_from:%Y-%m-%d %H:%M} to {self.valid_until:%Y-%m-%d %H:%M}"
            if self.valid_from
            else ""
        )
        return f"grant {self.door} to {self.membership}{window}"


@dataclass(frozen=True)
class AccessRevoke(Operation):
    action: ClassVar[str] = "access_revoke"
    grant: Grant | None = None

    def describe(self) -> str:
        return f"revoke {self.grant.door if self.grant else '?'} from {self.membership}"


@dataclass(frozen=True)
class CheckinTokenRegister(Operation):
    """Register the vendor's id as the member's Cobot check-in token; "" = the id the create returns."""

    action: ClassVar[str] = "checkin_token_register"
    token: str = ""

    @property
    def target(self):
        return COBOT

    def describe(self) -> str:
        token = f"{self.token[:4]}…" if self.token else "the new person id"
        return f"register {token} at Cobot as {self.membership}'s check-in token"


@dataclass(frozen=True)
class CheckinTokenTaken(Operation):
    """Cobot has the person's id as another membership's check-in token: record it, register nothing.

    Planned once per owner; registering is tried again when the mirror shows the token free.
    """

    action: ClassVar[str] = "checkin_token_taken"
    token: str = ""
    owner: str = ""

    def describe(self) -> str:
        return (
            f"not registering {self.token[:4]}… for {self.membership}: Cobot has it as the check-in token "
            f"of membership {self.owner}"
        )


# --- one member at one connection -------------------------------------------------------------------
@dataclass
class Connector:
    """A connection in this run: its adapter, its doors that rules name, and why it is left alone."""

    connection: LockConnection
    adapter: LockAdapter
    doors: dict[int, Door]
    blocked: str = ""
    present: set[str] | None = None  # the vendor's person ids, when read in this run

    @property
    def manages_people(self) -> bool:
        return self.adapter.supports(Capability.PERSON_ACCOUNTS)

    @property
    def manages_doors(self) -> bool:
        return self.adapter.supports(Capability.DOOR_GROUPS)

    @property
    def takes_windows(self) -> bool:
        return self.adapter.supports(Capability.TIME_WINDOWS)


GrantKey = tuple[int, datetime | None, datetime | None]


def connection_operations(
    *,
    connector: Connector,
    membership: Membership,
    desire: Desire,
    account: VendorAccount | None,
    grants: list[Grant],
    token_owners: dict[str, str],
    now: datetime,
) -> list[Operation]:
    """The diff for one member at one connection.

    grants: the member's active and pending Grant rows there; token_owners: check-in token → the Cobot
    membership the mirror has it for.
    """
    if not (connector.manages_people or connector.manages_doors):
        return []  # remote open only: member_may_open decides when someone opens
    connection = connector.connection
    access = [a for a in desire.access if a.door_id in connector.doors]
    paused_here = any(a.door_id in connector.doors for a in desire.paused)
    wanted = _wanted_grants(connector, access, now) if connector.manages_doors else {}
    Status = VendorAccount.Status

    if connector.manages_doors:
        # Door-group vendors keep the person while paused; the grants say what they open.
        person_wanted = bool(wanted) or paused_here
        status_wanted = Status.ACTIVE if wanted else Status.PAUSED
    else:
        # Person-only vendors: the person is the key, so it exists only while it may open something.
        person_wanted = any(a.covers(now) for a in access)
        status_wanted = Status.ACTIVE

    ops: list[Operation] = []
    person_id = account.vendor_person_id if account else ""
    person_states = (Status.ACTIVE, Status.PAUSED) if connector.manages_doors else (Status.ACTIVE,)
    has_person = bool(person_id) and account.status in person_states
    create_started = account is not None and account.status == Status.PENDING
    missing = has_person and connector.present is not None and person_id not in connector.present
    held, duplicates = _held_grants(grants)
    ops.extend(AccessRevoke(connection, membership, grant=g) for g in duplicates)
    token_op: Operation | None = None  # last: Cobot being down must not hold up the doors

    if connector.manages_people:
        if not person_wanted:
            ops.extend(AccessRevoke(connection, membership, grant=g) for g in held.values())
            then = Status.PAUSED if paused_here and not connector.manages_doors else Status.REMOVED
            if has_person:
                ops.append(PersonRemove(connection, membership, vendor_person_id=person_id, then_status=then))
            elif create_started:
                ops.append(PersonForget(connection, membership, then_status=then))
            elif account and account.status == Status.PAUSED and not paused_here:
                ops.append(AccountMark(connection, membership, status=Status.REMOVED))
            return ops
        if not has_person or missing:
            # A person gone at the vendor took their doors along: grant them again after the create.
            ops.extend(AccessRevoke(connection, membership, grant=g) for g in held.values())
            held = {}
            reason = "missing at the vendor" if missing else ""
            ops.append(
                PersonCreate(
                    connection, membership, reason=reason, then_status=status_wanted, lookup=create_started
                )
            )
            token_op = CheckinTokenRegister(connection, membership, token="")
        else:
            if account.status != status_wanted:
                ops.append(AccountMark(connection, membership, status=status_wanted))
            token_op = _token_operation(connector, membership, account, token_owners)

    if connector.manages_doors:
        ops.extend(
            AccessRevoke(connection, membership, grant=g) for key, g in held.items() if key not in wanted
        )
        unfinished = {key: g for key, g in held.items() if g.status == Grant.Status.PENDING and key in wanted}
        for key in sorted((set(wanted) - set(held)) | set(unfinished), key=_grant_order):
            door_id, valid_from, valid_until = key
            ops.append(
                AccessGrant(
                    connection,
                    membership,
                    door=connector.doors[door_id],
                    valid_from=valid_from,
                    valid_until=valid_until,
                    booking_id=wanted[key],
                    pending=unfinished.get(key),
                )
            )
    if token_op is not None:
        ops.append(token_op)
    return ops


def _held_grants(grants: list[Grant]) -> tuple[dict[GrantKey, Grant], list[Grant]]:
    """The grant rows by door and window (an active one wins over a pending one), and any duplicates."""
    held: dict[GrantKey, Grant] = {}
    duplicates = []
    for grant in sorted(grants, key=lambda g: (g.status != Grant.Status.ACTIVE, g.pk)):
        key = (grant.door_id, grant.valid_from, grant.valid_until)
        if key in held:
            duplicates.append(grant)
        else:
            held[key] = grant
    return held, duplicates


def _token_operation(
    connector: Connector, membership: Membership, account: VendorAccount, token_owners: dict[str, str]
) -> Operation | None:
    token = connector.adapter.checkin_token_for(vendor_person_id=account.vendor_person_id)
    if not token:
        return None
    owner = token_owners.get(token)
    if owner is None:
        return CheckinTokenRegister(connector.connection, membership, token=token)
    if owner != membership.cobot_id and owner != account.checkin_token_owner:
        return CheckinTokenTaken(connector.connection, membership, token=token, owner=owner)
    return None


def _wanted_grants(
    connector: Connector, access: list[DoorAccess], now: datetime
) -> dict[GrantKey, int | None]:
    """Grant key → booking id. Windows go to vendors that take them; the rest get doors open right now."""
    if not connector.takes_windows:
        return {(a.door_id, None, None): None for a in access if a.covers(now)}
    always = {a.door_id for a in access if a.window == (None, None)}
    wanted: dict[GrantKey, int | None] = {}
    for a in access:
        if a.window == (None, None) or a.door_id not in always:
            wanted[(a.door_id, a.valid_from, a.valid_until)] = a.booking_id
    return wanted


def _grant_order(key: GrantKey):
    door_id, valid_from, _ = key
    return (door_id, valid_from.timestamp() if valid_from else float("-inf"))


# --- the run ------------------------------------------------------------------------------------------
@dataclass
class MemberPlan:
    membership: Membership
    desire: Desire
    accounts: dict[int, VendorAccount]
    grants: dict[int, list[Grant]]
    operations: list[Operation]
    errors: list[str] = field(default_factory=list)


@dataclass
class SyncReport:
    space: Space
    now: datetime
    dry_run: bool
    member_count: int = 0
    operations: list[Operation] = field(default_factory=list)
    applied: list[Operation] = field(default_factory=list)
    # A member's step that cannot succeed as it is (e.g. no email address):
    failed: list[tuple[Operation, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a whole connection failed for a permanent reason
    skipped: list[Operation] = field(default_factory=list)
    blocked: dict[object, str] = field(default_factory=dict)  # connection id or COBOT → why
    waiting: list[str] = field(default_factory=list)  # an admin must act (credentials, reconnect)
    transient: ServiceError | None = None  # try again later
    unread: list[str] = field(default_factory=list)  # vendors' lists of people that could not be read
    members: list[MemberPlan] = field(default_factory=list)  # only with keep_members

    def summary(self) -> dict:
        return {
            "at": self.now.isoformat(),
            "dry_run": self.dry_run,
            "members": self.member_count,
            "operations": len(self.operations),
            "applied": len(self.applied),
            "failed": [f"{op.describe()}: {error}" for op, error in self.failed][:50],
            "errors": self.errors,
            "skipped": len(self.skipped),
            "waiting": self.waiting,
            "transient": str(self.transient) if self.transient else "",
            "unread": self.unread,
        }


@dataclass
class _Run:
    report: SyncReport
    space: Space
    today: date
    connectors: dict[int, Connector]
    actor: object = None
    actor_label: str = "sync"
    # What an admin must do before a blocked target's operations can go on, said once one was skipped.
    waiting_for: dict[object, str] = field(default_factory=dict)

    def block(self, target, reason: str, *, waiting: str = "") -> None:
        self.report.blocked.setdefault(target, reason)
        if waiting:
            self.waiting_for.setdefault(target, waiting)

    def skip(self, op: Operation) -> None:
        self.report.skipped.append(op)
        waiting = self.waiting_for.get(op.target)
        if waiting and waiting not in self.report.waiting:
            self.report.waiting.append(waiting)


class SyncInProgress(Exception):
    """Another access sync of this space is running (PostgreSQL only); try again in a moment."""


@contextmanager
def space_sync_exclusive(*, space_id: int) -> Iterator[None]:
    """Hold the space's access sync against every other worker, or raise SyncInProgress at once.

    PostgreSQL: a session advisory lock keyed on the space. SQLite serializes writes by itself (see the
    module docstring), so there is nothing to take.
    """
    connection = connections[router.db_for_write(VendorAccount)]
    if connection.vendor != "postgresql":
        yield
        return
    key = advisory_key(ADVISORY_NAMESPACE, space_id)
    if not advisory_try_lock(connection, key):
        raise SyncInProgress(f"another access sync of space {space_id} is running")
    try:
        yield
    finally:
        advisory_unlock(connection, key)


def access_sync(
    *,
    space: Space,
    membership_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    refresh: bool = False,
    actor=None,
    actor_label: str = "sync",
    keep_members: bool = False,
) -> SyncReport:
    """Bring members' access in step (or, with dry_run, say what that would take).

    membership_ids: these members only; None: every member who is current or still holds access.
    refresh: first read each vendor's own list of people (the daily check).
    Raises SyncInProgress when another sync of the space is applying changes (never for a dry run).
    """
    if dry_run:
        return _access_sync(space, membership_ids, now, dry_run, refresh, actor, actor_label, keep_members)
    with space_sync_exclusive(space_id=space.pk):
        return _access_sync(space, membership_ids, now, dry_run, refresh, actor, actor_label, keep_members)


def _access_sync(
    space, membership_ids, now, dry_run, refresh, actor, actor_label, keep_members
) -> SyncReport:
    now = now or timezone.now()
    report = SyncReport(space=space, now=now, dry_run=dry_run)
    rules = space_rules_load(space=space)
    connectors = _connectors_load(space=space, rules=rules)
    run = _Run(
        report=report,
        space=space,
        today=space_today(space, now),
        connectors=connectors,
        actor=actor,
        actor_label=actor_label,
    )
    for connector in connectors.values():
        if connector.connection.status == LockConnection.Status.CREDENTIALS_REJECTED:
            name = connector.connection.name
            run.block(
                connector.connection.pk,
                "credentials rejected",
                waiting=f"{name}: credentials rejected, fix them and test the connection",
            )
    if space.status != Space.Status.ACTIVE:
        # The doors do not need Cobot; only registering check-in tokens does, and only that waits.
        run.block(
            COBOT, space.get_status_display().lower(), waiting=f"Cobot: {space.get_status_display().lower()}"
        )
    if refresh:
        _presence_read(run)
    for chunk in _membership_chunks(space=space, membership_ids=membership_ids):
        _chunk_sync(run, rules=rules, membership_ids=chunk, keep_members=keep_members)
    return report


def _connectors_load(*, space: Space, rules: SpaceRules) -> dict[int, Connector]:
    connectors = {}
    for connection in LockConnection.objects.filter(space=space, enabled=True).order_by("pk"):
        doors = {pk: door for pk, door in rules.doors.items() if door.connection_id == connection.pk}
        connectors[connection.pk] = Connector(
            connection=connection, adapter=adapter_for(connection), doors=doors
        )
    return connectors


def _presence_read(run: _Run) -> None:
    """Each vendor's own list of people, for re-creating those missing there. A read that fails leaves the
    list unknown: the run goes on, it only cannot tell who is missing (rejected credentials still block)."""
    for connector in run.connectors.values():
        if run.report.blocked.get(connector.connection.pk) or not connector.manages_people:
            continue
        try:
            connector.present = connector.adapter.persons_present()
        except ServiceError as exc:
            if exc.is_auth:
                _target_failed(run, connector.connection.pk, exc, context="reading the vendor's people")
                continue
            run.report.unread.append(f"{connector.connection.name}: {exc}")
            logger.info(
                "access sync %s: could not read the people at %s: %s", run.space, connector.connection, exc
            )


def _membership_chunks(*, space: Space, membership_ids):
    if membership_ids is not None:
        ids = sorted(
            set(
                Membership.objects.filter(space=space, pk__in=list(membership_ids)).values_list(
                    "pk", flat=True
                )
            )
        )
        for start in range(0, len(ids), CHUNK_SIZE):
            yield ids[start : start + CHUNK_SIZE]
        return
    Status = VendorAccount.Status
    holds_access = Q(vendor_accounts__status__in=[Status.ACTIVE, Status.PAUSED, Status.PENDING]) | Q(
        grants__status__in=[Grant.Status.ACTIVE, Grant.Status.PENDING]
    )
    with_access = Membership.objects.filter(space=space).filter(holds_access).values("pk")
    candidates = Membership.objects.filter(space=space).filter(
        Q(status__in=CURRENT_STATUSES) | Q(pk__in=with_access)
    )
    last = 0
    while True:
        ids = list(candidates.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:CHUNK_SIZE])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _chunk_sync(run: _Run, *, rules: SpaceRules, membership_ids: list[int], keep_members: bool) -> None:
    report, now = run.report, run.report.now
    connection_ids = list(run.connectors)
    members = list(
        Membership.objects.filter(pk__in=membership_ids)
        .order_by("pk")
        .prefetch_related(
            Prefetch(
                "vendor_accounts",
                queryset=VendorAccount.objects.filter(connection_id__in=connection_ids),
                to_attr="run_accounts",
            ),
            Prefetch(
                "grants",
                queryset=Grant.objects.filter(
                    connection_id__in=connection_ids, status__in=[Grant.Status.ACTIVE, Grant.Status.PENDING]
                ).select_related("door"),
                to_attr="run_grants",
            ),
            Prefetch(
                "bookings",
                queryset=Booking.objects.filter(
                    status=Booking.Status.ACTIVE, ends_at__gt=now - rules.max_buffer_after
                ),
                to_attr="run_bookings",
            ),
        )
    )
    token_owners = _token_owners(run, members)
    checked_in = (
        members_checked_in_today(space=run.space, membership_ids=membership_ids, now=now)
        if rules.counts_time_passes
        else set()
    )
    failed_members: set[int] = set()
    for membership in members:
        membership.space = run.space  # one Space object for the whole run
        plan = _member_plan(
            run, membership=membership, rules=rules, token_owners=token_owners, checked_in=checked_in
        )
        report.member_count += 1
        report.operations.extend(plan.operations)
        if keep_members:
            report.members.append(plan)
        if not run.report.dry_run and plan.operations:
            _member_apply(run, plan, token_owners)
            if plan.errors:
                failed_members.add(membership.pk)
    if not report.dry_run:
        healthy = [pk for pk in connection_ids if pk not in report.blocked]
        VendorAccount.objects.filter(connection_id__in=healthy, membership_id__in=membership_ids).exclude(
            membership_id__in=failed_members
        ).update(last_synced_at=now, last_error="")


def _token_owners(run: _Run, members: list[Membership]) -> dict[str, str]:
    """Check-in token → Cobot membership id, from the mirror: the chunk's members' tokens and the tokens
    their vendor people would have (which may belong to someone else)."""
    person_tokens = {
        run.connectors[a.connection_id].adapter.checkin_token_for(vendor_person_id=a.vendor_person_id)
        for m in members
        for a in m.run_accounts
        if a.vendor_person_id
    }
    rows = CheckInToken.objects.filter(space=run.space).filter(
        Q(membership_cobot_id__in=[m.cobot_id for m in members]) | Q(token__in=person_tokens)
    )
    return dict(rows.values_list("token", "membership_cobot_id"))


def _member_plan(
    run: _Run,
    *,
    membership: Membership,
    rules: SpaceRules,
    token_owners: dict[str, str],
    checked_in: set[int],
) -> MemberPlan:
    now = run.report.now
    desire = access_desired(
        membership=membership,
        rules=rules,
        bookings=membership.run_bookings,
        now=now,
        today=run.today,
        checked_in_today=membership.pk in checked_in,
    )
    accounts = {a.connection_id: a for a in membership.run_accounts}
    grants: dict[int, list[Grant]] = defaultdict(list)
    for grant in membership.run_grants:
        grants[grant.connection_id].append(grant)
    operations: list[Operation] = []
    for connector in run.connectors.values():
        operations += connection_operations(
            connector=connector,
            membership=membership,
            desire=desire,
            account=accounts.get(connector.connection.pk),
            grants=grants.get(connector.connection.pk, []),
            token_owners=token_owners,
            now=now,
        )
    return MemberPlan(
        membership=membership, desire=desire, accounts=accounts, grants=dict(grants), operations=operations
    )


# --- applying -----------------------------------------------------------------------------------------
def _member_apply(run: _Run, plan: MemberPlan, token_owners: dict[str, str]) -> None:
    report = run.report
    given_up: set[int] = set()  # connections where an earlier step for this member failed
    for op in plan.operations:
        if op.target in report.blocked or op.connection.pk in given_up:
            run.skip(op)
            if op.target != COBOT:
                given_up.add(op.connection.pk)
            continue
        try:
            _operation_apply(run, op, plan, token_owners)
        except ServiceError as exc:
            _audit(run, op, result="failed", detail=f"{op.describe()}: {exc}")
            if exc.is_auth or exc.transient:
                _target_failed(run, op.target, exc, context=op.describe())
                report.skipped.append(op)
            else:
                report.failed.append((op, str(exc)))
                plan.errors.append(str(exc))
                _account_error(op, str(exc))
            if op.target != COBOT:
                given_up.add(op.connection.pk)
            continue
        report.applied.append(op)


def _operation_apply(run: _Run, op: Operation, plan: MemberPlan, token_owners: dict[str, str]) -> None:
    """Call the vendor (or Cobot), then record the outcome and its audit entry in one transaction.

    Creates are announced first: a PENDING row is committed before the vendor is asked (see the module
    docstring, "Crashes").
    """
    connector = run.connectors[op.connection.pk]
    adapter = connector.adapter
    membership, connection = op.membership, op.connection
    account = plan.accounts.get(connection.pk)

    if isinstance(op, PersonCreate):
        account = plan.accounts[connection.pk] = _account_intent(connection, membership, account)
        found = adapter.person_find(membership=membership) if op.lookup else None
        person_id = found or adapter.person_ensure(membership=membership)
        with transaction.atomic():
            account.vendor_person_id, account.status, account.last_error = person_id, op.then_status, ""
            account.last_synced_at = run.report.now
            account.save(
                update_fields=["vendor_person_id", "status", "last_error", "last_synced_at", "updated_at"]
            )
            how = "found again by email" if found else "person"
            _audit(run, op, result="ok", detail=f"{op.describe()}: {how} {person_id}")

    elif isinstance(op, PersonRemove):
        note = ""
        if _person_shared(connection, op.vendor_person_id, membership):
            # Two memberships with the same email share one person (an email is registered once):
            # removing it would lock the other one out.
            note = " (kept at the vendor: another current membership uses the same person)"
        else:
            adapter.person_remove(vendor_person_id=op.vendor_person_id)
        with transaction.atomic():
            _account_status_set(plan, connection, op.then_status)
            _audit(run, op, result="ok", detail=f"{op.describe()}{note}")

    elif isinstance(op, PersonForget):
        person_id = adapter.person_find(membership=membership)
        if not person_id:
            note = ": nobody there"
        elif _person_shared(connection, person_id, membership):
            note = f": person {person_id} kept (another current membership uses the same person)"
        else:
            adapter.person_remove(vendor_person_id=person_id)
            note = f": removed person {person_id}"
        with transaction.atomic():
            _account_status_set(plan, connection, op.then_status)
            _audit(run, op, result="ok", detail=f"{op.describe()}{note}")

    elif isinstance(op, AccountMark):
        with transaction.atomic():
            _account_status_set(plan, connection, op.status)
            _audit(run, op, result="ok", detail=op.describe())

    elif isinstance(op, CheckinTokenRegister):
        from spaces.services import checkin_token_ensure

        account = plan.accounts[connection.pk]
        token = op.token or adapter.checkin_token_for(vendor_person_id=account.vendor_person_id)
        owner = token_owners.get(token)
        if owner not in (None, membership.cobot_id):
            taken = CheckinTokenTaken(connection, membership, token=token, owner=owner)
            _operation_apply(run, taken, plan, token_owners)
            return
        if owner == membership.cobot_id:
            detail = f"{token[:4]}… is already {membership}'s check-in token at Cobot; nothing sent"
        else:
            checkin_token_ensure(membership=membership, token=token)
            token_owners[token] = membership.cobot_id
            detail = f"registered {token[:4]}… at Cobot as {membership}'s check-in token"
        with transaction.atomic():
            if account.checkin_token_owner:
                account.checkin_token_owner = ""
                account.save(update_fields=["checkin_token_owner", "updated_at"])
            _audit(run, op, result="ok", detail=detail)

    elif isinstance(op, CheckinTokenTaken):
        account = plan.accounts[connection.pk]
        with transaction.atomic():
            account.checkin_token_owner = op.owner
            account.save(update_fields=["checkin_token_owner", "updated_at"])
            _audit(run, op, result="ok", detail=op.describe())

    elif isinstance(op, AccessGrant):
        grant = op.pending or Grant.objects.create(
            connection=connection,
            membership=membership,
            door=op.door,
            booking_id=op.booking_id,
            valid_from=op.valid_from,
            valid_until=op.valid_until,
            status=Grant.Status.PENDING,
        )
        ref = adapter.access_grant(
            vendor_person_id=account.vendor_person_id if account else "",
            door=op.door,
            valid_from=op.valid_from,
            valid_until=op.valid_until,
            membership=membership,
        )
        with transaction.atomic():
            Grant.objects.filter(pk=grant.pk).update(
                status=Grant.Status.ACTIVE, vendor_ref=ref or "", updated_at=timezone.now()
            )
            _audit(run, op, result="ok", detail=op.describe())

    elif isinstance(op, AccessRevoke):
        try:
            adapter.access_revoke(grant=op.grant)
        except VendorNotFound:
            pass  # already gone at the vendor: that is what we wanted
        with transaction.atomic():
            Grant.objects.filter(pk=op.grant.pk).update(
                status=Grant.Status.REVOKED, updated_at=timezone.now()
            )
            _audit(run, op, result="ok", detail=op.describe())

    else:
        raise TypeError(f"unknown operation {op!r}")


def _account_intent(
    connection: LockConnection, membership: Membership, account: VendorAccount | None
) -> VendorAccount:
    """Commit "a create of this member's person is under way" before asking the vendor."""
    Status = VendorAccount.Status
    if account is None:
        try:
            with transaction.atomic():
                return VendorAccount.objects.create(
                    connection=connection, membership=membership, status=Status.PENDING
                )
        except IntegrityError:  # written meanwhile by another process (SQLite has no per-space lock)
            account = VendorAccount.objects.get(connection=connection, membership=membership)
    if account.status != Status.PENDING or account.vendor_person_id:
        account.status, account.vendor_person_id = Status.PENDING, ""
        account.save(update_fields=["status", "vendor_person_id", "updated_at"])
    return account


def _person_shared(connection: LockConnection, vendor_person_id: str, membership: Membership) -> bool:
    return (
        VendorAccount.objects.filter(
            connection=connection, vendor_person_id=vendor_person_id, status=VendorAccount.Status.ACTIVE
        )
        .exclude(membership=membership)
        .exists()
    )


def _account_status_set(plan: MemberPlan, connection: LockConnection, status: str) -> None:
    account = plan.accounts[connection.pk]
    account.status = status
    account.last_error = ""
    account.save(update_fields=["status", "last_error", "updated_at"])


def _account_error(op: Operation, error: str) -> None:
    VendorAccount.objects.update_or_create(
        connection=op.connection,
        membership=op.membership,
        defaults={"last_error": error[:2000]},
        create_defaults={"status": VendorAccount.Status.PENDING, "last_error": error[:2000]},
    )


def _target_failed(run: _Run, target, exc: ServiceError, *, context: str) -> None:
    """Leave this vendor (or Cobot) alone for the rest of the run, and say why."""
    report = run.report
    name = "Cobot" if target == COBOT else run.connectors[target].connection.name
    if target in report.blocked:
        return
    if exc.is_auth:
        run.block(target, "credentials rejected")
        if target == COBOT:
            report.waiting.append(f"Cobot: {exc} (reconnect needed)")
        else:
            from locks.services import connection_status_set

            connection_status_set(
                connection=run.connectors[target].connection,
                status=LockConnection.Status.CREDENTIALS_REJECTED,
                error=str(exc),
            )
            report.waiting.append(f"{name}: credentials rejected ({exc})")
    elif exc.transient:
        run.block(target, str(exc))
        if report.transient is None or (exc.retry_after or 0) > (report.transient.retry_after or 0):
            report.transient = exc
    else:
        run.block(target, str(exc))
        report.errors.append(f"{name}: {context}: {exc}")
    logger.info("access sync %s: %s left alone for this run: %s", run.space, name, exc)


def _audit(run: _Run, op: Operation, *, result: str, detail: str) -> None:
    AuditEntry.objects.create(
        space=run.space,
        actor=run.actor,
        actor_label=run.actor_label[:100],
        action=op.action,
        membership=op.membership,
        door=getattr(op, "door", None)
        or (op.grant.door if isinstance(op, AccessRevoke) and op.grant else None),
        connection=op.connection,
        result=result,
        detail=detail[:4000],
    )
