from datetime import UTC, date, datetime

import pytest

from spaces.cobot.records import (
    CobotDataError,
    booking_record,
    checkin_token_record,
    cobot_date,
    cobot_datetime,
    cobot_time_format,
    membership_record,
)
from spaces.mirror import membership_status
from spaces.models import Membership
from tests.spaces.conftest import MEMBER_ID, PLAN_ID, cobot_payload


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026/11/01 10:00:00 +0000", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026/11/01 12:00:00 +0200", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026/11/01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01T11:00:00+01:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01T10:00:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_it_parses_both_cobot_time_forms_and_iso_8601(value, expected):
    assert cobot_datetime(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026/11/30", date(2026, 11, 30)),
        ("2026-11-30", date(2026, 11, 30)),
        ("2026/11/30 23:00:00 -0500", date(2026, 11, 30)),
        ("2026-11-30T23:00:00Z", date(2026, 11, 30)),
        (None, None),
    ],
)
def test_it_parses_dates(value, expected):
    assert cobot_date(value) == expected


@pytest.mark.parametrize("value", ["tomorrow", "2026/13/01", "01.11.2026", 20261101, ["2026/11/01"]])
def test_a_bad_value_is_a_cobot_data_error(value):
    with pytest.raises(CobotDataError) as caught:
        cobot_datetime(value)
    assert caught.value.service == "Cobot" and not caught.value.transient
    with pytest.raises(CobotDataError):
        cobot_date(value)


def test_it_formats_times_for_api_1():
    assert cobot_time_format(datetime(2026, 11, 1, 11, tzinfo=UTC)) == "2026/11/01 11:00:00 +0000"


def test_it_reads_a_membership_with_the_space_plan_id_from_parent_plan():
    record = membership_record(cobot_payload("membership__api1"))
    assert record.cobot_id == MEMBER_ID
    assert record.cobot_user_id == "user-ada"
    assert (record.name, record.email) == ("Ada Lovelace", "ada@example.com")
    assert record.plan.cobot_id == PLAN_ID
    assert record.plan.name == "Ten Days" and record.plan.has_time_passes
    assert record.confirmed_at == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert record.starts_at == date(2026, 11, 1)
    assert record.canceled_to is None


def test_a_membership_without_an_id_or_with_a_bad_date_is_an_error():
    data = cobot_payload("membership__api1")
    with pytest.raises(CobotDataError, match="without an id"):
        membership_record({**data, "id": None})
    with pytest.raises(CobotDataError, match="not a Cobot date"):
        membership_record({**data, "canceled_to": "soon"})
    with pytest.raises(CobotDataError):
        membership_record(["not", "an", "object"])


def test_it_reads_a_booking_and_a_check_in_token():
    record = booking_record(cobot_payload("booking__api1"))
    assert record.membership_cobot_id == MEMBER_ID
    assert record.resource_name == "Meeting Room"
    assert record.starts_at == datetime(2026, 11, 3, 9, tzinfo=UTC)
    with pytest.raises(CobotDataError, match="from/to"):
        booking_record({**cobot_payload("booking__api1"), "to": None})
    token = checkin_token_record({"token": "04A1B2", "membership": {"id": MEMBER_ID}})
    assert (token.token, token.membership_cobot_id) == ("04A1B2", MEMBER_ID)
    with pytest.raises(CobotDataError):
        checkin_token_record({"membership": {"id": MEMBER_ID}})


@pytest.mark.parametrize(
    "confirmed, canceled_to, expected",
    [
        (True, None, Membership.Status.CONFIRMED),
        (True, date(2026, 11, 30), Membership.Status.CANCELED),  # access until canceled_to
        (True, date(2026, 11, 2), Membership.Status.CANCELED),  # canceled_to is today: still in
        (True, date(2026, 11, 1), Membership.Status.ENDED),
        (False, None, Membership.Status.PENDING),
        (False, date(2026, 10, 1), Membership.Status.ENDED),
    ],
)
def test_the_membership_status_rules(confirmed, canceled_to, expected):
    confirmed_at = datetime(2026, 10, 1, tzinfo=UTC) if confirmed else None
    assert membership_status(confirmed_at=confirmed_at, canceled_to=canceled_to, today=date(2026, 11, 2)) == expected
