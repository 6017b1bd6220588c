"""Inbound Cobot deliveries: store once, then process with retries.

`delivery_store` is the one way a Cobot webhook enters the system: it stores the raw delivery
under a unique dedupe key (safe under concurrent duplicates), and enqueues its processing after
commit. Processing dispatches by source to the handler registered at start-up (spaces.apps).
Lock vendors' events have their own rows on the door side (locks.checkins.vendor_events_store).
"""

from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accessbridge.webhooks import json_payload_check
from accessbridge.work import WorkPermanentError, WorkStatus
from spaces.models import InboundDelivery

# A delivery is fetched again for its repeats at most once in this long: Cobot repeating one event 100
# times costs two fetches, not one per repeat (its API allows ~60 requests/min per user). A repeat waits
# for the rest of this from when its row was last due (a first repeat much later goes at once).
REPEAT_SETTLE = timedelta(seconds=3)

DeliveryHandler = Callable[..., str | None]
_handlers: dict[str, DeliveryHandler] = {}


def delivery_handler_register(source: str, handler: DeliveryHandler) -> None:
    _handlers[source] = handler


def delivery_process(*, delivery) -> str | None:
    handler = _handlers.get(delivery.source)
    if handler is None:
        raise WorkPermanentError(f"No handler for deliveries from {delivery.source!r}.")
    return handler(delivery=delivery)


def delivery_store(
    *,
    source: str,
    space,
    event: str,
    dedupe_key: str,
    payload: dict,
    rearm: bool = False,
    status: str = WorkStatus.PENDING,
):
    """Store a delivery once per dedupe key; return (delivery, created).

    A repeat of a known key only counts as received again, unless `rearm` (Cobot: deliveries carry
    no id, and processing re-fetches the current state) puts a finished row back in the queue.
    `status=IGNORED` stores an event we don't handle, for the record, without processing it.
    A payload the database cannot hold raises JSONRejected (a 400 in the webhook views); any other
    integrity error is ours and propagates: only a clash on the dedupe key is a duplicate.
    """
    json_payload_check(payload)
    try:
        with transaction.atomic():
            delivery = InboundDelivery.objects.create(
                source=source, space=space, event=event, dedupe_key=dedupe_key, payload=payload,
                status=status,
            )
    except IntegrityError:
        if not InboundDelivery.objects.filter(dedupe_key=dedupe_key).exists():
            raise
        now = timezone.now()
        InboundDelivery.objects.filter(dedupe_key=dedupe_key).update(
            times_received=F("times_received") + 1, received_at=now
        )
        if rearm:
            _finished_rearm(dedupe_key=dedupe_key, now=now)
        delivery = InboundDelivery.objects.get(dedupe_key=dedupe_key)
        if delivery.status == WorkStatus.PENDING and delivery.next_attempt_at <= now:
            delivery.enqueue()
        return delivery, False
    if delivery.status == WorkStatus.PENDING:
        delivery.enqueue()
    return delivery, True


def _finished_rearm(*, dedupe_key: str, now) -> None:
    """Put a finished row back in the queue for a repeat. Only finished rows: a queued one will fetch fresh
    data anyway, and a running one notices the repeat (times_received grew) and comes back once more
    (mirror.cobot_delivery_process). Not sooner than REPEAT_SETTLE after it was last due (a burst of
    repeats settles into one more fetch); the due-work clock sends it then."""
    last_due = InboundDelivery.objects.filter(dedupe_key=dedupe_key).values_list("next_attempt_at", flat=True).first()
    due = max(now, last_due + REPEAT_SETTLE) if last_due else now
    InboundDelivery.objects.filter(dedupe_key=dedupe_key, status__in=[WorkStatus.DONE, WorkStatus.FAILED]).update(
        status=WorkStatus.PENDING, attempts=0, next_attempt_at=due, finished_at=None, updated_at=now
    )
