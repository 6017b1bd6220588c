"""Access boundaries: the instants a member's access changes with no webhook to say so, one due row each.

A vendor without time windows (SmartLock) opens a booked room only if we grant at `start − buffer` and
revoke at `end + buffer` (and a drop-in pass's doors at the start and end of its window, from
`day_pass_window`); a membership starting (starts_at) or ending (the day after canceled_to) changes
access at the space's local midnight. Each such instant is an AccessBoundary row due then: the due-work
clock (accessbridge.work_clock) picks it up within seconds, and it queues the member's access sync. The
rows follow the mirror: `access_boundaries_update` after bookings, memberships or rules change creates the
missing ones and drops those no longer wanted (a moved booking is one dropped and one created).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from django.db.models import Prefetch
from django.utils import timezone

from accessbridge.work import WorkStatus
from locks.access.desired import SpaceRules, day_pass_window, space_rules_load
from locks.access.jobs import access_sync_enqueue
from locks.models import MAX_BUFFER_MINUTES, AccessBoundary
from locks.vendors import adapter_class
from locks.vendors.base import Capability
from spaces.localtime import space_zone
from spaces.models import Booking, DropInPass, Membership, Space
from spaces.selectors import CURRENT_STATUSES

BOOKING_STARTS = "booking starts"
BOOKING_ENDS = "booking ends"
MEMBERSHIP_STARTS = "membership starts"
MEMBERSHIP_ENDS = "membership ends"
PASS_STARTS = "day pass starts"
PASS_ENDS = "day pass ends"


def member_boundaries(
    *, membership: Membership, space: Space, rules: SpaceRules, bookings: Iterable[Booking],
    windowless_doors: set[int], now: datetime, passes: Iterable[DropInPass] = (),
) -> set[tuple[datetime, str]]:
    """The member's (or day visitor's) coming instants (after `now`) where their access changes, with why."""
    found: set[tuple[datetime, str]] = set()
    if membership.status not in CURRENT_STATUSES:
        return found
    zone = space_zone(space)
    for drop_in_pass in passes:
        for rule in rules.day_pass_rules:
            if rule.door_ids & windowless_doors:
                starts, ends = day_pass_window(drop_in_pass=drop_in_pass, rule=rule, zone=zone)
                found |= {(starts, PASS_STARTS), (ends, PASS_ENDS)}
    if membership.starts_at:
        found.add((datetime.combine(membership.starts_at, time.min, tzinfo=zone), MEMBERSHIP_STARTS))
    if membership.canceled_to:
        # Current up to and including canceled_to: access ends when the next day starts at the space.
        ends = datetime.combine(membership.canceled_to + timedelta(days=1), time.min, tzinfo=zone)
        found.add((ends, MEMBERSHIP_ENDS))
    for booking in bookings:
        if booking.status != Booking.Status.ACTIVE or booking.membership_id != membership.pk:
            continue
        for rule in rules.booking_rules.get(booking.resource_cobot_id, ()):
            if rule.door_ids & windowless_doors:
                found.add((booking.starts_at - rule.before, BOOKING_STARTS))
                found.add((booking.ends_at + rule.after, BOOKING_ENDS))
    return {(at, reason) for at, reason in found if at > now}


def _windowless_doors(rules: SpaceRules) -> set[int]:
    """Doors at vendors that cannot carry a booking's window themselves: we must act at its edges."""
    return {
        pk for pk, door in rules.doors.items()
        if not adapter_class(door.connection.vendor).supports(Capability.TIME_WINDOWS)
    }


def access_boundaries_update(
    *, space: Space, membership_ids: Iterable[int] | None = None, now: datetime | None = None
) -> tuple[int, int]:
    """Bring the space's pending boundary rows (these members', or everyone's) in step with the mirror and
    the rules. Returns (created, dropped)."""
    now = now or timezone.now()
    members = Membership.objects.filter(space=space, status__in=CURRENT_STATUSES)
    existing = AccessBoundary.objects.filter(space=space, status=WorkStatus.PENDING)
    if membership_ids is not None:
        ids = list(membership_ids)
        members = members.filter(pk__in=ids)
        existing = existing.filter(membership_id__in=ids)
    # Bookings whose end (plus the longest buffer a rule may have) is still to come.
    bookings = Booking.objects.filter(
        status=Booking.Status.ACTIVE, ends_at__gt=now - timedelta(minutes=MAX_BUFFER_MINUTES)
    )
    passes = DropInPass.objects.filter(status=DropInPass.Status.ACTIVE, day__gte=now.date() - timedelta(days=1))
    members = list(
        members.prefetch_related(
            Prefetch("bookings", queryset=bookings, to_attr="edge_bookings"),
            Prefetch("drop_in_passes", queryset=passes, to_attr="edge_passes"),
        )
    )
    # The rules matter only for bookings and passes: a webhook for a member without any (most) loads none.
    timed = any(m.edge_bookings or m.edge_passes for m in members)
    rules = space_rules_load(space=space) if timed else SpaceRules([], {}, {})
    windowless = _windowless_doors(rules)
    wanted = {
        (member.pk, at, reason)
        for member in members
        for at, reason in member_boundaries(
            membership=member, space=space, rules=rules, bookings=member.edge_bookings,
            windowless_doors=windowless, now=now, passes=member.edge_passes,
        )
    }
    have = {(row.membership_id, row.next_attempt_at, row.reason): row.pk for row in existing}
    dropped = [pk for key, pk in have.items() if key not in wanted]
    if dropped:
        AccessBoundary.objects.filter(pk__in=dropped, status=WorkStatus.PENDING).delete()
    new = [
        AccessBoundary(space=space, membership_id=member_id, next_attempt_at=at, reason=reason)
        for member_id, at, reason in sorted(wanted - set(have))
    ]
    AccessBoundary.objects.bulk_create(new, batch_size=500)
    return len(new), len(dropped)


def access_boundary_perform(*, boundary: AccessBoundary) -> None:
    """The instant has come: sync the member (run right after, in the same worker task)."""
    access_sync_enqueue(space=boundary.space, membership=boundary.membership, reason=boundary.reason)


def access_boundaries_prune(*, before: datetime) -> int:
    finished = [WorkStatus.DONE, WorkStatus.IGNORED]
    deleted, _ = AccessBoundary.objects.filter(status__in=finished, finished_at__lt=before).delete()
    return deleted
