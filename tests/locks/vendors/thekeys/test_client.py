"""The gateway LAN client against the gateway stand-in (seed 003), and malformed answers via `responses`."""

import base64
import hashlib
import hmac
import time

import pytest
import responses

from accessbridge.http import AUTH, PERMANENT, TRANSIENT, Timeout
from locks.vendors.base import (
    DeviceOffline,
    VendorAuthError,
    VendorError,
    VendorNotFound,
    VendorPermanentError,
    VendorTransientError,
)
from locks.vendors.thekeys.client import BUSY_PAUSES, GatewayClient, signature
from tests.fakes.base import Response
from tests.fakes.thekeys import TheKeysGatewayFake

from .conftest import CODE, IDENTIFIER, closed_port_host

OK = {"status": "0", "code": "ok"}
SIGNED = "^/(open|close|locker_status)$"


@pytest.fixture
def client(gateway_fake):
    return GatewayClient(gateway_fake.url.removeprefix("http://"))


def test_it_signs_like_the_seed_with_a_known_vector():
    # Seed 003: hmac.new(code, ts.encode("ascii"), "sha256") then base64; literal checked with
    # `printf 1700000000 | openssl dgst -sha256 -hmac Zmo1sps2OVyCFtl1 -binary | base64`.
    expected = "s7VR2V5Q+jYmOmJM8CL0aOQri6PF5Hfw8euVJ93EAJI="
    assert (
        base64.b64encode(hmac.new(CODE.encode(), b"1700000000", hashlib.sha256).digest()).decode() == expected
    )
    assert signature(CODE, 1700000000) == expected
    assert signature(CODE, "1700000000") == expected


def test_it_opens_with_a_request_the_gateway_accepts(gateway_fake, client):
    client.open(identifier=IDENTIFIER, share_code=CODE)

    assert gateway_fake.locker(IDENTIFIER).opens == 1
    (request,) = gateway_fake.requests_to("POST", "/open")
    form = request.form()
    assert form["identifier"] == IDENTIFIER
    # The "+" in a base64 hash must survive form encoding: the stand-in compares it byte for byte.
    assert (
        form["hash"]
        == base64.b64encode(hmac.new(CODE.encode(), form["ts"].encode(), hashlib.sha256).digest()).decode()
    )
    assert abs(int(form["ts"]) - time.time()) < 5


def test_it_closes_and_reads_the_lock_state(gateway_fake, client):
    assert client.locker_status(identifier=IDENTIFIER, share_code=CODE).state == "closed"
    client.open(identifier=IDENTIFIER, share_code=CODE)
    status = client.locker_status(identifier=IDENTIFIER, share_code=CODE)
    assert (status.state, status.code, status.battery, status.rssi) == ("open", 0x32, 4065, -71)
    client.close(identifier=IDENTIFIER, share_code=CODE)
    assert client.locker_status(identifier=IDENTIFIER, share_code=CODE).state == "closed"

    gateway_fake.add_locker("5", CODE, state="unknown")
    assert client.locker_status(identifier="5", share_code=CODE).state == "unknown"
    assert gateway_fake.rejected_old_ts == 0


def test_it_never_sends_an_older_timestamp(gateway_fake, client):
    gateway_fake.reject_equal_ts = True  # "unique par requête": even an equal one is refused here
    for _ in range(5):
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert gateway_fake.accepted_ts == sorted(set(gateway_fake.accepted_ts))
    assert len(gateway_fake.accepted_ts) == 5


def test_it_lists_the_lockers(gateway_fake, client):
    gateway_fake.add_locker("777", None, battery=3900, rssi=-80)
    lockers = client.lockers()
    assert [(lk.identifier, lk.battery, lk.rssi) for lk in lockers] == [
        (IDENTIFIER, 4065, -71),
        ("777", 3900, -80),
    ]


def test_it_reads_the_gateway_status(client):
    status = client.status()
    assert (status.version, status.current_status) == ("17", "Scanning...")


def test_it_synchronizes_and_updates(gateway_fake, client):
    client.synchronize()
    client.update()
    client.locker_synchronize(identifier=IDENTIFIER)
    client.locker_update(identifier=IDENTIFIER)
    assert (gateway_fake.synchronizations, gateway_fake.updates) == (1, 1)
    locker = gateway_fake.locker(IDENTIFIER)
    assert (locker.synchronizations, locker.updates) == (1, 1)


# --- every status of the seed → its message -------------------------------------------------------
ACTION_STATUSES = [
    (400, VendorPermanentError, "a parameter is missing from the request"),
    (32, VendorAuthError, "The lock is not shared with the gateway: run “Sync doors”"),
    (33, VendorAuthError, "rejected the signature (invalid HMAC), also after a retry with a fresh timestamp"),
    (34, DeviceOffline, "The gateway does not detect the lock"),
    (35, VendorPermanentError, "The lock is not compatible with this gateway."),
    (36, VendorAuthError, "The lock refused the gateway's key"),
    (37, VendorTransientError, "The gateway could not talk to the lock"),
    (38, VendorTransientError, "The gateway's clock is invalid, also after synchronizing"),
]


@pytest.mark.parametrize("status,error,message", ACTION_STATUSES)
@pytest.mark.parametrize("path", ["/open", "/close", "/locker_status"])
def test_it_explains_each_open_close_status(gateway_fake, client, status, error, message, path):
    gateway_fake.fail_next(status, times=2, path=SIGNED)  # twice: 33 and 38 are retried once
    call = {
        "/open": client.open,
        "/close": client.close,
        "/locker_status": client.locker_status,
    }[path]
    with pytest.raises(error) as excinfo:
        call(identifier=IDENTIFIER, share_code=CODE)
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith("The Keys gateway: ")
    assert excinfo.value.vendor_code == status
    assert "Paramètre" not in str(excinfo.value)  # English for the admin


@pytest.mark.parametrize(
    "status,error,message",
    [
        (1, DeviceOffline, "The gateway does not see the lock"),
        (2, VendorPermanentError, "The lock is not compatible with this gateway."),
        (3, VendorTransientError, "sent invalid synchronization data"),
        (4, VendorTransientError, "lost the connection to the lock while synchronizing"),
    ],
)
@pytest.mark.parametrize("path", ["/locker/synchronize", "/locker/update"])
def test_it_explains_each_lock_synchronization_status(gateway_fake, client, status, error, message, path):
    gateway_fake.fail_next(status, path=f"^{path}$")
    call = client.locker_synchronize if path == "/locker/synchronize" else client.locker_update
    with pytest.raises(error) as excinfo:
        call(identifier=IDENTIFIER)
    assert message in str(excinfo.value)
    assert excinfo.value.vendor_code == status


@pytest.mark.parametrize(
    "status,message",
    [(1, "could not install the firmware (invalid firmware"), (2, "got no firmware from The Keys' server")],
)
def test_it_explains_each_firmware_update_status(gateway_fake, client, status, message):
    gateway_fake.fail_next(status, path="^/update$")
    with pytest.raises(VendorTransientError) as excinfo:
        client.update()
    assert message in str(excinfo.value)


def test_it_reports_the_missing_parameter_the_gateway_names(gateway_fake, client):
    gateway_fake.force(Response(200, {"status": "400", "code": "missing parameter: ts"}), path=SIGNED)
    with pytest.raises(VendorPermanentError) as excinfo:
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert "The gateway said: missing parameter: ts" in str(excinfo.value)


def test_it_names_an_undocumented_status(gateway_fake, client):
    gateway_fake.fail_next(99)
    with pytest.raises(VendorPermanentError) as excinfo:
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert "status 99, which The Keys' documentation does not list" in str(excinfo.value)


# --- busy, 33, 38 ----------------------------------------------------------------------------------
def test_it_retries_busy_after_a_pause_then_succeeds(gateway_fake, client, no_sleep):
    gateway_fake.busy(2)
    client.open(identifier=IDENTIFIER, share_code=CODE)
    assert no_sleep == [0.5, 1.0]
    assert len(gateway_fake.requests_to("POST", "/open")) == 3
    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_it_retries_busy_on_unsigned_calls_too(gateway_fake, client, no_sleep):
    gateway_fake.busy(1)
    assert len(client.lockers()) == 1
    assert no_sleep == [0.5]


def test_it_gives_up_when_the_gateway_stays_busy(gateway_fake, client, no_sleep):
    gateway_fake.busy(10)
    with pytest.raises(VendorTransientError) as excinfo:
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert excinfo.value.kind == TRANSIENT
    assert "stayed busy" in str(excinfo.value)
    assert no_sleep == list(BUSY_PAUSES)
    assert len(gateway_fake.requests) == len(BUSY_PAUSES) + 1
    assert gateway_fake.locker(IDENTIFIER).opens == 0


def test_it_retries_an_invalid_hmac_once_with_a_fresh_timestamp(gateway_fake, client):
    gateway_fake.fail_next(33)
    client.open(identifier=IDENTIFIER, share_code=CODE)
    first, second = (r.form() for r in gateway_fake.requests_to("POST", "/open"))
    assert int(second["ts"]) > int(first["ts"])
    assert second["hash"] != first["hash"]
    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_it_gets_past_a_timestamp_another_client_used(gateway_fake):
    # Another client (the app, Home Assistant) signed with "now" a moment ago; our first ts equals it.
    gateway_fake.reject_equal_ts = True
    now = int(time.time()) + 100
    gateway_fake.accepted_ts.append(now)
    stamps = iter([now, now + 1])
    client = GatewayClient(gateway_fake.url, claim_ts=lambda: next(stamps))
    client.open(identifier=IDENTIFIER, share_code=CODE)
    assert gateway_fake.rejected_old_ts == 1
    assert gateway_fake.accepted_ts[-1] == now + 1


def test_it_does_not_retry_a_wrong_share_code_forever(gateway_fake, client):
    with pytest.raises(VendorAuthError) as excinfo:
        client.open(identifier=IDENTIFIER, share_code="not-the-code")
    assert excinfo.value.kind == AUTH
    assert excinfo.value.vendor_code == 33
    assert len(gateway_fake.requests_to("POST", "/open")) == 2


def test_it_synchronizes_the_gateway_when_its_clock_is_invalid_then_retries(gateway_fake, client):
    gateway_fake.clock_invalid = True
    client.open(identifier=IDENTIFIER, share_code=CODE)
    assert gateway_fake.synchronizations == 1
    assert [r.path for r in gateway_fake.requests] == ["/open", "/synchronize", "/open"]
    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_it_synchronizes_only_once_for_a_clock_that_stays_invalid(gateway_fake, client):
    gateway_fake.fail_next(38, times=5)
    with pytest.raises(VendorTransientError):
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert gateway_fake.synchronizations == 1


# --- unreachable and slow gateways -----------------------------------------------------------------
def test_it_reports_an_unreachable_gateway_quickly():
    host = closed_port_host()
    client = GatewayClient(host)
    started = time.monotonic()
    with pytest.raises(DeviceOffline) as excinfo:
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert time.monotonic() - started < 2
    assert excinfo.value.kind == TRANSIENT
    assert f"The gateway at {host} is unreachable (could not connect)" in str(excinfo.value)


def test_it_does_not_hang_on_a_gateway_that_does_not_answer(gateway_fake):
    gateway_fake.force(Response(200, OK, delay=3))
    client = GatewayClient(gateway_fake.url, timeout=Timeout(connect=0.5, read=0.3))
    started = time.monotonic()
    with pytest.raises(DeviceOffline) as excinfo:
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert time.monotonic() - started < 2
    assert "is unreachable (no answer within 0.3 s)" in str(excinfo.value)


def test_it_needs_an_address_and_a_share_code():
    with pytest.raises(VendorPermanentError, match="no LAN address"):
        GatewayClient("  ")
    with pytest.raises(VendorPermanentError, match="no gateway share code"):
        GatewayClient("192.0.2.1").open(identifier=IDENTIFIER, share_code="")


# --- body conventions and malformed answers (responses at the HTTP boundary) ----------------------
GW = "http://192.0.2.10"


@pytest.fixture
def rclient():
    return GatewayClient("192.0.2.10")


@responses.activate
def test_it_reads_the_failure_shape_current_firmware_sends(rclient):
    # the-keyspy / openHAB: {"status": "ko", "code": <n>, "cause": ...}
    responses.post(f"{GW}/open", json={"status": "ko", "code": 36, "cause": "Bad key"})
    with pytest.raises(VendorAuthError) as excinfo:
        rclient.open(identifier=IDENTIFIER, share_code=CODE)
    assert excinfo.value.vendor_code == 36


@responses.activate
def test_it_reads_the_success_shape_current_firmware_sends(rclient):
    responses.post(f"{GW}/open", json={"status": "ok", "code": 0})
    responses.post(f"{GW}/locker_status", json={"status": "ok", "code": 50, "battery": 7800, "position": 3})
    rclient.open(identifier=IDENTIFIER, share_code=CODE)
    assert rclient.locker_status(identifier=IDENTIFIER, share_code=CODE).state == "open"


@responses.activate
def test_it_reads_the_state_in_words_of_older_firmware(rclient):
    responses.post(f"{GW}/locker_status", json={"status": "Door closed", "battery": 7400})
    status = rclient.locker_status(identifier=IDENTIFIER, share_code=CODE)
    assert (status.state, status.battery) == ("closed", 7400)


@responses.activate
def test_it_resynchronizes_when_the_lock_status_says_so(rclient):
    # openHAB's LockerStatusDTO: code 0x26 (38) = needs resync.
    responses.post(f"{GW}/locker_status", json={"status": "ok", "code": 38})
    responses.get(f"{GW}/synchronize", json={"status": "ok", "code": 0})
    responses.post(f"{GW}/locker_status", json={"status": "ok", "code": 49})
    assert rclient.locker_status(identifier=IDENTIFIER, share_code=CODE).state == "closed"
    assert [c.request.url for c in responses.calls] == [
        f"{GW}/locker_status",
        f"{GW}/synchronize",
        f"{GW}/locker_status",
    ]


@responses.activate
def test_it_treats_a_missing_status_endpoint_as_not_found(rclient):
    responses.get(f"{GW}/status", status=404, body="Not found")
    with pytest.raises(VendorNotFound, match="does not offer /status"):
        rclient.status()


@pytest.mark.parametrize(
    "method,path,kwargs,body",
    [
        ("POST", "/open", {"share_code": CODE, "identifier": IDENTIFIER}, "<html>gateway</html>"),
        ("POST", "/open", {"share_code": CODE, "identifier": IDENTIFIER}, []),
        ("POST", "/open", {"share_code": CODE, "identifier": IDENTIFIER}, {"result": "fine"}),
        ("POST", "/open", {"share_code": CODE, "identifier": IDENTIFIER}, {"status": "ko"}),
        (
            "POST",
            "/locker_status",
            {"share_code": CODE, "identifier": IDENTIFIER},
            {"status": "0", "code": "ok"},
        ),
        (
            "POST",
            "/locker_status",
            {"share_code": CODE, "identifier": IDENTIFIER},
            {"status": "0", "code": 7},
        ),
        ("GET", "/lockers", {}, {"status": "ok"}),
        ("GET", "/lockers", {}, {"status": "ok", "devices": [{"rssi": -70}]}),
        ("GET", "/lockers", {}, {"status": "ok", "devices": [{"identifier": 1, "battery": "full"}]}),
        ("GET", "/status", {}, {"current_status": "Scanning..."}),
    ],
)
@responses.activate
def test_it_turns_a_malformed_answer_into_a_vendor_error(rclient, method, path, kwargs, body):
    if isinstance(body, str):
        responses.add(method, f"{GW}{path}", body=body)
    else:
        responses.add(method, f"{GW}{path}", json=body)
    call = {
        "/open": rclient.open,
        "/locker_status": rclient.locker_status,
        "/lockers": rclient.lockers,
        "/status": rclient.status,
    }[path]
    with pytest.raises(VendorError) as excinfo:
        call(**kwargs)
    assert excinfo.value.kind == PERMANENT
    assert "The Keys gateway: " in str(excinfo.value)


@responses.activate
def test_it_classifies_an_http_error_of_the_gateway(rclient):
    responses.get(f"{GW}/lockers", status=503, body="")
    with pytest.raises(VendorTransientError):
        rclient.lockers()


def test_it_can_be_pointed_at_a_fake_by_url():
    with TheKeysGatewayFake() as fake:
        fake.add_locker(IDENTIFIER, CODE)
        GatewayClient(fake.url).open(identifier=IDENTIFIER, share_code=CODE)
        assert fake.locker(IDENTIFIER).opens == 1


@responses.activate
def test_it_never_quotes_an_answers_body(rclient):
    # The gateway's address is the admin's (or the cloud's) choice: whatever else answers there stays unread.
    responses.get(f"{GW}/lockers", json={"internal": "db password hunter2"})
    responses.get(f"{GW}/synchronize", status=500, body="<html>router admin: hunter2</html>")
    with pytest.raises(VendorError) as malformed:
        rclient.lockers()
    with pytest.raises(VendorTransientError) as http_error:
        rclient.synchronize()
    assert "hunter2" not in str(malformed.value) and "hunter2" not in str(http_error.value)
    assert str(http_error.value) == "The Keys gateway: HTTP 500 Internal Server Error"


# --- which addresses may be a gateway (SSRF) ------------------------------------------------------
@pytest.mark.parametrize(
    "address,why",
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("127.0.0.1", "this machine (loopback)"),
        ("::1", "this machine (loopback)"),
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
    ],
)
def test_a_gateway_name_resolving_to_a_forbidden_address_is_never_called(
    gateway_fake, resolves_to, address, why
):
    resolves_to["169.254.169.254.nip.io"] = [address]
    port = gateway_fake.url.rsplit(":", 1)[1]
    client = GatewayClient(f"169.254.169.254.nip.io:{port}")
    with pytest.raises(VendorPermanentError) as refused:
        client.open(identifier=IDENTIFIER, share_code=CODE)
    assert f"is {why}: it cannot be a gateway" in str(refused.value)
    assert gateway_fake.requests == []


def test_a_gateway_on_the_lan_is_fine(resolves_to):
    from accessbridge.pinning import pinned_target
    from locks.vendors.addresses import lan_host_guard

    resolves_to["tk-gateway.lan"] = ["192.168.1.50"]
    for host in ("tk-gateway.lan", "10.0.0.7", "172.16.4.2", "[fd12:3456::50]"):
        pinned_target(f"http://{host}/lockers", address_check=lan_host_guard(service="The Keys gateway"))
