"""The mirror: Cobot's memberships, plans, bookings and check-in tokens kept in local rows.

A Cobot webhook says only "this changed" (a `url`), so processing fetches the current state with the
space's own token and upserts it; delete events carry the object itself. Processing is idempotent:
a repeated delivery fetches and writes the same values. After each processed delivery the mirror
sends `spaces.signals.mirror_changed` once, after commit. `spaces.sync` reuses the value functions
below for the full sync. This module never imports `locks`.
"""

import re
from datetime import date, datetime
from functools import partial
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from accessbridge.http import ServiceError
from accessbridge.work import WorkDeferred, WorkPermanentError, WorkStatus, WorkWaiting
from spaces.admins import ADMIN_EVENTS, admin_event_process
from spaces.cobot import client
from spaces.cobot.records import (
    BookingRecord,
    CheckInTokenRecord,
    MembershipRecord,
    PlanRecord,
    booking_record,
    checkin_token_record,
    membership_record,
    nested_id,
    record_id,
)
from spaces.drop_in_passes import DROP_IN_PASS_EVENTS, PassesUnreadable, drop_in_pass_event_process
from spaces.inbound import REPEAT_SETTLE
from spaces.localtime import space_today
from spaces.models import Booking, CheckInToken, Membership, Plan, Space
from spaces.signals import mirror_changed

MEMBERSHIP_EVENTS = (
    "confirmed_membership",
    "canceled_membership",
    "uncanceled_membership",
    "reactivated_membership",
    "membership_cancellation_date_reached",
    "changed_membership_plan",
    "membership_plan_change_date_reached",
)
TIME_PASS_EVENTS = ("membership_added_time_passes", "membership_removed_time_passes")
BOOKING_EVENTS = ("created_booking", "updated_booking")
CHECKIN_TOKEN_EVENTS = ("created_checkin_token", "deleted_checkin_token")
# Delete events carry the deleted object under this key instead of a url (cobot-api.md).
DELETED_OBJECT_KEYS = {"deleted_membership": "membership", "deleted_booking": "booking"}


# --- values: shared by webhook processing and the full sync ---------------------------------------
def membership_status(*, confirmed_at: datetime | None, canceled_to: date | None, today: date) -> str:
    """Cobot keeps a canceled membership current up to and including its canceled_to day."""
    if canceled_to is not None and canceled_to < today:
        return Membership.Status.ENDED
    if confirmed_at is None:
        return Membership.Status.PENDING
    if canceled_to is not None:
        return Membership.Status.CANCELED
    return Membership.Status.CONFIRMED


MEMBERSHIP_FIELDS = (
    "cobot_user_id", "name", "email", "plan_id", "plan_name", "status", "confirmed_at", "starts_at", "canceled_to",
    "raw",
)  # fmt: skip


def membership_values(record: MembershipRecord, *, plan: Plan | None, today: date) -> dict:
    return {
        "cobot_user_id": record.cobot_user_id,
        "name": record.name,
        "email": record.email,
        "plan_id": plan.pk if plan else None,
        "plan_name": record.plan.name if record.plan else "",
        "status": membership_status(confirmed_at=record.confirmed_at, canceled_to=record.canceled_to, today=today),
        "confirmed_at": record.confirmed_at,
        "starts_at": record.starts_at,
        "canceled_to": record.canceled_to,
        "raw": record.raw,
    }


def plan_values(record: PlanRecord) -> dict:
    return {"name": record.name, "has_time_passes": record.has_time_passes, "active": True, "raw": record.raw}


def booking_values(record: BookingRecord, *, membership_id: int | None, status: str) -> dict:
    return {
        "membership_id": membership_id,
        "membership_cobot_id": record.membership_cobot_id,
        "resource_cobot_id": record.resource_cobot_id,
        "resource_name": record.resource_name,
        "title": record.title,
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "status": status,
        "raw": record.raw,
    }


def values_assign(obj, values: dict) -> bool:
    """Set the values that differ; True if any did (so unchanged rows are never written)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


# --- upserts ---------------------------------------------------------------------------------------
def plan_for_membership(*, space: Space, record: MembershipRecord) -> Plan | None:
    """The space plan a membership is on; created from the membership's copy if not mirrored yet."""
    if record.plan is None:
        return None
    plan, _ = Plan.objects.get_or_create(
        space=space, cobot_id=record.plan.cobot_id, defaults=plan_values(record.plan)
    )
    return plan


def membership_upsert(
    *, space: Space, record: MembershipRecord, unused_time_passes: int | None = None
) -> tuple[Membership, bool]:
    """Write one membership as Cobot has it. `unused_time_passes` only when freshly fetched."""
    now = timezone.now()
    with transaction.atomic():
        plan = plan_for_membership(space=space, record=record)
        values = membership_values(record, plan=plan, today=space_today(space, now))
        if unused_time_passes is not None:
            values["unused_time_passes"] = unused_time_passes
        membership, created = Membership.objects.get_or_create(
            space=space, cobot_id=record.cobot_id, defaults={**values, "synced_at": now}
        )
        changed = created
        if not created:
            membership = Membership.objects.select_for_update().get(pk=membership.pk)
            changed = values_assign(membership, values)
            if changed:
                membership.synced_at = now
                membership.save()
        if unused_time_passes is not None:
            Membership.objects.filter(pk=membership.pk).update(time_passes_synced_at=now)
        if created:
            orphans_link(space=space)
    return membership, changed


def membership_mark_deleted(*, space: Space, cobot_id: str) -> Membership | None:
    membership = Membership.objects.filter(space=space, cobot_id=cobot_id).first()
    if membership and membership.status != Membership.Status.DELETED:
        membership.status = Membership.Status.DELETED
        membership.synced_at = timezone.now()
        membership.save(update_fields=["status", "synced_at", "updated_at"])
    return membership


def booking_upsert(*, space: Space, record: BookingRecord, status: str = Booking.Status.ACTIVE) -> Booking:
    membership_id = (
        Membership.objects.filter(space=space, cobot_id=record.membership_cobot_id).values_list("pk", flat=True).first()
        if record.membership_cobot_id
        else None
    )
    values = booking_values(record, membership_id=membership_id, status=status)
    with transaction.atomic():
        booking, created = Booking.objects.get_or_create(space=space, cobot_id=record.cobot_id, defaults=values)
        if not created:
            booking = Booking.objects.select_for_update().get(pk=booking.pk)
            if values_assign(booking, values):
                booking.save()
    return booking


def booking_mark_deleted(*, space: Space, cobot_id: str) -> Booking | None:
    booking = Booking.objects.filter(space=space, cobot_id=cobot_id).first()
    if booking and booking.status != Booking.Status.DELETED:
        booking.status = Booking.Status.DELETED
        booking.save(update_fields=["status", "updated_at"])
    return booking


def checkin_tokens_reconcile(
    *, space: Space, records: list[CheckInTokenRecord], listed_since: datetime | None = None
) -> tuple[dict, set[int]]:
    """Make the space's CheckInToken rows match Cobot's full list. Returns counts and touched member pks.

    `listed_since`: when the list was requested. Rows written at or after it (a token registered by
    checkin_token_ensure, or a webhook) are newer than the list: neither changed nor deleted (counted
    as "newer").
    """
    members = dict(
        Membership.objects.filter(space=space, cobot_id__in={r.membership_cobot_id for r in records}).values_list(
            "cobot_id", "pk"
        )
    )
    counts = {"created": 0, "updated": 0, "deleted": 0, "newer": 0}
    touched: set[int] = set()
    with transaction.atomic():
        existing = {t.token: t for t in CheckInToken.objects.select_for_update().filter(space=space)}
        if listed_since is not None:
            newer = {token for token, t in existing.items() if t.updated_at >= listed_since}
            counts["newer"] = len(newer)
            existing = {token: t for token, t in existing.items() if token not in newer}
        listed, new = set(), {}
        for record in records:
            listed.add(record.token)
            values = {
                "membership_id": members.get(record.membership_cobot_id),
                "membership_cobot_id": record.membership_cobot_id,
                "raw": record.raw,
            }
            row = existing.get(record.token)
            if row is None:
                new[record.token] = CheckInToken(space=space, token=record.token, **values)
            else:
                previous_member = row.membership_id
                if not values_assign(row, values):
                    continue
                row.save()
                counts["updated"] += 1
                touched.add(previous_member)
            touched.add(values["membership_id"])
        if new:
            # A token registered concurrently (checkin_token_ensure) is already right: skip it.
            CheckInToken.objects.bulk_create(new.values(), batch_size=500, ignore_conflicts=True)
            counts["created"] = len(new)
        gone = [t for token, t in existing.items() if token not in listed]
        if gone:
            CheckInToken.objects.filter(pk__in=[t.pk for t in gone]).delete()
            counts["deleted"] = len(gone)
            touched.update(t.membership_id for t in gone)
    touched.discard(None)
    return counts, touched


def orphans_link(*, space: Space) -> None:
    """Bookings and tokens that arrived before their membership: point them at it now."""
    members = dict(Membership.objects.filter(space=space).values_list("cobot_id", "pk"))
    for model in (Booking, CheckInToken):
        for pk, cobot_id in model.objects.filter(space=space, membership__isnull=True).exclude(
            membership_cobot_id=""
        ).values_list("pk", "membership_cobot_id"):
            if cobot_id in members:
                model.objects.filter(pk=pk).update(membership_id=members[cobot_id])


# --- webhook deliveries ----------------------------------------------------------------------------
def delivery_payload_check(*, space: Space, event: str, payload: dict) -> None:
    """Raise ValueError unless the payload is one we may act on (run before storing it).

    A `url` must be on the space's own Cobot host: we fetch it with the space's bearer token.
    """
    if event in ADMIN_EVENTS:
        return  # processing asks Cobot about the space's admins; the payload (shape unknown) is not used
    if event in DROP_IN_PASS_EVENTS:
        return  # processing re-reads the list of passes; the payload (its url's host unknown) is not used
    if "url" in payload:
        if not client.url_is_on_space_host(space, payload["url"]):
            raise ValueError("url is not on this space's Cobot host")
        return
    key = DELETED_OBJECT_KEYS.get(event)
    if key:
        record_id_or_error(payload.get(key), key)
        return
    if event in CHECKIN_TOKEN_EVENTS:
        return  # processing re-reads the whole token list; the payload is not used
    raise ValueError("payload has no url")


def record_id_or_error(data, what: str) -> str:
    try:
        return record_id(data, what)
    except ServiceError as exc:
        raise ValueError(str(exc.message)) from None


def _payload_url(space: Space, payload: dict) -> str:
    url = payload.get("url")
    if not client.url_is_on_space_host(space, url):
        raise WorkPermanentError("The delivery's url is not on the space's Cobot host.")
    return url


def _deleted_id(space: Space, payload: dict, kind: str) -> str:
    """Delete events carry the object itself (cobot-api.md); a url naming it is taken too."""
    if isinstance(payload.get(kind), dict):
        return record_id(payload[kind], kind)
    cobot_id = _id_in_url(_payload_url(space, payload), f"{kind}s")
    if not cobot_id:
        raise WorkPermanentError(f"Cannot tell which {kind} was deleted: the delivery names none.")
    return cobot_id


def _id_in_url(url: str, collection: str) -> str:
    match = re.search(rf"/{collection}/([^/]+)", urlsplit(url).path)
    return match.group(1) if match else ""


def _unused_time_passes_count(*, space: Space, membership_cobot_id: str) -> int:
    return len(client.time_passes_unused(space=space, membership_cobot_id=membership_cobot_id))


def _membership_refresh(*, space: Space, url: str, passes: bool) -> list[int]:
    try:
        data = client.space_resource_get(space=space, url=url)
    except ServiceError as exc:
        if exc.status == 404 and (cobot_id := _id_in_url(url, "memberships")):
            membership = membership_mark_deleted(space=space, cobot_id=cobot_id)
            return [membership.pk] if membership else []
        raise
    record = membership_record(data)
    count = None
    if passes or (record.plan and record.plan.has_time_passes):
        count = _unused_time_passes_count(space=space, membership_cobot_id=record.cobot_id)
    membership, _ = membership_upsert(space=space, record=record, unused_time_passes=count)
    return [membership.pk]


def _on_membership_event(*, space: Space, payload: dict) -> list[int]:
    return _membership_refresh(space=space, url=_payload_url(space, payload), passes=False)


def _on_time_pass_event(*, space: Space, payload: dict) -> list[int]:
    url = _payload_url(space, payload)
    cobot_id = _id_in_url(url, "memberships")
    if not cobot_id:
        # unverified: the url may name the time pass itself, which then says whose it is.
        cobot_id = nested_id(client.space_resource_get(space=space, url=url), "membership")
        if not cobot_id:
            raise WorkPermanentError("Cannot tell which membership this time-pass event is about.")
    membership_url = client.space_api_url(space, f"memberships/{cobot_id}")
    return _membership_refresh(space=space, url=membership_url, passes=True)


def _on_membership_deleted(*, space: Space, payload: dict) -> list[int]:
    membership = membership_mark_deleted(space=space, cobot_id=_deleted_id(space, payload, "membership"))
    return [membership.pk] if membership else []


def _on_booking_event(*, space: Space, payload: dict) -> list[int]:
    url = _payload_url(space, payload)
    try:
        data = client.space_resource_get(space=space, url=url)
    except ServiceError as exc:
        if exc.status == 404 and (cobot_id := _id_in_url(url, "bookings")):
            booking = booking_mark_deleted(space=space, cobot_id=cobot_id)
            return [booking.membership_id] if booking and booking.membership_id else []
        raise
    booking = booking_upsert(space=space, record=booking_record(data))
    return [booking.membership_id] if booking.membership_id else []


def _on_booking_deleted(*, space: Space, payload: dict) -> list[int]:
    booking = booking_mark_deleted(space=space, cobot_id=_deleted_id(space, payload, "booking"))
    return [booking.membership_id] if booking and booking.membership_id else []


def _on_checkin_token_event(*, space: Space, payload: dict) -> list[int]:
    # API 1 has no endpoint for one token: one list call tells us what was created or deleted.
    listed_since = timezone.now()
    records = [checkin_token_record(row) for row in client.checkin_tokens_list(space=space)]
    _, touched = checkin_tokens_reconcile(space=space, records=records, listed_since=listed_since)
    return sorted(touched)


EVENT_HANDLERS = {
    **{event: _on_membership_event for event in MEMBERSHIP_EVENTS},
    **{event: _on_time_pass_event for event in TIME_PASS_EVENTS},
    "deleted_membership": _on_membership_deleted,
    **{event: _on_booking_event for event in BOOKING_EVENTS},
    "deleted_booking": _on_booking_deleted,
    **{event: _on_checkin_token_event for event in CHECKIN_TOKEN_EVENTS},
    **{event: admin_event_process for event in ADMIN_EVENTS},
    **{event: drop_in_pass_event_process for event in DROP_IN_PASS_EVENTS},
}
# Every event we subscribe to at Cobot; anything else reaching the webhook is stored as ignored.
SUBSCRIBED_EVENTS = tuple(EVENT_HANDLERS)
# The feature (spaces.cobot.features) each event keeps current: when a Cobot refuses an event, the
# full sync brings that feature's changes instead. A new event (e.g. created_drop_in_pass) names one.
EVENT_FEATURES = {
    **dict.fromkeys((*MEMBERSHIP_EVENTS, "deleted_membership"), "memberships"),
    **dict.fromkeys(TIME_PASS_EVENTS, "time_passes"),
    **dict.fromkeys((*BOOKING_EVENTS, "deleted_booking"), "bookings"),
    **dict.fromkeys(CHECKIN_TOKEN_EVENTS, "checkin_tokens"),
    **dict.fromkeys(ADMIN_EVENTS, "admins"),
    **dict.fromkeys(DROP_IN_PASS_EVENTS, "drop_in_passes"),
}


def cobot_delivery_process(*, delivery) -> str | None:
    """The "cobot" delivery handler (registered in SpacesConfig.ready)."""
    space = delivery.space
    if space.status == Space.Status.DISCONNECTED:
        return WorkStatus.IGNORED
    if space.status == Space.Status.RECONNECT_NEEDED:
        raise WorkWaiting("Cobot rejected the space's token: reconnect the space.")
    handler = EVENT_HANDLERS.get(delivery.event)
    if handler is None:
        return WorkStatus.IGNORED
    failure = None
    try:
        membership_ids = set(handler(space=space, payload=delivery.payload))
    except PassesUnreadable as exc:  # the readable part is applied: its members still get synced
        membership_ids, failure = set(exc.membership_ids), exc
    transaction.on_commit(
        partial(
            mirror_changed.send,
            sender=Space,
            space=space,
            membership_ids=sorted(membership_ids),
            reason=delivery.event,
            full=False,
        )
    )
    if failure is not None:
        raise failure  # its retry fetches again, which covers any repeat as well
    received = type(delivery).objects.filter(pk=delivery.pk).values_list("times_received", flat=True).first()
    if received is not None and received > delivery.times_received:
        # Cobot sent the same delivery again while we worked: our fetch may predate the change it announces
        # (delivery_store does not re-arm a running row). Once more, after its repeats have settled.
        raise WorkDeferred("received again while processing: fetching once more", seconds=REPEAT_SETTLE.total_seconds())
    return None
