"""Full sync of a space's mirror: a bounded number of Cobot calls, however many members there are.

Calls per run: plans, memberships (ONE call: Cobot limits GET /api/memberships to about 6/min, so
never one per member), check-in tokens, bookings from now to +BOOKING_WINDOW_DAYS, work sessions since
the last sync, and at most TIME_PASS_REFRESHES_PER_SYNC unused-time-pass lookups. That is at most
5 + 20 = 25 calls per space per run, well inside Cobot's ~60/min per user.

Unused time passes have no bulk endpoint (one call per member), so they are refreshed only where
needed, most useful first, up to the cap; the rest waits for the next run (every 15 minutes):
  1. members of a plan with time passes whose count we don't know yet;
  2. members who used a time pass since the last sync (the work sessions list says so, one call);
  3. counts older than TIME_PASS_STALE_AFTER, oldest first (e.g. a monthly allowance renewed).
Between runs the membership_added/removed_time_passes webhooks keep counts current.
With the cap of 20 per 15-minute run, 1,920 counts a day can be refreshed per space.

All HTTP happens first; the local rows are then reconciled in one transaction, and
mirror_changed(full=True) is sent once after commit.
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
)
from spaces.mirror import (
    CURRENT_STATUSES,
    MEMBERSHIP_FIELDS,
    booking_values,
    checkin_tokens_reconcile,
    membership_values,
    orphans_link,
    plan_values,
    values_assign,
)
from spaces.models import Booking, Membership, Plan, Space
from spaces.signals import mirror_changed

BOOKING_WINDOW_DAYS = 30
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
    started = time.monotonic()
    now = timezone.now()
    try:
        fetched = _fetch(space=space, now=now)
    except ServiceError as exc:
        result = {"ok": False, "error": str(exc), "at": now.isoformat()}
        Space.objects.filter(pk=space.pk).update(last_sync_result=result)
        raise
    with transaction.atomic():
        result, changed_ids = _reconcile(space=space, now=now, **fetched)
        result.update(
            ok=not result["errors"],
            at=now.isoformat(),
            cobot_calls=fetched["calls"],
            seconds=round(time.monotonic() - started, 2),
        )
        Space.objects.filter(pk=space.pk).update(last_synced_at=now, last_sync_result=result)
        space.last_synced_at, space.last_sync_result = now, result
        transaction.on_commit(
            partial(
                mirror_changed.send,
                sender=Space,
                space=space,
                membership_ids=sorted(changed_ids),
                reason="full_sync",
                full=True,
            )
        )
    return result


def _fetch(*, space: Space, now) -> dict:
    errors = _Errors()
    plans = client.plans_list(space=space)
    memberships = client.memberships_list(space=space)
    tokens = client.checkin_tokens_list(space=space)
    bookings = client.bookings_list(space=space, starts=now, ends=now + timedelta(days=BOOKING_WINDOW_DAYS))
    # Check-ins that began since the last run (API 1 times have whole seconds: overlap a little).
    since = (space.last_synced_at or now - timedelta(days=1)) - timedelta(minutes=1)
    sessions = client.work_sessions_list(space=space, starts=since, ends=now + timedelta(minutes=1))
    calls = 5

    records = []
    for row in memberships:
        try:
            records.append(membership_record(row))
        except ServiceError as exc:
            errors.note(f"membership {row.get('id', '?') if isinstance(row, dict) else '?'}", exc)
    # Every id Cobot listed counts as current, even one whose record we could not read.
    listed_ids = {str(row.get("id")) for row in memberships if isinstance(row, dict) and row.get("id")}

    passes: dict[str, int] = {}
    wanted = _time_pass_candidates(space=space, records=records, sessions=sessions, since=since, now=now)
    for cobot_id in wanted[:TIME_PASS_REFRESHES_PER_SYNC]:
        try:
            calls += 1
            passes[cobot_id] = len(client.time_passes_unused(space=space, membership_cobot_id=cobot_id))
        except ServiceError as exc:
            if exc.is_auth:
                raise
            errors.note(f"time passes of membership {cobot_id}", exc)
            if exc.transient:
                break  # rate limited or Cobot busy: the rest waits for the next run
    return {
        "plans": plans,
        "records": records,
        "listed_ids": listed_ids,
        "tokens": tokens,
        "bookings": bookings,
        "passes": passes,
        "passes_pending": max(0, len(wanted) - len(passes)),
        "window_end": now + timedelta(days=BOOKING_WINDOW_DAYS),
        "errors": errors,
        "calls": calls,
    }


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


def _reconcile(
    *, space, now, plans, records, listed_ids, tokens, bookings, passes, passes_pending, window_end, errors, calls
) -> tuple[dict, set[int]]:
    today = timezone.localdate(now)
    changed_ids: set[int] = set()

    # Plans
    plan_counts = {"created": 0, "updated": 0, "inactive": 0}
    local_plans = {p.cobot_id: p for p in Plan.objects.filter(space=space)}
    seen_plans = set()
    for row in plans:
        try:
            record = plan_record(row)
        except ServiceError as exc:
            errors.note("plan", exc)
            continue
        seen_plans.add(record.cobot_id)
        plan = local_plans.get(record.cobot_id)
        if plan is None:
            local_plans[record.cobot_id] = Plan.objects.create(space=space, cobot_id=record.cobot_id, **plan_values(record))
            plan_counts["created"] += 1
        elif values_assign(plan, plan_values(record)):
            plan.save()
            plan_counts["updated"] += 1
    for cobot_id, plan in local_plans.items():
        if cobot_id not in seen_plans and plan.active:
            plan.active = False
            plan.save(update_fields=["active", "updated_at"])
            plan_counts["inactive"] += 1

    # Memberships
    counts = {"created": 0, "updated": 0, "ended": 0, "unchanged": 0, "listed": len(listed_ids)}
    local = {m.cobot_id: m for m in Membership.objects.filter(space=space)}
    new, dirty = [], []
    for record in records:
        plan = None
        if record.plan:
            plan = local_plans.get(record.plan.cobot_id)
            if plan is None:  # a plan Cobot's plan list does not show (e.g. hidden): use the member's copy
                plan = local_plans[record.plan.cobot_id] = Plan.objects.create(
                    space=space, cobot_id=record.plan.cobot_id, **{**plan_values(record.plan), "active": False}
                )
        values = membership_values(record, plan=plan, today=today)
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
        changed = values_assign(membership, values)
        if record.cobot_id in passes:
            membership.time_passes_synced_at = now
        if changed:
            membership.synced_at = now
            counts["updated"] += 1
            changed_ids.add(membership.pk)
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
    # Not in Cobot's list of current memberships any more: ended (canceled_to passed, or removed).
    gone = [
        m.pk for cobot_id, m in local.items() if cobot_id not in listed_ids and m.status in CURRENT_STATUSES
    ]
    if gone:
        Membership.objects.filter(pk__in=gone).update(status=Membership.Status.ENDED, synced_at=now, updated_at=now)
        counts["ended"] = len(gone)
        changed_ids.update(gone)
    if new:
        changed_ids.update(
            Membership.objects.filter(space=space, cobot_id__in=[m.cobot_id for m in new]).values_list("pk", flat=True)
        )
        orphans_link(space=space)

    # Check-in tokens
    token_records = []
    for row in tokens:
        try:
            token_records.append(checkin_token_record(row))
        except ServiceError as exc:
            errors.note("check-in token", exc)
    token_counts, touched = checkin_tokens_reconcile(space=space, records=token_records)
    changed_ids.update(touched)

    # Bookings overlapping [now, window_end]
    booking_counts = {"created": 0, "updated": 0, "deleted": 0}
    members = dict(Membership.objects.filter(space=space).values_list("cobot_id", "pk"))
    local_bookings = {
        b.cobot_id: b
        for b in Booking.objects.filter(space=space, status=Booking.Status.ACTIVE, ends_at__gt=now, starts_at__lt=window_end)
    }
    listed_bookings = {str(row["id"]) for row in bookings if isinstance(row, dict) and row.get("id")}
    known_bookings = {b.cobot_id: b for b in Booking.objects.filter(space=space, cobot_id__in=listed_bookings)}
    seen_bookings, new_bookings = set(), []
    for row in bookings:
        try:
            record = booking_record(row)
        except ServiceError as exc:
            errors.note("booking", exc)
            if isinstance(row, dict) and row.get("id"):
                seen_bookings.add(str(row["id"]))
            continue
        seen_bookings.add(record.cobot_id)
        values = booking_values(record, membership_id=members.get(record.membership_cobot_id), status=Booking.Status.ACTIVE)
        booking = local_bookings.get(record.cobot_id) or known_bookings.get(record.cobot_id)
        if booking is None:
            booking = Booking(space=space, cobot_id=record.cobot_id, **values)
            new_bookings.append(booking)
        elif values_assign(booking, values):
            booking.save()
            booking_counts["updated"] += 1
        else:
            continue
        if booking.membership_id:
            changed_ids.add(booking.membership_id)
    if new_bookings:
        Booking.objects.bulk_create(new_bookings, batch_size=500, ignore_conflicts=True)
        booking_counts["created"] = len(new_bookings)
    for cobot_id, booking in local_bookings.items():
        if cobot_id not in seen_bookings:
            booking.status = Booking.Status.DELETED
            booking.save(update_fields=["status", "updated_at"])
            booking_counts["deleted"] += 1
            if booking.membership_id:
                changed_ids.add(booking.membership_id)

    changed_rows = (
        sum(plan_counts.values())
        + counts["created"] + counts["updated"] + counts["ended"]
        + sum(token_counts.values())
        + sum(booking_counts.values())
    )  # fmt: skip
    result = {
        "changed_rows": changed_rows,
        "memberships": counts,
        "plans": plan_counts,
        "checkin_tokens": token_counts,
        "bookings": booking_counts,
        "time_passes": {"refreshed": len(passes), "pending": passes_pending},
        "errors": errors[:MAX_ERRORS_KEPT],
        "error_count": len(errors),
    }
    return result, changed_ids
