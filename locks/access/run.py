"""One access sync run of a space: one member, every member, or a dry run (see locks.access).

The run holds the space against other runs, loads the rules and the connections, reads the vendors' lists
of people when asked, then goes through the members in chunks: plan each, apply the plan (unless a dry
run), and keep the report. A vendor (or Cobot) that fails for the whole run is left alone from then on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connections, router
from django.db.models import Prefetch, Q
from django.utils import timezone

from accessbridge.http import ServiceError
from locks.access.apply import ApplyContext, account_error_record, operation_apply, operation_audit
from locks.access.desired import SpaceRules, members_checked_in_today, space_rules_load
from locks.access.operations import COBOT, Operation
from locks.access.plan import Connector, MemberPlan, member_plan
from locks.advisory import advisory_key, advisory_try_lock, advisory_unlock
from locks.connection_status import connection_status_set
from locks.models import Grant, LockConnection, VendorAccount
from locks.vendors import adapter_for
from spaces.localtime import space_today
from spaces.models import Booking, CheckInToken, DropInPass, Membership, Space
from spaces.selectors import CURRENT_STATUSES

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
# First key of pg_try_advisory_lock(int, int) for "access sync of a space"; the second is the space id.
ADVISORY_NAMESPACE = 0x4153  # "AS"


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

    PostgreSQL: a session advisory lock keyed on the space. SQLite serializes writes by itself (see
    locks.access, "One sync per space"), so there is nothing to take.
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
                _target_failed(run, connector.connection.pk, exc, doing="reading the vendor's people")
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
    members = _chunk_members(run, rules=rules, membership_ids=membership_ids)
    token_owners = _token_owners(run, members)
    checked_in = (
        members_checked_in_today(space=run.space, membership_ids=membership_ids, now=now)
        if rules.counts_time_passes
        else set()
    )
    context = ApplyContext(
        space=run.space,
        now=now,
        adapters={pk: connector.adapter for pk, connector in run.connectors.items()},
        token_owners=token_owners,
        actor=run.actor,
        actor_label=run.actor_label,
    )
    failed_members: set[int] = set()
    for membership in members:
        membership.space = run.space  # one Space object for the whole run
        plan = member_plan(
            membership=membership,
            rules=rules,
            connectors=run.connectors,
            token_owners=token_owners,
            checked_in_today=membership.pk in checked_in,
            now=now,
            today=run.today,
        )
        report.member_count += 1
        report.operations.extend(plan.operations)
        if keep_members:
            report.members.append(plan)
        if not report.dry_run and plan.operations:
            _member_apply(run, context, plan)
            if plan.errors:
                failed_members.add(membership.pk)
    if not report.dry_run:
        healthy = [pk for pk in run.connectors if pk not in report.blocked]
        VendorAccount.objects.filter(connection_id__in=healthy, membership_id__in=membership_ids).exclude(
            membership_id__in=failed_members
        ).update(last_synced_at=now, last_error="")


def _chunk_members(run: _Run, *, rules: SpaceRules, membership_ids: list[int]) -> list[Membership]:
    """The chunk's members with what the plan reads: their accounts and live grants at the run's
    connections, and their bookings (a visitor's drop-in passes) that may still grant a door."""
    connection_ids = list(run.connectors)
    return list(
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
                    status=Booking.Status.ACTIVE, ends_at__gt=run.report.now - rules.max_buffer_after
                ),
                to_attr="run_bookings",
            ),
            Prefetch(
                "drop_in_passes",
                # A pass's own end may lie in the early hours after its day.
                queryset=DropInPass.objects.filter(
                    status=DropInPass.Status.ACTIVE, day__gte=run.today - timedelta(days=1)
                ),
                to_attr="run_passes",
            ),
        )
    )


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



def _member_apply(run: _Run, context: ApplyContext, plan: MemberPlan) -> None:
    report = run.report
    given_up: set[int] = set()  # connections where an earlier step for this member failed
    for op in plan.operations:
        if op.target in report.blocked or op.connection.pk in given_up:
            run.skip(op)
            if op.target != COBOT:
                given_up.add(op.connection.pk)
            continue
        try:
            operation_apply(context, op, plan.accounts)
        except ServiceError as exc:
            operation_audit(context, op, result="failed", detail=f"{op.describe()}: {exc}")
            if exc.is_auth or exc.transient:
                _target_failed(run, op.target, exc, doing=op.describe())
                report.skipped.append(op)
            else:
                report.failed.append((op, str(exc)))
                plan.errors.append(str(exc))
                account_error_record(op, str(exc))
            if op.target != COBOT:
                given_up.add(op.connection.pk)
            continue
        report.applied.append(op)


def _target_failed(run: _Run, target, exc: ServiceError, *, doing: str) -> None:
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
        report.errors.append(f"{name}: {doing}: {exc}")
    logger.info("access sync %s: %s left alone for this run: %s", run.space, name, exc)

