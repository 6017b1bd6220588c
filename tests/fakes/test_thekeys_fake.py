import base64
import hashlib
import hmac
import threading
import time

import pytest
import requests

from tests.fakes.base import Response
from tests.fakes.thekeys import TheKeysCloudFake, TheKeysGatewayFake

LOCKER = "45961123"
CODE = "Zmo1sps2OVyCFtl1"
BUSY = {"status": "500", "message": "busy"}
OK = {"status": "0", "code": "ok"}


def signature(code: str, ts: str) -> str:
    # Seed 003, computed here independently of the fake.
    return base64.b64encode(hmac.new(code.encode(), ts.encode("ascii"), hashlib.sha256).digest()).decode()


@pytest.fixture
def gateway():
    with TheKeysGatewayFake() as fake:
        fake.add_locker(LOCKER, CODE, battery=4065)
        yield fake


class Client:
    """Signs like a real client: a fresh, never decreasing ts per call."""

    def __init__(self, gateway: TheKeysGatewayFake):
        self.url = gateway.url
        self.ts = 1_700_000_000

    def signed(self, path: str, identifier: str = LOCKER, code: str = CODE, ts: int | None = None) -> dict:
        if ts is None:
            self.ts += 1
            ts = self.ts
        form = {"identifier": identifier, "ts": str(ts), "hash": signature(code, str(ts))}
        return requests.post(f"{self.url}{path}", data=form, timeout=5).json()


@pytest.fixture
def client(gateway):
    return Client(gateway)


def test_it_signs_with_the_known_vector():
    expected = signature("abc123", "1700000000")
    assert expected == "H7DM2kcti/67HQC6T5yF3ChZg6YPTDNzWaaQ6lEZdSc="
    assert TheKeysGatewayFake.sign("abc123", 1700000000) == {"ts": "1700000000", "hash": expected}


def test_it_accepts_the_known_vector_on_the_wire(gateway):
    gateway.add_locker("1", "abc123")
    form = {"identifier": "1", "ts": "1700000000", "hash": "H7DM2kcti/67HQC6T5yF3ChZg6YPTDNzWaaQ6lEZdSc="}
    assert requests.post(f"{gateway.url}/open", data=form, timeout=5).json() == OK
    assert gateway.accepted_ts == [1700000000]


def test_it_lists_detected_lockers(gateway):
    gateway.add_locker("777", None, battery=3900, rssi=-80)
    gateway.add_locker("888", CODE, detected=False)
    body = requests.get(f"{gateway.url}/lockers", timeout=5).json()
    assert body == {
        "status": "ok",
        "devices": [
            {"identifier": 45961123, "rssi": -71, "battery": 4065},
            {"identifier": 777, "rssi": -80, "battery": 3900},
        ],
    }


def test_it_reports_its_status(gateway):
    assert requests.get(f"{gateway.url}/status", timeout=5).json() == {
        "version": "17",
        "current_status": "Scanning...",
    }


def test_it_synchronizes_and_updates_itself(gateway):
    assert requests.get(f"{gateway.url}/synchronize", timeout=5).json() == {"status": "ok", "code": 0}
    assert requests.get(f"{gateway.url}/update", timeout=5).json() == {"status": "ok", "code": 0}
    assert requests.post(f"{gateway.url}/update", timeout=5).json() == {"status": "ok", "code": 0}
    assert (gateway.synchronizations, gateway.updates) == (1, 2)


@pytest.mark.parametrize(
    "path,counter", [("/locker/synchronize", "synchronizations"), ("/locker/update", "updates")]
)
def test_it_synchronizes_and_updates_a_locker(gateway, path, counter):
    r = requests.post(f"{gateway.url}{path}", data={"identifier": LOCKER}, timeout=5)
    assert r.json() == OK
    assert getattr(gateway.locker(LOCKER), counter) == 1

    gateway.add_locker("999", CODE, detected=False)
    for identifier in ("404404", "999"):
        r = requests.post(f"{gateway.url}{path}", data={"identifier": identifier}, timeout=5)
        assert r.json()["status"] == "1"  # seed 003: "La serrure n'est pas vue par la gateway"

    assert requests.post(f"{gateway.url}{path}", data={}, timeout=5).json()["status"] == "400"


def test_it_opens_and_closes(gateway, client):
    assert client.signed("/open") == OK
    assert gateway.locker(LOCKER).state == 0x32
    assert client.signed("/close") == OK
    assert client.signed("/close") == OK
    locker = gateway.locker(LOCKER)
    assert (locker.opens, locker.closes, locker.state) == (1, 2, 0x31)
    assert gateway.accepted_ts == [1_700_000_001, 1_700_000_002, 1_700_000_003]
    (first, *_) = gateway.requests_to("POST", "/open")
    assert first.form()["identifier"] == LOCKER


def test_it_reports_the_locker_state(gateway, client):
    expected = {"status": "0", "code": 0x31, "id": 45961123, "battery": 4065, "rssi": -71}
    assert client.signed("/locker_status") == expected
    client.signed("/open")
    assert client.signed("/locker_status")["code"] == 0x32
    gateway.add_locker("5", CODE, state="unknown")
    assert client.signed("/locker_status", identifier="5")["code"] == 0x30


@pytest.mark.parametrize("path", ["/open", "/close", "/locker_status"])
@pytest.mark.parametrize("missing", ["identifier", "ts", "hash"])
def test_it_names_the_missing_parameter(gateway, path, missing):
    form = {"identifier": LOCKER, "ts": "1700000000", "hash": signature(CODE, "1700000000")}
    del form[missing]
    body = requests.post(f"{gateway.url}{path}", data=form, timeout=5).json()
    assert body == {"status": "400", "code": f"missing parameter: {missing}"}
    assert gateway.accepted_ts == []


def test_it_rejects_a_non_numeric_ts(gateway):
    form = {"identifier": LOCKER, "ts": "soon", "hash": signature(CODE, "soon")}
    assert requests.post(f"{gateway.url}/open", data=form, timeout=5).json()["status"] == "400"


@pytest.mark.parametrize("path", ["/open", "/close", "/locker_status"])
def test_it_answers_signature_and_detection_errors(gateway, client, path):
    gateway.add_locker("100", None)
    gateway.add_locker("200", CODE, detected=False)
    assert client.signed(path, identifier="100") == {
        "status": "32",
        "code": "lock not shared with the gateway",
    }
    assert client.signed(path, code="wrong-code") == {"status": "33", "code": "invalid hmac"}
    assert client.signed(path, identifier="404") == {"status": "34", "code": "lock not detected"}
    assert client.signed(path, identifier="200") == {"status": "34", "code": "lock not detected"}
    locker = gateway.locker(LOCKER)
    assert (locker.opens, locker.closes, locker.state) == (0, 0, 0x31)


def test_it_rejects_an_older_timestamp(gateway, client):
    assert client.signed("/open", ts=1_700_000_010) == OK
    assert client.signed("/open", ts=1_700_000_009) == {"status": "33", "code": "invalid hmac"}
    assert gateway.rejected_old_ts == 1
    assert client.signed("/open", ts=1_700_000_010) == OK  # only older is refused by default
    assert gateway.accepted_ts == [1_700_000_010, 1_700_000_010]
    assert gateway.locker(LOCKER).opens == 2


def test_it_can_also_reject_an_equal_timestamp(gateway, client):
    gateway.reject_equal_ts = True
    assert client.signed("/open", ts=1_700_000_010) == OK
    assert client.signed("/close", ts=1_700_000_010)["status"] == "33"
    assert gateway.rejected_old_ts == 1


def test_it_checks_timestamps_across_lockers(gateway, client):
    # One sequence per gateway, not per locker: two workers signing for two doors must still order.
    gateway.add_locker("2", "other-code")
    assert client.signed("/open", ts=1_700_000_010) == OK
    assert client.signed("/open", identifier="2", code="other-code", ts=1_700_000_005)["status"] == "33"
    assert gateway.rejected_old_ts == 1


def test_it_answers_clock_invalid_until_synchronized(gateway, client):
    gateway.clock_invalid = True
    assert client.signed("/open") == {"status": "38", "code": "gateway clock invalid"}
    assert client.signed("/locker_status")["status"] == "38"
    requests.get(f"{gateway.url}/synchronize", timeout=5)
    assert client.signed("/open") == OK


def test_it_can_start_with_an_invalid_clock():
    with TheKeysGatewayFake(clock_invalid=True) as fake:
        fake.add_locker(LOCKER, CODE)
        assert Client(fake).signed("/close")["status"] == "38"


def test_it_answers_busy_when_told(gateway, client):
    gateway.busy(2)
    assert client.signed("/open") == BUSY
    assert requests.get(f"{gateway.url}/lockers", timeout=5).json() == BUSY
    assert client.signed("/open") == OK
    assert gateway.locker(LOCKER).opens == 1


def test_it_answers_busy_to_a_concurrent_request():
    with TheKeysGatewayFake(processing_delay=0.3) as fake:
        fake.add_locker(LOCKER, CODE)
        client = Client(fake)
        first: dict = {}
        thread = threading.Thread(target=lambda: first.update(client.signed("/open")))
        thread.start()
        deadline = time.monotonic() + 2
        while not fake.in_progress and time.monotonic() < deadline:
            time.sleep(0.005)
        assert requests.get(f"{fake.url}/lockers", timeout=5).json() == BUSY
        thread.join()
        assert first == OK
        assert fake.busy_answers == 1
        assert requests.get(f"{fake.url}/lockers", timeout=5).json()["status"] == "ok"


@pytest.mark.parametrize("status,code", [(36, "key refused by the lock"), (37, "lock connection error")])
def test_it_injects_lock_errors(gateway, client, status, code):
    gateway.fail_next(status)
    assert requests.get(f"{gateway.url}/lockers", timeout=5).json()["status"] == "ok"  # not a signed call
    assert client.signed("/open") == {"status": str(status), "code": code}
    assert client.signed("/open") == OK


def test_it_can_be_slow_enough_to_time_out(gateway):
    gateway.force(Response(200, {"status": "ok", "devices": []}, delay=0.5))
    with pytest.raises(requests.Timeout):
        requests.get(f"{gateway.url}/lockers", timeout=0.1)


# --- cloud ------------------------------------------------------------------------------------


@pytest.fixture
def cloud():
    with TheKeysCloudFake(username="+33611111111", password="pw") as fake:
        yield fake


def login(cloud) -> dict:
    r = requests.post(
        f"{cloud.url}/api/login_check", data={"_username": "+33611111111", "_password": "pw"}, timeout=5
    )
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_it_logs_in(cloud):
    r = requests.post(
        f"{cloud.url}/api/login_check", data={"_username": "+33611111111", "_password": "pw"}, timeout=5
    )
    assert r.json()["expires_in"] == 3600
    assert r.json()["access_token"] in cloud.tokens
    bad = requests.post(
        f"{cloud.url}/api/login_check", data={"_username": "+33611111111", "_password": "x"}, timeout=5
    )
    assert bad.status_code == 401


def test_it_can_answer_the_older_token_field():
    with TheKeysCloudFake(username="u", password="p", token_field="token") as fake:
        r = requests.post(f"{fake.url}/api/login_check", data={"_username": "u", "_password": "p"}, timeout=5)
        assert set(r.json()) == {"token"}


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/fr/api/v2/utilisateur/get/+33611111111"),
        ("GET", "/fr/api/v2/accessoire/get/1"),
        ("POST", "/fr/api/v2/partage/create/1/accessoire/ABC"),
        ("GET", "/fr/api/v2/partage/all/serrure/1"),
        ("POST", "/fr/api/v2/partage/accessoire/update/1"),
        ("POST", "/fr/api/v2/partage/accessoire/delete/1"),
    ],
)
def test_it_requires_a_bearer_token(cloud, method, path):
    for headers in ({}, {"Authorization": "Bearer nope"}):
        assert requests.request(method, f"{cloud.url}{path}", headers=headers, timeout=5).status_code == 401


def test_it_expires_tokens(cloud):
    headers = login(cloud)
    cloud.expire_tokens()
    r = requests.get(f"{cloud.url}/fr/api/v2/utilisateur/get/+33611111111", headers=headers, timeout=5)
    assert r.status_code == 401


def test_it_lists_locks_with_accessories(cloud, gateway):
    lock = cloud.add_lock(LOCKER, nom="Entrée", battery=4000)
    gw = cloud.add_accessory(lock["id"], id_accessoire="GW01", gateway=gateway)
    keypad = cloud.add_accessory(lock["id"], type=2, nom="Clavier", id_accessoire="KP01")
    headers = login(cloud)

    body = requests.get(
        f"{cloud.url}/fr/api/v2/utilisateur/get/+33611111111", headers=headers, timeout=5
    ).json()
    assert body["status"] == 200
    (serrure,) = body["data"]["serrures"]
    assert {k: serrure[k] for k in ("id", "id_serrure", "nom", "battery")} == {
        "id": lock["id"],
        "id_serrure": LOCKER,
        "nom": "Entrée",
        "battery": 4000,
    }
    assert [(a["accessoire"]["id_accessoire"], a["accessoire"]["type"]) for a in serrure["accessoires"]] == [
        ("GW01", 1),
        ("KP01", 2),
    ]
    assert serrure["accessoires"][1]["accessoire"] == {
        "id": keypad["id"],
        "id_accessoire": "KP01",
        "nom": "Clavier",
        "type": 2,
    }

    r = requests.get(f"{cloud.url}/fr/api/v2/utilisateur/get/someone-else", headers=headers, timeout=5)
    assert r.status_code == 404

    info = requests.get(f"{cloud.url}/fr/api/v2/accessoire/get/{gw['id']}", headers=headers, timeout=5).json()
    assert info["data"]["id_accessoire"] == "GW01"
    assert info["data"]["info"]["ip"] == gateway.url.removeprefix("http://")
    assert info["data"]["info"]["last_seen"]
    assert (
        requests.get(f"{cloud.url}/fr/api/v2/accessoire/get/1", headers=headers, timeout=5).status_code == 404
    )


def test_it_creates_lists_updates_and_deletes_shares(cloud, gateway, client):
    lock = cloud.add_lock("31337")
    cloud.add_accessory(lock["id"], id_accessoire="GW01", gateway=gateway)
    headers = login(cloud)
    base = f"{cloud.url}/fr/api/v2/partage"

    form = {
        "partage_accessoire[nom]": "AccessBridge",
        "partage_accessoire[description]": "accessbridge:door-7",
        "partage_accessoire[actif]": "1",
        "partage_accessoire[heure_debut][hour]": "8",
        "partage_accessoire[heure_debut][minute]": "30",
    }
    r = requests.post(f"{base}/create/{lock['id']}/accessoire/GW01", data=form, headers=headers, timeout=5)
    assert r.status_code == 200
    data = r.json()["data"]
    assert len(data["code"]) == 16 and data["code"].isalnum()

    # The gateway learns the share: its code now signs calls for that lock.
    assert gateway.locker("31337").share_code == data["code"]
    assert client.signed("/open", identifier="31337", code=data["code"]) == OK

    listed = requests.get(f"{base}/all/serrure/{lock['id']}", headers=headers, timeout=5).json()["data"]
    (share,) = listed["partages_accessoire"]
    assert listed["partages_utilisateur"] == []
    assert share["id"] == data["id"]
    assert share["code"] == data["code"]
    assert share["description"] == "accessbridge:door-7"
    assert share["actif"] is True
    assert share["heure_debut"] == "08:30"
    assert share["accessoire"]["id_accessoire"] == "GW01"

    r = requests.post(
        f"{base}/accessoire/update/{data['id']}",
        data={"partage_accessoire[actif]": "0"},
        headers=headers,
        timeout=5,
    )
    assert r.status_code == 200
    assert cloud.shares[data["id"]]["actif"] is False
    assert cloud.shares[data["id"]]["description"] == "accessbridge:door-7"
    assert gateway.locker("31337").share_code is None

    r = requests.post(f"{base}/accessoire/delete/{data['id']}", headers=headers, timeout=5)
    assert r.status_code == 200
    assert cloud.shares == {}
    assert (
        requests.post(f"{base}/accessoire/delete/{data['id']}", headers=headers, timeout=5).status_code == 404
    )
    assert client.signed("/open", identifier="31337", code=data["code"])["status"] == "32"


def test_it_rejects_bad_share_requests(cloud):
    lock = cloud.add_lock("1")
    other = cloud.add_lock("2")
    cloud.add_accessory(lock["id"], id_accessoire="GW01")
    headers = login(cloud)
    base = f"{cloud.url}/fr/api/v2/partage"
    nom = {"partage_accessoire[nom]": "x"}
    assert (
        requests.post(
            f"{base}/create/{lock['id']}/accessoire/NOPE", data=nom, headers=headers, timeout=5
        ).status_code
        == 404
    )
    assert (
        requests.post(
            f"{base}/create/{other['id']}/accessoire/GW01", data=nom, headers=headers, timeout=5
        ).status_code
        == 404
    )
    assert (
        requests.post(
            f"{base}/create/{lock['id']}/accessoire/GW01", data={}, headers=headers, timeout=5
        ).status_code
        == 400
    )
    assert requests.get(f"{base}/all/serrure/999", headers=headers, timeout=5).status_code == 404
    assert requests.post(f"{base}/accessoire/update/999", headers=headers, timeout=5).status_code == 404
