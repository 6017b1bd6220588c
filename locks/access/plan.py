"""The diff: for each member at each connection, the operations that bring our rows (what we created at
the vendor) to the desired access. Reads only: the dry run stops here."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from locks.access.desired import Desire, DoorAccess, SpaceRules, access_desired
from locks.access.operations import (
    AccessGrant,
    AccessRevoke,
    AccountMark,
    CheckinTokenRegister,
    CheckinTokenTaken,
    Operation,
    PersonCreate,
    PersonForget,
    PersonRemove,
)
from locks.models import Door, Grant, LockConnection, VendorAccount
from locks.vendors.base import Capability, LockAdapter
from spaces.models import Membership

GrantKey = tuple[int, datetime | None, datetime | None]


@dataclass
class Connector:
    """A connection in this run: its adapter, and its doors that rules name."""

    connection: LockConnection
    adapter: LockAdapter
    doors: dict[int, Door]
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


@dataclass
class MemberPlan:
    membership: Membership
    desire: Desire
    accounts: dict[int, VendorAccount]
    grants: dict[int, list[Grant]]
    operations: list[Operation]
    errors: list[str] = field(default_factory=list)


def member_plan(
    *,
    membership: Membership,
    rules: SpaceRules,
    connectors: dict[int, Connector],
    token_owners: dict[str, str],
    checked_in_today: bool,
    now: datetime,
    today: date,
) -> MemberPlan:
    """One member's desired access and the operations at every connection. The member comes with the run's
    prefetched rows: `run_bookings`, `run_passes`, `run_accounts`, `run_grants`."""
    desire = access_desired(
        membership=membership,
        rules=rules,
        bookings=membership.run_bookings,
        now=now,
        today=today,
        checked_in_today=checked_in_today,
        passes=membership.run_passes,
    )
    accounts = {a.connection_id: a for a in membership.run_accounts}
    grants: dict[int, list[Grant]] = defaultdict(list)
    for grant in membership.run_grants:
        grants[grant.connection_id].append(grant)
    operations: list[Operation] = []
    for connector in connectors.values():
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
    here = _member_here(connector, membership, desire, account, now)
    held, duplicates = _held_grants(grants)
    ops: list[Operation] = [AccessRevoke(here.connection, membership, grant=g) for g in duplicates]
    token_op: Operation | None = None  # last: Cobot being down must not hold up the doors
    if connector.manages_people:
        if not here.person_wanted:
            return ops + _person_end_operations(here, held)
        if not here.has_person or here.missing:
            # A person gone at the vendor took their doors along: grant them again after the create.
            ops += [AccessRevoke(here.connection, membership, grant=g) for g in held.values()]
            held = {}
            ops.append(_person_create_operation(here))
            token_op = CheckinTokenRegister(here.connection, membership, token="")
        else:
            if account.status != here.status_wanted:
                ops.append(AccountMark(here.connection, membership, status=here.status_wanted))
            token_op = _token_operation(connector, membership, account, token_owners)
    if connector.manages_doors:
        ops += _grant_operations(here, held)
    if membership.kind == Membership.Kind.VISITOR:
        token_op = None  # a day visitor has no Cobot membership to hold a check-in token
    if token_op is not None:
        ops.append(token_op)
    return ops


@dataclass
class _MemberHere:
    """One member at one connection: what they should have there, and what our account row says."""

    connector: Connector
    membership: Membership
    account: VendorAccount | None
    paused: bool  # some of their doors here are withheld (no unused time pass)
    wanted: dict[GrantKey, int | None]  # door-group vendors: grant key → booking id
    person_wanted: bool
    status_wanted: str

    @property
    def connection(self) -> LockConnection:
        return self.connector.connection

    @property
    def person_id(self) -> str:
        return self.account.vendor_person_id if self.account else ""

    @property
    def has_person(self) -> bool:
        Status = VendorAccount.Status
        states = (Status.ACTIVE, Status.PAUSED) if self.connector.manages_doors else (Status.ACTIVE,)
        return bool(self.person_id) and self.account.status in states

    @property
    def create_started(self) -> bool:
        return self.account is not None and self.account.status == VendorAccount.Status.PENDING

    @property
    def missing(self) -> bool:
        present = self.connector.present
        return self.has_person and present is not None and self.person_id not in present


def _member_here(
    connector: Connector, membership: Membership, desire: Desire, account: VendorAccount | None, now: datetime
) -> _MemberHere:
    access = [a for a in desire.access if a.door_id in connector.doors]
    paused = any(a.door_id in connector.doors for a in desire.paused)
    wanted = _wanted_grants(connector, access, now) if connector.manages_doors else {}
    Status = VendorAccount.Status
    if connector.manages_doors:
        # Door-group vendors keep the person while paused; the grants say what they open.
        person_wanted = bool(wanted) or paused
        status_wanted = Status.ACTIVE if wanted else Status.PAUSED
    else:
        # Person-only vendors: the person is the key, so it exists only while it may open something.
        person_wanted = any(a.covers(now) for a in access)
        status_wanted = Status.ACTIVE
    return _MemberHere(
        connector=connector,
        membership=membership,
        account=account,
        paused=paused,
        wanted=wanted,
        person_wanted=person_wanted,
        status_wanted=status_wanted,
    )


def _person_end_operations(here: _MemberHere, held: dict[GrantKey, Grant]) -> list[Operation]:
    """The member should have no person here (any more): revoke what they hold, remove the person."""
    connection, membership, account = here.connection, here.membership, here.account
    Status = VendorAccount.Status
    ops: list[Operation] = [AccessRevoke(connection, membership, grant=g) for g in held.values()]
    then = Status.PAUSED if here.paused and not here.connector.manages_doors else Status.REMOVED
    if here.has_person:
        ops.append(PersonRemove(connection, membership, vendor_person_id=here.person_id, then_status=then))
    elif here.create_started:
        ops.append(PersonForget(connection, membership, then_status=then))
    elif account and account.status == Status.PAUSED and not here.paused:
        ops.append(AccountMark(connection, membership, status=Status.REMOVED))
    return ops


def _person_create_operation(here: _MemberHere) -> PersonCreate:
    return PersonCreate(
        here.connection,
        here.membership,
        reason="missing at the vendor" if here.missing else "",
        then_status=here.status_wanted,
        lookup=here.create_started,
    )


def _grant_operations(here: _MemberHere, held: dict[GrantKey, Grant]) -> list[Operation]:
    """Door-group vendors: revoke the grants no longer wanted, grant (or finish granting) the wanted ones."""
    connection, membership, wanted = here.connection, here.membership, here.wanted
    ops: list[Operation] = [
        AccessRevoke(connection, membership, grant=g) for key, g in held.items() if key not in wanted
    ]
    unfinished = {key: g for key, g in held.items() if g.status == Grant.Status.PENDING and key in wanted}
    for key in sorted((set(wanted) - set(held)) | set(unfinished), key=_grant_order):
        door_id, valid_from, valid_until = key
        ops.append(
            AccessGrant(
                connection,
                membership,
                door=here.connector.doors[door_id],
                valid_from=valid_from,
                valid_until=valid_until,
                booking_id=wanted[key],
                pending=unfinished.get(key),
            )
        )
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

