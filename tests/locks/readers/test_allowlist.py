"""The offline allow-list: the tokens that open the reader's door now, as the engine decides; canceled and
paused members are never in it; an ETag lets a device poll cheaply."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.locks.conftest import rule_for
from tests.locks.readers.conftest import card_for


def fetch(client, reader, key, *, etag=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if etag:
        headers["HTTP_IF_NONE_MATCH"] = etag
    return client.get(f"/api/readers/{reader.pk}/allowlist", params, **headers)


def tokens(response) -> list[str]:
    return [entry["token"] for entry in response.json()["tokens"]]


@pytest.fixture
def cards(members, door):
    rule_for(members.space, door)
    ada = members.add(name="Ada Lovelace")
    grace = members.add(name="Grace Hopper", email="grace@example.org")
    card_for(members, ada, "card-ada")
    card_for(members, grace, "card-grace")
    return ada, grace


def test_it_lists_the_tokens_of_members_who_may_open_the_door(client, reader_and_key, cards):
    reader, key = reader_and_key
    ada, _ = cards
    response = fetch(client, reader, key)
    assert response.status_code == 200
    body = response.json()
    assert body["tokens"][0] == {"token": "card-ada", "membership_id": ada.cobot_id, "name": "Ada Lovelace"}
    assert tokens(response) == ["card-ada", "card-grace"] and body["door"] == "Back door"


def test_a_member_canceled_before_today_is_not_in_it(client, members, reader_and_key, cards):
    reader, key = reader_and_key
    ada, _ = cards
    members.cancel(ada, timezone.localdate() - timedelta(days=1))
    assert tokens(fetch(client, reader, key)) == ["card-grace"]


def test_a_member_paused_for_want_of_a_time_pass_is_not_in_it_until_they_have_one(
    client, members, reader_and_key, door
):
    reader, key = reader_and_key
    passes = members.plan("Day passes", time_passes=("Day Pass",))
    rule_for(members.space, door, plan=passes, requires_time_pass=True)
    ada = members.add(plan=passes, unused_time_passes=0)
    card_for(members, ada, "card-ada")
    assert tokens(fetch(client, reader, key)) == []
    members.update(ada, unused_time_passes=2)
    assert tokens(fetch(client, reader, key)) == ["card-ada"]


def test_a_member_whose_plan_opens_another_door_is_not_in_it(client, members, reader_and_key, door):
    reader, key = reader_and_key
    studio, desk = members.plan("Studio"), members.plan("Desk")
    rule_for(members.space, door, plan=studio)
    card_for(members, members.add(plan=desk), "card-desk")
    card_for(members, members.add(plan=studio, email="s@example.org"), "card-studio")
    assert tokens(fetch(client, reader, key)) == ["card-studio"]


def test_the_etag_answers_304_until_access_changes(client, members, reader_and_key, cards):
    reader, key = reader_and_key
    ada, _ = cards
    first = fetch(client, reader, key)
    etag = first["ETag"]
    assert fetch(client, reader, key, etag=etag).status_code == 304
    members.cancel(ada, timezone.localdate() - timedelta(days=1))
    changed = fetch(client, reader, key, etag=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_it_answers_csv_with_its_own_etag(client, reader_and_key, cards):
    reader, key = reader_and_key
    ada, grace = cards
    response = fetch(client, reader, key, format="csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode() == (
        f"token,membership_id,name\ncard-ada,{ada.cobot_id},Ada Lovelace\ncard-grace,{grace.cobot_id},Grace Hopper\n"
    )
    assert response["ETag"] != fetch(client, reader, key)["ETag"]
    assert fetch(client, reader, key, etag=response["ETag"], format="csv").status_code == 304


def test_a_name_a_spreadsheet_would_run_is_quoted(client, members, reader_and_key, door):
    reader, key = reader_and_key
    rule_for(members.space, door)
    card_for(members, members.add(name="=HYPERLINK(1)"), "card-x")
    assert "card-x," in fetch(client, reader, key, format="csv").content.decode()
    assert ",'=HYPERLINK(1)\n" in fetch(client, reader, key, format="csv").content.decode()


def test_a_wrong_or_revoked_key_is_401(client, reader_and_key, cards):
    from locks.readers.keys import reader_key_revoke

    reader, key = reader_and_key
    assert fetch(client, reader, "rdr_nope").status_code == 401
    reader_key_revoke(reader=reader)
    response = fetch(client, reader, key)
    assert response.status_code == 401 and "card-ada" not in response.content.decode()


def test_export_allowlist_prints_or_writes_it(reader, cards, tmp_path):
    out = StringIO()
    call_command("export_allowlist", str(reader.pk), stdout=out)
    assert [t["token"] for t in json.loads(out.getvalue())["tokens"]] == ["card-ada", "card-grace"]
    target = tmp_path / "list.csv"
    call_command("export_allowlist", str(reader.pk), "--format", "csv", "--output", str(target), stderr=StringIO())
    assert target.read_text().splitlines()[1].startswith("card-ada,")
    with pytest.raises(CommandError, match="No reader with id 999999"):
        call_command("export_allowlist", "999999")


def test_the_schema_describes_the_json_answer(client, reader_and_key, cards):
    from openapi_schema_validator import OAS31Validator

    from tests.locks.readers.test_api_schema import SCHEMA

    reader, key = reader_and_key
    validator = OAS31Validator({"$ref": "#/components/schemas/Allowlist", "components": SCHEMA["components"]})
    validator.validate(fetch(client, reader, key).json())
