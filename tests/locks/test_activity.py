"""A picture of the doors (issue 14): openings and check-ins per day over 30 days and today by hour, a
server-rendered SVG on the overview and the admin page inside Cobot."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from locks.activity import door_activity
from locks.models import AccessEvent


def event(connection, door, at, *, kind="unlock", checkin="checked_in"):
    return AccessEvent.objects.create(
        connection=connection, door=door, vendor_event_id=f"e-{at.isoformat()}-{kind}", kind=kind,
        occurred_at=at, checkin_result=checkin,
    )  # fmt: skip


def test_days_and_hours_are_the_spaces_own(connection, front_door, space_a):
    space_a.time_zone = "Europe/Berlin"
    space_a.save()
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 11, 25, 15, 0, tzinfo=berlin)
    event(connection, front_door, datetime(2026, 11, 25, 0, 30, tzinfo=berlin))  # 23:30 UTC the day before
    event(connection, front_door, datetime(2026, 11, 25, 9, 10, tzinfo=berlin), checkin="refused")
    event(connection, front_door, datetime(2026, 11, 22, 9, 0, tzinfo=berlin))
    event(connection, front_door, datetime(2026, 11, 25, 9, 20, tzinfo=berlin), kind="denied")  # not an opening
    event(connection, front_door, now - timedelta(days=31))  # too old
    activity = door_activity(space=space_a, now=now)
    days, hours = activity["days"], activity["hours"]
    assert (days.openings, days.checkins, len(days.bars)) == (3, 2, 30)
    assert [b.openings for b in days.bars[-4:]] == [1, 0, 0, 2]
    assert (hours.bars[0].openings, hours.bars[9].openings, hours.bars[9].checkins) == (1, 1, 0)
    assert days.bars[-1].openings_height == 80 and days.bars[-1].checkins_height == 40


def test_the_picture_is_on_the_overview_and_the_admin_page_inside_cobot(signed_in, client, alice, connection, front_door, space_a):
    event(connection, front_door, datetime.now(ZoneInfo("UTC")) - timedelta(minutes=5))
    page = signed_in.get(reverse("space_detail", args=[space_a.subdomain])).content.decode()
    assert "Last 30 days: 1 opening, 1 Cobot check-in" in page and '<svg class="chart"' in page
    SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    framed = client.get(reverse("embedded_admin_page", args=[space_a.key]), {"cobot_user_id": "user-alice"})
    assert "Today by hour: 1 opening, 1 Cobot check-in" in framed.content.decode()
