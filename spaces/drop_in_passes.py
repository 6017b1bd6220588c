"""Drop-in (day) passes in the mirror, and the visitors who hold them.

A visitor is a Membership row of kind VISITOR: one per email address in the space (one per pass for a
pass without an email), so that the door side treats a pass like a short membership: the people, grants,
audit entries and access jobs it keeps already point at a Membership. A visitor's status says whether an
active pass of theirs is for today or later (CONFIRMED) or not any more (ENDED); which doors, and when, is
the door side's (locks.access.day_passes).

Cobot's webhook `created_drop_in_pass` says nothing we rely on (its shape is unverified), so both it and the
full sync read the space's list of passes and reconcile it here. This module never imports `locks`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accessbridge.http import ServiceError
from accessbridge.work import WorkPermanentError
from spaces.cobot import client
from spaces.cobot.records import DropInPassRecord, drop_in_pass_record
from spaces.localtime import space_today, space_zone
from spaces.models import DropInPass, Membership, Space

DROP_IN_PASS_EVENTS = ("created_drop_in_pass",)
VISITOR_PREFIX = "visitor:"


class PassesUnreadable(WorkPermanentError):
    """Some listed passes could not be read; the others were applied (their visitors: `membership_ids`)."""

    def __init__(self, message: str, *, membership_ids: set[int]):
        super().__init__(message)
        self.membership_ids = membership_ids


@dataclass
class PassesOutcome:
    counts: dict = field(default_factory=lambda: {"created": 0, "updated": 0, "gone": 0, "newer": 0})
    visitor_ids: set[int] = field(default_factory=set)  # visitors whose access may have changed
    errors: list[str] = field(default_factory=list)  # passes Cobot listed that could not be read


def visitor_key(*, email: str, pass_cobot_id: str) -> str:
    """The visitor row's cobot_id (ours): the same person's passes share it through their email."""
    if email:
        return VISITOR_PREFIX + hashlib.sha256(email.lower().encode()).hexdigest()[:32]
    return f"{VISITOR_PREFIX}pass:{pass_cobot_id}"[:100]


def pass_day(record: DropInPassRecord, *, space: Space) -> date:
    """The pass's day at the space: the date it names, else that of its start in the space's zone."""
    return record.day or record.valid_from.astimezone(space_zone(space)).date()


def drop_in_passes_reconcile(
    *, space: Space, rows: list, listed_since: datetime | None = None, now: datetime | None = None
) -> PassesOutcome:
    """Make the space's passes match Cobot's full list `rows`.

    A pass Cobot no longer lists whose day is today or later is GONE (an earlier one is over anyway, and
    the list may leave old days out). A row that cannot be read is an error; its id, if any, still counts
    as listed. `listed_since`: rows written at or after it are newer than the list and left alone.
    """
    now = now or timezone.now()
    today = space_today(space, now)
    outcome = PassesOutcome()
    with transaction.atomic():
        existing = {p.cobot_id: p for p in DropInPass.objects.select_for_update().filter(space=space)}
        listed = {str(row["id"]) for row in rows if isinstance(row, dict) and row.get("id") not in (None, "")}
        for row in rows:
            try:
                record = drop_in_pass_record(row)
            except ServiceError as exc:
                outcome.errors.append(exc.message)
                continue
            _pass_apply(space, record, existing.get(record.cobot_id), outcome, listed_since=listed_since, now=now)
        for drop_in_pass in existing.values():
            if drop_in_pass.cobot_id in listed or drop_in_pass.status != DropInPass.Status.ACTIVE:
                continue
            if drop_in_pass.day < today:
                continue
            if listed_since is not None and drop_in_pass.updated_at >= listed_since:
                outcome.counts["newer"] += 1
                continue
            drop_in_pass.status, drop_in_pass.synced_at = DropInPass.Status.GONE, now
            drop_in_pass.save(update_fields=["status", "synced_at", "updated_at"])
            outcome.counts["gone"] += 1
            outcome.visitor_ids.add(drop_in_pass.visitor_id)
        outcome.visitor_ids |= visitors_status_refresh(space=space, today=today)
    outcome.visitor_ids.discard(None)
    return outcome


def _pass_apply(space, record, drop_in_pass, outcome: PassesOutcome, *, listed_since, now) -> None:
    if drop_in_pass is not None and listed_since is not None and drop_in_pass.updated_at >= listed_since:
        outcome.counts["newer"] += 1
        return
    visitor = _visitor_for(space, record)
    values = {
        "visitor_id": visitor.pk,
        "name": record.name,
        "email": record.email,
        "day": pass_day(record, space=space),
        "valid_from": record.valid_from,
        "valid_until": record.valid_until,
        "status": DropInPass.Status.CANCELED if record.canceled else DropInPass.Status.ACTIVE,
        "raw": record.raw,
    }
    if drop_in_pass is None:
        DropInPass.objects.create(space=space, cobot_id=record.cobot_id, synced_at=now, **values)
        outcome.counts["created"] += 1
        outcome.visitor_ids.add(visitor.pk)
        return
    changed = {name: value for name, value in values.items() if getattr(drop_in_pass, name) != value}
    if not changed:
        return
    outcome.visitor_ids.update({drop_in_pass.visitor_id, visitor.pk})
    for name, value in changed.items():
        setattr(drop_in_pass, name, value)
    drop_in_pass.synced_at = now
    drop_in_pass.save()
    outcome.counts["updated"] += 1


def _visitor_for(space: Space, record: DropInPassRecord) -> Membership:
    key = visitor_key(email=record.email, pass_cobot_id=record.cobot_id)
    visitor, created = Membership.objects.get_or_create(
        space=space,
        cobot_id=key,
        defaults={
            "kind": Membership.Kind.VISITOR,
            "name": record.name,
            "email": record.email,
            "status": Membership.Status.CONFIRMED,
            "synced_at": timezone.now(),
        },
    )
    if not created and record.name and visitor.name != record.name:
        Membership.objects.filter(pk=visitor.pk).update(name=record.name, updated_at=timezone.now())
    return visitor


def visitors_status_refresh(*, space: Space, today: date) -> set[int]:
    """CONFIRMED while an active pass is for today or later, else ENDED. Returns the visitors changed."""
    visitors = Membership.objects.filter(space=space, kind=Membership.Kind.VISITOR)
    upcoming = Exists(
        DropInPass.objects.filter(visitor=OuterRef("pk"), status=DropInPass.Status.ACTIVE, day__gte=today)
    )
    Status = Membership.Status
    ending = list(visitors.exclude(status=Status.ENDED).filter(~upcoming).values_list("pk", flat=True))
    starting = list(visitors.exclude(status=Status.CONFIRMED).filter(upcoming).values_list("pk", flat=True))
    now = timezone.now()
    if ending:
        Membership.objects.filter(pk__in=ending).update(status=Status.ENDED, synced_at=now, updated_at=now)
    if starting:
        Membership.objects.filter(pk__in=starting).update(status=Status.CONFIRMED, synced_at=now, updated_at=now)
    return set(ending) | set(starting)


def drop_in_pass_event_process(*, space: Space, payload: dict) -> list[int]:
    """`created_drop_in_pass`: read the space's list of passes again (the payload is not used).

    Passes that cannot be read fail the delivery with their reasons; the readable ones are applied.
    """
    listed_since = timezone.now()
    outcome = drop_in_passes_reconcile(
        space=space, rows=client.drop_in_passes_list(space=space), listed_since=listed_since
    )
    if outcome.errors:
        raise PassesUnreadable("; ".join(outcome.errors)[:1000], membership_ids=outcome.visitor_ids)
    return sorted(outcome.visitor_ids)
