"""Reads on the Cobot side (HackSoft style: keyword-only, <noun>_<verb>)."""

import ipaddress
import zoneinfo
from datetime import date, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from accessbridge.work import WorkStatus
from spaces.cobot.accounts import cobot_spaces_administered, cobot_user_ids
from spaces.models import Booking, Membership, Space, time_zone_is_valid

ATTENTION_STATUSES = (WorkStatus.FAILED, WorkStatus.WAITING)
# Statuses a membership may leave by disappearing from Cobot's list of current memberships.
CURRENT_STATUSES = (Membership.Status.CONFIRMED, Membership.Status.CANCELED)


def webhooks_unreachable_reason() -> str:
    """Why Cobot cannot deliver webhooks to ACCESSBRIDGE_BASE_URL, or "" if it can (as far as we can tell).

    Cobot calls us from the internet: a local run (http://127.0.0.1:8000) still works, but changes at
    Cobot then arrive only with the periodic full sync.
    """
    url = settings.ACCESSBRIDGE_BASE_URL
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return f"{url} is not an https:// address"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        local = host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or "." not in host
        return f"{url} is not on the internet" if local else ""
    return "" if address.is_global else f"{url} is not on the internet"


def space_zone(space: Space) -> zoneinfo.ZoneInfo:
    """The space's time zone; UTC while it names none we know (not yet synced from Cobot)."""
    return zoneinfo.ZoneInfo(space.time_zone if time_zone_is_valid(space.time_zone) else "UTC")


def space_today(space: Space, now: datetime | None = None) -> date:
    """The calendar date at the space (its time zone): Cobot's dates (canceled_to, starts_at) are local days."""
    return timezone.localtime(now or timezone.now(), space_zone(space)).date()


def cobot_spaces_connectable(*, user) -> list[dict]:
    """The spaces the user administers at Cobot, each with its AccessBridge space if connected."""
    entries = cobot_spaces_administered(user)
    known = {s.subdomain: s for s in Space.objects.filter(subdomain__in=[e["subdomain"] for e in entries])}
    return [{**entry, "space": known.get(entry["subdomain"])} for entry in entries]


def space_overview(*, space: Space) -> dict:
    now = timezone.now()
    by_status = dict(
        Membership.objects.filter(space=space).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return {
        "memberships_by_status": [
            (label, by_status[value]) for value, label in Membership.Status.choices if by_status.get(value)
        ],
        "memberships_total": sum(by_status.values()),
        "plans_active": space.plans.filter(active=True).count(),
        "bookings_upcoming": space.bookings.filter(status=Booking.Status.ACTIVE, ends_at__gt=now).count(),
        "checkin_tokens": space.checkin_tokens.count(),
        "subscriptions": list(space.subscriptions.order_by("event")),
        "navigation_links": list(space.navigation_links.order_by("section")),
        "deliveries_attention": list(space.deliveries.filter(status__in=ATTENTION_STATUSES).order_by("-received_at")[:50]),
        "deliveries_attention_count": space.deliveries.filter(status__in=ATTENTION_STATUSES).count(),
        "deliveries_pending": space.deliveries.filter(status__in=[WorkStatus.PENDING, WorkStatus.RUNNING]).count(),
    }


def membership_of_viewer(*, space: Space, user, cobot_user_id: str | None = None) -> Membership | None:
    """The viewer's own membership in the space, found by their Cobot identity."""
    ids = cobot_user_ids(user)
    if cobot_user_id:
        ids &= {cobot_user_id}
    if not ids:
        return None
    candidates = Membership.objects.filter(space=space, cobot_user_id__in=ids).select_related("plan").order_by("-pk")
    # A member who left and came back has two: show the current one.
    return min(candidates, key=lambda m: m.status not in CURRENT_STATUSES, default=None)
