"""The cloud API client against real-shaped fixtures (tests/fixtures/thekeys) through `responses`."""

import pytest
import responses
from responses import matchers

from accessbridge.http import AUTH
from locks.vendors.base import VendorAuthError, VendorError, VendorNotFound, VendorTransientError
from locks.vendors.thekeys.cloud import TheKeysCloud

from .conftest import CLOUD, CODE, IDENTIFIER, PASSWORD, PHONE, fixture

API = f"{CLOUD}/fr/api/v2"
LOGIN = f"{CLOUD}/api/login_check"


@pytest.fixture
def cloud():
    return TheKeysCloud(username=PHONE, password=PASSWORD, base_url=CLOUD)


def login_ok(variant="access_token"):
    return responses.post(
        LOGIN,
        json=fixture(f"login__{variant}"),
        match=[matchers.urlencoded_params_matcher({"_username": PHONE, "_password": PASSWORD})],
    )


@responses.activate
def test_it_signs_in_and_lists_locks_with_their_gateways(cloud):
    login_ok()
    user = responses.get(f"{API}/utilisateur/get/{PHONE}", json=fixture("utilisateur_get__two_locks"))

    locks = cloud.locks()

    assert user.calls[0].request.headers["Authorization"] == "Bearer tk-access-token-1"
    entrance, cellar = locks
    assert (entrance.id, entrance.identifier, entrance.name, entrance.battery) == (
        1234,
        IDENTIFIER,
        "Porte d'entrée",
        4065,
    )
    assert [(a.id, a.id_accessoire, a.type) for a in entrance.accessories] == [
        (5678, "A1B2C3D4E5F6", 1),
        (5679, "K9L8M7N6", 2),
    ]
    assert [g.id for g in entrance.gateways] == [5678]
    assert cellar.gateways == []


@responses.activate
def test_it_accepts_the_older_token_field(cloud):
    login_ok("token")
    user = responses.get(f"{API}/utilisateur/get/{PHONE}", json=fixture("utilisateur_get__two_locks"))
    cloud.locks()
    assert user.calls[0].request.headers["Authorization"].startswith("Bearer eyJ")


@responses.activate
def test_it_reuses_its_token_until_it_expires(cloud):
    login = login_ok()
    responses.get(f"{API}/utilisateur/get/{PHONE}", json=fixture("utilisateur_get__two_locks"))
    responses.get(f"{API}/accessoire/get/5678", json=fixture("accessoire_get__gateway"))
    cloud.locks()
    cloud.accessory(5678)
    TheKeysCloud(username=PHONE, password=PASSWORD, base_url=CLOUD).locks()  # another instance, same process
    assert login.call_count == 1


@responses.activate
def test_it_signs_in_again_when_the_token_is_about_to_expire(cloud):
    login = responses.post(LOGIN, json={"access_token": "short", "expires_in": 30})
    responses.get(f"{API}/utilisateur/get/{PHONE}", json=fixture("utilisateur_get__two_locks"))
    cloud.locks()
    cloud.locks()
    assert login.call_count == 2  # 30 s is inside the safety margin


@responses.activate
def test_it_signs_in_again_once_when_the_token_is_refused(cloud):
    login = login_ok()
    responses.get(f"{API}/utilisateur/get/{PHONE}", status=401, json=fixture("api__invalid_jwt"))
    responses.get(f"{API}/utilisateur/get/{PHONE}", json=fixture("utilisateur_get__two_locks"))
    assert len(cloud.locks()) == 2
    assert login.call_count == 2


@responses.activate
def test_it_gives_up_when_a_fresh_token_is_refused_too(cloud):
    login_ok()
    responses.get(f"{API}/utilisateur/get/{PHONE}", status=401, json=fixture("api__invalid_jwt"))
    with pytest.raises(VendorAuthError, match="no longer accepts AccessBridge's sign-in"):
        cloud.locks()


@responses.activate
def test_it_reports_a_wrong_password_clearly(cloud):
    responses.post(LOGIN, status=401, json=fixture("login__bad_credentials"))
    with pytest.raises(VendorAuthError) as excinfo:
        cloud.locks()
    assert excinfo.value.kind == AUTH
    assert str(excinfo.value) == "The Keys: The Keys rejected the account's phone number or password."


def test_it_needs_credentials():
    with pytest.raises(VendorAuthError):
        TheKeysCloud(username="", password="x")


@responses.activate
def test_it_reads_the_gateway_address(cloud):
    login_ok()
    responses.get(f"{API}/accessoire/get/5678", json=fixture("accessoire_get__gateway"))
    info = cloud.accessory(5678)
    assert (info.id_accessoire, info.type, info.ip, info.last_seen) == (
        "A1B2C3D4E5F6",
        1,
        "192.168.1.50",
        "2024-05-02 08:12:00",
    )


@responses.activate
def test_it_lists_the_accessory_shares_of_a_lock(cloud):
    login_ok()
    responses.get(f"{API}/partage/all/serrure/1234", json=fixture("partage_all__ours_and_others"))
    ha, ours = cloud.shares(1234)
    assert (ha.name, ha.code) == ("TheKeysPy (Remote)", "HomeAssistantCode1")
    assert (ours.id, ours.code, ours.active, ours.accessory_id) == (4321, CODE, True, 5678)
    assert ours.description == "accessbridge:6f1c2b3a-0000-4000-8000-000000000001:1234:5678"


@responses.activate
def test_it_reads_no_shares_as_an_empty_list(cloud):
    login_ok()
    responses.get(f"{API}/partage/all/serrure/1234", json=fixture("partage_all__none"))
    assert cloud.shares(1234) == []


@responses.activate
def test_it_creates_a_share_with_our_description(cloud):
    login_ok()
    create = responses.post(
        f"{API}/partage/create/1234/accessoire/A1B2C3D4E5F6",
        json=fixture("partage_create__ok"),
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "partage_accessoire[nom]": "AccessBridge",
                    "partage_accessoire[description]": "accessbridge:x:1234:5678",
                    "partage_accessoire[actif]": "1",
                }
            )
        ],
    )
    share = cloud.share_create(
        lock_id=1234,
        id_accessoire="A1B2C3D4E5F6",
        name="AccessBridge",
        description="accessbridge:x:1234:5678",
    )
    assert (share.id, share.code) == (4321, CODE)
    assert create.call_count == 1


@pytest.mark.parametrize(
    "body",
    [
        {"status": 200, "data": {"id": 1}},  # no code
        {"status": 200, "data": {"id": "x", "code": CODE}},
        {"status": 200},
        ["not", "an", "object"],
    ],
)
@responses.activate
def test_it_turns_a_malformed_share_answer_into_a_vendor_error(cloud, body):
    login_ok()
    responses.post(f"{API}/partage/create/1234/accessoire/GW", json=body)
    with pytest.raises(VendorError):
        cloud.share_create(lock_id=1234, id_accessoire="GW", name="AccessBridge", description="d")


@pytest.mark.parametrize(
    "body",
    [
        {"status": 200, "data": {"serrures": [{"id": 1, "nom": "x", "accessoires": []}]}},  # no id_serrure
        {"status": 200, "data": {"serrures": [{"id": 1, "id_serrure": "1", "accessoires": [{"id": 3}]}]}},
        {"status": 200, "data": {"serrures": "none"}},
        {"status": 500, "message": "Internal", "data": None},
    ],
)
@responses.activate
def test_it_turns_a_malformed_user_answer_into_a_vendor_error(cloud, body):
    login_ok()
    responses.get(f"{API}/utilisateur/get/{PHONE}", json=body)
    with pytest.raises(VendorError):
        cloud.locks()


@responses.activate
def test_it_turns_a_missing_lock_into_not_found(cloud):
    login_ok()
    responses.get(
        f"{API}/partage/all/serrure/1", status=404, json={"status": 404, "message": "serrure not found"}
    )
    with pytest.raises(VendorNotFound):
        cloud.shares(1)


@responses.activate
def test_it_reports_an_outage_as_transient(cloud):
    responses.post(LOGIN, status=503, body="maintenance")
    with pytest.raises(VendorTransientError):
        cloud.locks()
