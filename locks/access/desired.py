"""Desired access: what each member should open now, from the mirror (memberships, bookings, check-ins)
and the space's access rules. Reads only; the same answer serves the sync run and `member_may_open`.

Day visitors (Membership kind VISITOR, spaces.drop_in_passes) go through the same `access_desired`: their
drop-in passes under the day-pass rules give door access with a window on the pass's day, like a booking
(`day_pass_window` says when). Vendors with time windows get that window; the others get the door from its
start to its end through a due row at each boundary (locks.access.boundaries), built from the same windows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Prefetch

from locks.models import AccessEvent, AccessRule, Door
from spaces.localtime import space_today, space_zone
from spaces.models import Booking, DropInPass, Membership, Space
from spaces.selectors import CURRENT_STATUSES

CHECKED_IN = (AccessEvent.CheckIn.CHECKED_IN, AccessEvent.CheckIn.ALREADY)


def membership_is_current(membership: Membership, *, today: date) -> bool:
    """Confirmed (or canceled, until the end of its last day `canceled_to`), and already started."""
    if membership.status not in CURRENT_STATUSES:
        return False
    if membership.canceled_to and membership.canceled_to < today:
        return False
    return not (membership.starts_at and membership.starts_at > today)


def members_checked_in_today(*, space: Space, membership_ids: Iterable[int], now: datetime) -> set[int]:
    """Of these members, those with a check-in Cobot accepted today (the space's day) through our doors."""
    day_start = datetime.combine(space_today(space, now), time.min, tzinfo=space_zone(space))
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


@dataclass(frozen=True)
class DayPassRule:
    rule_id: int
    door_ids: frozenset[int]
    day_from: time | None
    day_until: time | None


@dataclass
class SpaceRules:
    """A space's enabled rules, reduced to door ids of enabled doors at enabled connections."""

    plan_rules: list[RuleDoors]
    booking_rules: dict[str, list[RuleDoors]]
    doors: dict[int, Door]
    day_pass_rules: list[DayPassRule] = field(default_factory=list)

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
    day_pass_rules: list[DayPassRule] = []
    doors: dict[int, Door] = {}
    for rule in rules:
        rule_doors = list(rule.doors.all())
        doors.update((d.pk, d) for d in rule_doors)
        if rule.kind == AccessRule.Kind.DAY_PASS:
            door_ids = frozenset(d.pk for d in rule_doors)
            day_pass_rules.append(DayPassRule(rule.pk, door_ids, rule.day_from, rule.day_until))
            continue
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
    return SpaceRules(
        plan_rules=plan_rules, booking_rules=dict(booking_rules), doors=doors, day_pass_rules=day_pass_rules
    )


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
    passes: Iterable[DropInPass] = (),
) -> Desire:
    """today: the space's calendar day at `now` (computed when not given). checked_in_today: the member
    has a check-in today that Cobot accepted, so running out of time passes does not pause them yet.
    passes: a visitor's drop-in passes (members have none)."""
    if membership.kind == Membership.Kind.VISITOR:
        return visitor_desired(visitor=membership, rules=rules, passes=passes, now=now)
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


def day_pass_window(*, drop_in_pass: DropInPass, rule: DayPassRule, zone) -> tuple[datetime, datetime]:
    """When a pass opens a rule's doors: the rule's times of the pass's day, else the pass's own start and
    end (Cobot's), else the whole day. The one place for a pass's boundaries (a due row per boundary can
    be built from it). Cobot's opening hours would be a better default, but no verified field names them.
    """
    day = drop_in_pass.day
    if rule.day_from is not None:
        start = datetime.combine(day, rule.day_from, tzinfo=zone)
    else:
        start = drop_in_pass.valid_from or datetime.combine(day, time.min, tzinfo=zone)
    if rule.day_until is not None:
        end = datetime.combine(day, rule.day_until, tzinfo=zone)
    else:
        end = drop_in_pass.valid_until or datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def visitor_desired(
    *, visitor: Membership, rules: SpaceRules, passes: Iterable[DropInPass], now: datetime
) -> Desire:
    """A day visitor: each active pass of theirs opens the day-pass rules' doors in its window, until it ends."""
    desire = Desire(current=visitor.status in CURRENT_STATUSES)
    zone = space_zone(visitor.space)
    for drop_in_pass in passes:
        if drop_in_pass.status != DropInPass.Status.ACTIVE or drop_in_pass.visitor_id != visitor.pk:
            continue
        for rule in rules.day_pass_rules:
            valid_from, valid_until = day_pass_window(drop_in_pass=drop_in_pass, rule=rule, zone=zone)
            if valid_until <= now or valid_until <= valid_from:
                continue
            for door_id in sorted(rule.door_ids):
                access = DoorAccess(door_id, valid_from=valid_from, valid_until=valid_until)
                if access not in desire.access:
                    desire.access.append(access)
    return desire
