"""What each feature needs from Cobot, declared once: the scopes asked for at sign-in and the scope a
refused (403) call of the feature names on the space overview.

Plain Python without Django imports: the settings take DEFAULT_SCOPES as COBOT_SCOPES' default.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    key: str
    label: str
    scopes: tuple[str, ...]
    enables: str
    # What keeps the data current when Cobot does not tell us at once (a refused webhook event).
    fallback: str = "the full sync (every 15 minutes)"


FEATURES = (
    Feature("memberships", "Members", ("read_memberships",), "mirroring members, their plans and cancellations"),
    Feature("plans", "Plans", ("read_plans",), "the plans that access rules name"),
    Feature(
        "time_passes",
        "Time passes",
        ("read_time_passes",),
        "counting a member's unused time passes",
        "the full sync (counts older than an hour, up to 20 members every 15 minutes)",
    ),
    Feature("bookings", "Bookings", ("read_bookings",), "doors opened for booked rooms during a booking"),
    Feature("checkin_tokens", "Check-in tokens", ("checkin_tokens",), "registering cards and lock user ids at Cobot"),
    Feature("work_sessions", "Check-ins seen at Cobot", ("read_check_ins",), "noticing time passes used at Cobot"),
    Feature("checkins", "Door openings as check-ins", ("checkin", "write_check_ins"), "checking members in at the door"),
    Feature(
        "subscriptions",
        "Webhooks",
        ("read_subscriptions", "write_subscriptions"),
        "changes at Cobot arriving at once instead of with the full sync",
    ),
    Feature(
        "drop_in_passes",
        "Day visitors (drop-in passes)",
        ("read_drop_in_passes",),
        "opening the doors for a visitor on their drop-in pass's day",
    ),
    Feature("navigation_links", "Pages inside Cobot", ("navigation",), "our admin and member pages in Cobot's menu"),
    Feature("sign_in", "Sign in with Cobot", ("read_user",), "knowing who signs in and which spaces they administer"),
    Feature(
        "admins",
        "Admin rights that follow Cobot",
        ("read_user",),
        "taking AccessBridge away from admins Cobot no longer lists",
        "the admin check (every 15 minutes)",
    ),
)
FEATURES_BY_KEY = {feature.key: feature for feature in FEATURES}

# Today's list (cobot-api.md: API 1 scopes plus API 2's write_check_ins); the COBOT_SCOPES setting
# replaces it when a Cobot refuses a name (error=invalid_scope at sign-in).
DEFAULT_SCOPES = (
    "read", "read_user", "read_memberships", "read_plans", "read_time_passes", "read_bookings",
    "read_resources", "read_check_ins", "checkin", "checkin_tokens", "read_custom_fields",
    "read_subscriptions", "write_subscriptions", "navigation", "write_check_ins",
    "read_drop_in_passes",
)  # fmt: skip
# Asked for by default, used by no feature yet (README: configuration).
RESERVED_SCOPES = ("read", "read_resources", "read_custom_fields")
# A member signing in to a framed page is only identified.
MEMBER_SCOPES = ("read_user",)


def feature_missing_scope(feature: Feature, granted: set[str]) -> str | None:
    """The first scope the feature needs that `granted` lacks, or None."""
    return next((scope for scope in feature.scopes if scope not in granted), None)
