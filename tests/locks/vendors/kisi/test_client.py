"""KISI's client: paging by X-Collection-Range, errors classified and put into words, strict parsing, and the
address rule for its base URL."""

from __future__ import annotations

import pytest
import requests

from accessbridge.http import AUTH, PERMANENT, TRANSIENT
from locks.vendors.base import VendorAuthError, VendorNotFound, VendorPermanentError, VendorTransientError
from locks.vendors.kisi.client import KisiClient
from tests.fakes.base import Response

from .conftest import API_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(kisi) -> KisiClient:
    return KisiClient(api_key=API_KEY, base_url=kisi.url)


def test_it_sends_the_key_and_reads_every_page(client, kisi):
    for n in range(250):
        kisi.add_user(f"user{n}@example.org")
    users = client.users_list()
    assert len(users) == 250 and len({u["id"] for u in users}) == 250
    pages = kisi.requests_to("GET", "/users")
    assert [(r.query["limit"], r.query["offset"]) for r in pages] == [(["100"], ["0"]), (["100"], ["100"]), (["100"], ["200"])]
    assert {r.headers["authorization"] for r in pages} == {f"KISI-LOGIN {API_KEY}"}


def test_an_empty_list_is_one_request(client, kisi):
    assert client.groups_list() == [] and len(kisi.requests) == 1


def test_users_are_found_by_email_without_regard_to_case(client, kisi):
    kisi.add_user("ada.l@example.org")
    ada = kisi.add_user("Ada@Example.org")
    assert client.user_find(email="ada@example.ORG") == str(ada["id"])
    assert client.user_find(email="nobody@example.org") is None


@pytest.mark.parametrize(
    ("answer", "error", "kind", "message"),
    [
        (Response(401, {"code": "000401", "error": "Authentication required"}), VendorAuthError, AUTH,
         "KISI: HTTP 401: KISI rejected the API key (Authentication required (code 000401))"),
        (Response(403, {"code": "000403", "error": "Forbidden"}), VendorPermanentError, PERMANENT,
         "KISI: HTTP 403: unknown id or missing permission (KISI answers 403 for both: check the id, that the key's "
         "user is an administrator, and that the account uses KISI's Organizations model): Forbidden (code 000403)"),
        (Response(404, {"code": "000404", "error": "Not found"}), VendorNotFound, PERMANENT,
         "KISI: HTTP 404: Not found (code 000404)"),
        (Response(422, {"code": "000422", "errors": {"email": ["is invalid", "is blank"]}}), VendorPermanentError,
         PERMANENT, "KISI: HTTP 422: email is invalid, is blank (code 000422)"),
        (Response(422, {"errors": ["Name can't be blank"]}), VendorPermanentError, PERMANENT,
         "KISI: HTTP 422: Name can't be blank"),
        (Response(400, "plain words"), VendorPermanentError, PERMANENT, "KISI: HTTP 400: plain words"),
    ],
    ids=["401", "403", "404", "422-fields", "422-list", "400-text"],
)
def test_errors_are_classified_and_in_words_and_never_retried(client, kisi, clock, answer, error, kind, message):
    kisi.force(answer)
    with pytest.raises(error) as caught:
        client.places_list()
    assert (caught.value.kind, str(caught.value)) == (kind, message)
    assert len(kisi.requests) == 1 and [s for s in clock.slept if s >= 1] == []


def test_429_with_retry_after_waits_as_asked(client, kisi, clock):
    kisi.force(Response(429, {"error": "slow down"}, headers={"Retry-After": "7"}))
    client.places_list()
    assert 7.0 in clock.slept and len(kisi.requests) == 2


def test_a_timeout_is_transient_after_the_backoffs(client, kisi, clock, monkeypatch):
    def timeout(*args, **kwargs):
        raise requests.Timeout

    monkeypatch.setattr(requests.Session, "request", timeout)
    with pytest.raises(VendorTransientError) as caught:
        client.places_list()
    assert caught.value.kind == TRANSIENT and "no answer within" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [{"id": 1}, [1, 2], [{"name": "no id"}], [{"id": None}], [{"id": True}], b"<html>", None],
    ids=["object", "numbers", "no-id", "null-id", "bool-id", "html", "empty"],
)
def test_a_malformed_list_is_a_permanent_error(client, kisi, body):
    kisi.force(Response(200, body))
    with pytest.raises(VendorPermanentError):
        client.locks_list()


def test_a_created_user_without_id_is_a_permanent_error(client, kisi):
    kisi.force(Response(200, {"email": "ada@example.org"}))
    with pytest.raises(VendorPermanentError, match="answer has no id"):
        client.user_create(email="ada@example.org", name="Ada", send_emails=True, confirm=False)


def test_a_deleted_role_assignment_already_gone_is_fine(client, kisi):
    client.role_assignment_delete(assignment_id="999")
    assert kisi.requests[-1].method == "DELETE"


def test_the_base_url_must_be_public_https_in_production(resolves_to, kisi):
    resolves_to["kisi.internal.example"] = ["10.0.0.8"]
    client = KisiClient(api_key=API_KEY, base_url="https://kisi.internal.example")
    with pytest.raises(VendorPermanentError):
        client.places_list()
    assert kisi.requests == []
