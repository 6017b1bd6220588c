"""Door events → Cobot check-ins: store a vendor's events as deliveries (webhooks and polls alike), then
(in a worker) record each as an AccessEvent, find the member and check them in at Cobot, keeping Cobot's
answer. Only unlocks check in; kinds we do not act on are recorded as ignored."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accessbridge.http import ServiceError
from accessbridge.webhooks import JSONRejected, json_payload_check
from accessbridge.work import WorkStatus
from locks.models import AccessEvent, Door, LockConnection, VendorAccount, VendorDelivery
from locks.vendors import adapter_for
from locks.vendors.base import EVENT_KINDS_ACTED_ON, EventKind, VendorEvent
from spaces.cobot.client import CheckInResult, checkin_by_membership, checkin_by_token
from spaces.localtime import space_today, space_zone
from spaces.models import CheckInToken, Membership
from spaces.selectors import CURRENT_STATUSES


def vendor_events_store(
    *, connection: LockConnection, events: list[VendorEvent], source: str = VendorDelivery.Source.WEBHOOK
) -> int:
    """Store each event once as a VendorDelivery (deduplicated on the vendor's event id) and queue those
    still pending after commit; returns how many were new. Kinds we do not act on are stored IGNORED, with their
    door event recorded for the events page, and never queued."""
    created = 0
    for event in events:
        acted_on = event.kind in EVENT_KINDS_ACTED_ON
        payload = {
            "event_id": event.event_id,
            "occurred_at": event.occurred_at.isoformat(),
            "kind": str(event.kind),
            "vendor_kind": event.vendor_kind,
            "person_ref": event.person_ref,
            "door_ref": event.door_ref,
            "raw": event.raw,
        }
        payload, unstorable = _payload_storable(payload)
        problem = unstorable or event.problem
        delivery, is_new = _delivery_store(
            connection=connection,
            source=source,
            event_key=_event_key(event.event_id),
            kind=str(event.kind),
            payload=payload,
            status=WorkStatus.FAILED if problem else WorkStatus.PENDING if acted_on else WorkStatus.IGNORED,
            last_error=problem[:2000],
        )
        if not acted_on and not problem:
            _event_ignored(connection=connection, payload=payload)
        elif delivery.status == WorkStatus.PENDING:
            delivery.enqueue()
        created += is_new
    return created


def _event_key(event_id: str) -> str:
    return event_id if len(event_id) <= 150 else hashlib.sha256(event_id.encode()).hexdigest()


def _payload_storable(payload: dict) -> tuple[dict, str]:
    """(payload, "") as it is, or with the vendor's raw event replaced and the reason, when the database
    cannot hold it (NaN, Infinity, deep nesting: JSON a poll's answer may carry). Such an event is kept
    as a failed delivery that says why, so that the poll moves on past it instead of failing on it again."""
    try:
        json_payload_check(payload)
    except JSONRejected as exc:
        return {**payload, "raw": None}, f"The vendor's event could not be stored as it came: {exc}."
    return payload, ""


def _delivery_store(*, connection: LockConnection, event_key: str, **fields) -> tuple[VendorDelivery, bool]:
    """The delivery of this event: created, or (a repeat, also under concurrent duplicates) counted again.

    Only a clash on the event key is a repeat: any other integrity error is ours and propagates.
    """
    try:
        with transaction.atomic():
            return VendorDelivery.objects.create(connection=connection, event_key=event_key, **fields), True
    except IntegrityError:
        known = VendorDelivery.objects.filter(connection=connection, event_key=event_key)
        if not known.exists():
            raise
        known.update(times_received=F("times_received") + 1, received_at=timezone.now())
        return known.get(), False


def _event_ignored(*, connection: LockConnection, payload: dict) -> None:
    event = _event_record(connection=connection, payload=payload)
    if event.checkin_result == AccessEvent.CheckIn.PENDING:
        word = payload.get("vendor_kind") or payload.get("kind")
        _event_result(event, AccessEvent.CheckIn.IGNORED, f"{connection.name} reported “{word}”: not an opening")


KNOWN_KINDS = {kind.value for kind in EventKind}
CHECKIN_OUTCOMES = {
    "checked_in": AccessEvent.CheckIn.CHECKED_IN,
    "already": AccessEvent.CheckIn.ALREADY,
    "refused": AccessEvent.CheckIn.REFUSED,
    "not_member": AccessEvent.CheckIn.NOT_MEMBER,
}


VISITOR_NO_CHECKIN = "day visitor: the drop-in pass is their visit at Cobot, no check-in"


def checkin_from_delivery(*, delivery) -> str | None:
    """A vendor's door event: record it, find the member, check them in at Cobot, keep Cobot's answer.

    Idempotent: the event row is unique per connection and vendor event id, and a decided check-in is
    never sent again. An unknown person or door is recorded as "unmatched", a person several members
    could be as "ambiguous"; neither is ever guessed. A member whose vendor id is not (yet) their check-in
    token at Cobot is checked in by membership instead.
    """
    connection = LockConnection.objects.select_related("space").get(pk=delivery.connection_id)
    payload = delivery.payload or {}
    event = _event_record(connection=connection, payload=payload)
    if event.kind not in EVENT_KINDS_ACTED_ON:
        _event_ignored(connection=connection, payload=payload)
        return WorkStatus.IGNORED
    if event.checkin_result not in (AccessEvent.CheckIn.PENDING, AccessEvent.CheckIn.ERROR):
        return None
    if event.kind != AccessEvent.Kind.UNLOCK:
        _event_result(event, AccessEvent.CheckIn.NOT_APPLICABLE, "")
        return None
    door, door_known = _event_door(connection=connection, door_ref=str(payload.get("door_ref") or ""))
    adapter = adapter_for(connection)
    token = (
        adapter.checkin_token_for(vendor_person_id=event.vendor_person_id) if event.vendor_person_id else ""
    )
    membership, ambiguous = _event_membership(
        connection=connection, person_ref=event.vendor_person_id, token=token
    )
    event.door, event.membership = door, membership
    event.save(update_fields=["door", "membership"])
    if ambiguous:
        message = f"several members match person {event.vendor_person_id} at {connection.name}"
        _event_result(event, AccessEvent.CheckIn.AMBIGUOUS, message)
        return None
    if not door_known or membership is None:
        what = "person" if membership is None else "door"
        _event_result(event, AccessEvent.CheckIn.UNMATCHED, f"unknown {what} at {connection.name}")
        return None
    if membership.kind == Membership.Kind.VISITOR:
        # A drop-in pass is the visit at Cobot (spent when bought or on arrival): no door opening that day
        # checks the visitor in a second time.
        _event_result(event, AccessEvent.CheckIn.NOT_APPLICABLE, VISITOR_NO_CHECKIN)
        return None
    if late := _unlock_late(adapter=adapter, connection=connection, event=event):
        _event_result(event, AccessEvent.CheckIn.IGNORED, late)
        return None
    registered = CheckInToken.objects.filter(
        space_id=connection.space_id, token=token, membership_cobot_id=membership.cobot_id
    ).exists()
    membership.space = connection.space
    try:
        if registered:
            result = checkin_by_token(space=connection.space, token=token)
        else:
            result = member_checkin(membership=membership)
    except ServiceError as exc:
        if exc.transient or exc.is_auth:
            raise  # the delivery is retried (or waits for a reconnect); the event stays pending
        _event_result(event, AccessEvent.CheckIn.ERROR, str(exc))
        return None
    _event_result(event, CHECKIN_OUTCOMES.get(result.outcome, AccessEvent.CheckIn.ERROR), result.message)
    return None


def _unlock_late(*, adapter, connection: LockConnection, event: AccessEvent) -> str:
    """Why an unlock reported late does not check in ("" when it does): for vendors whose locks work
    offline and sync hours later, only an unlock of the space's current day is a visit today."""
    if not adapter.checkin_same_day_only:
        return ""
    day = timezone.localtime(event.occurred_at, space_zone(connection.space)).date()
    if day == space_today(connection.space):
        return ""
    return (
        f"unlocked on {day:%Y-%m-%d} (the space's time), reported late by {connection.name}: "
        "only unlocks of the current day check in at Cobot"
    )


def _event_record(*, connection: LockConnection, payload: dict) -> AccessEvent:
    kind = payload.get("kind") if payload.get("kind") in KNOWN_KINDS else EventKind.UNKNOWN
    occurred_at = _parse_time(payload.get("occurred_at")) or timezone.now()
    vendor_event_id = str(payload.get("event_id") or "")[:200]
    try:
        with transaction.atomic():
            event, _ = AccessEvent.objects.get_or_create(
                connection=connection,
                vendor_event_id=vendor_event_id,
                defaults={
                    "kind": kind,
                    "occurred_at": occurred_at,
                    "vendor_person_id": str(payload.get("person_ref") or "")[:200],
                    "raw": payload.get("raw") or {},
                },
            )
    except IntegrityError:
        event = AccessEvent.objects.get(connection=connection, vendor_event_id=vendor_event_id)
    return event


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _event_door(*, connection: LockConnection, door_ref: str) -> tuple[Door | None, bool]:
    """The door named by the event. No door named: the connection's only door, else none (still known)."""
    if door_ref:
        door = Door.objects.filter(connection=connection, vendor_ref=door_ref).first()
        return door, door is not None
    doors = list(Door.objects.filter(connection=connection)[:2])
    return (doors[0] if len(doors) == 1 else None), True


def _event_membership(
    *, connection: LockConnection, person_ref: str, token: str
) -> tuple[Membership | None, bool]:
    """The member behind a vendor person id, or (None, True) when several members match equally.

    Most telling first: a current member's live account with that person id (where several memberships
    share one person, the one Cobot has the id as check-in token for); then the member Cobot has it as
    check-in token for; then any account that ever had it (a former member: Cobot will say so).
    """
    if not person_ref:
        return None, False
    Status = VendorAccount.Status
    accounts = Membership.objects.filter(
        vendor_accounts__connection=connection, vendor_accounts__vendor_person_id=person_ref
    )
    token_holders = Membership.objects.filter(
        checkin_tokens__space_id=connection.space_id, checkin_tokens__token=token
    )
    current = accounts.filter(
        status__in=CURRENT_STATUSES, vendor_accounts__status__in=[Status.ACTIVE, Status.PAUSED]
    )
    for candidates in (current, token_holders, accounts):
        members = list(candidates.distinct()[:2])
        if len(members) > 1 and candidates is current:
            narrowed = list(current.filter(pk__in=token_holders.values("pk")).distinct()[:2])
            members = narrowed if len(narrowed) == 1 else members
        if len(members) == 1:
            return members[0], False
        if members:
            return None, True
    return None, False


def _event_result(event: AccessEvent, result: str, message: str) -> None:
    event.checkin_result, event.checkin_message = result, message[:2000]
    event.save(update_fields=["checkin_result", "checkin_message"])


def member_checkin(*, membership: Membership, seconds: float | None = None) -> CheckInResult:
    """Check a member in: by one of their check-in tokens (Cobot API 2 answers with a reason), or
    by membership for members who have none (vendors without person ids: remote open only)."""
    token = (
        CheckInToken.objects.filter(space_id=membership.space_id, membership_cobot_id=membership.cobot_id)
        .order_by("pk")
        .values_list("token", flat=True)
        .first()
    )
    if token is not None:
        return checkin_by_token(space=membership.space, token=token, seconds=seconds)
    return checkin_by_membership(
        space=membership.space, membership_cobot_id=membership.cobot_id, seconds=seconds
    )
