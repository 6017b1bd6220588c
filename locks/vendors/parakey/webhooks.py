"""Parakey's webhooks: Basic auth we made (Parakey signs nothing), then one event log per POST.

Parakey posts each event log as JSON in the API 1.0 shape and authenticates only by custom headers set in
the webhook's advanced settings (help.parakey.co): AccessBridge makes the user name and password and
compares them in constant time; wrong or missing → 401 and nothing is stored. A body that is not a JSON
object is a 400 (Parakey retries 5 times); an event log that is an object but unusable is stored as failed
(events.py), answered 200 as Parakey advises. Never 410: that would stop the webhook at Parakey.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from django.http import HttpRequest

from accessbridge.webhooks import JSONRejected, json_loads_strict
from locks.vendors.base import VendorEvent, WebhookRejected
from locks.vendors.parakey.events import event_log_parse


def basic_auth_header(*, username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def basic_auth_verify(request: HttpRequest, *, username: str, password: str) -> None:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    try:
        given = base64.b64decode(value.strip(), validate=True) if scheme.lower() == "basic" else b""
    except (binascii.Error, ValueError):
        given = b""
    expected = f"{username}:{password}".encode()
    # Compared even when nothing is stored, so the answer takes as long either way.
    matches = hmac.compare_digest(given, expected)
    if not (username and password and matches):
        raise WebhookRejected("Basic authorization missing or wrong", status=401)


def event_log_from_body(request: HttpRequest) -> list[VendorEvent]:
    try:
        data = json_loads_strict(request.body)
    except JSONRejected as exc:
        raise WebhookRejected(f"event log: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected("the body must be one event log (a JSON object)")
    return [event_log_parse(data)]
