"""A picture of the doors (issue 14): openings and Cobot check-ins per day over 30 days and today's by
hour, as bar geometry for a server-rendered SVG (templates/locks/_activity.html; no chart library, no
script). Days and hours are the space's own (spaces.localtime)."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from locks.models import AccessEvent
from spaces.localtime import space_zone

DAYS = 30
OPENINGS = (AccessEvent.Kind.UNLOCK, AccessEvent.Kind.REMOTE_OPEN)
CHECKED_IN = AccessEvent.CheckIn.CHECKED_IN
CHART_HEIGHT = 80  # px of the tallest bar, in the SVG's own units


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    openings_height: float
    checkins_height: float
    openings: int
    checkins: int
    label: str

    @property
    def openings_y(self) -> float:
        return round(CHART_HEIGHT - self.openings_height, 1)

    @property
    def checkins_y(self) -> float:
        return round(CHART_HEIGHT - self.checkins_height, 1)


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: float
    height: int
    openings: int
    checkins: int
    peak: int


def _chart(buckets: list[tuple[str, int, int]], *, bar_width: float, gap: float) -> Chart:
    peak = max((openings for _, openings, _ in buckets), default=0)
    scale = CHART_HEIGHT / peak if peak else 0
    bars = [
        Bar(i * (bar_width + gap), bar_width, round(o * scale, 1), round(c * scale, 1), o, c, label)
        for i, (label, o, c) in enumerate(buckets)
    ]
    return Chart(bars, len(buckets) * (bar_width + gap), CHART_HEIGHT, sum(b[1] for b in buckets),
                 sum(b[2] for b in buckets), peak)  # fmt: skip


def door_activity(*, space, now: datetime | None = None) -> dict:
    """{"days": Chart over the last 30 days, "hours": Chart of today by hour} at the space's doors."""
    zone = space_zone(space)
    local_now = timezone.localtime(now or timezone.now(), zone)
    today = local_now.date()
    start = datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=zone)
    events = AccessEvent.objects.filter(connection__space=space, kind__in=OPENINGS, occurred_at__gte=start)
    by_day, by_hour = Counter(), Counter()
    checkins_day, checkins_hour = Counter(), Counter()
    for occurred_at, checkin in events.values_list("occurred_at", "checkin_result").iterator():
        local = timezone.localtime(occurred_at, zone)
        by_day[local.date()] += 1
        checkins_day[local.date()] += checkin == CHECKED_IN
        if local.date() == today:
            by_hour[local.hour] += 1
            checkins_hour[local.hour] += checkin == CHECKED_IN
    days = [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    day_buckets = [(f"{d:%a %d %b}", by_day[d], checkins_day[d]) for d in days]
    hour_buckets = [(f"{h:02d}:00", by_hour[h], checkins_hour[h]) for h in range(24)]
    return {"days": _chart(day_buckets, bar_width=8, gap=2), "hours": _chart(hour_buckets, bar_width=10, gap=2)}
