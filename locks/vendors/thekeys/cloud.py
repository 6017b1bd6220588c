"""The Keys cloud API (api.the-keys.fr): sign in, list the account's locks and gateways, manage shares.

No seed documents it. Paths come from vendors.md and seed 003's createShare example; the shapes are the
ones the open-source client the-keyspy reads (the_keyspy/api.py and dataclasses.py): answers are
`{"status": 200, "data": ...}`, form-encoded requests, `Authorization: Bearer <token>`. We read only the
fields we need and check their types; anything else is a VendorError.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from accessbridge.http import ServiceError, http_request
from locks.vendors.base import (
    VendorAuthError,
    VendorError,
    VendorNotFound,
    VendorPermanentError,
    vendor_error_from,
)

DEFAULT_BASE_URL = "https://api.the-keys.fr"
API_PREFIX = "/fr/api/v2"
SERVICE = "The Keys"
ACCESSORY_GATEWAY, ACCESSORY_KEYPAD = 1, 2  # vendors.md; the-keyspy's ACCESSORY_GATEWAY = 1
# When the login answer carries neither expires_in nor a readable JWT "exp": LexikJWT's default lifetime.
DEFAULT_TOKEN_SECONDS = 3600
TOKEN_MARGIN_SECONDS = 60

_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def token_cache_clear() -> None:
    with _tokens_lock:
        _tokens.clear()


@dataclass(frozen=True)
class CloudAccessory:
    id: int
    id_accessoire: str  # the string id the share-creation path takes
    name: str
    type: int


@dataclass(frozen=True)
class CloudLock:
    id: int  # the cloud's lock id (shares are created for it)
    identifier: str  # id_serrure: what the gateway calls the lock ("identifier")
    name: str
    battery: int | None
    accessories: tuple[CloudAccessory, ...]

    @property
    def gateways(self) -> list[CloudAccessory]:
        return [a for a in self.accessories if a.type == ACCESSORY_GATEWAY]


@dataclass(frozen=True)
class AccessoryInfo:
    id: int
    id_accessoire: str
    name: str
    type: int
    ip: str
    last_seen: str


@dataclass(frozen=True)
class CloudShare:
    id: int
    name: str
    description: str
    code: str
    active: bool
    accessory_id: int | None


class TheKeysCloud:
    def __init__(self, *, username: str, password: str, base_url: str = DEFAULT_BASE_URL):
        if not username or not password:
            raise VendorAuthError(
                "The Keys account's phone number and password are not set.", service=SERVICE
            )
        self.username = username
        self.password = password
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")

    # --- endpoints ----------------------------------------------------------------------------------
    # POST /api/login_check (form _username, _password) → {"access_token", "expires_in"} or {"token"}
    def login(self) -> str:
        try:
            response = http_request(
                "POST",
                f"{self.base_url}/api/login_check",
                service=SERVICE,
                data={"_username": self.username, "_password": self.password},
            )
        except ServiceError as exc:
            if exc.status in (400, 401, 403):
                raise VendorAuthError(
                    "The Keys rejected the account's phone number or password.",
                    status=exc.status,
                    service=SERVICE,
                ) from None
            raise vendor_error_from(exc) from None
        body = _json_object(response, "login_check")
        token = body.get("access_token") or body.get("token")
        if not isinstance(token, str) or not token:
            raise VendorPermanentError("The Keys' sign-in answer holds no token.", service=SERVICE)
        lifetime = _token_lifetime(token, body.get("expires_in"))
        with _tokens_lock:
            _tokens[self._cache_key()] = (token, time.time() + lifetime - TOKEN_MARGIN_SECONDS)
        return token

    # GET utilisateur/get/<username> → data.serrures[] with their accessoires[] (the-keyspy: Utilisateur)
    def locks(self) -> list[CloudLock]:
        data = self._api("GET", f"utilisateur/get/{quote(self.username, safe='+@.')}")
        serrures = _field(data, "serrures", list, "utilisateur/get")
        return [_lock(item) for item in serrures]

    # GET accessoire/get/<id> → data.info.ip, data.info.last_seen (the-keyspy: Accessoire)
    def accessory(self, accessory_id: int) -> AccessoryInfo:
        data = self._api("GET", f"accessoire/get/{int(accessory_id)}")
        info = _field(data, "info", dict, "accessoire/get")
        return AccessoryInfo(
            id=_field(data, "id", int, "accessoire/get"),
            id_accessoire=str(_field(data, "id_accessoire", str, "accessoire/get")),
            name=_text(data.get("nom")),
            type=_field(data, "type", int, "accessoire/get"),
            ip=_text(info.get("ip")),
            last_seen=_text(info.get("last_seen")),
        )

    # GET partage/all/serrure/<lockId> → data.partages_accessoire[] (the-keyspy: Partage)
    def shares(self, lock_id: int) -> list[CloudShare]:
        data = self._api("GET", f"partage/all/serrure/{int(lock_id)}")
        if not isinstance(data, dict):
            raise _malformed("partage/all", "data is not an object")
        items = data.get("partages_accessoire") or []  # the-keyspy: null when the lock has none
        if not isinstance(items, list):
            raise _malformed("partage/all", "partages_accessoire is not a list")
        return [_share(item) for item in items]

    # POST partage/create/<lockId>/accessoire/<id_accessoire> → data.code (seed 003 "createWithAccessory")
    def share_create(self, *, lock_id: int, id_accessoire: str, name: str, description: str) -> CloudShare:
        form = {
            "partage_accessoire[nom]": name,
            "partage_accessoire[description]": description,
            "partage_accessoire[actif]": "1",
        }
        data = self._api(
            "POST", f"partage/create/{int(lock_id)}/accessoire/{quote(id_accessoire, safe='')}", data=form
        )
        code = _field(data, "code", str, "partage/create")
        if not code:
            raise _malformed("partage/create", "empty share code")
        return CloudShare(
            id=_field(data, "id", int, "partage/create"),
            name=name,
            description=description,
            code=code,
            active=True,
            accessory_id=None,
        )

    # POST partage/accessoire/update/<shareId> (vendors.md); only the fields we send change
    def share_activate(self, *, share_id: int) -> None:
        self._api(
            "POST", f"partage/accessoire/update/{int(share_id)}", data={"partage_accessoire[actif]": "1"}
        )

    # POST partage/accessoire/delete/<shareId> (vendors.md)
    def share_delete(self, *, share_id: int) -> None:
        self._api("POST", f"partage/accessoire/delete/{int(share_id)}")

    # --- plumbing -----------------------------------------------------------------------------------
    def _cache_key(self) -> tuple[str, str, str]:
        # The password is part of the key, so a changed password never reuses the old account's token.
        return (self.base_url, self.username, hashlib.sha256(self.password.encode()).hexdigest())

    def _token(self) -> str:
        with _tokens_lock:
            cached = _tokens.get(self._cache_key())
        if cached and cached[1] > time.time():
            return cached[0]
        return self.login()

    def _api(self, method: str, path: str, *, data: dict | None = None):
        for attempt in (1, 2):
            token = self._token()
            try:
                response = http_request(
                    method,
                    f"{self.base_url}{API_PREFIX}/{path}",
                    service=SERVICE,
                    headers={"Authorization": f"Bearer {token}"},
                    data=data,
                )
            except ServiceError as exc:
                if exc.status == 401 and attempt == 1:
                    self._forget(token)  # expired or revoked before its time: sign in again, once
                    continue
                if exc.status == 401:
                    raise VendorAuthError(
                        "The Keys no longer accepts AccessBridge's sign-in: check the account's phone number "
                        "and password.",
                        status=401,
                        service=SERVICE,
                    ) from None
                if exc.status == 403:
                    # Signed in, but this lock is someone else's (shared with the account): not an account
                    # problem that a reconnect would fix.
                    raise VendorPermanentError(
                        f"The Keys refused {path} (HTTP 403): the account may not manage this lock.",
                        status=403,
                        service=SERVICE,
                    ) from None
                if exc.status == 404:
                    raise VendorNotFound(
                        f"The Keys does not know {path} (HTTP 404).", status=404, service=SERVICE
                    ) from None
                raise vendor_error_from(exc) from None
            body = _json_object(response, path)
            status = body.get("status", 200)
            if status not in (200, "200"):
                message = _text(body.get("message")) or f"status {status}"
                raise VendorPermanentError(f"The Keys refused {path}: {message[:200]}", service=SERVICE)
            if "data" not in body:
                raise _malformed(path, "no data")
            if body["data"] is None:
                raise VendorNotFound(f"The Keys returned nothing for {path}.", service=SERVICE)
            return body["data"]
        raise AssertionError("unreachable")

    def _forget(self, token: str) -> None:
        with _tokens_lock:
            if _tokens.get(self._cache_key(), ("",))[0] == token:
                del _tokens[self._cache_key()]


def _token_lifetime(token: str, expires_in) -> float:
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return float(expires_in)
    # Older API versions answer {"token": <JWT>} only (vendors.md); its "exp" claim says when it ends.
    parts = token.split(".")
    if len(parts) == 3:
        try:
            payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            exp = payload.get("exp") if isinstance(payload, dict) else None
            if isinstance(exp, int | float) and not isinstance(exp, bool):
                return max(0.0, exp - time.time())
        except (ValueError, UnicodeDecodeError):
            pass
    return float(DEFAULT_TOKEN_SECONDS)


def _json_object(response, path: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise _malformed(path, "not JSON") from None
    if not isinstance(body, dict):
        raise _malformed(path, "not a JSON object")
    return body


def _malformed(path: str, what: str) -> VendorError:
    return VendorPermanentError(f"The Keys sent an unexpected answer to {path}: {what}.", service=SERVICE)


def _field(data, key: str, kind: type, path: str):
    if not isinstance(data, dict):
        raise _malformed(path, "data is not an object")
    value = data.get(key)
    if kind is int and isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _malformed(path, f"{key} missing or not a {kind.__name__}")
    return value


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _lock(item) -> CloudLock:
    path = "utilisateur/get"
    accessories = []
    for entry in _field(item, "accessoires", list, path):
        # the-keyspy (UtilisateurSerrureAccessoire): each entry wraps the accessory under "accessoire".
        accessory = _field(entry, "accessoire", dict, path)
        accessories.append(
            CloudAccessory(
                id=_field(accessory, "id", int, path),
                id_accessoire=_field(accessory, "id_accessoire", str, path),
                name=_text(accessory.get("nom")),
                type=_field(accessory, "type", int, path),
            )
        )
    identifier = item.get("id_serrure") if isinstance(item, dict) else None
    if isinstance(identifier, int) and not isinstance(identifier, bool):
        identifier = str(identifier)
    if not isinstance(identifier, str) or not identifier:
        raise _malformed(path, "a lock without id_serrure")
    battery = item.get("battery")
    return CloudLock(
        id=_field(item, "id", int, path),
        identifier=identifier,
        name=_text(item.get("nom")) or identifier,
        battery=battery if isinstance(battery, int) and not isinstance(battery, bool) else None,
        accessories=tuple(accessories),
    )


def _share(item) -> CloudShare:
    path = "partage/all"
    accessory = item.get("accessoire") if isinstance(item, dict) else None
    accessory_id = None
    if isinstance(accessory, dict):
        accessory_id = _field(accessory, "id", int, path)
    active = item.get("actif") if isinstance(item, dict) else None
    return CloudShare(
        id=_field(item, "id", int, path),
        name=_text(item.get("nom")),
        description=_text(item.get("description")),
        code=_text(item.get("code")),
        active=active in (True, 1, "1", "true"),
        accessory_id=accessory_id,
    )
