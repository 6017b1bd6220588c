"""Reads on the Cobot side (HackSoft style: keyword-only, <noun>_<verb>)."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from accessbridge.work import WorkStatus
from spaces.admins import space_admin_removal_refused
from spaces.cobot.accounts import cobot_identity_linked, cobot_spaces_administered, cobot_user_ids
from spaces.feature_problems import feature_problems_list, subscriptions_overview
from spaces.localtime import space_today
from spaces.models import Booking, DropInPass, Membership, Space, SpaceAdmin

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


def cobot_spaces_connectable(*, user) -> list[dict]:
    """The spaces the user administers at Cobot, each with its AccessBridge space if connected."""
    entries = cobot_spaces_administered(user)
    known = {s.subdomain: s for s in Space.objects.filter(subdomain__in=[e["subdomain"] for e in entries])}
    return [{**entry, "space": known.get(entry["subdomain"])} for entry in entries]


def space_overview(*, space: Space) -> dict:
    now = timezone.now()
    subscriptions, problems = subscriptions_overview(space=space), feature_problems_list(space=space)
    by_status = dict(
        Membership.objects.filter(space=space, kind=Membership.Kind.MEMBER).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return {
        "memberships_by_status": [
            (label, by_status[value]) for value, label in Membership.Status.choices if by_status.get(value)
        ],
        "memberships_total": sum(by_status.values()),
        "plans_active": space.plans.filter(active=True).count(),
        "drop_in_passes_upcoming": space.drop_in_passes.filter(
            status=DropInPass.Status.ACTIVE, day__gte=space_today(space, now)
        ).count(),
        "bookings_upcoming": space.bookings.filter(status=Booking.Status.ACTIVE, ends_at__gt=now).count(),
        "checkin_tokens": space.checkin_tokens.count(),
        "subscriptions": subscriptions,
        "subscriptions_refused": sum(1 for row in subscriptions if row["subscription"].refusal),
        "feature_problems": problems,
        "feature_problems_scopes": any(item["scopes"] for item in problems),
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


def space_admins_overview(*, space: Space, viewer) -> list[dict]:
    """Every admin of the space: how they got the role, whether Cobot vouches for it, and whether the
    viewer may remove it here (and if not, why)."""
    rows = cobot_identity_linked(
        SpaceAdmin.objects.filter(space=space).select_related("user", "added_by").order_by("created_at", "pk")
    )
    return [
        {
            "admin": row,
            "linked": row.cobot_linked,
            "is_viewer": row.user_id == viewer.pk,
            "refused": space_admin_removal_refused(space_admin=row, actor=viewer, linked=row.cobot_linked),
        }
        for row in rows
    ]
