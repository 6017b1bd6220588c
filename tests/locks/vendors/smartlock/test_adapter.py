"""The SmartLock adapter against the SmartLock stand-in: people, errors, settings."""

import pytest

from accessbridge.http import AUTH, PERMANENT, TRANSIENT
from locks.forms import vendor_settings_form
from locks.models import LockConnection
from locks.vendors import adapter_for, vendor_choices
from locks.vendors.base import (
    Capability,
    VendorAuthError,
    VendorConflict,
    VendorPermanentError,
    VendorTransientError,
)
from locks.vendors.smartlock.adapter import SmartLockAdapter
from spaces.models import Membership
from tests.fakes.base import Response


@pytest.fixture
def adapter(connection):
    return adapter_for(connection)


def member(email="ada@example.org"):
    return Membership(cobot_id="m1", email=email, name="Ada")


def test_it_is_registered_and_declares_what_it_can_do():
    assert ("smartlock", "SmartLock") in vendor_choices()
    assert SmartLockAdapter.capabilities == {Capability.PERSON_ACCOUNTS, Capability.WEBHOOKS}
    assert not SmartLockAdapter.lists_doors


def test_it_registers_a_person_with_the_api_token(adapter, smartlock):
    person_id = adapter.person_ensure(membership=member())
    assert smartlock.users[person_id]["email"] == "ada@example.org"
    (request,) = smartlock.requests_to("POST", "/users")
    assert request.headers["x-api-token"] == "sl-token-123"
    assert request.json() == {"email": "ada@example.org"}
    assert adapter.checkin_token_for(vendor_person_id=person_id) == person_id


def test_an_email_smartlock_knows_gives_back_the_same_person(adapter, smartlock):
    existing = smartlock.add_user("ada@example.org")
    assert adapter.person_ensure(membership=member()) == existing["id"]
    assert len(smartlock.users) == 1


def test_it_removes_a_person_and_a_gone_one_is_fine(adapter, smartlock):
    user = smartlock.add_user("ada@example.org")
    adapter.person_remove(vendor_person_id=user["id"])
    adapter.person_remove(vendor_person_id=user["id"])
    assert smartlock.users == {}
    assert [r.path for r in smartlock.requests_to("DELETE", "/users/.*")] == [f"/users/{user['id']}"] * 2


def test_it_lists_the_people_there(adapter, smartlock):
    a, b = smartlock.add_user("a@example.org"), smartlock.add_user("b@example.org")
    assert adapter.persons_present() == {a["id"], b["id"]}
    assert adapter.test_connection() == "2 people registered at SmartLock"


def test_a_member_without_email_cannot_be_registered(adapter, smartlock):
    with pytest.raises(VendorPermanentError, match="no email address"):
        adapter.person_ensure(membership=member(email=""))
    assert smartlock.requests == []


@pytest.mark.parametrize(
    "response,error,kind",
    [
        (Response(401, {"error": "unauthorized"}), VendorAuthError, AUTH),
        (Response(403, {"error": "forbidden"}), VendorAuthError, AUTH),
        (Response(500, {"error": "boom"}), VendorTransientError, TRANSIENT),
        (
            Response(429, {"error": "slow down"}, headers={"Retry-After": "30"}),
            VendorTransientError,
            TRANSIENT,
        ),
        (Response(422, {"error": "invalid", "field": "email"}), VendorPermanentError, PERMANENT),
        (Response(201, {"email": "ada@example.org"}), VendorPermanentError, PERMANENT),
        (Response(201, {"id": ""}), VendorPermanentError, PERMANENT),
        (Response(201, [1, 2]), VendorPermanentError, PERMANENT),
        (Response(201, b"<html>"), VendorPermanentError, PERMANENT),
        (Response(409, {"error": "exists"}), VendorPermanentError, PERMANENT),
    ],
)
def test_vendor_answers_become_classified_errors(adapter, smartlock, response, error, kind):
    smartlock.force(response)
    with pytest.raises(error) as raised:
        adapter.person_ensure(membership=member())
    assert raised.value.kind == kind
    assert raised.value.service == "SmartLock"
    if response.status == 429:
        assert raised.value.retry_after == 30


def test_a_conflict_on_delete_is_a_conflict(adapter, smartlock):
    smartlock.force(Response(409, {"error": "busy"}))
    with pytest.raises(VendorConflict):
        adapter.person_remove(vendor_person_id="usr_1")


def test_an_unreachable_smartlock_is_transient(space_a):
    connection = LockConnection(
        space=space_a,
        vendor="smartlock",
        config={"base_url": "http://127.0.0.1:9"},
        credentials={"api_token": "x"},
    )
    with pytest.raises(VendorTransientError, match="could not connect"):
        adapter_for(connection).test_connection()


def test_the_settings_form_keeps_secrets_out_of_the_page(connection):
    form = vendor_settings_form(vendor="smartlock", connection=connection)
    html = form.as_div()
    assert "sl-t" not in html  # not even its first characters
    assert "A value is stored" in html
    assert form.fields["api_token"].required is False
    fresh = vendor_settings_form(vendor="smartlock", data={"settings-base_url": "not a url"})
    assert not fresh.is_valid()
    assert set(fresh.errors) == {"base_url", "api_token"}


@pytest.mark.parametrize(
    "base_url,ok",
    [
        ("https://api.smartlock.com/", True),
        ("http://127.0.0.1:8080", False),  # no exception for this machine outside tests and DEBUG
        ("http://api.smartlock.com", False),
    ],
)
def test_the_api_token_only_travels_over_tls(base_url, ok, settings):
    settings.LOCKS_ALLOW_PRIVATE_HOSTS = False
    form = vendor_settings_form(
        vendor="smartlock", data={"settings-base_url": base_url, "settings-api_token": "t"}
    )
    assert form.is_valid() is ok
    if ok:
        assert form.cleaned_data["base_url"] == base_url.rstrip("/")


# --- where the admin's base URL may point (SSRF) --------------------------------------------------
def smartlock_at(space, base_url):
    return adapter_for(
        LockConnection(
            space=space, vendor="smartlock", config={"base_url": base_url}, credentials={"api_token": "t"}
        )
    )


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.0.0.5"],
        ["192.168.1.20"],
        ["169.254.169.254"],  # cloud metadata
        ["100.64.0.1"],  # carrier-grade NAT
        ["::1"],
        ["::ffff:10.0.0.1"],
        ["fd00:ec2::254"],
        ["224.0.0.251"],
        ["93.184.216.34", "10.0.0.5"],  # one bad answer is enough
    ],
)
def test_a_base_url_resolving_to_a_private_address_is_never_called(space_a, resolves_to, addresses):
    resolves_to["smartlock.example.test"] = addresses
    adapter = smartlock_at(space_a, "https://smartlock.example.test")
    with pytest.raises(VendorPermanentError, match="is not a public internet address"):
        adapter.test_connection()
    with pytest.raises(VendorPermanentError, match="is not a public internet address"):
        adapter.person_ensure(membership=member())


def test_an_ip_literal_and_plain_http_are_refused_at_call_time_too(space_a, resolves_to):
    with pytest.raises(VendorPermanentError, match="not a public internet address"):
        smartlock_at(space_a, "https://127.0.0.1:8443").test_connection()
    with pytest.raises(VendorPermanentError, match="only https://"):
        smartlock_at(space_a, "http://api.smartlock.example").test_connection()


def test_public_addresses_are_fine():
    import ipaddress

    from locks.vendors.addresses import address_is_public

    assert address_is_public(ipaddress.ip_address("93.184.216.34"))
    assert address_is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    assert not address_is_public(ipaddress.ip_address("168.63.129.16"))  # Azure's metadata wire server


def test_errors_carry_the_status_never_the_answers_body(adapter, smartlock):
    smartlock.force(Response(500, "<html>internal admin page: db password hunter2</html>"))
    with pytest.raises(VendorTransientError) as raised:
        adapter.test_connection()
    assert str(raised.value) == "SmartLock: HTTP 500 Internal Server Error"
