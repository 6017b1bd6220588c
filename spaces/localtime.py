"""A space's own clock: Cobot's dates (starts_at, canceled_to, bookings' days) are local to the space."""

import zoneinfo
from datetime import date, datetime

from django.utils import timezone

from spaces.models import Space, time_zone_is_valid


def space_zone(space: Space) -> zoneinfo.ZoneInfo:
    """The space's time zone; UTC while it names none we know (not yet synced from Cobot)."""
    return zoneinfo.ZoneInfo(space.time_zone if time_zone_is_valid(space.time_zone) else "UTC")


def space_today(space: Space, now: datetime | None = None) -> date:
    """The calendar date at the space (its time zone): Cobot's dates (canceled_to, starts_at) are local days."""
    return timezone.localtime(now or timezone.now(), space_zone(space)).date()
