"""The Keys adapter end to end: cloud stand-in → gateways, doors and shares → the gateway stand-in opens."""

import time

import pytest
import responses
from django.db import connection as db_connection

from locks.models import Door, Gateway, LockConnection
from locks.vendors import adapter_class, vendor_choices
from locks.vendors.base import (
    Capability,
    DeviceOffline,
    VendorAuthError,
    VendorNotFound,
    VendorPermanentError,
)
from locks.vendors.thekeys.adapter import TheKeysAdapter
from locks.vendors.thekeys.forms import TheKeysSettingsForm
from tests.fakes.base import Response

from .conftest import CLOUD, CODE, CONNECTION_KEY, IDENTIFIER, PASSWORD, PHONE, closed_port_host, fixture


@pytest.fixture
def account(cloud_fake, gateway_fake, connection):
    """A The Keys account with one lock behind one gateway, and the connection pointed at the stand-ins."""
    lock = cloud_fake.add_lock(IDENTIFIER, nom="Porte d'entrée", battery=4065)
    accessory = cloud_fake.add_accessory(
        lock["id"], id_accessoire="GW01", nom="TK Gateway", gateway=gateway_fake
    )
    connection.config = {**connection.config, "api_base_url": cloud_fake.url}
    connection.save()
    return {"lock": lock, "gateway": accessory}


def synced(connection) -> Door:
    (door,) = TheKeysAdapter(connection).doors_sync()
    return Door.objects.select_related("gateway").get(pk=door.pk)


# --- declaration ----------------------------------------------------------------------------------
def test_it_is_registered():
    assert adapter_class("thekeys") is TheKeysAdapter
    assert ("thekeys", "The Keys") in vendor_choices()


def test_it_declares_only_what_the_gateway_can_do():
    assert TheKeysAdapter.capabilities == frozenset({Capability.REMOTE_OPEN, Capability.STATUS})
    assert Capability.PERSON_ACCOUNTS not in TheKeysAdapter.capabilities
    assert Capability.POLLING not in TheKeysAdapter.capabilities
    assert TheKeysAdapter.secret_fields == ("password",)


@pytest.mark.parametrize(
    "data,cleaned",
    [
        (
            {"username": "+33 6 12 34 56 78", "password": "pw", "gateway_host": "192.168.1.50"},
            ("+33612345678", "192.168.1.50"),
        ),
        ({"username": "0033612345678", "password": "pw", "gateway_host": ""}, ("+33612345678", "")),
        (
            {"username": "+33612345678", "password": "pw", "gateway_host": "tk-gateway.example.org:59856"},
            ("+33612345678", "tk-gateway.example.org:59856"),
        ),
        (
            {"username": "+33612345678", "password": "pw", "gateway_host": "fd00::50"},
            ("+33612345678", "[fd00::50]"),
        ),
    ],
)
def test_it_accepts_an_account_and_a_gateway_address(data, cleaned):
    form = TheKeysSettingsForm(data)
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["username"], form.cleaned_data["gateway_host"]) == cleaned


@pytest.mark.parametrize(
    "field,value,error",
    [
        ("username", "0612345678", "international format"),
        ("username", "camille@example.org", "international format"),
        ("gateway_host", "http://192.168.1.50/", "without http://"),
        ("gateway_host", "127.0.0.1", "cannot be a gateway"),
        ("gateway_host", "169.254.169.254", "cannot be a gateway"),
        ("gateway_host", "[::ffff:127.0.0.1]:80", "cannot be a gateway"),
        ("gateway_host", "fd00:ec2::254", "cannot be a gateway"),  # AWS metadata over IPv6
        ("gateway_host", "[fe80::1]", "cannot be a gateway"),
        ("gateway_host", "localhost:80", "IP address or host name"),
        ("gateway_host", "192.168.1.50:99999", "between 1 and 65535"),
        ("gateway_host", "user@192.168.1.50", "without http://"),
    ],
)
def test_it_rejects_bad_settings(field, value, error, settings):
    settings.LOCKS_ALLOW_PRIVATE_HOSTS = False
    data = {"username": "+33612345678", "password": "pw", "gateway_host": "", field: value}
    form = TheKeysSettingsForm(data)
    assert not form.is_valid()
    assert error in " ".join(form.errors[field])


def test_it_never_renders_the_password_back():
    form = TheKeysSettingsForm(initial={"username": "+33612345678", "password": "secret"})
    assert "secret" not in str(form["password"])


# --- test_connection ------------------------------------------------------------------------------
def test_it_tests_the_connection(account, connection, gateway_fake):
    connection.config = {**connection.config, "gateway_host": gateway_fake.url.removeprefix("http://")}
    summary = TheKeysAdapter(connection).test_connection()
    assert summary.startswith(f"Signed in to The Keys as {PHONE}: 1 lock and 1 gateway.")
    assert "answers and sees 1 lock" in summary


def test_it_reports_a_wrong_password(account, connection, cloud_fake):
    connection.credentials = {"password": "wrong"}
    with pytest.raises(VendorAuthError, match="rejected the account's phone number or password"):
        TheKeysAdapter(connection).test_connection()
    assert cloud_fake.tokens == set()


def test_it_reports_an_unreachable_gateway_when_testing(account, connection):
    connection.config = {**connection.config, "gateway_host": closed_port_host()}
    with pytest.raises(DeviceOffline, match="is unreachable"):
        TheKeysAdapter(connection).test_connection()


# --- doors_sync -----------------------------------------------------------------------------------
def test_it_creates_gateways_doors_and_shares(account, connection, cloud_fake, gateway_fake):
    door = synced(connection)

    (share,) = cloud_fake.shares.values()
    assert (
        share["description"]
        == f"accessbridge:{CONNECTION_KEY}:{account['lock']['id']}:{account['gateway']['id']}"
    )
    assert share["nom"] == "AccessBridge" and share["actif"] is True
    assert (door.vendor_ref, door.name, door.vendor_secrets["share_id"]) == (
        str(account["lock"]["id"]),
        "Porte d'entrée",
        str(share["id"]),
    )
    assert door.vendor_secrets["share_code"] == share["code"]
    assert door.extra["identifier"] == IDENTIFIER
    assert door.battery == 4065
    gateway = door.gateway
    assert (gateway.vendor_ref, gateway.name) == (str(account["gateway"]["id"]), "TK Gateway")
    assert gateway.host == gateway_fake.url.removeprefix("http://")  # the cloud's info.ip
    assert gateway.status["id_accessoire"] == "GW01"

    # The share code is encrypted at rest.
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT vendor_secrets FROM locks_door WHERE id = %s", [door.pk])
        (stored,) = cursor.fetchone()
    assert share["code"] not in stored

    # The gateway learned the share from the cloud: its code opens the door.
    TheKeysAdapter(connection).door_open(door=door)
    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_it_syncs_idempotently(account, connection, cloud_fake):
    first = synced(connection)
    second = synced(connection)
    assert len(cloud_fake.shares) == 1
    assert len(cloud_fake.requests_to("POST", r"/fr/api/v2/partage/create/.*")) == 1
    assert (second.pk, second.vendor_secrets["share_code"], second.vendor_secrets["share_id"]) == (
        first.pk,
        first.vendor_secrets["share_code"],
        first.vendor_secrets["share_id"],
    )
    assert Door.objects.count() == 1 and Gateway.objects.count() == 1


def test_it_finds_its_share_again_after_losing_its_rows(account, connection, cloud_fake):
    code = synced(connection).vendor_secrets["share_code"]
    Door.objects.all().delete()
    Gateway.objects.all().delete()
    assert synced(connection).vendor_secrets["share_code"] == code
    assert len(cloud_fake.shares) == 1


def test_it_does_not_take_another_connections_share(account, connection, cloud_fake, space_a):
    synced(connection)
    other = LockConnection.objects.create(
        space=space_a,
        vendor="thekeys",
        name="Second",
        credentials={"password": PASSWORD},
        config=connection.config,
    )
    synced(other)
    assert len(cloud_fake.shares) == 2


def test_it_reactivates_its_share_and_drops_duplicates(account, connection, cloud_fake):
    door = synced(connection)
    (share,) = cloud_fake.shares.values()
    share["actif"] = False
    duplicate = {**share, "id": share["id"] - 500, "code": "OldDuplicateCode", "actif": True}
    cloud_fake.shares[duplicate["id"]] = duplicate

    again = synced(connection)

    assert set(cloud_fake.shares) == {share["id"]}
    assert cloud_fake.shares[share["id"]]["actif"] is True
    assert again.vendor_secrets["share_code"] == door.vendor_secrets["share_code"]


def test_a_gateway_address_reported_by_the_cloud_is_checked_too(cloud_fake, connection, settings):
    lock = cloud_fake.add_lock(IDENTIFIER, nom="Porte d'entrée")
    cloud_fake.add_accessory(lock["id"], id_accessoire="GW01", nom="TK Gateway", ip="169.254.169.254")
    connection.config = {**connection.config, "api_base_url": cloud_fake.url}
    settings.LOCKS_ALLOW_PRIVATE_HOSTS = True  # the cloud stand-in itself runs on 127.0.0.1
    door = synced(connection)
    settings.LOCKS_ALLOW_PRIVATE_HOSTS = False
    assert door.gateway.host == "169.254.169.254"
    with pytest.raises(VendorPermanentError, match="is a cloud metadata address: it cannot be a gateway"):
        TheKeysAdapter(connection).door_open(door=door)


def test_it_prefers_the_admins_gateway_address(account, connection):
    connection.config = {**connection.config, "gateway_host": "192.168.1.77:8080"}
    connection.save()
    assert synced(connection).gateway.host == "192.168.1.77:8080"


def test_it_skips_locks_without_a_gateway(account, connection, cloud_fake):
    cloud_fake.add_lock("999", nom="Cave")
    doors = TheKeysAdapter(connection).doors_sync()
    assert [d.name for d in doors] == ["Porte d'entrée"]
    assert [d.name for d in TheKeysAdapter(connection).list_doors()] == ["Porte d'entrée", "Cave"]


def test_it_syncs_only_the_selected_locks(account, connection, cloud_fake, gateway_fake):
    other = cloud_fake.add_lock("888", nom="Bureau")
    cloud_fake.attach_accessory(account["gateway"]["id"], other["id"])
    connection.config = {**connection.config, "lock_ids": [other["id"]]}
    connection.save()
    doors = TheKeysAdapter(connection).doors_sync()
    assert [d.name for d in doors] == ["Bureau"]
    assert len(cloud_fake.shares) == 1


@responses.activate
def test_it_creates_the_share_against_recorded_cloud_answers(connection):
    _cloud_fixtures(shares="partage_all__none")
    create = responses.post(
        f"{CLOUD}/fr/api/v2/partage/create/1234/accessoire/A1B2C3D4E5F6", json=fixture("partage_create__ok")
    )

    (door,) = TheKeysAdapter(connection).doors_sync()

    assert create.call_count == 1
    assert "accessbridge%3A6f1c2b3a-0000-4000-8000-000000000001%3A1234%3A5678" in create.calls[0].request.body
    assert (door.vendor_secrets["share_code"], door.vendor_secrets["share_id"], door.gateway.host) == (CODE, "4321", "192.168.1.50")


@responses.activate
def test_it_finds_the_share_again_in_recorded_cloud_answers(connection):
    _cloud_fixtures(shares="partage_all__ours_and_others")

    (door,) = TheKeysAdapter(connection).doors_sync()

    assert (door.vendor_secrets["share_code"], door.vendor_secrets["share_id"]) == (CODE, "4321")  # ours, not Home Assistant's
    assert not [c for c in responses.calls if "/partage/create/" in c.request.url]


def _cloud_fixtures(*, shares: str) -> None:
    responses.post(f"{CLOUD}/api/login_check", json=fixture("login__access_token"))
    responses.get(f"{CLOUD}/fr/api/v2/utilisateur/get/{PHONE}", json=fixture("utilisateur_get__two_locks"))
    responses.get(f"{CLOUD}/fr/api/v2/accessoire/get/5678", json=fixture("accessoire_get__gateway"))
    responses.get(f"{CLOUD}/fr/api/v2/partage/all/serrure/1234", json=fixture(shares))


# --- remote open ----------------------------------------------------------------------------------
def test_it_opens_and_closes_the_door(adapter, door, gateway_fake):
    adapter.door_open(door=door)
    door.refresh_from_db()
    assert door.state == Door.State.OPEN and door.last_status_at is not None
    adapter.door_close(door=door)
    door.refresh_from_db()
    assert door.state == Door.State.CLOSED
    locker = gateway_fake.locker(IDENTIFIER)
    assert (locker.opens, locker.closes) == (1, 1)
    gateway = Gateway.objects.get(pk=door.gateway_id)
    assert gateway.last_seen_at is not None and gateway.status["reachable"] is True
    assert gateway.last_signing_ts == gateway_fake.accepted_ts[-1]


def test_it_retries_a_busy_gateway_when_opening(adapter, door, gateway_fake, no_sleep):
    gateway_fake.busy(3)
    adapter.door_open(door=door)
    assert no_sleep == [0.5, 1.0, 2.0]
    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_it_resynchronizes_a_gateway_with_an_invalid_clock_when_opening(adapter, door, gateway_fake):
    gateway_fake.clock_invalid = True
    adapter.door_open(door=door)
    assert gateway_fake.synchronizations == 1
    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_it_explains_a_refused_key(adapter, door, gateway_fake):
    gateway_fake.fail_next(36)
    with pytest.raises(VendorAuthError, match="The lock refused the gateway's key"):
        adapter.door_open(door=door)
    door.refresh_from_db()
    assert door.state == Door.State.UNKNOWN


def test_it_reports_an_unreachable_gateway_quickly(adapter, door):
    Gateway.objects.filter(pk=door.gateway_id).update(host=closed_port_host())
    door = Door.objects.select_related("gateway").get(pk=door.pk)
    started = time.monotonic()
    with pytest.raises(DeviceOffline, match="is unreachable"):
        adapter.door_open(door=door)
    assert time.monotonic() - started < 2
    gateway = Gateway.objects.get(pk=door.gateway_id)
    assert gateway.status["reachable"] is False
    assert "is unreachable" in gateway.status["last_error"]


def test_it_does_not_hang_on_a_silent_gateway(connection, door, gateway_fake):
    connection.config = {**connection.config, "gateway_read_timeout": 0.3}
    gateway_fake.force(Response(200, {"status": "0", "code": "ok"}, delay=3))
    started = time.monotonic()
    with pytest.raises(DeviceOffline, match=r"no answer within 0.3 s"):
        TheKeysAdapter(connection).door_open(door=door)
    assert time.monotonic() - started < 2


def test_it_refuses_a_door_of_another_connection_without_calling_the_gateway(space_b, door, gateway_fake):
    foreign = LockConnection.objects.create(
        space=space_b, vendor="thekeys", name="Other", config={"username": PHONE}
    )
    with pytest.raises(VendorNotFound):
        TheKeysAdapter(foreign).door_open(door=door)
    with pytest.raises(VendorNotFound):
        TheKeysAdapter(foreign).gateway_synchronize(gateway=door.gateway)
    assert gateway_fake.requests == []


@pytest.mark.parametrize("missing", ["share_code", "gateway", "identifier"])
def test_it_explains_a_door_not_synced_yet_without_calling_the_gateway(adapter, door, gateway_fake, missing):
    if missing == "share_code":
        door.vendor_secrets = {}
    elif missing == "gateway":
        door.gateway = None
    else:
        door.extra = {}
    with pytest.raises(VendorPermanentError, match="run “Sync doors”"):
        adapter.door_open(door=door)
    assert gateway_fake.requests == []


# --- status and gateway admin actions -------------------------------------------------------------
def test_it_refreshes_door_and_gateway_status(adapter, door, gateway_fake):
    gateway_fake.add_locker(IDENTIFIER, CODE, battery=3950, state="open")
    adapter.status_refresh()
    door.refresh_from_db()
    assert (door.state, door.battery) == (Door.State.OPEN, 3950)
    assert door.extra["detected"] is True and door.extra["status_error"] == ""
    gateway = Gateway.objects.get(pk=door.gateway_id)
    assert gateway.version == "17"
    assert gateway.status["current_status"] == "Scanning..." and gateway.status["reachable"] is True


def test_it_marks_a_lock_the_gateway_does_not_see(adapter, door, gateway_fake):
    gateway_fake.locker(IDENTIFIER).detected = False
    adapter.status_refresh()
    door.refresh_from_db()
    assert door.extra["detected"] is False
    assert door.extra["status_error"] == "The gateway does not see this lock."
    assert door.state == Door.State.UNKNOWN


def test_it_records_a_lock_error_during_refresh(adapter, door, gateway_fake):
    gateway_fake.fail_next(37)
    adapter.status_refresh()
    door.refresh_from_db()
    assert "could not talk to the lock" in door.extra["status_error"]


def test_it_refreshes_an_older_gateway_without_status_endpoint(adapter, door, gateway_fake):
    gateway_fake.force(Response(404, "Not found"), path="^/status$")
    adapter.status_refresh()
    gateway = Gateway.objects.get(pk=door.gateway_id)
    assert gateway.status["status_endpoint"] is False
    door.refresh_from_db()
    assert door.state == Door.State.CLOSED


def test_it_records_an_unreachable_gateway_during_refresh(adapter, door):
    Gateway.objects.filter(pk=door.gateway_id).update(host=closed_port_host())
    adapter.status_refresh()  # a schedule must not crash on one offline gateway
    gateway = Gateway.objects.get(pk=door.gateway_id)
    assert gateway.status["reachable"] is False


def test_it_runs_the_gateway_admin_actions(adapter, door, gateway_fake):
    adapter.gateway_synchronize(gateway=door.gateway)
    adapter.gateway_update_firmware(gateway=door.gateway)
    adapter.locker_synchronize(door=door)
    adapter.locker_update_firmware(door=door)
    locker = gateway_fake.locker(IDENTIFIER)
    assert (gateway_fake.synchronizations, gateway_fake.updates, locker.synchronizations, locker.updates) == (
        1,
        1,
        1,
        1,
    )


def test_it_keeps_syncing_when_the_account_may_not_share_one_lock(account, connection, cloud_fake):
    other = cloud_fake.add_lock("888", nom="Voisin")
    cloud_fake.attach_accessory(account["gateway"]["id"], other["id"])
    cloud_fake.force(
        Response(403, {"code": 403, "message": "Access denied."}), path=rf"/partage/create/{other['id']}/"
    )

    doors = {d.name: d for d in TheKeysAdapter(connection).doors_sync()}

    assert doors["Porte d'entrée"].vendor_secrets["share_code"] and doors["Porte d'entrée"].extra["sync_error"] == ""
    assert "share_code" not in doors["Voisin"].vendor_secrets
    assert "HTTP 403" in doors["Voisin"].extra["sync_error"]
    with pytest.raises(VendorPermanentError, match="no gateway share yet"):
        TheKeysAdapter(connection).door_open(door=doors["Voisin"])


def test_it_marks_a_gateway_reachable_again_after_an_outage(adapter, door, gateway_fake):
    adapter.door_open(door=door)  # the instance now believes all is well
    Gateway.objects.filter(pk=door.gateway_id).update(
        status={"reachable": False, "last_error": "unreachable", "current_status": "Scanning..."}
    )
    adapter.door_open(door=door)
    status = Gateway.objects.get(pk=door.gateway_id).status
    assert (status["reachable"], status["last_error"], status["current_status"]) == (True, "", "Scanning...")
    last_seen = Gateway.objects.get(pk=door.gateway_id).last_seen_at
    adapter.door_open(door=door)
    assert Gateway.objects.get(pk=door.gateway_id).last_seen_at > last_seen
