"""Every intake answers 400 to a body it cannot store, says why, and stores nothing (issue #9, finding 1).

Python's json reads NaN, Infinity and 1e999999 (as inf); PostgreSQL's jsonb refuses them (DataError),
SQLite's JSON check constraint too (IntegrityError), and deep nesting exhausts Python's recursion limit.
Each body goes to every intake, as JSON and form-encoded, on whichever database the suite runs on.
"""

import json
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.urls import reverse

from accessbridge.webhooks import MAX_JSON_DEPTH, json_loads_strict

DEEP_ARRAYS = "[" * 1200 + "]" * 1200
DEEP_OBJECTS = '{"a":' * 1200 + "1" + "}" * 1200
# Each is dropped into an otherwise valid delivery, so nothing but the bad part can be the reason.
BAD_VALUES = {
    "nan": ("NaN", "NaN"),
    "infinity": ("Infinity", "Infinity"),
    "minus-infinity": ("-Infinity", "-Infinity"),
    "1e999999": ("1e999999", "too large"),
    "deep-arrays": (DEEP_ARRAYS, "nests deeper"),
    "deep-objects": (DEEP_OBJECTS, "nests deeper"),
}
COBOT_URL = "https://space-a.cobot.me/api/memberships/m-1"


def stored_rows() -> dict[str, int]:
    """Every row of the apps that store deliveries: "nothing stored" holds wherever a delivery lands."""
    models = [*apps.get_app_config("spaces").get_models(), *apps.get_app_config("locks").get_models()]
    return {model._meta.label: model.objects.count() for model in models}


@pytest.fixture
def smartlock_connection(space_a):
    from locks.models import LockConnection

    return LockConnection.objects.create(
        space=space_a, vendor="smartlock", name="SmartLock",
        config={"base_url": "https://smartlock.example.test"}, credentials={"api_token": "t"},
    )  # fmt: skip


def cobot_url(space, event="confirmed_membership"):
    return reverse("cobot_webhook", kwargs={"space_key": space.key, "secret": space.webhook_secret, "event": event})


def vendor_url(connection):
    return reverse("vendor_webhook", kwargs={"connection_key": connection.key, "secret": connection.webhook_secret})


def smartlock_event(bad: str) -> str:
    return f'{{"id": "evt_1", "user": {{"id": "u-1"}}, "lock": {{"id": "lock_1"}}, "extra": {bad}}}'


def deliveries(space, connection, bad: str):
    """(intake, url, body, content type) for every way a body reaches us."""
    cobot_body = f'{{"url": "{COBOT_URL}", "extra": {bad}}}'
    event = smartlock_event(bad)
    form = "application/x-www-form-urlencoded"
    return [
        ("cobot json", cobot_url(space), cobot_body, "application/json"),
        ("cobot json, unhandled event", cobot_url(space, "some_other_event"), cobot_body, "application/json"),
        ("cobot form", cobot_url(space), urlencode({"payload": cobot_body}), form),
        ("smartlock json", vendor_url(connection), event, "application/json"),
        ("smartlock json, wrapped", vendor_url(connection), f'{{"event": {event}}}', "application/json"),
        ("smartlock json, event as a string", vendor_url(connection), json.dumps({"event": event}), "application/json"),
        ("smartlock form", vendor_url(connection), urlencode({"event": event}), form),
    ]


@pytest.mark.parametrize("bad,why", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_every_intake_answers_400_and_stores_nothing(client, space_a, smartlock_connection, bad, why):
    before = stored_rows()
    answers = {}
    for intake, url, body, content_type in deliveries(space_a, smartlock_connection, bad):
        response = client.post(url, body, content_type=content_type)
        answers[intake] = (response.status_code, why in response.json()["error"])
    assert answers == {intake: (400, True) for intake, *_ in deliveries(space_a, smartlock_connection, bad)}
    assert stored_rows() == before


def test_the_same_deliveries_without_the_bad_part_are_accepted(client, space_a, smartlock_connection):
    """The bodies above are sound apart from the bad value: the 400 is for that value alone
    (Cobot posts JSON, never a form: that one stays a 400, for its own reason)."""
    answers = {
        intake: (response.status_code, response.json())
        for intake, url, body, content_type in deliveries(space_a, smartlock_connection, "1.5")
        if (response := client.post(url, body, content_type=content_type))
    }
    assert answers.pop("cobot form") == (400, {"error": "body is not valid JSON"})
    assert {intake: status for intake, (status, _) in answers.items()} == dict.fromkeys(answers, 200)


def test_strict_json_reads_ordinary_json_and_brackets_inside_strings():
    text = json.dumps({"a": [1, 2.5, -3e10], "b": "[[[[" * 100, "c": {"d": None, "e": True}})
    assert json_loads_strict(text) == json.loads(text)
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_loads_strict(nested) == json.loads(nested)


def test_an_unterminated_string_full_of_escaped_quotes_is_read_in_linear_time():
    body = '"' + '\\"' * 120_000  # quadratic to a naive string pattern: minutes, not milliseconds
    with pytest.raises(ValueError):
        json_loads_strict(body)


def test_only_a_clash_on_the_dedupe_key_counts_as_a_duplicate(space_a):
    from django.db import IntegrityError

    from spaces.inbound import delivery_store
    from spaces.models import InboundDelivery

    common = {"source": "cobot", "space": space_a, "dedupe_key": "k-1", "payload": {}}
    with pytest.raises(IntegrityError):
        delivery_store(**common, event=None)  # NOT NULL: our own failure, not a repeat of anything
    assert not InboundDelivery.objects.exists()
    first, created = delivery_store(**common, event="e")
    again, created_again = delivery_store(**common, event="e")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert InboundDelivery.objects.get().times_received == 2
