"""Full sync of a space's mirror: a bounded number of Cobot calls, however many members there are.

Calls per run (FIXED_CALLS = 7): space details (its time zone), plans, memberships (ONE call: Cobot
limits GET /api/memberships to about 6/min, so never one per member), check-in tokens, bookings from
now - BOOKING_LOOKBACK to + BOOKING_WINDOW_DAYS, work sessions since the last sync, and webhook
subscriptions; then at most TIME_PASS_REFRESHES_PER_SYNC unused-time-pass lookups. That is at most
7 + 20 = 27 calls per space per run, well inside Cobot's ~60/min per user. Only when Cobot deactivated
or lost some of our webhook subscriptions (it deactivates one after ~20 h of failed deliveries) does
the run repair them (services.subscriptions_ensure): one delete per deactivated or stale one of ours
and one create per missing event (15 events), reported in last_sync_result["subscriptions"].

Unused time passes have no bulk endpoint (one call per member), so they are refreshed only where
needed, most useful first, up to the cap; the rest waits for the next run (every 15 minutes):
  1. members of a plan with time passes whose count we don't know yet;
  2. members who used a time pass since the last sync (the work sessions list says so, one call);
  3. counts older than TIME_PASS_STALE_AFTER, oldest first (e.g. a monthly allowance renewed).
Between runs the membership_added/removed_time_passes webhooks keep counts current.
With the cap of 20 per 15-minute run, 1,920 counts a day can be refreshed per space.

Two steps: `sync_fetch` makes every call, `sync_apply` reconciles the local rows in one transaction
and sends mirror_changed(full=True) once after commit. Webhooks keep being processed while the fetch
runs, so a row written at or after the fetch began is newer than what the fetch saw: apply leaves it
alone (no update, not ended or deleted) and counts it in `skipped_changed_meanwhile`.
"""

import time
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from accessbridge.http import ServiceError
from spaces.cobot import client
from spaces.cobot.records import (
    booking_record,
    checkin_token_record,
    cobot_datetime,
    membership_record,
    nested_id,
    plan_record,
    space_time_zone,
)
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
from spaces.selectors import CURRENT_STATUSES, space_today
from spaces.services import subscriptions_ensure
from spaces.signals import mirror_changed

FIXED_CALLS = 7
BOOKING_WINDOW_DAYS = 30
# unverified whether bookings?from&to lists bookings overlapping the window or starting inside it:
# asking from a day back keeps today's bookings in progress listed under either reading.
BOOKING_LOOKBACK = timedelta(days=1)
TIME_PASS_REFRESHES_PER_SYNC = 20
TIME_PASS_STALE_AFTER = timedelta(hours=24)
MAX_ERRORS_KEPT = 20


class _Errors(list):
    def note(self, what: str, exc: Exception) -> None:
        message = getattr(exc, "message", None) or str(exc)
        self.append(f"{what}: {message}")


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


# --- step 1: every Cobot call ------------------------------------------------------------------------
def sync_fetch(*, space: Space, started=None) -> dict:
    """Everything the sync needs from Cobot (and the repair of our webhook subscriptions there)."""
    started = started or timezone.now()
    clock = time.monotonic()
    errors = _Errors()
    time_zone = _time_zone_fetch(space, errors)
    plans = client.plans_list(space=space)
    memberships = client.memberships_list(space=space)
    tokens = client.checkin_tokens_list(space=space)
    window_start, window_end = started - BOOKING_LOOKBACK, started + timedelta(days=BOOKING_WINDOW_DAYS)
    bookings = client.bookings_list(space=space, starts=window_start, ends=window_end)
    # Check-ins that began since the last run (API 1 times have whole seconds: overlap a little).
    since = (space.last_synced_at or started - timedelta(days=1)) - timedelta(minutes=1)
    sessions = client.work_sessions_list(space=space, starts=since, ends=started + timedelta(minutes=1))
    subscriptions = _subscriptions_repair(space, errors)
    calls = FIXED_CALLS + subscriptions.get("created", 0) + subscriptions.get("deleted", 0)

    records = []
    for row in memberships:
        try:
            records.append(membership_record(row))
        except ServiceError as exc:
            errors.note(f"membership {row.get('id', '?') if isinstance(row, dict) else '?'}", exc)
    # Every id Cobot listed counts as current, even one whose record we could not read.
    listed_ids = {str(row.get("id")) for row in memberships if isinstance(row, dict) and row.get("id")}

    wanted = _time_pass_candidates(space=space, records=records, sessions=sessions, since=since, now=started)
    passes, lookups = _time_passes_fetch(space, wanted[:TIME_PASS_REFRESHES_PER_SYNC], errors)
    return {
        "started": started,
        "clock": clock,
        "time_zone": time_zone,
        "plans": plans,
        "records": records,
        "listed_ids": listed_ids,
        "tokens": tokens,
        "bookings": bookings,
        "passes": passes,
        "passes_pending": max(0, len(wanted) - len(passes)),
        "window": (window_start, window_end),
        "subscriptions": subscriptions,
        "errors": errors,
        "calls": calls + lookups,
    }


def _time_zone_fetch(space: Space, errors: _Errors) -> str | None:
    try:
        details = client.space_get(subdomain=space.subdomain, token=space.access_token)
    except ServiceError as exc:
        errors.note("space details", exc)
        return None
    return space_time_zone(details)


def _subscriptions_repair(space: Space, errors: _Errors) -> dict:
    """Our webhook subscriptions at Cobot, made whole again if Cobot deactivated or lost some."""
    try:
        listed = client.subscriptions_list(space=space)
    except ServiceError as exc:
        if exc.status == 401:
            raise
        errors.note("webhook subscriptions", exc)
        return {}
    try:
        return subscriptions_ensure(space=space, listed=listed)
    except ServiceError as exc:
        errors.note("repairing webhook subscriptions", exc)
        return {}


def _time_passes_fetch(space: Space, cobot_ids: list[str], errors: _Errors) -> tuple[dict[str, int], int]:
    passes: dict[str, int] = {}
    calls = 0
    for cobot_id in cobot_ids:
        try:
            calls += 1
            passes[cobot_id] = len(client.time_passes_unused(space=space, membership_cobot_id=cobot_id))
        except ServiceError as exc:
            if exc.is_auth:
                raise
            errors.note(f"time passes of membership {cobot_id}", exc)
            if exc.transient:
                break  # rate limited or Cobot busy: the rest waits for the next run
    return passes, calls


def _time_pass_candidates(*, space: Space, records, sessions, since, now) -> list[str]:
    local = {
        cobot_id: (unused, synced_at)
        for cobot_id, unused, synced_at in Membership.objects.filter(space=space).values_list(
            "cobot_id", "unused_time_passes", "time_passes_synced_at"
        )
    }
    used_a_pass = set()
    for session in sessions:
        # The window also returns check-ins still open from before it; only new ones used a pass since.
        if isinstance(session, dict) and session.get("time_pass"):
            try:
                began = cobot_datetime(session.get("valid_from"))
            except ServiceError:
                began = None
            if began is None or began >= since:
                used_a_pass.add(nested_id(session, "membership"))
    unknown, used, stale = [], [], []
    for record in records:
        unused, synced_at = local.get(record.cobot_id, (None, None))
        on_pass_plan = bool(record.plan and record.plan.has_time_passes)
        if not on_pass_plan and unused is None:
            continue
        if unused is None:
            unknown.append(record.cobot_id)
        elif record.cobot_id in used_a_pass:
            used.append(record.cobot_id)
        elif synced_at is None or synced_at < now - TIME_PASS_STALE_AFTER:
            stale.append((synced_at or now - timedelta(days=3650), record.cobot_id))
    return unknown + used + [cobot_id for _, cobot_id in sorted(stale)]


# --- step 2: reconcile the local rows ----------------------------------------------------------------
def sync_apply(*, space: Space, fetched: dict) -> dict:
    """Reconcile the mirror with what `sync_fetch` saw; store and return the counts."""
    started, errors = fetched["started"], fetched["errors"]
    if fetched["time_zone"]:
        space.time_zone = fetched["time_zone"]
    with transaction.atomic():
        context = _Context(space=space, started=started, today=space_today(space, started), errors=errors)
        plans = _plans_reconcile(context, fetched["plans"])
        memberships = _memberships_reconcile(context, plans, fetched)
        tokens = _tokens_reconcile(context, fetched["tokens"])
        bookings = _bookings_reconcile(context, fetched["bookings"], fetched["window"])
        counts = {"memberships": memberships, "plans": plans.counts, "checkin_tokens": tokens, "bookings": bookings}
        result = {
            "changed_rows": _changed_rows(**counts),
            **counts,
            "time_passes": {"refreshed": len(fetched["passes"]), "pending": fetched["passes_pending"]},
            "subscriptions": fetched["subscriptions"],
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


def _changed_rows(*, memberships, plans, checkin_tokens, bookings) -> int:
    members = memberships["created"] + memberships["updated"] + memberships["ended"]
    return members + sum(plans.values()) + sum(checkin_tokens.values()) + sum(bookings.values())


class _Plans:
    def __init__(self, local: dict[str, Plan], counts: dict):
        self.local, self.counts = local, counts


def _plans_reconcile(context: _Context, rows: list) -> _Plans:
    space = context.space
    counts = {"created": 0, "updated": 0, "inactive": 0}
    local = {p.cobot_id: p for p in Plan.objects.select_for_update().filter(space=space)}
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
    local = {m.cobot_id: m for m in Membership.objects.select_for_update().filter(space=space)}
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
