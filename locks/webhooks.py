"""Vendor webhooks → stored deliveries. Authenticate (secret path, then the vendor's own check), store,
answer; the check-in at Cobot happens in a worker (locks.checkins.checkin_from_delivery)."""

import hmac

from accessbridge.webhooks import WebhookError, WebhookView
from locks.checkins import vendor_events_store
from locks.models import LockConnection
from locks.vendors import adapter_for
from locks.vendors.base import Capability, WebhookRejected


class VendorWebhookView(WebhookView):
    def authenticate(self, request, *, connection_key, secret, **kwargs):
        connection = (
            LockConnection.objects.select_related("space").filter(key=connection_key, enabled=True).first()
        )
        expected = connection.webhook_secret if connection else ""
        # Compare even without a connection, so the answer takes as long either way.
        matches = hmac.compare_digest(secret.encode(), (expected or "-").encode())
        if connection is None or not matches:
            raise WebhookError("not found", status=404)
        adapter = adapter_for(connection)
        if not adapter.supports(Capability.WEBHOOKS):
            raise WebhookError("not found", status=404)
        return connection, adapter

    def accept(self, request, context, **kwargs):
        connection, adapter = context
        try:
            events = adapter.webhook_parse(request)
        except WebhookRejected as exc:
            raise WebhookError(str(exc), status=exc.status) from None
        created = vendor_events_store(connection=connection, events=events)
        return {"ok": True, "events": len(events), "new": created}


vendor_webhook = VendorWebhookView.as_view()
