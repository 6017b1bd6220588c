"""Parakey event logs → VendorEvents, for polled pages and webhook bodies alike (one event log each).

Only `id`, `createdAt` (when Parakey stored it) and `timestamp` (when the door was unlocked) are named in
Parakey's help center; the user, access and type fields are inferred (api.py) and read defensively. The
user is identified by email, as AccessBridge registers members by email. An event log that cannot be used
(no id, an unreadable time, an unlock naming no user) becomes an event with a `problem`: stored as a failed
delivery that says why, never a check-in, never a 500.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from django.utils import timezone

from locks.vendors.base import (
    EVENT_KINDS_ACTED_ON,
    EventKind,
    VendorEvent,
    event_kind_from,
    vendor_time_parse,
)
from locks.vendors.parakey import api

# Parakey's words for what happened (inferred; any other word is stored as ignored).
EVENT_KINDS = {
    "unlock": EventKind.UNLOCK,
    "unlocked": EventKind.UNLOCK,
    "unlock_success": EventKind.UNLOCK,
    "access_denied": EventKind.DENIED,
    "denied": EventKind.DENIED,
    "unlock_denied": EventKind.DENIED,
    "unlock_failed": EventKind.DENIED,
    "lock": EventKind.LOCKED,
    "locked": EventKind.LOCKED,
}


def event_log_parse(entry) -> VendorEvent:
    if not isinstance(entry, dict):
        return VendorEvent(
            event_id=_derived_id(entry),
            occurred_at=timezone.now(),
            kind=EventKind.UNKNOWN,
            raw={"event_log": entry},
            problem="the event log is not a JSON object",
        )
    problems = []
    event_id = text_value(entry.get("id"))
    if not event_id:
        problems.append("the event log has no id")
    word = _first(entry, api.EVENT_KIND_FIELDS)
    kind = event_kind_from(word, EVENT_KINDS)
    occurred_at, time_problem = _occurred_at(entry, kind)
    person_ref = _person_ref(entry)
    if kind in EVENT_KINDS_ACTED_ON and not person_ref:
        problems.append("the event log names no user")
    return VendorEvent(
        event_id=event_id or _derived_id(entry),
        occurred_at=occurred_at,
        kind=kind,
        person_ref=person_ref,
        door_ref=_door_ref(entry),
        vendor_kind=text_value(word)[:100],
        raw=entry,
        problem="; ".join([*problems, *filter(None, [time_problem])]),
    )


def event_log_created_at(entry) -> datetime | None:
    """When Parakey stored the event log (the polling cursor), or None when it does not say readably."""
    return vendor_time_parse(entry.get("createdAt")) if isinstance(entry, dict) else None




def time_format(value: datetime) -> str:
    """ISO 8601 in UTC, as Parakey's dates are written."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _occurred_at(entry: dict, kind: EventKind) -> tuple[datetime, str]:
    """The door's own time (`timestamp`); createdAt stands in only for kinds we do not act on."""
    value = entry.get("timestamp")
    parsed = vendor_time_parse(value)
    if parsed is not None:
        return parsed, ""
    if value not in (None, ""):
        return timezone.now(), f"its timestamp {str(value)[:40]!r} is not an ISO 8601 time"
    if kind in EVENT_KINDS_ACTED_ON:
        return timezone.now(), "the event log has no timestamp"
    return event_log_created_at(entry) or timezone.now(), ""


def _person_ref(entry: dict) -> str:
    """The user's email (lower-cased), else their Parakey id (which then matches no member: unmatched)."""
    user = _first(entry, api.EVENT_USER_FIELDS)
    user = user if isinstance(user, dict) else {}
    email = text_value(user.get("email")) or text_value(_first(entry, api.EVENT_USER_EMAIL_FIELDS))
    if email:
        return email.lower()[:200]
    return text_value(user.get("id") or _first(entry, api.EVENT_USER_ID_FIELDS))[:200]


def _door_ref(entry: dict) -> str:
    access = _first(entry, api.EVENT_ACCESS_FIELDS)
    if isinstance(access, dict):
        return text_value(access.get("id", access.get("accessId")))[:200]
    return text_value(_first(entry, api.EVENT_ACCESS_ID_FIELDS))[:200]


def _first(entry: dict, names: tuple[str, ...]):
    return next((entry[name] for name in names if entry.get(name) not in (None, "")), None)


def text_value(value) -> str:
    """A string or integer field as stripped text; "" for anything else (booleans, objects, null)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def _derived_id(entry) -> str:
    """An id for an event log that has none: the same body sent again is the same event."""
    body = json.dumps(entry, sort_keys=True, default=str)
    return f"sha256:{hashlib.sha256(body.encode()).hexdigest()[:40]}"
