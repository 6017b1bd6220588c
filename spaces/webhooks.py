"""Cobot webhook intake: authenticate, check, store, answer 2xx. Processing is a worker's job (mirror)."""

import hashlib
import hmac
import json

from django.http import HttpRequest

from accessbridge.webhooks import WebhookError, WebhookView, json_body
from accessbridge.work import WorkStatus
from spaces.inbound import delivery_store
from spaces.mirror import SUBSCRIBED_EVENTS, delivery_payload_check
from spaces.models import InboundDelivery, Space

# Compared against when the space key is unknown, so a wrong key and a wrong secret take equally long.
_NO_SECRET = "x" * 43


def cobot_dedupe_key(*, space: Space, event: str, payload: dict) -> str:
    """Cobot's deliveries carry no id: the same event with the same body is the same delivery."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{space.pk}\n{event}\n{body}".encode()).hexdigest()
    return f"cobot:{digest}"


class CobotWebhookView(WebhookView):
    def authenticate(self, request: HttpRequest, *, space_key, secret: str, event: str, **kwargs) -> Space:
        space = Space.objects.filter(key=space_key).exclude(status=Space.Status.DISCONNECTED).first()
        expected = space.webhook_secret if space else _NO_SECRET
        if not hmac.compare_digest(secret.encode(), expected.encode()) or space is None:
            raise WebhookError("not found", status=404)
        return space

    def accept(self, request: HttpRequest, space: Space, *, event: str, **kwargs) -> dict:
        payload = json_body(request)
        dedupe_key = cobot_dedupe_key(space=space, event=event, payload=payload)
        common = {"source": InboundDelivery.Source.COBOT, "space": space, "event": event[:100], "payload": payload}
        if event not in SUBSCRIBED_EVENTS:
            delivery_store(**common, dedupe_key=dedupe_key, status=WorkStatus.IGNORED)
            return {"ok": True, "ignored": True}
        try:
            delivery_payload_check(space=space, event=event, payload=payload)
        except ValueError as exc:
            raise WebhookError(str(exc)) from None
        delivery_store(**common, dedupe_key=dedupe_key, rearm=True)
        return {"ok": True}


cobot_webhook = CobotWebhookView.as_view()
