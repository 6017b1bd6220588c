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

Errors: a vendor that fails transiently or rejects our credentials is left alone for the rest of the
run (its pending changes stay for the retry); a read that fails (the vendor's list of people) aborts
that connection's changes, it never counts as "nobody there". Nothing is revoked because of an error.
Each step commits on its own: a vendor call never sits inside a long transaction, and a crash between
the vendor's answer and our row is repaired by the next run (a repeated create adopts the existing
person, a repeated remove finds it gone).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from accessbridge.http import ServiceError
from locks.models import AccessRule, AuditEntry, Door, Grant, LockConnection, VendorAccount
from locks.vendors import adapter_for
from locks.vendors.base import Capability, LockAdapter, VendorNotFound
from spaces.models import Booking, CheckInToken, Membership, Space

logger = logging.getLogger(__name__)

CURRENT_STATUSES = (Membership.Status.CONFIRMED, Membership.Status.CANCELED)
CHUNK_SIZE = 500
COBOT = "cobot"  # the run's key for Cobot calls (check-in tokens), next to connection ids


# --- desired access ---------------------------------------------------------------------------------
def membership_is_current(membership: Membership, *, today) -> bool:
    """Confirmed (or canceled, until the end of its last day `canceled_to`), and already started."""
    if membership.status not in CURRENT_STATUSES:
        return False
    if membership.canceled_to and membership.canceled_to < today:
        return False
    return not (membership.starts_at and membership.starts_at > today)


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
    *, membership: Membership, rules: SpaceRules, bookings: Iterable[Booking], now: datetime
) -> Desire:
    if not membership_is_current(membership, today=timezone.localdate(now)):
        return Desire(current=False)
    desire = Desire(current=True)
    # Unknown (None) is not zero: never pause someone because Cobot's count was not fetched yet.
    out_of_passes = membership.unused_time_passes == 0

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
    action: ClassVar[str] = "person_create"
    reason: str = ""
    then_status: str = VendorAccount.Status.ACTIVE

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
class AccountMark(Operation):
    """A change of our own record only (the vendor already has the right state)."""

    action: ClassVar[str] = "account_mark"
    status: str = VendorAccount.Status.REMOVED

    def describe(self) -> str:
        return f"mark {self.membership} at {self.connection.name} as {self.status}"


@dataclass(frozen=True)
class AccessGrant(Operation):
    action: ClassVar[str] = "access_grant"
    door: Door | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    booking_id: int | None = None

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
    known_tokens: set[tuple[str, str]],
    now: datetime,
) -> list[Operation]:
    """The diff for one member at one connection (grants: its active Grant rows there)."""
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
    missing = has_person and connector.present is not None and person_id not in connector.present
    held = {(g.door_id, g.valid_from, g.valid_until): g for g in grants}
    token_op: CheckinTokenRegister | None = None  # last: Cobot being down must not hold up the doors

    if connector.manages_people:
        if not person_wanted:
            if has_person:
                ops.extend(AccessRevoke(connection, membership, grant=g) for g in held.values())
                then = Status.PAUSED if paused_here and not connector.manages_doors else Status.REMOVED
                ops.append(PersonRemove(connection, membership, vendor_person_id=person_id, then_status=then))
            elif account and account.status in (Status.PENDING, Status.PAUSED) and not paused_here:
                ops.append(AccountMark(connection, membership, status=Status.REMOVED))
            return ops
        if not has_person or missing:
            # A person gone at the vendor took their doors along: grant them again after the create.
            ops.extend(AccessRevoke(connection, membership, grant=g) for g in held.values())
            held = {}
            reason = "missing at the vendor" if missing else ""
            ops.append(PersonCreate(connection, membership, reason=reason, then_status=status_wanted))
            token_op = CheckinTokenRegister(connection, membership, token="")
        else:
            if account.status != status_wanted:
                ops.append(AccountMark(connection, membership, status=status_wanted))
            token = connector.adapter.checkin_token_for(vendor_person_id=person_id)
            if token and (token, membership.cobot_id) not in known_tokens:
                token_op = CheckinTokenRegister(connection, membership, token=token)

    if connector.manages_doors:
        ops.extend(
            AccessRevoke(connection, membership, grant=g) for key, g in held.items() if key not in wanted
        )
        for key in sorted(set(wanted) - set(held), key=_grant_order):
            door_id, valid_from, valid_until = key
            ops.append(
                AccessGrant(
                    connection,
                    membership,
                    door=connector.doors[door_id],
                    valid_from=valid_from,
                    valid_until=valid_until,
                    booking_id=wanted[key],
                )
            )
    if token_op is not None:
        ops.append(token_op)
    return ops


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
        }


@dataclass
class _Run:
    report: SyncReport
    space: Space
    connectors: dict[int, Connector]
    actor: object = None
    actor_label: str = "sync"

    def block(self, target, reason: str) -> None:
        self.report.blocked.setdefault(target, reason)


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
    refresh: first read each vendor's own list of people (the periodic full sync).
    """
    now = now or timezone.now()
    report = SyncReport(space=space, now=now, dry_run=dry_run)
    rules = space_rules_load(space=space)
    connectors = _connectors_load(space=space, rules=rules)
    run = _Run(report=report, space=space, connectors=connectors, actor=actor, actor_label=actor_label)
    for connector in connectors.values():
        if connector.connection.status == LockConnection.Status.CREDENTIALS_REJECTED:
            run.block(connector.connection.pk, "credentials rejected")
            report.waiting.append(
                f"{connector.connection.name}: credentials rejected, fix them and test the connection"
            )
    if space.status == Space.Status.RECONNECT_NEEDED:
        run.block(COBOT, "reconnect needed")
        report.waiting.append("Cobot: reconnect needed")
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
    for connector in run.connectors.values():
        if run.report.blocked.get(connector.connection.pk) or not connector.manages_people:
            continue
        try:
            connector.present = connector.adapter.persons_present()
        except ServiceError as exc:
            _target_failed(run, connector.connection.pk, exc, context="reading the vendor's people")


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
    holds_access = Q(
        vendor_accounts__status__in=[VendorAccount.Status.ACTIVE, VendorAccount.Status.PAUSED]
    ) | Q(grants__status=Grant.Status.ACTIVE)
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
                queryset=Grant.objects.filter(connection_id__in=connection_ids, status=Grant.Status.ACTIVE),
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
    known_tokens = set(
        CheckInToken.objects.filter(
            space=run.space, membership_cobot_id__in=[m.cobot_id for m in members]
        ).values_list("token", "membership_cobot_id")
    )
    failed_members: set[int] = set()
    for membership in members:
        membership.space = run.space  # one Space object for the whole run
        plan = _member_plan(run, membership=membership, rules=rules, known_tokens=known_tokens)
        report.member_count += 1
        report.operations.extend(plan.operations)
        if keep_members:
            report.members.append(plan)
        if not run.report.dry_run and plan.operations:
            _member_apply(run, plan, known_tokens)
            if plan.errors:
                failed_members.add(membership.pk)
    if not report.dry_run:
        healthy = [pk for pk in connection_ids if pk not in report.blocked]
        VendorAccount.objects.filter(connection_id__in=healthy, membership_id__in=membership_ids).exclude(
            membership_id__in=failed_members
        ).update(last_synced_at=now, last_error="")


def _member_plan(run: _Run, *, membership: Membership, rules: SpaceRules, known_tokens) -> MemberPlan:
    now = run.report.now
    desire = access_desired(membership=membership, rules=rules, bookings=membership.run_bookings, now=now)
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
            known_tokens=known_tokens,
            now=now,
        )
    return MemberPlan(
        membership=membership, desire=desire, accounts=accounts, grants=dict(grants), operations=operations
    )


# --- applying -----------------------------------------------------------------------------------------
def _member_apply(run: _Run, plan: MemberPlan, known_tokens: set[tuple[str, str]]) -> None:
    report = run.report
    given_up: set[int] = set()  # connections where an earlier step for this member failed
    for op in plan.operations:
        if op.target in report.blocked or op.connection.pk in given_up:
            report.skipped.append(op)
            if op.target != COBOT:
                given_up.add(op.connection.pk)
            continue
        try:
            _operation_apply(run, op, plan, known_tokens)
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


def _operation_apply(run: _Run, op: Operation, plan: MemberPlan, known_tokens) -> None:
    """Call the vendor (or Cobot), then record the outcome and its audit entry in one transaction."""
    connector = run.connectors[op.connection.pk]
    adapter = connector.adapter
    membership, connection = op.membership, op.connection
    account = plan.accounts.get(connection.pk)
    Status = VendorAccount.Status

    if isinstance(op, PersonCreate):
        person_id = adapter.person_ensure(
            membership=membership, vendor_person_id=account.vendor_person_id if account else ""
        )
        with transaction.atomic():
            account, _ = VendorAccount.objects.update_or_create(
                connection=connection,
                membership=membership,
                defaults={
                    "vendor_person_id": person_id,
                    "status": op.then_status,
                    "last_error": "",
                    "last_synced_at": run.report.now,
                },
            )
            plan.accounts[connection.pk] = account
            _audit(run, op, result="ok", detail=f"{op.describe()}: person {person_id}")

    elif isinstance(op, PersonRemove):
        shared = (
            VendorAccount.objects.filter(
                connection=connection, vendor_person_id=op.vendor_person_id, status=Status.ACTIVE
            )
            .exclude(membership=membership)
            .exists()
        )
        note = ""
        if shared:
            # SmartLock answers a second registration of an email with the first person's id (409):
            # two memberships can share one person. Removing it would lock the other one out.
            note = " (kept at the vendor: another current membership uses the same person)"
        else:
            adapter.person_remove(vendor_person_id=op.vendor_person_id)
        with transaction.atomic():
            _account_status_set(plan, connection, op.then_status)
            _audit(run, op, result="ok", detail=f"{op.describe()}{note}")

    elif isinstance(op, AccountMark):
        with transaction.atomic():
            _account_status_set(plan, connection, op.status)
            _audit(run, op, result="ok", detail=op.describe())

    elif isinstance(op, CheckinTokenRegister):
        from spaces.services import checkin_token_ensure

        token = op.token or adapter.checkin_token_for(vendor_person_id=account.vendor_person_id)
        if (token, membership.cobot_id) not in known_tokens:
            checkin_token_ensure(membership=membership, token=token)
            known_tokens.add((token, membership.cobot_id))
        _audit(
            run, op, result="ok", detail=f"registered {token[:4]}… at Cobot as {membership}'s check-in token"
        )

    elif isinstance(op, AccessGrant):
        person_id = account.vendor_person_id if account else ""
        ref = adapter.access_grant(
            vendor_person_id=person_id, door=op.door, valid_from=op.valid_from, valid_until=op.valid_until
        )
        with transaction.atomic():
            Grant.objects.create(
                connection=connection,
                membership=membership,
                door=op.door,
                booking_id=op.booking_id,
                valid_from=op.valid_from,
                valid_until=op.valid_until,
                vendor_ref=ref or "",
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


def _account_status_set(plan: MemberPlan, connection: LockConnection, status: str) -> None:
    account = plan.accounts[connection.pk]
    account.status = status
    account.last_error = ""
    account.save(update_fields=["status", "last_error", "updated_at"])


def _account_error(op: Operation, error: str) -> None:
    if op.target == COBOT and not isinstance(op, CheckinTokenRegister):
        return
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
