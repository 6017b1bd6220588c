"""A reader's offline allow-list (seed 001 "Sync periodically"): the check-in tokens of the members who may
open the reader's door right now, for devices that cannot ask live.

Who may open is the engine's answer (locks.access.desired), so the list changes whenever access does:
canceled members after their last day, members paused for want of a time pass, and bookings outside their
window are never in it. The ETag is a digest of the entries, so a device polls with If-None-Match and gets
a 304 until something changes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from locks.access.desired import access_desired, members_checked_in_today, space_rules_load
from locks.models import Reader
from spaces.localtime import space_today
from spaces.models import Booking, CheckInToken, Membership
from spaces.selectors import CURRENT_STATUSES

CSV_COLUMNS = ("token", "membership_id", "name")


@dataclass(frozen=True)
class AllowlistEntry:
    token: str
    membership_id: str
    name: str


def reader_allowlist(*, reader: Reader, now: datetime) -> list[AllowlistEntry]:
    """The tokens that open the reader's door at `now`, sorted by token."""
    space, door_id = reader.space, reader.door_id
    rules = space_rules_load(space=space)
    if door_id not in rules.doors:
        return []
    members = list(Membership.objects.filter(space=space, status__in=CURRENT_STATUSES))
    bookings = list(
        Booking.objects.filter(
            space=space, status=Booking.Status.ACTIVE, ends_at__gt=now - rules.max_buffer_after
        )
    )
    checked_in = (
        members_checked_in_today(space=space, membership_ids=[m.pk for m in members], now=now)
        if rules.counts_time_passes
        else set()
    )
    today = space_today(space, now)
    allowed = {
        m.pk: m
        for m in members
        if door_id
        in access_desired(
            membership=m, rules=rules, bookings=bookings, now=now, today=today, checked_in_today=m.pk in checked_in
        ).doors_now(now)
    }
    tokens = CheckInToken.objects.filter(space=space, membership_id__in=list(allowed)).order_by("token")
    return [AllowlistEntry(t.token, allowed[t.membership_id].cobot_id, allowed[t.membership_id].name) for t in tokens]


def allowlist_etag(entries: list[AllowlistEntry]) -> str:
    digest = hashlib.sha256(json.dumps([asdict(e) for e in entries], sort_keys=True).encode()).hexdigest()
    return f'"{digest[:32]}"'


def allowlist_json(*, reader: Reader, entries: list[AllowlistEntry], now: datetime) -> dict:
    return {
        "reader": reader.pk,
        "door": reader.door.name,
        "generated_at": now.isoformat(),
        "tokens": [asdict(e) for e in entries],
    }


def allowlist_csv(entries: list[AllowlistEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([entry.token, entry.membership_id, _csv_safe(entry.name)])
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """A name a spreadsheet would run as a formula (=, +, -, @) is quoted as text (OWASP CSV injection).
    Tokens stay exactly as they are: the device compares them byte for byte."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
