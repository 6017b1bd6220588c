"""Stand-ins for The Keys: the gateway's LAN API (seed 003) and the cloud API used for shares.

Seed 003 ("Contrôler la serrure avec la gateway") documents the gateway only by example bodies,
so every answer keeps the seed's exact keys and string types, and the shapes the seed leaves out
are marked as our choice. The gateway answers HTTP 200 to everything it understands: the seed
documents outcomes only in the JSON body (`status`), never an HTTP status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .base import FakeServer, RecordedRequest, Response

# locker_status codes (seed 003: "Etat inconnue (code 0x30)", "Porte fermée (0x31)", "Porte ouverte (0x32)")
STATE_UNKNOWN, STATE_CLOSED, STATE_OPEN = 0x30, 0x31, 0x32
STATES = {"unknown": STATE_UNKNOWN, "closed": STATE_CLOSED, "open": STATE_OPEN}

# open/close/locker_status error statuses, seed 003 ("Erreur: ...")
MISSING_PARAMETER = 400  # "Paramètre manquant"
NOT_SHARED = 32  # "La serrure n'est pas partagée"
INVALID_HMAC = 33  # "Hmac invalide"
NOT_DETECTED = 34  # "La serrure n'est pas detectée"
NOT_COMPATIBLE = 35  # "La serrure n'est pas compatible"
KEY_REFUSED = 36  # "Clé invalide": the lock refused the key
OTHER_ERROR = 37  # "Autre erreur": connection failed/cut, lock timeout
CLOCK_INVALID = 38  # not in the seed; observed in clients (vendors.md): resync with /synchronize

# locker/synchronize and locker/update error statuses, seed 003
SYNC_NOT_SEEN, SYNC_NOT_COMPATIBLE, SYNC_INVALID_DATA, SYNC_CONNECTION_ERROR = 1, 2, 3, 4

MESSAGES = {
    NOT_SHARED: "lock not shared with the gateway",
    INVALID_HMAC: "invalid hmac",
    NOT_DETECTED: "lock not detected",
    NOT_COMPATIBLE: "lock not compatible",
    KEY_REFUSED: "key refused by the lock",
    OTHER_ERROR: "lock connection error",
    CLOCK_INVALID: "gateway clock invalid",
}

BUSY = {"status": "500", "message": "busy"}  # seed 003: "Si la gateway est occupée (autre action en cours)"


def gateway_hash(share_code: str, ts: str) -> str:
    """Seed 003: hmac.new(code, ts.encode("ascii"), "sha256"), base64-encoded."""
    return base64.b64encode(
        hmac.new(share_code.encode(), ts.encode("ascii"), hashlib.sha256).digest()
    ).decode()


@dataclass
class Locker:
    identifier: str
    share_code: str | None  # the code of the cloud share lock↔gateway; None = not shared (→ 32)
    battery: int = 4065
    rssi: int = -71
    state: int = STATE_CLOSED
    detected: bool = True  # False = out of the gateway's radio range (→ 34, not listed in /lockers)
    opens: int = 0
    closes: int = 0
    synchronizations: int = 0
    updates: int = 0


class TheKeysGatewayFake(FakeServer):
    """One gateway. It serves one request at a time, like the real one: a request that arrives while
    another is being processed (see `processing_delay`) is answered busy instead of queued."""

    def __init__(
        self,
        *,
        version: str = "17",
        clock_invalid: bool = False,
        processing_delay: float = 0.0,
        reject_equal_ts: bool = False,
    ):
        super().__init__()
        self.version = version
        self.clock_invalid = clock_invalid
        self.processing_delay = processing_delay
        # Seed 003: "on ne peut pas utiliser un timestamp plus ancien que le précédent" forbids older
        # ones; it also says "unique par requête", so a strict firmware may refuse an equal one too.
        self.reject_equal_ts = reject_equal_ts
        self.lockers: dict[str, Locker] = {}
        self.accepted_ts: list[int] = []
        self.rejected_old_ts = 0
        self.busy_answers = 0
        self.synchronizations = 0
        self.updates = 0
        self._serving = threading.Lock()

        self.route("GET", "/lockers", self._lockers)
        self.route("GET", "/status", self._status)
        self.route("GET", "/synchronize", self._synchronize)
        self.route("GET", "/update", self._update)
        self.route("POST", "/update", self._update)
        self.route("POST", "/locker/synchronize", self._locker_synchronize)
        self.route("POST", "/locker/update", self._locker_update)
        self.route("POST", "/open", self._open)
        self.route("POST", "/close", self._close)
        self.route("POST", "/locker_status", self._locker_status)

    # --- helpers for tests -------------------------------------------------------------------
    def add_locker(
        self,
        identifier: str | int,
        share_code: str | None,
        *,
        battery: int = 4065,
        rssi: int = -71,
        state: str = "closed",
        detected: bool = True,
    ) -> Locker:
        with self.lock:
            locker = Locker(str(identifier), share_code, battery, rssi, STATES[state], detected)
            self.lockers[locker.identifier] = locker
            return locker

    def locker(self, identifier: str | int) -> Locker:
        return self.lockers[str(identifier)]

    def busy(self, n: int = 1) -> None:
        """The next n requests answer busy."""
        self.force(Response(200, BUSY), times=n)

    def fail_next(
        self, status: int, *, times: int = 1, path: str | None = "^/(open|close|locker_status)$"
    ) -> None:
        """The next signed calls fail with a seed-003 status, e.g. 36 (key refused) or 37 (lock timeout)."""
        self.force(
            Response(200, {"status": str(status), "code": MESSAGES.get(status, "error")}),
            times=times,
            path=path,
        )

    @staticmethod
    def sign(share_code: str, ts: str | int | None = None) -> dict[str, str]:
        """`ts` and `hash` form fields for a signed call (ts defaults to now)."""
        ts = str(int(time.time()) if ts is None else ts)
        return {"ts": ts, "hash": gateway_hash(share_code, ts)}

    @property
    def in_progress(self) -> bool:
        return self._serving.locked()

    # --- one request at a time -----------------------------------------------------------------
    def _dispatch(self, request: RecordedRequest) -> tuple[Response, bytes, dict[str, str]]:
        if not self._serving.acquire(blocking=False):
            with self.lock:
                self.requests.append(request)
                self.busy_answers += 1
            busy = Response(200, BUSY)
            return (busy, *busy.encode())
        try:
            if self.processing_delay:
                time.sleep(self.processing_delay)
            return super()._dispatch(request)
        finally:
            self._serving.release()

    # --- gateway routes ------------------------------------------------------------------------
    def _lockers(self, request: RecordedRequest, match: re.Match) -> Response:
        devices = [
            # Seed 003 shows the identifier as a JSON number (45961123); the cloud's id_serrure is a string.
            {"identifier": _as_number(lk.identifier), "rssi": lk.rssi, "battery": lk.battery}
            for lk in self.lockers.values()
            if lk.detected
        ]
        return Response(200, {"status": "ok", "devices": devices})

    def _status(self, request: RecordedRequest, match: re.Match) -> Response:
        # Seed 003 ("A partir de la version 17") gives exactly this body, with no "status" key;
        # its example says version "16", so the version is a string and only informative.
        return Response(200, {"version": self.version, "current_status": "Scanning..."})

    def _synchronize(self, request: RecordedRequest, match: re.Match) -> Response:
        # The gateway sets its clock from api.the-keys.fr while synchronizing: this clears error 38.
        self.synchronizations += 1
        self.clock_invalid = False
        return Response(200, {"status": "ok", "code": 0})  # seed 003

    def _update(self, request: RecordedRequest, match: re.Match) -> Response:
        # Seed 003 lists only the errors of /update (1 invalid firmware, 2 generic); the success body is
        # our choice, the same as /synchronize's (both are gateway-wide actions).
        self.updates += 1
        return Response(200, {"status": "ok", "code": 0})

    def _locker_synchronize(self, request: RecordedRequest, match: re.Match) -> Response:
        return self._locker_action(request, "synchronizations")

    def _locker_update(self, request: RecordedRequest, match: re.Match) -> Response:
        # Seed 003 documents no body at all for /locker/update; we answer like /locker/synchronize.
        return self._locker_action(request, "updates")

    def _locker_action(self, request: RecordedRequest, counter: str) -> Response:
        form = request.form()
        if not form.get("identifier"):
            return _error(MISSING_PARAMETER, "missing parameter: identifier")  # our choice, as for /open
        locker = self.lockers.get(form["identifier"])
        if locker is None or not locker.detected:
            return _error(SYNC_NOT_SEEN, "lock not seen by the gateway")  # seed 003: "status = 1"
        setattr(locker, counter, getattr(locker, counter) + 1)
        return Response(200, {"status": "0", "code": "ok"})  # seed 003

    def _open(self, request: RecordedRequest, match: re.Match) -> Response:
        locker, error = self._verify_signed(request)
        if error:
            return error
        locker.opens += 1
        locker.state = STATE_OPEN
        return Response(200, {"status": "0", "code": "ok"})  # seed 003

    def _close(self, request: RecordedRequest, match: re.Match) -> Response:
        # Seed 003: "La fermeture se fait comme l'ouverture. il n'y a que l'url qui change".
        locker, error = self._verify_signed(request)
        if error:
            return error
        locker.closes += 1
        locker.state = STATE_CLOSED
        return Response(200, {"status": "0", "code": "ok"})

    def _locker_status(self, request: RecordedRequest, match: re.Match) -> Response:
        locker, error = self._verify_signed(request)
        if error:
            return error
        # Seed 003 names only the three codes, not the body. Our choice: the open/close success body with
        # the state as a number in "code" (0x31 = 49), which is how openHAB's binding reads it
        # (LockerStatusDTO: int code, plus battery and rssi).
        return Response(
            200,
            {
                "status": "0",
                "code": locker.state,
                "id": _as_number(locker.identifier),
                "battery": locker.battery,
                "rssi": locker.rssi,
            },
        )

    def _verify_signed(self, request: RecordedRequest) -> tuple[Locker | None, Response | None]:
        form = request.form()
        # Seed 003: "Le code contient les informations sur le paramètre manquant (timestamp, hash ou
        # identifier)"; we name the form field.
        for name in ("identifier", "ts", "hash"):
            if not form.get(name):
                return None, _error(MISSING_PARAMETER, f"missing parameter: {name}")
        if not form["ts"].isdigit():
            return None, _error(MISSING_PARAMETER, "invalid parameter: ts")
        if self.clock_invalid:
            return None, _error(CLOCK_INVALID)
        locker = self.lockers.get(form["identifier"])
        if locker is None:
            return None, _error(NOT_DETECTED)
        if not locker.share_code:
            # Seed 003: "La gateway ne peut pas valider le hmac si il n'y a pas de partage avec elle."
            return None, _error(NOT_SHARED)
        if not hmac.compare_digest(form["hash"], gateway_hash(locker.share_code, form["ts"])):
            return None, _error(INVALID_HMAC)
        ts = int(form["ts"])
        last = self.accepted_ts[-1] if self.accepted_ts else None
        if last is not None and (ts < last or (ts == last and self.reject_equal_ts)):
            # The seed names no status for a stale timestamp. The signature no longer validates for this
            # gateway, and vendors.md's advice for 33 is exactly the fix (retry with a fresh ts), so 33.
            self.rejected_old_ts += 1
            return None, _error(INVALID_HMAC)
        # The ts is used up once the signature is accepted, even if the lock then fails (34..37).
        self.accepted_ts.append(ts)
        if not locker.detected:
            return None, _error(NOT_DETECTED)
        return locker, None


def _error(status: int, message: str | None = None) -> Response:
    # Seed 003 error bodies mirror the success {"status": "0", "code": "ok"}: status as a string, the
    # detail in "code" ("Le code contient les informations sur le paramètre manquant").
    return Response(200, {"status": str(status), "code": message or MESSAGES.get(status, "error")})


def _as_number(identifier: str) -> int | str:
    return int(identifier) if identifier.isdigit() else identifier


# ==============================================================================================
# Cloud API (api.the-keys.fr), used to create the share lock↔gateway whose code signs gateway calls.
# Not in a seed: paths from vendors.md; shapes follow the open-source client the-keyspy
# (the_keyspy/api.py, dataclasses.py). Fields beyond what that client reads are guesses.
# ==============================================================================================

ACCESSORY_GATEWAY, ACCESSORY_KEYPAD = 1, 2
API = "/fr/api/v2"


class TheKeysCloudFake(FakeServer):
    def __init__(
        self, username: str = "+33600000000", password: str = "secret", *, token_field: str = "access_token"
    ):
        super().__init__()
        self.username = username
        self.password = password
        # vendors.md: the token comes as "access_token" (with expires_in) or "token", depending on version.
        self.token_field = token_field
        self.tokens: set[str] = set()
        self.locks: dict[int, dict] = {}
        self.accessories: dict[int, dict] = {}
        self.shares: dict[int, dict] = {}
        self._gateways: dict[int, TheKeysGatewayFake] = {}  # accessory id → gateway fake it stands for
        self._next_id = 1000

        self.route("POST", "/api/login_check", self._login)
        self.route("GET", f"{API}/utilisateur/get/(?P<username>[^/]+)", self._authed(self._user))
        self.route("GET", f"{API}/accessoire/get/(?P<id>\\d+)", self._authed(self._accessory))
        self.route(
            "POST",
            f"{API}/partage/create/(?P<lock>\\d+)/accessoire/(?P<acc>[^/]+)",
            self._authed(self._share_create),
        )
        self.route("GET", f"{API}/partage/all/serrure/(?P<lock>\\d+)", self._authed(self._share_list))
        self.route("POST", f"{API}/partage/accessoire/update/(?P<id>\\d+)", self._authed(self._share_update))
        self.route("POST", f"{API}/partage/accessoire/delete/(?P<id>\\d+)", self._authed(self._share_delete))

    # --- helpers for tests -------------------------------------------------------------------
    def add_lock(self, id_serrure: str | int, *, nom: str = "Porte d'entrée", battery: int = 4065) -> dict:
        with self.lock:
            lock = {"id": self._new_id(), "id_serrure": str(id_serrure), "nom": nom, "battery": battery}
            self.locks[lock["id"]] = lock
            return lock

    def add_accessory(
        self,
        lock_id: int,
        *,
        type: int = ACCESSORY_GATEWAY,
        nom: str = "Gateway",
        id_accessoire: str | None = None,
        gateway: TheKeysGatewayFake | None = None,
        ip: str | None = None,
        last_seen: str | None = None,
    ) -> dict:
        """Attach an accessory to a lock. With `gateway`, shares created for it install their code in that
        gateway fake (as the real gateway learns shares from the cloud) and its info.ip is the fake's."""
        with self.lock:
            accessory = {
                "id": self._new_id(),
                "id_accessoire": id_accessoire or secrets.token_hex(6).upper(),
                "nom": nom,
                "type": type,
                "lock_ids": {lock_id},
                "info": {
                    "ip": ip or (gateway.url.removeprefix("http://") if gateway else "192.168.0.26"),
                    "last_seen": last_seen or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                },
            }
            self.accessories[accessory["id"]] = accessory
            if gateway is not None:
                self._gateways[accessory["id"]] = gateway
            return accessory

    def attach_accessory(self, accessory_id: int, lock_id: int) -> None:
        """One gateway can serve several locks."""
        with self.lock:
            self.accessories[accessory_id]["lock_ids"].add(lock_id)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # --- routes ------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _authed(self, handler):
        def wrapped(request: RecordedRequest, match: re.Match) -> Response:
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
                # Guess: the API is Symfony with LexikJWT (login_check), whose 401 body is this.
                return Response(401, {"code": 401, "message": "Invalid JWT Token"})
            return handler(request, match)

        return wrapped

    def _login(self, request: RecordedRequest, match: re.Match) -> Response:
        form = request.form()
        if form.get("_username") != self.username or form.get("_password") != self.password:
            return Response(401, {"code": 401, "message": "Invalid credentials."})  # guess (LexikJWT)
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        if self.token_field == "token":
            return Response(200, {"token": token})
        return Response(200, {"access_token": token, "expires_in": 3600})

    def _user(self, request: RecordedRequest, match: re.Match) -> Response:
        if match["username"] != self.username:
            return Response(404, {"status": 404, "message": "utilisateur not found"})  # guess
        serrures = []
        for lock in self.locks.values():
            # the-keyspy (UtilisateurSerrureAccessoire): each entry wraps the accessory under "accessoire".
            accessoires = [
                {"id": acc["id"], "accessoire": _accessory_brief(acc), "info": acc["info"]}
                for acc in self.accessories.values()
                if lock["id"] in acc["lock_ids"]
            ]
            serrures.append({**lock, "accessoires": accessoires})
        return Response(200, {"status": 200, "data": {"username": self.username, "serrures": serrures}})

    def _accessory(self, request: RecordedRequest, match: re.Match) -> Response:
        accessory = self.accessories.get(int(match["id"]))
        if accessory is None:
            return Response(404, {"status": 404, "message": "accessoire not found"})  # guess
        return Response(
            200, {"status": 200, "data": {**_accessory_brief(accessory), "info": accessory["info"]}}
        )

    def _share_create(self, request: RecordedRequest, match: re.Match) -> Response:
        lock = self.locks.get(int(match["lock"]))
        # vendors.md: the path takes the accessory's string id_accessoire, not its numeric id.
        accessory = next((a for a in self.accessories.values() if a["id_accessoire"] == match["acc"]), None)
        if lock is None or accessory is None or lock["id"] not in accessory["lock_ids"]:
            return Response(404, {"status": 404, "message": "serrure or accessoire not found"})  # guess
        form = request.form()
        if not form.get("partage_accessoire[nom]"):
            return Response(400, {"status": 400, "message": "partage_accessoire[nom] is required"})  # guess
        share = {
            "id": self._new_id(),
            "lock_id": lock["id"],
            # Shaped like seed 003's example share code 'Zmo1sps2OVyCFtl1'.
            "code": "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16)),
            "accessoire": _accessory_brief(accessory),
        }
        self._apply_share_form(share, form, creating=True)
        self.shares[share["id"]] = share
        self._sync_gateway(lock, accessory)
        return Response(200, {"status": 200, "data": {"id": share["id"], "code": share["code"]}})

    def _share_list(self, request: RecordedRequest, match: re.Match) -> Response:
        lock_id = int(match["lock"])
        if lock_id not in self.locks:
            return Response(404, {"status": 404, "message": "serrure not found"})  # guess
        shares = [_share_public(s) for s in self.shares.values() if s["lock_id"] == lock_id]
        # the-keyspy (Partage): user shares and accessory shares come in two lists.
        return Response(
            200, {"status": 200, "data": {"partages_utilisateur": [], "partages_accessoire": shares}}
        )

    def _share_update(self, request: RecordedRequest, match: re.Match) -> Response:
        share = self.shares.get(int(match["id"]))
        if share is None:
            return Response(404, {"status": 404, "message": "partage not found"})  # guess
        self._apply_share_form(share, request.form(), creating=False)
        self._sync_gateway(self.locks[share["lock_id"]], self._accessory_of(share))
        return Response(200, {"status": 200, "data": {"id": share["id"], "code": share["code"]}})  # guess

    def _share_delete(self, request: RecordedRequest, match: re.Match) -> Response:
        share = self.shares.pop(int(match["id"]), None)
        if share is None:
            return Response(404, {"status": 404, "message": "partage not found"})  # guess
        self._sync_gateway(self.locks[share["lock_id"]], self._accessory_of(share))
        return Response(200, {"status": 200, "data": {"id": share["id"]}})  # guess

    def _apply_share_form(self, share: dict, form: dict[str, str], *, creating: bool) -> None:
        def field(name: str, default=None):
            return form.get(f"partage_accessoire[{name}]", default if creating else share.get(name))

        def hour(name: str):
            h, m = (
                form.get(f"partage_accessoire[{name}][hour]"),
                form.get(f"partage_accessoire[{name}][minute]"),
            )
            if h is None:
                return None if creating else share.get(name)
            return f"{int(h):02d}:{int(m or 0):02d}"

        share.update(
            nom=field("nom"),
            description=field("description", ""),
            iddesc=field("iddesc"),
            actif=field("actif", "1") in ("1", "true", True),
            date_debut=field("date_debut") or None,
            date_fin=field("date_fin") or None,
            heure_debut=hour("heure_debut"),
            heure_fin=hour("heure_fin"),
        )

    def _accessory_of(self, share: dict) -> dict:
        return self.accessories[share["accessoire"]["id"]]

    def _sync_gateway(self, lock: dict, accessory: dict) -> None:
        """Give the linked gateway fake the code of the newest active share (None when there is none)."""
        gateway = self._gateways.get(accessory["id"])
        if gateway is None:
            return
        active = [
            s
            for s in self.shares.values()
            if s["lock_id"] == lock["id"] and s["accessoire"]["id"] == accessory["id"] and s["actif"]
        ]
        code = max(active, key=lambda s: s["id"])["code"] if active else None
        with gateway.lock:
            if lock["id_serrure"] in gateway.lockers:
                gateway.lockers[lock["id_serrure"]].share_code = code
            else:
                gateway.add_locker(lock["id_serrure"], code, battery=lock["battery"])


def _accessory_brief(accessory: dict) -> dict:
    return {key: accessory[key] for key in ("id", "id_accessoire", "nom", "type")}


def _share_public(share: dict) -> dict:
    return {key: value for key, value in share.items() if key != "lock_id"}
