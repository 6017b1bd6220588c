"""Full sync of a space's mirror: `sync_fetch` (spaces.sync_fetch) makes every Cobot call, part by
part; `sync_apply` reconciles the local rows with the parts that worked, in one transaction, records
each part's outcome (spaces.feature_problems) and sends mirror_changed(full=True) once after commit.
A part that failed leaves its rows alone: nothing is ended or deleted for not being listed.

Webhooks keep being processed while the fetch runs, so a row written at or after the fetch began is
newer than what the fetch saw: apply leaves it alone (no update, not ended or deleted) and counts it in
`skipped_changed_meanwhile`.
"""

import time
from functools import partial

from django.db import transaction
from django.utils import timezone

from accessbridge.http import ServiceError
from spaces.cobot.records import booking_record, checkin_token_record, plan_record
from spaces.drop_in_passes import drop_in_passes_reconcile
from spaces.feature_problems import feature_outcomes_record
from spaces.localtime import space_today
from spaces.mirror import (
    MEMBERSHIP_FIELDS,
    booking_values,
    checkin_tokens_reconcile,
    membership_values,
    orphans_link,
    plan_values,
    values_assign,
)
from spaces.models import Booking, Membership, Plan, Space
from spaces.selectors import CURRENT_STATUSES
from spaces.signals import mirror_changed
from spaces.sync_fetch import sync_fetch

MAX_ERRORS_KEPT = 20


def space_sync(*, space: Space) -> dict:
    """Pull the space's data from Cobot and reconcile the mirror. Returns (and stores) the counts.

    Raises ServiceError when Cobot cannot be read at all (a 401 has already marked the space
    "reconnect needed"); the failure is stored in last_sync_result too.
    """
    if space.status != Space.Status.ACTIVE:
        return {"skipped": f"space is {space.get_status_display().lower()}"}
    started = timezone.now()
    try:
        fetched = sync_fetch(space=space, started=started)
    except ServiceError as exc:
        result = {"ok": False, "error": str(exc), "at": started.isoformat()}
        Space.objects.filter(pk=space.pk).update(last_sync_result=result)
        raise
    return sync_apply(space=space, fetched=fetched)


# --- step 2: reconcile the local rows ----------------------------------------------------------------
def sync_apply(*, space: Space, fetched: dict) -> dict:
    """Reconcile the mirror with what `sync_fetch` saw; store and return the counts."""
    started, errors = fetched["started"], fetched["errors"]
    if fetched["time_zone"]:
        space.time_zone = fetched["time_zone"]
    with transaction.atomic():
        context = _Context(space=space, started=started, today=space_today(space, started), errors=errors)
        plans = _plans_reconcile(context, fetched["plans"])
        # A part Cobot did not answer counts nothing (None) and changes nothing: it is tried again next run.
        memberships = _memberships_reconcile(context, plans, fetched) if fetched["listed_ids"] is not None else None
        tokens = _tokens_reconcile(context, fetched["tokens"]) if fetched["tokens"] is not None else None
        bookings = (
            _bookings_reconcile(context, fetched["bookings"], fetched["window"])
            if fetched["bookings"] is not None
            else None
        )
        drop_in = _drop_in_passes_reconcile(context, fetched["drop_in_passes"]) if fetched["drop_in_passes"] is not None else None
        counts = {
            "memberships": memberships, "plans": plans.counts, "checkin_tokens": tokens, "bookings": bookings,
            "drop_in_passes": drop_in,
        }  # fmt: skip
        outcomes = fetched["outcomes"]
        feature_outcomes_record(space=space, outcomes=outcomes)
        result = {
            "changed_rows": _changed_rows(**counts),
            **counts,
            "time_passes": {"refreshed": len(fetched["passes"]), "pending": fetched["passes_pending"]},
            "subscriptions": fetched["subscriptions"],
            "parts_failed": sorted(part for part, error in outcomes.items() if error is not None),
            "skipped_changed_meanwhile": context.skipped,
            "errors": errors[:MAX_ERRORS_KEPT],
            "error_count": len(errors),
            "ok": not errors,
            "at": started.isoformat(),
            "cobot_calls": fetched["calls"],
            "seconds": round(time.monotonic() - fetched["clock"], 2),
        }
        Space.objects.filter(pk=space.pk).update(
            last_synced_at=started, last_sync_result=result, time_zone=space.time_zone
        )
        space.last_synced_at, space.last_sync_result = started, result
        transaction.on_commit(
            partial(
                mirror_changed.send,
                sender=Space,
                space=space,
                membership_ids=sorted(context.changed_ids),
                reason="full_sync",
                full=True,
            )
        )
    return result


class _Context:
    def __init__(self, *, space, started, today, errors):
        self.space, self.started, self.today, self.errors = space, started, today, errors
        self.changed_ids: set[int] = set()
        self.skipped = 0

    def newer(self, row) -> bool:
        """Written at or after the fetch began (a webhook, a token registration): newer than the fetch."""
        synced_at = getattr(row, "synced_at", None)
        return row.updated_at >= self.started or (synced_at is not None and synced_at >= self.started)


def _changed_rows(*, memberships, plans, checkin_tokens, bookings, drop_in_passes) -> int:
    memberships = memberships or {}
    return (
        sum(plans.values())
        + sum(memberships.get(key, 0) for key in ("created", "updated", "ended"))
        + sum((checkin_tokens or {}).values())
        + sum((bookings or {}).values())
        + sum((drop_in_passes or {}).values())
    )  # fmt: skip


class _Plans:
    def __init__(self, local: dict[str, Plan], counts: dict):
        self.local, self.counts = local, counts


def _plans_reconcile(context: _Context, rows: list | None) -> _Plans:
    space = context.space
    counts = {"created": 0, "updated": 0, "inactive": 0}
    local = {p.cobot_id: p for p in Plan.objects.select_for_update().filter(space=space)}
    if rows is None:  # Cobot's plan list failed: members still get their plan from their own copy
        return _Plans(local, counts)
    seen = set()
    for row in rows:
        try:
            record = plan_record(row)
        except ServiceError as exc:
            context.errors.note("plan", exc)
            continue
        seen.add(record.cobot_id)
        plan = local.get(record.cobot_id)
        if plan is None:
            local[record.cobot_id] = Plan.objects.create(space=space, cobot_id=record.cobot_id, **plan_values(record))
            counts["created"] += 1
        elif context.newer(plan):
            context.skipped += 1
        elif values_assign(plan, plan_values(record)):
            plan.save()
            counts["updated"] += 1
    for cobot_id, plan in local.items():
        if cobot_id not in seen and plan.active and not context.newer(plan):
            plan.active = False
            plan.save(update_fields=["active", "updated_at"])
            counts["inactive"] += 1
    return _Plans(local, counts)


def _plan_of(context: _Context, plans: _Plans, record) -> Plan | None:
    if not record.plan:
        return None
    plan = plans.local.get(record.plan.cobot_id)
    if plan is None:  # a plan Cobot's plan list does not show (e.g. hidden): use the member's copy
        plan = plans.local[record.plan.cobot_id] = Plan.objects.create(
            space=context.space, cobot_id=record.plan.cobot_id, **{**plan_values(record.plan), "active": False}
        )
    return plan


def _memberships_reconcile(context: _Context, plans: _Plans, fetched: dict) -> dict:
    space, now, passes = context.space, context.started, fetched["passes"]
    counts = {"created": 0, "updated": 0, "ended": 0, "unchanged": 0, "listed": len(fetched["listed_ids"])}
    # Visitors are ours (spaces.drop_in_passes): Cobot's list of memberships never names them.
    members = Membership.objects.select_for_update().filter(space=space, kind=Membership.Kind.MEMBER)
    local = {m.cobot_id: m for m in members}
    new, dirty = [], []
    for record in fetched["records"]:
        values = membership_values(record, plan=_plan_of(context, plans, record), today=context.today)
        if record.cobot_id in passes:
            values["unused_time_passes"] = passes[record.cobot_id]
        membership = local.get(record.cobot_id)
        if membership is None:
            new.append(
                Membership(
                    space=space,
                    cobot_id=record.cobot_id,
                    synced_at=now,
                    time_passes_synced_at=now if record.cobot_id in passes else None,
                    **values,
                )
            )
            continue
        if context.newer(membership):
            context.skipped += 1
            continue
        changed = values_assign(membership, values)
        if record.cobot_id in passes:
            membership.time_passes_synced_at = now
        if changed:
            membership.synced_at = now
            counts["updated"] += 1
            context.changed_ids.add(membership.pk)
            dirty.append(membership)
        else:
            counts["unchanged"] += 1
            if record.cobot_id in passes:
                dirty.append(membership)
    if new:
        # A webhook may have created one meanwhile: it holds Cobot's data already.
        Membership.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
        counts["created"] = len(new)
    if dirty:
        for membership in dirty:
            membership.updated_at = now
        fields = [*MEMBERSHIP_FIELDS, "unused_time_passes", "time_passes_synced_at", "synced_at", "updated_at"]
        Membership.objects.bulk_update(dirty, fields, batch_size=500)
    counts["ended"] = _memberships_end_unlisted(context, local, fetched["listed_ids"])
    if new:
        context.changed_ids.update(
            Membership.objects.filter(space=space, cobot_id__in=[m.cobot_id for m in new]).values_list("pk", flat=True)
        )
        orphans_link(space=space)
    return counts


def _memberships_end_unlisted(context: _Context, local: dict[str, Membership], listed_ids: set[str]) -> int:
    """Not in Cobot's list of current memberships any more: ended (canceled_to passed, or removed)."""
    gone = []
    for cobot_id, membership in local.items():
        if cobot_id in listed_ids or membership.status not in CURRENT_STATUSES:
            continue
        if context.newer(membership):
            context.skipped += 1
        else:
            gone.append(membership.pk)
    if gone:
        now = context.started
        Membership.objects.filter(pk__in=gone).update(status=Membership.Status.ENDED, synced_at=now, updated_at=now)
        context.changed_ids.update(gone)
    return len(gone)


def _drop_in_passes_reconcile(context: _Context, rows: list) -> dict:
    outcome = drop_in_passes_reconcile(space=context.space, rows=rows, listed_since=context.started, now=context.started)
    for error in outcome.errors:
        context.errors.append(f"drop-in pass: {error}")
    context.skipped += outcome.counts.pop("newer")
    context.changed_ids.update(outcome.visitor_ids)
    return outcome.counts


def _tokens_reconcile(context: _Context, rows: list) -> dict:
    records = []
    for row in rows:
        try:
            records.append(checkin_token_record(row))
        except ServiceError as exc:
            context.errors.note("check-in token", exc)
    counts, touched = checkin_tokens_reconcile(space=context.space, records=records, listed_since=context.started)
    context.skipped += counts.pop("newer")
    context.changed_ids.update(touched)
    return counts


def _bookings_reconcile(context: _Context, rows: list, window) -> dict:
    """Upsert the listed bookings; a local booking STARTING inside the queried window that Cobot no
    longer lists is deleted (one that started before it may simply not be listed)."""
    space, (window_start, window_end) = context.space, window
    counts = {"created": 0, "updated": 0, "deleted": 0}
    members = dict(Membership.objects.filter(space=space).values_list("cobot_id", "pk"))
    listed = {str(row["id"]) for row in rows if isinstance(row, dict) and row.get("id")}
    known = {
        b.cobot_id: b for b in Booking.objects.select_for_update().filter(space=space, cobot_id__in=listed)
    }
    new = []
    for row in rows:
        try:
            record = booking_record(row)
        except ServiceError as exc:
            context.errors.note("booking", exc)
            continue
        values = booking_values(record, membership_id=members.get(record.membership_cobot_id), status=Booking.Status.ACTIVE)
        booking = known.get(record.cobot_id)
        if booking is None:
            booking = Booking(space=space, cobot_id=record.cobot_id, **values)
            new.append(booking)
        elif context.newer(booking):
            context.skipped += 1
            continue
        elif values_assign(booking, values):
            booking.save()
            counts["updated"] += 1
        else:
            continue
        if booking.membership_id:
            context.changed_ids.add(booking.membership_id)
    if new:
        Booking.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
        counts["created"] = len(new)
    unlisted = Booking.objects.select_for_update().filter(
        space=space, status=Booking.Status.ACTIVE, starts_at__gte=window_start, starts_at__lt=window_end
    ).exclude(cobot_id__in=listed)
    for booking in unlisted:
        if context.newer(booking):
            context.skipped += 1
            continue
        booking.status = Booking.Status.DELETED
        booking.save(update_fields=["status", "updated_at"])
        counts["deleted"] += 1
        if booking.membership_id:
            context.changed_ids.add(booking.membership_id)
    return counts
