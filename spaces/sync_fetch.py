"""Step 1 of the full sync: every Cobot call, a bounded number however many members there are.

Calls per run (FIXED_CALLS = 8): space details (its time zone), plans, memberships (ONE call: Cobot
limits GET /api/memberships to about 6/min, so never one per member), check-in tokens, bookings from
now - BOOKING_LOOKBACK to + BOOKING_WINDOW_DAYS, work sessions since the last sync, drop-in passes, and
webhook subscriptions; then at most TIME_PASS_REFRESHES_PER_SYNC unused-time-pass lookups. That is at most
8 + 20 = 28 calls per space per run, well inside Cobot's ~60/min per user. Only when Cobot deactivated
or lost some of our webhook subscriptions (it deactivates one after ~20 h of failed deliveries), or
refused an event before (services.subscriptions_ensure tries it again), does the run repair them: one
delete per deactivated or stale one of ours and one create per missing event (15 events), reported in
last_sync_result["subscriptions"].

Each list is a part (SYNC_PARTS, named as in spaces.cobot.features): a part Cobot refuses (a 404 for an
endpoint this Cobot lacks, a 403 for a scope the token lacks, a 5xx) is reported with its error
(spaces.feature_problems) and tried again by the next run; the parts that worked are applied. Only a
401 (the token is gone: "reconnect needed") stops the whole run.

Unused time passes have no bulk endpoint (one call per member), so they are refreshed only where
needed, most useful first, up to the cap; the rest waits for the next run (every 15 minutes):
  1. members of a plan with time passes whose count we don't know yet;
  2. members who used a time pass since the last sync (the work sessions list says so, one call);
  3. counts older than TIME_PASS_STALE_AFTER, oldest first (e.g. a monthly allowance renewed).
Between runs the membership_added/removed_time_passes webhooks keep counts current; where Cobot
refused those events, counts are stale after TIME_PASS_STALE_AFTER_WITHOUT_EVENTS instead.
With the cap of 20 per 15-minute run, 1,920 counts a day can be refreshed per space.
"""

import time
from datetime import timedelta

from django.utils import timezone

from accessbridge.http import ServiceError
from spaces.cobot import client
from spaces.cobot.records import cobot_datetime, membership_record, nested_id, space_time_zone
from spaces.mirror import TIME_PASS_EVENTS
from spaces.models import CobotSubscription, Membership, Space
from spaces.services import subscriptions_ensure

FIXED_CALLS = 8
SYNC_PARTS = (
    "plans", "memberships", "checkin_tokens", "bookings", "work_sessions", "drop_in_passes", "subscriptions",
)  # fmt: skip
BOOKING_WINDOW_DAYS = 30
# unverified whether bookings?from&to lists bookings overlapping the window or starting inside it:
# asking from a day back keeps today's bookings in progress listed under either reading.
BOOKING_LOOKBACK = timedelta(days=1)
TIME_PASS_REFRESHES_PER_SYNC = 20
TIME_PASS_STALE_AFTER = timedelta(hours=24)
# When this Cobot refused the time-pass webhook events, the sync is all that notices new passes.
TIME_PASS_STALE_AFTER_WITHOUT_EVENTS = timedelta(hours=1)


class SyncErrors(list):
    def note(self, what: str, exc: Exception) -> None:
        message = getattr(exc, "message", None) or str(exc)
        self.append(f"{what}: {message}")


class _Parts:
    """Runs each part; remembers per part None (worked) or the error that stopped it."""

    def __init__(self, errors: SyncErrors):
        self.errors = errors
        self.outcomes: dict[str, ServiceError | None] = {}

    def fetch(self, part: str, call):
        try:
            value = call()
        except ServiceError as exc:
            if exc.status == 401:
                raise  # the token is gone: the space is marked "reconnect needed" already
            self.outcomes[part] = exc
            self.errors.note(part.replace("_", " "), exc)
            return None
        self.outcomes[part] = None
        return value


def sync_fetch(*, space: Space, started=None) -> dict:
    """Everything the sync needs from Cobot (and the repair of our webhook subscriptions there).

    A part that failed is None in the result (apply leaves its rows alone); `outcomes` says why.
    """
    started = started or timezone.now()
    clock = time.monotonic()
    errors = SyncErrors()
    parts = _Parts(errors)
    time_zone = _time_zone_fetch(space, errors)
    plans = parts.fetch("plans", lambda: client.plans_list(space=space))
    memberships = parts.fetch("memberships", lambda: client.memberships_list(space=space))
    tokens = parts.fetch("checkin_tokens", lambda: client.checkin_tokens_list(space=space))
    window_start, window_end = started - BOOKING_LOOKBACK, started + timedelta(days=BOOKING_WINDOW_DAYS)
    bookings = parts.fetch("bookings", lambda: client.bookings_list(space=space, starts=window_start, ends=window_end))
    # Check-ins that began since the last run (API 1 times have whole seconds: overlap a little).
    since = (space.last_synced_at or started - timedelta(days=1)) - timedelta(minutes=1)
    sessions = parts.fetch(
        "work_sessions",
        lambda: client.work_sessions_list(space=space, starts=since, ends=started + timedelta(minutes=1)),
    )
    drop_in_passes = parts.fetch("drop_in_passes", lambda: client.drop_in_passes_list(space=space))
    subscriptions = parts.fetch("subscriptions", lambda: subscriptions_ensure(space=space)) or {}
    calls = FIXED_CALLS + sum(subscriptions.get(k, 0) for k in ("created", "deleted", "refused"))

    records, listed_ids = [], None
    if memberships is not None:
        for row in memberships:
            try:
                records.append(membership_record(row))
            except ServiceError as exc:
                errors.note(f"membership {row.get('id', '?') if isinstance(row, dict) else '?'}", exc)
        # Every id Cobot listed counts as current, even one whose record we could not read.
        listed_ids = {str(row.get("id")) for row in memberships if isinstance(row, dict) and row.get("id")}

    wanted = _time_pass_candidates(space=space, records=records, sessions=sessions or [], since=since, now=started)
    passes, lookups = _time_passes_fetch(space, wanted[:TIME_PASS_REFRESHES_PER_SYNC], parts)
    return {
        "started": started,
        "clock": clock,
        "time_zone": time_zone,
        "plans": plans,
        "records": records,
        "listed_ids": listed_ids,
        "tokens": tokens,
        "bookings": bookings,
        "drop_in_passes": drop_in_passes,
        "passes": passes,
        "passes_pending": max(0, len(wanted) - len(passes)),
        "window": (window_start, window_end),
        "subscriptions": subscriptions,
        "outcomes": parts.outcomes,
        "errors": errors,
        "calls": calls + lookups,
    }


def _time_zone_fetch(space: Space, errors: SyncErrors) -> str | None:
    try:
        details = client.space_get(subdomain=space.subdomain, token=space.access_token)
    except ServiceError as exc:
        errors.note("space details", exc)
        return None
    return space_time_zone(details)


def _time_passes_fetch(space: Space, cobot_ids: list[str], parts: _Parts) -> tuple[dict[str, int], int]:
    passes: dict[str, int] = {}
    calls = 0
    for cobot_id in cobot_ids:
        try:
            calls += 1
            passes[cobot_id] = len(client.time_passes_unused(space=space, membership_cobot_id=cobot_id))
        except ServiceError as exc:
            if exc.status == 401:
                raise
            if exc.status in (403, 404) and not passes:
                # Refused for the first member asked: the feature, not this member (a scope, an endpoint).
                parts.outcomes["time_passes"] = exc
                parts.errors.note("time passes", exc)
                break
            parts.errors.note(f"time passes of membership {cobot_id}", exc)
            if exc.transient:
                break  # rate limited or Cobot busy: the rest waits for the next run
    if passes:
        parts.outcomes["time_passes"] = None
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
    stale_after = TIME_PASS_STALE_AFTER
    if CobotSubscription.objects.filter(space=space, event__in=TIME_PASS_EVENTS).exclude(refusal="").exists():
        stale_after = TIME_PASS_STALE_AFTER_WITHOUT_EVENTS
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
        elif synced_at is None or synced_at < now - stale_after:
            stale.append((synced_at or now - timedelta(days=3650), record.cobot_id))
    return unknown + used + [cobot_id for _, cobot_id in sorted(stale)]
