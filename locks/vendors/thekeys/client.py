"""The gateway's LAN API, seed 003 ("Contrôler la serrure avec la gateway", section "Serveur WS").

The gateway answers HTTP 200 and puts the outcome in the JSON body. Two body conventions exist and both
are read here:
- the seed's: success `{"status": "0", "code": "ok"}` (or `{"status": "ok", "code": 0}` for /synchronize),
  failure `status = <n>` with the detail in `code`;
- what current firmware sends according to the open-source clients (the-keyspy's gateway.py, openHAB's
  OpenCloseDTO/LockerStatusDTO): success `{"status": "ok", ...}`, failure `{"status": "ko", "code": <n>,
  "cause": "..."}`.
Anything else is a VendorError, never a KeyError.

The client serves one gateway. Ordering and exclusivity across workers (the seed: a timestamp may not be
older than the previous one; the gateway does one thing at a time) are the caller's job: it passes
`claim_ts`, called once per signed request, and holds `signing.gateway_exclusive` around the calls.
With a `deadline` (someone waits at the door), timeouts and busy pauses shrink to fit it.

The gateway's address comes from an admin or from The Keys' cloud: it is checked on its resolved
addresses before every request (locks.vendors.addresses), and error messages never quote an answer's
body beyond the gateway's own status fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from accessbridge.http import ServiceError, Timeout, http_request
from locks.vendors.addresses import lan_host_guard
from locks.vendors.base import (
    Deadline,
    DeviceOffline,
    VendorError,
    VendorNotFound,
    VendorPermanentError,
    status_only,
    vendor_error_from,
)

from .codes import (
    BUSY,
    CLOCK_INVALID,
    INVALID_HMAC,
    SERVICE,
    STATE_CLOSED,
    STATE_OPEN,
    STATES,
    Family,
    gateway_error,
)

# A LAN device answers a TCP connect at once or not at all: fail fast instead of hanging a member's "Open".
# Opening can take a few seconds (Bluetooth to the lock), hence the longer read timeout.
DEFAULT_TIMEOUT = Timeout(connect=3.0, read=15.0)
# The gateway downloads the firmware before it answers /update.
UPDATE_TIMEOUT = Timeout(connect=3.0, read=60.0)
# Pauses after a "busy" answer. The gateway is busy while it syncs with the cloud (every 5 s, seed 003
# "Taches récurrentes") or serves another client; about 7.5 s in all, then the caller gets a transient error.
BUSY_PAUSES: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)


def signature(share_code: str, ts: int | str) -> str:
    """Seed 003 "Génération du hmac": base64(HMAC-SHA256(key=share code, msg=ts as ASCII))."""
    digest = hmac.new(share_code.encode(), str(ts).encode("ascii"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class GatewayLocker:
    identifier: str
    battery: int | None
    rssi: int | None
    last_log: int | None  # not in the seed; openHAB's LockerDTO reads it to spot new lock activity


@dataclass(frozen=True)
class GatewayStatus:
    version: str
    current_status: str


@dataclass(frozen=True)
class LockerStatus:
    state: str  # "unknown" | "closed" | "open"
    code: int
    battery: int | None
    rssi: int | None


class LocalTimestamps:
    """A timestamp source for a client used without the database (scripts): increasing in this process."""

    def __init__(self):
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(int(time.time()), self._last + 1)
            return self._last


class GatewayClient:
    def __init__(
        self,
        host: str,
        *,
        claim_ts: Callable[[], int] | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        busy_pauses: tuple[float, ...] = BUSY_PAUSES,
        deadline: Deadline | None = None,
    ):
        host = (host or "").strip().rstrip("/")
        if not host:
            raise VendorPermanentError("The gateway has no LAN address: enter it in the connection settings.")
        self.host = host
        self.base_url = host if host.startswith(("http://", "https://")) else f"http://{host}"
        self.claim_ts = claim_ts or LocalTimestamps()
        self.timeout = timeout
        self.busy_pauses = busy_pauses
        self.deadline = deadline

    # --- endpoints ----------------------------------------------------------------------------------
    # seed 003 "Liste des serrures": GET /lockers
    def lockers(self) -> list[GatewayLocker]:
        body = self._request("GET", "/lockers", family=Family.GATEWAY)
        self._raise_failure(body, family=Family.GATEWAY)
        devices = body.get("devices")
        if not isinstance(devices, list):
            raise self._malformed("/lockers", "no device list")
        lockers = []
        for device in devices:
            if not isinstance(device, dict):
                raise self._malformed("/lockers", "a device is not an object")
            lockers.append(
                GatewayLocker(
                    identifier=_identifier(device.get("identifier"), self, "/lockers"),
                    battery=_optional_int(device, "battery", self, "/lockers"),
                    rssi=_optional_int(device, "rssi", self, "/lockers"),
                    last_log=_optional_int(device, "last_log", self, "/lockers"),
                )
            )
        return lockers

    # seed 003 "Status de la gateway" (from version 17): GET /status → {"version": "16", "current_status": ...}
    def status(self) -> GatewayStatus:
        body = self._request("GET", "/status", family=Family.GATEWAY)
        if "status" in body:  # the seed's body has no "status"; one with it can only be a failure
            self._raise_failure(body, family=Family.GATEWAY)
        version, current = body.get("version"), body.get("current_status", "")
        if isinstance(version, bool) or not isinstance(version, str | int) or not isinstance(current, str):
            raise self._malformed("/status", "no version")
        return GatewayStatus(version=str(version), current_status=current)

    # seed 003 "Synchroniser la gateway": GET /synchronize → {"status": "ok", "code": 0}
    def synchronize(self) -> None:
        body = self._request("GET", "/synchronize", family=Family.GATEWAY)
        self._raise_failure(body, family=Family.GATEWAY)

    # seed 003 "Mise à jour de la gateway": GET /update (updates even when the firmware is current)
    def update(self) -> None:
        body = self._request("GET", "/update", family=Family.FIRMWARE, timeout=UPDATE_TIMEOUT)
        self._raise_failure(body, family=Family.FIRMWARE)

    # seed 003 "Synchroniser une serrure": POST /locker/synchronize identifier=
    def locker_synchronize(self, *, identifier: str) -> None:
        body = self._request(
            "POST", "/locker/synchronize", data={"identifier": identifier}, family=Family.LOCKER_SYNC
        )
        self._raise_failure(body, family=Family.LOCKER_SYNC)

    # seed 003 "Mise à jour d'une serrure": POST /locker/update identifier= (answers undocumented: as sync)
    def locker_update(self, *, identifier: str) -> None:
        body = self._request(
            "POST",
            "/locker/update",
            data={"identifier": identifier},
            family=Family.LOCKER_SYNC,
            timeout=UPDATE_TIMEOUT,
        )
        self._raise_failure(body, family=Family.LOCKER_SYNC)

    # seed 003 "Ouverture": POST /open identifier=&ts=&hash=
    def open(self, *, identifier: str, share_code: str) -> None:
        self._signed("/open", identifier=identifier, share_code=share_code)

    # seed 003 "Fermer une serrure": POST /close, signed like /open
    def close(self, *, identifier: str, share_code: str) -> None:
        self._signed("/close", identifier=identifier, share_code=share_code)

    # seed 003 "Status d'une serrure": POST /locker_status, signed like /open; codes 0x30/0x31/0x32
    def locker_status(self, *, identifier: str, share_code: str) -> LockerStatus:
        body = self._signed("/locker_status", identifier=identifier, share_code=share_code, state_query=True)
        code = body.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            # the-keyspy's older firmware puts the state in words in "status" instead of a code.
            code = {"Door open": STATE_OPEN, "Door closed": STATE_CLOSED}.get(body.get("status"))
        if code not in STATES:
            raise self._malformed("/locker_status", f"unknown lock state {body.get('code')!r}")
        return LockerStatus(
            state=STATES[code],
            code=code,
            battery=_optional_int(body, "battery", self, "/locker_status"),
            rssi=_optional_int(body, "rssi", self, "/locker_status"),
        )

    # --- signing and retries ------------------------------------------------------------------------
    def _signed(self, path: str, *, identifier: str, share_code: str, state_query: bool = False) -> dict:
        if not share_code:
            raise VendorPermanentError(
                "This door has no gateway share code yet: run “Sync doors” on the connection.",
                service=SERVICE,
            )

        def form() -> dict[str, str]:
            # A fresh timestamp for every attempt: the seed makes each one single-use ("unique par requête").
            ts = str(self.claim_ts())
            return {"identifier": str(identifier), "ts": ts, "hash": signature(share_code, ts)}

        retried_hmac = resynchronized = False
        while True:
            body = self._request("POST", path, data=form, family=Family.ACTION)
            failure = _failure(body)
            if failure is None and state_query and body.get("code") == CLOCK_INVALID:
                failure = (CLOCK_INVALID, "")  # openHAB's LockerStatusDTO: code 0x26 = needs resync
            if failure is None:
                return body
            code, detail = failure
            if code == INVALID_HMAC and not retried_hmac:
                # Another client may have used a newer timestamp in between (the seed forbids older ones);
                # vendors.md: clients retry 33 once with a fresh one.
                retried_hmac = True
                continue
            if code == CLOCK_INVALID and not resynchronized:
                # The gateway sets its clock from api.the-keys.fr while synchronizing (vendors.md).
                resynchronized = True
                self.synchronize()
                continue
            raise gateway_error(family=Family.ACTION, code=code, detail=detail)

    def _request(
        self,
        method: str,
        path: str,
        *,
        family: Family,
        data: dict | Callable[[], dict] | None = None,
        timeout: Timeout | None = None,
    ) -> dict:
        """One call, repeated after a pause while the gateway answers busy (a bounded number of times)."""
        for pause in (*self.busy_pauses, None):
            body = self._send(method, path, data() if callable(data) else data, timeout or self.timeout)
            if not _is_busy(body):
                return body
            if pause is None or (self.deadline and pause >= self.deadline.remaining()):
                raise gateway_error(family=family, code=BUSY)
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, data: dict | None, timeout: Timeout) -> dict:
        if self.deadline is not None:
            left = self.deadline.remaining()
            if left <= 0:
                raise DeviceOffline(f"The gateway at {self.host} did not answer in time.", service=SERVICE)
            timeout = Timeout(connect=min(timeout.connect, left), read=min(timeout.read, left))
        try:
            response = http_request(
                method, f"{self.base_url}{path}", service=SERVICE, timeout=timeout, data=data,
                address_check=lan_host_guard(service=SERVICE),
            )
        except VendorError:
            raise  # the address check's refusal, in words already
        except ServiceError as exc:
            if exc.status is None:
                raise DeviceOffline(
                    f"The gateway at {self.host} is unreachable ({exc.message}): check that it is powered and "
                    "connected, and that AccessBridge can reach this address.",
                    service=SERVICE,
                ) from None
            if exc.status == 404:
                raise VendorNotFound(
                    f"The gateway at {self.host} does not offer {path} (HTTP 404); its firmware may be too old.",
                    status=404,
                    service=SERVICE,
                ) from None
            raise vendor_error_from(status_only(exc)) from None
        try:
            body = response.json()
        except ValueError:
            raise self._malformed(path, "not JSON") from None
        if not isinstance(body, dict):
            raise self._malformed(path, "not a JSON object")
        return body

    def _raise_failure(self, body: dict, *, family: Family) -> None:
        failure = _failure(body)
        if failure is not None:
            raise gateway_error(family=family, code=failure[0], detail=failure[1])

    def _malformed(self, path: str, what: str) -> VendorError:
        return VendorPermanentError(
            f"The gateway at {self.host} sent an unexpected answer to {path}: {what}.", service=SERVICE
        )


def _is_busy(body: dict) -> bool:
    return str(body.get("status")) == str(BUSY)


def _failure(body: dict) -> tuple[int, str] | None:
    """(code, detail) when the body reports a failure, None on success; a body that says neither is malformed."""
    status = body.get("status")
    if status in ("ok", "0", 0):
        return None
    if status == "ko":
        code = body.get("code")
        if isinstance(code, str) and code.isdigit():
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            raise VendorPermanentError(
                "The gateway reported a failure without a status code.", service=SERVICE
            )
        return code, str(body.get("cause") or "")
    if isinstance(status, str) and status.isdigit():
        return int(status), str(body.get("code") or body.get("message") or "")
    if isinstance(status, int) and not isinstance(status, bool):
        return status, str(body.get("code") or body.get("message") or "")
    if status in ("Door open", "Door closed"):  # /locker_status of older firmware (the-keyspy's lock.py)
        return None
    raise VendorPermanentError("The gateway sent an answer without a known status.", service=SERVICE)


def _identifier(value, client: GatewayClient, path: str) -> str:
    # Seed 003 shows it as a JSON number (45961123); the cloud's id_serrure is a string.
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise client._malformed(path, "a device without identifier")
    return str(value)


def _optional_int(body: dict, key: str, client: GatewayClient, path: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise client._malformed(path, f"{key} is not a number")
    return value
