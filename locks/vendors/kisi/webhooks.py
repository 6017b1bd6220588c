"""KISI's Event Webhook (Integrations → "Event Webhook"): verify, then parse into one VendorEvent.

With a signature key configured at KISI (and here), `X-Signature` is the HMAC-SHA256 of the raw body in hex,
compared in constant time; a wrong or missing one is a 401 and nothing is stored. KISI may deliver an event
more than once: its `uuid` is the event id, so a replay is the same delivery. `success: false` is a refused
attempt (DENIED), whatever its `type`, and never checks anyone in.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from django.http import HttpRequest

from accessbridge.webhooks import JSONRejected, json_loads_strict
from locks.vendors.base import EventKind, VendorEvent, WebhookRejected, event_kind_from, vendor_time_parse

SIGNATURE_HEADER = "X-Signature"
EVENT_KINDS = {
    "lock.unlock": EventKind.UNLOCK,
    "lock.access_denied": EventKind.DENIED,  # inferred: refusals seen so far are lock.unlock + success false
}


def signature_verify(request: HttpRequest, key: str) -> None:
    """The body's HMAC-SHA256 (hex) with the connection's signature key; no key configured: nothing to check."""
    if not key:
        return
    given = request.headers.get(SIGNATURE_HEADER, "").strip().lower()
    expected = hmac.new(key.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise WebhookRejected(f"{SIGNATURE_HEADER} missing or wrong", status=401)


def event_parse(request: HttpRequest) -> list[VendorEvent]:
    try:
        data = json_loads_strict(request.body)
    except JSONRejected as exc:
        raise WebhookRejected(f"event: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("event is not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected("event must be a JSON object")
    event_id = _ref(data.get("uuid"))
    if not event_id:
        raise WebhookRejected("uuid is missing")
    success = data.get("success")
    if not isinstance(success, bool):
        raise WebhookRejected("success must be true or false")
    word = data.get("type")
    kind = event_kind_from(word, EVENT_KINDS) if success else EventKind.DENIED
    actor = _ref(data.get("actor_id")) if data.get("actor_type") in ("User", None) else ""
    door = _ref(data.get("object_id")) if data.get("object_type") in ("Lock", None) else ""
    return [
        VendorEvent(
            event_id=event_id,
            occurred_at=_occurred_at(data.get("created_at")),
            kind=kind,
            person_ref=actor,
            door_ref=door,
            vendor_kind=(str(word) if success else f"{word} (refused)")[:100],
            raw=data,
        )
    ]


def _ref(value) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()[:200]


def _occurred_at(value) -> datetime:
    if not isinstance(value, str):
        raise WebhookRejected("created_at must be an ISO 8601 string")
    if (parsed := vendor_time_parse(value)) is None:
        raise WebhookRejected("created_at is not an ISO 8601 time")
    return parsed
