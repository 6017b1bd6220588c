"""Strict parsing of Cobot's records into the values the mirror stores: the one place for Cobot dates.

API 1 shows times as "2026/11/01 10:00:00 +0000" and dates as "2026/11/01" (unverified), API 2 uses
ISO 8601 (shared/cobot-api.md). A value that is neither, or a record without an id, raises
CobotDataError: an error for that record, never a crash of a whole sync.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from accessbridge.http import PERMANENT, ServiceError
from spaces.models import time_zone_is_valid

_API1_TIME = "%Y/%m/%d %H:%M:%S %z"
_API1_DATE = "%Y/%m/%d"


class CobotDataError(ServiceError):
    """Cobot answered with a record we cannot read (a vendor error on that record)."""

    def __init__(self, message: str):
        super().__init__(message, kind=PERMANENT, service="Cobot")


def cobot_datetime(value) -> datetime | None:
    """An aware datetime (UTC) from either Cobot form; a bare date is midnight UTC. Empty → None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CobotDataError(f"not a Cobot time: {value!r}")
    text = value.strip()
    for fmt in (_API1_TIME, _API1_DATE):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CobotDataError(f"not a Cobot time: {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def cobot_date(value) -> date | None:
    """A calendar date from either form (a time keeps the date it names in its own offset)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CobotDataError(f"not a Cobot date: {value!r}")
    text = value.strip()
    for fmt in (_API1_DATE, _API1_TIME):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise CobotDataError(f"not a Cobot date: {value!r}") from None


def cobot_time_format(value: datetime) -> str:
    """How we send times to API 1 (query parameters such as bookings?from&to)."""
    return value.astimezone(UTC).strftime(_API1_TIME)


def record_id(data, what: str) -> str:
    if not isinstance(data, dict):
        raise CobotDataError(f"{what}: expected an object, got {type(data).__name__}")
    value = data.get("id")
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        raise CobotDataError(f"{what} without an id")
    return str(value)


def administered_subdomains(profile) -> set[str]:
    """The subdomains in `GET {site}/api/user`'s `admin_of`.

    An answer without that list raises: an unreadable answer must never read as "administers nothing".
    """
    entries = profile.get("admin_of") if isinstance(profile, dict) else None
    if not isinstance(entries, list):
        raise CobotDataError("the user's profile has no admin_of list")
    return {str(entry["space_subdomain"]) for entry in entries if isinstance(entry, dict) and entry.get("space_subdomain")}


def _text(value, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def nested_id(data, key: str) -> str:
    """`data[key].id` as text, or "" (e.g. a booking's membership, a token's membership)."""
    nested = data.get(key) if isinstance(data, dict) else None
    if isinstance(nested, dict) and nested.get("id") is not None:
        return str(nested["id"])
    return ""


@dataclass(frozen=True)
class PlanRecord:
    cobot_id: str
    name: str
    has_time_passes: bool
    raw: dict


def plan_record(data) -> PlanRecord:
    cobot_id = record_id(data, "plan")
    return PlanRecord(cobot_id, _text(data.get("name"), 200), bool(data.get("time_passes")), data)


@dataclass(frozen=True)
class MembershipRecord:
    cobot_id: str
    cobot_user_id: str
    name: str
    email: str
    plan: PlanRecord | None  # the membership's copy of its plan, id = the space plan (parent_plan.id)
    confirmed_at: datetime | None
    starts_at: date | None
    canceled_to: date | None
    raw: dict


def membership_record(data) -> MembershipRecord:
    cobot_id = record_id(data, "membership")
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    plan = data.get("plan")
    plan_rec = None
    if isinstance(plan, dict):
        # api-docs: a membership's plan is its own copy, without the space plan's id; parent_plan.id
        # names the plan of the space.
        parent_id = nested_id(plan, "parent_plan")
        if parent_id:
            plan_rec = PlanRecord(parent_id, _text(plan.get("name"), 200), bool(plan.get("time_passes")), plan)
    return MembershipRecord(
        cobot_id=cobot_id,
        cobot_user_id=nested_id(data, "user"),
        name=_text(data.get("name"), 200),
        email=_text(data.get("email") or user.get("email"), 254),
        plan=plan_rec,
        confirmed_at=cobot_datetime(data.get("confirmed_at")),
        starts_at=cobot_date(data.get("starts_at")),
        canceled_to=cobot_date(data.get("canceled_to")),
        raw=data,
    )


@dataclass(frozen=True)
class BookingRecord:
    cobot_id: str
    membership_cobot_id: str
    resource_cobot_id: str
    resource_name: str
    title: str
    starts_at: datetime
    ends_at: datetime
    raw: dict


def booking_record(data) -> BookingRecord:
    cobot_id = record_id(data, "booking")
    starts_at, ends_at = cobot_datetime(data.get("from")), cobot_datetime(data.get("to"))
    if starts_at is None or ends_at is None:
        raise CobotDataError(f"booking {cobot_id} without from/to")
    resource = data.get("resource") if isinstance(data.get("resource"), dict) else {}
    return BookingRecord(
        cobot_id=cobot_id,
        membership_cobot_id=nested_id(data, "membership"),
        resource_cobot_id=_text(resource.get("id"), 100),
        resource_name=_text(resource.get("name"), 200),
        title=_text(data.get("title"), 300),
        starts_at=starts_at,
        ends_at=ends_at,
        raw=data,
    )


@dataclass(frozen=True)
class CheckInTokenRecord:
    token: str
    membership_cobot_id: str
    raw: dict


def checkin_token_record(data) -> CheckInTokenRecord:
    if not isinstance(data, dict) or data.get("token") in (None, ""):
        raise CobotDataError("check-in token without a token")
    return CheckInTokenRecord(_text(data["token"], 255), nested_id(data, "membership"), data)


def space_time_zone(details) -> str | None:
    """The IANA time zone of Cobot's space details (`time_zone_name`), or None if it names none.

    unverified: the stand-in answers "Etc/UTC"; Cobot (a Rails app) might answer a Rails name such as
    "Berlin" instead, which this returns as None (the stored zone is then kept).
    """
    name = details.get("time_zone_name") if isinstance(details, dict) else None
    return name if time_zone_is_valid(name) else None


@dataclass(frozen=True)
class DropInPassRecord:
    cobot_id: str
    name: str
    email: str
    day: date | None  # None: the pass names only its start (valid_from); its day is that at the space
    valid_from: datetime | None
    valid_until: datetime | None
    canceled: bool
    raw: dict


# unverified (cobot-api.md): API 2 answers JSON:API ({id, attributes: {...}}, camelCase), API 1 flat objects
# (snake_case). Each value is looked up under the names either might use; the first one present wins.
_PASS_DAY = ("date", "day", "validOn", "valid_on", "bookedFor", "booked_for")
_PASS_FROM = ("validFrom", "valid_from", "from", "startsAt", "starts_at")
_PASS_UNTIL = ("validUntil", "valid_until", "to", "endsAt", "ends_at")
_PASS_PERSON = ("user", "contact", "visitor", "customer", "guest")
_PASS_CANCELED_STATES = {"canceled", "cancelled", "refunded", "voided", "deleted"}


def _first(fields: dict, names: tuple[str, ...]):
    return next((fields[name] for name in names if fields.get(name) not in (None, "")), None)


def drop_in_pass_record(data) -> DropInPassRecord:
    """A drop-in pass from either shape. A pass naming no day (neither a date nor a start) raises: access
    is never granted for an unknown day."""
    cobot_id = record_id(data, "drop-in pass")
    fields = data.get("attributes") if isinstance(data.get("attributes"), dict) else data
    person = next((fields[key] for key in _PASS_PERSON if isinstance(fields.get(key), dict)), {})
    person = person.get("attributes") if isinstance(person.get("attributes"), dict) else person
    try:
        day = cobot_date(_first(fields, _PASS_DAY))
        valid_from, valid_until = cobot_datetime(_first(fields, _PASS_FROM)), cobot_datetime(_first(fields, _PASS_UNTIL))
    except CobotDataError as exc:
        raise CobotDataError(f"drop-in pass {cobot_id}: {exc.message}") from None
    if day is None and valid_from is None:
        raise CobotDataError(f"drop-in pass {cobot_id} names no day")
    if valid_from and valid_until and valid_until <= valid_from:
        raise CobotDataError(f"drop-in pass {cobot_id} ends before it starts")
    status = str(fields.get("status") or fields.get("state") or "").strip().lower()
    canceled = status in _PASS_CANCELED_STATES or bool(_first(fields, ("canceledAt", "canceled_at", "cancelledAt")))
    return DropInPassRecord(
        cobot_id=cobot_id,
        name=_text(_first(fields, ("name", "fullName", "full_name")) or _first(person, ("name", "fullName")), 200),
        email=_text(_first(fields, ("email",)) or _first(person, ("email",)), 254).strip(),
        day=day,
        valid_from=valid_from,
        valid_until=valid_until,
        canceled=canceled,
        raw=data,
    )
