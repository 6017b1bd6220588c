"""The hand-kept OpenAPI schema of the reader API is valid, served, and describes what the API answers."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from locks.readers.api import SCHEMA_PATH
from tests.locks.readers.conftest import card_for, scan

SCHEMA = json.loads(SCHEMA_PATH.read_text())


def _validator(name: str) -> OAS31Validator:
    return OAS31Validator({"$ref": f"#/components/schemas/{name}", "components": SCHEMA["components"]})


def test_it_is_a_valid_openapi_document():
    validate(SCHEMA)


def test_it_is_served_and_its_path_is_the_apis(client, reader):
    served = client.get("/api/readers/openapi.json")
    assert served.status_code == 200 and served.json() == SCHEMA
    served_paths = {reverse(name, args=[reader.pk]) for name in ("reader_request", "reader_allowlist")}
    assert {path.replace("{readerId}", str(reader.pk)) for path in SCHEMA["paths"]} == served_paths


@pytest.mark.parametrize("plan_passes", [(), ("Day Pass",)])
def test_its_answer_schema_holds_for_granted_refused_and_unknown(client, members, reader_and_key, plan_passes):
    reader, key = reader_and_key
    ada = members.add(plan=members.plan("P", time_passes=plan_passes))
    card_for(members, ada, "card-ada")
    answers = [scan(client, reader, key, token) for token in ("card-ada", "unknown")]
    for response in answers:
        assert response.status_code == 200
        _validator("CheckInAnswer").validate(response.json())
    results = [r.json()["result"] for r in answers]
    assert results == ["refused" if plan_passes else "granted", "unknown_card"]
    described = SCHEMA["components"]["schemas"]["CheckInAnswer"]["properties"]["result"]["enum"]
    assert set(results) <= set(described)


def test_its_error_schema_holds_for_400_and_401(client, reader_and_key):
    reader, key = reader_and_key
    for response in (scan(client, reader, key, None, body="[]"), scan(client, reader, "wrong", "x")):
        assert str(response.status_code) in SCHEMA["paths"]["/api/readers/{readerId}/check-in"]["post"]["responses"]
        _validator("Error").validate(response.json())


def test_the_device_makers_page_explains_auth_request_answers_timeouts_and_curl(client):
    page = client.get("/api/readers/docs/").content.decode()
    for words in ("Authorization: Bearer", "/api/readers/&lt;reader id&gt;/check-in", "Card not known.",
                  "Timeouts", "curl -sS --max-time 4", "http://testserver/api/readers/42/check-in"):
        assert words in page
