"""Parakey HTTP client (seed 004, shared/vendors.md "Parakey"; inferred paths and names: api.py).

The base URL is a connection setting an admin may change: it is checked before every request
(locks.vendors.addresses: https, public addresses only, the connection pinned to the checked address),
and errors carry the HTTP status only, never the answer's body. Every call goes through the shared HTTP
session; its errors become the adapter's error classes here, in one place (429 and 5xx are transient
with Retry-After). Answers are parsed strictly: a malformed answer is a VendorPermanentError.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from accessbridge.http import ServiceError, http_request
from locks.vendors.addresses import public_url_guard
from locks.vendors.base import (
    VendorPermanentError,
    VendorTransientError,
    answer_json,
    status_only,
    vendor_error_from,
)
from locks.vendors.parakey import api
from locks.vendors.parakey.events import text_value

SERVICE = "Parakey"
_json = partial(answer_json, service=SERVICE)
_object = partial(answer_json, service=SERVICE, shape=dict)
# A batch still running is read again after these pauses, then left to the engine's retry.
BATCH_PAUSES = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ItemResult:
    """One insert or delete of a manage-access call, as Parakey answered it."""

    ok: bool
    error: str = ""
    access_key_id: str = ""


@dataclass(frozen=True)
class Probe:
    changed: bool
    etag: str


class ParakeyClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_token: str,
        token_header: str,
        domain_id: str = "",
        send_invitation_email: bool = False,
        pause=time.sleep,
    ):
        self.base_url = (base_url or api.DEFAULT_BASE_URL).rstrip("/")
        self.api_token = api_token
        self.token_header = token_header or api.DEFAULT_TOKEN_HEADER
        self.domain_id = domain_id
        self.send_invitation_email = send_invitation_email
        self.pause = pause

    def _request(self, method: str, path: str, *, headers=None, ok_statuses: tuple[int, ...] = (), **kwargs):
        address_check = public_url_guard(self.base_url, service=SERVICE)
        sent = {self.token_header: self.api_token, "Accept": "application/json", **(headers or {})}
        try:
            return http_request(
                method,
                f"{self.base_url}{path}",
                service=SERVICE,
                headers=sent,
                ok_statuses=ok_statuses,
                address_check=address_check,
                **kwargs,
            )
        except ServiceError as exc:
            raise vendor_error_from(status_only(exc)) from None

    def _params(self, **params) -> dict:
        given = {key: value for key, value in params.items() if value not in (None, "")}
        return {api.DOMAIN_PARAM: self.domain_id, **given} if self.domain_id else given

    # vendors.md: the accesses ("keys") the token may manage; only keys allowed for the API are listed
    def accesses_list(self) -> list[dict]:
        accesses = _list(self._request("GET", api.ACCESSES_PATH, params=self._params()))
        for access in accesses:
            _id(access, "key")
        return accesses

    # vendors.md: GET /access-keys?domainId= lists access keys (user ↔ access, optional window)
    def access_keys_list(self, *, access_id: str = "", email: str = "") -> list[dict]:
        response = self._request(
            "GET", api.ACCESS_KEYS_PATH, params=self._params(accessId=access_id, email=email)
        )
        keys = _list(response)
        found = []
        for key in keys:  # filtered here too, for a server that ignores the filters
            _id(key, "access key")
            if access_id and access_key_access(key) != access_id:
                continue
            if email and access_key_email(key) != email.strip().lower():
                continue
            found.append(key)
        return found

    # vendors.md "Manage access" (API ≥ 1.2): one call with insert/delete items; users created by email
    def access_manage(self, *, insert: list[dict] = (), delete: list[dict] = ()) -> list[ItemResult]:
        body = {
            "insert": list(insert),
            "delete": list(delete),
            "sendInvitationEmail": self.send_invitation_email,
        }
        batch = _object(self._request("POST", api.ACCESS_KEYS_PATH, json=body))
        for pause in BATCH_PAUSES:
            if _batch_done(batch):
                break
            self.pause(pause)
            batch = self.batch_get(batch_id=_id(batch, "batch"))
        if not _batch_done(batch):
            raise VendorTransientError(
                "Parakey is still processing the change; it is checked again later", service=SERVICE
            )
        results = _batch_items(batch)
        if len(results) != len(body["insert"]) + len(body["delete"]):
            raise VendorPermanentError("Parakey's batch answer does not list every item", service=SERVICE)
        return results

    # vendors.md: GET /batches/<id> gives per-item results
    def batch_get(self, *, batch_id: str) -> dict:
        return _object(self._request("GET", api.BATCH_PATH.format(batch_id=batch_id)))

    # seed 004 step 1: GET /eventLogs?limit=1 with If-None-Match; 304 = nothing changed
    def event_logs_probe(self, *, etag: str = "") -> Probe:
        headers = {"If-None-Match": etag} if etag else {}
        response = self._request(
            "GET", api.EVENT_LOGS_PATH, params={"limit": 1}, headers=headers, ok_statuses=(304,)
        )
        if response.status_code == 304:
            return Probe(changed=False, etag=etag)
        return Probe(changed=True, etag=response.headers.get("ETag", ""))

    # seed 004 step 3: GET /eventLogs?startDate={lastFetchedCreatedAt}&orderBy=createdAt:DESC
    def event_logs_since(self, *, start: str) -> list:
        params = {"startDate": start, "orderBy": "createdAt:DESC"}
        return _list(self._request("GET", api.EVENT_LOGS_PATH, params=params), objects_only=False)


def access_key_access(key: dict) -> str:
    access = key.get("access")
    value = access.get("id", access.get("accessId")) if isinstance(access, dict) else key.get("accessId")
    return text_value(value)


def access_key_email(key: dict) -> str:
    user = key.get("user")
    value = user.get("email") if isinstance(user, dict) else key.get("email")
    return text_value(value).lower()


def access_key_window(key: dict) -> tuple[str, str]:
    return text_value(key.get("startDate")), text_value(key.get("expirationDate"))


def _batch_done(batch: dict) -> bool:
    status = batch.get("status")
    if status is None:  # an answer without a status holds its results already
        return "items" in batch or "results" in batch
    return isinstance(status, str) and status.strip().lower() in api.BATCH_DONE_STATES


def _batch_items(batch: dict) -> list[ItemResult]:
    items = batch.get("items", batch.get("results"))
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise VendorPermanentError("Parakey's batch answer has no item results", service=SERVICE)
    return [_item_result(item) for item in items]


def _item_result(item: dict) -> ItemResult:
    status = item.get("status")
    error = item.get("error") or item.get("message") or ""
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or "failed"
    key = item.get("accessKey")
    key_id = text_value(key.get("id")) if isinstance(key, dict) else text_value(item.get("accessKeyId"))
    if isinstance(status, str) and status.strip().lower() in api.ITEM_OK_STATES and not error:
        return ItemResult(ok=True, access_key_id=key_id)
    return ItemResult(ok=False, error=str(error or f"item {status or 'failed'}")[:500])






def _list(response, *, objects_only: bool = True) -> list:
    data = _json(response)
    if isinstance(data, dict):
        data = next((data[key] for key in api.LIST_ENVELOPE_KEYS if isinstance(data.get(key), list)), None)
    if not isinstance(data, list) or (objects_only and not all(isinstance(item, dict) for item in data)):
        raise VendorPermanentError("expected a JSON list", status=response.status_code, service=SERVICE)
    return data


def _id(data: dict, what: str) -> str:
    value = text_value(data.get("id"))
    if not value:
        raise VendorPermanentError(f"Parakey's answer has a {what} without an id", service=SERVICE)
    return value
