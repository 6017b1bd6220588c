"""KISI HTTP client (docs.kisi.io, the official client kisi-inc/client-js; ../docs/kisi.md has the facts).

`Authorization: KISI-LOGIN <api key>`, JSON only. KISI allows 5 requests a second per user and answers 429
beyond: every request first takes its slot of a limit shared by all workers (accessbridge.ratelimit, keyed by
the API key), then 429 and 5xx are backed off and tried again a few times; any other 4xx is answered at once.
A 403 also means "unknown id" at KISI, not only a missing permission: it is a permanent error that says so,
not a rejected key. Error bodies (`code`, `error` or `errors`) are put into words. Answers are parsed
strictly: a malformed answer is a VendorPermanentError, never a KeyError.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from functools import partial

from accessbridge import ratelimit
from accessbridge.http import ServiceError, http_request
from locks.vendors.addresses import public_url_guard
from locks.vendors.base import (
    Deadline,
    VendorAuthError,
    VendorPermanentError,
    VendorTransientError,
    answer_id,
    answer_json,
    vendor_error_from,
)

SERVICE = "KISI"
_json = partial(answer_json, service=SERVICE)
_json_list = partial(answer_json, service=SERVICE, shape=list)
_json_object = partial(answer_json, service=SERVICE, shape=dict)
_id = partial(answer_id, service=SERVICE)
API_URL = "https://api.kisi.io"
REQUESTS_PER_SECOND = 5
BACKOFF_SECONDS = (1.0, 2.0, 4.0)  # after a 429 or 5xx (KISI promises no Retry-After); then the work runner
PAGE_SIZE = 100  # KISI's largest `limit`
RANGE_RE = re.compile(r"^\s*(?:\*|(\d+)-(\d+))/(\d+)\s*$")
FORBIDDEN = (
    "unknown id or missing permission (KISI answers 403 for both: check the id, that the key's user is an "
    "administrator, and that the account uses KISI's Organizations model)"
)


class KisiClient:
    def __init__(self, *, api_key: str, base_url: str = API_URL):
        self.api_key = api_key
        self.base_url = (base_url or API_URL).rstrip("/")
        # KISI counts requests per user, so one limit per key, whichever connection or worker sends them.
        self.rate_key = "kisi:" + hashlib.sha256(api_key.encode()).hexdigest()[:32]

    def _request(self, method: str, path: str, *, deadline: Deadline | None = None, ok_statuses=(), **kwargs):
        headers = {"Authorization": f"KISI-LOGIN {self.api_key}", "Accept": "application/json"}
        for attempt in range(len(BACKOFF_SECONDS) + 1):
            self._slot_wait(deadline)
            try:
                return http_request(
                    method,
                    f"{self.base_url}{path}",
                    service=SERVICE,
                    headers=headers,
                    ok_statuses=ok_statuses,
                    address_check=public_url_guard(self.base_url, service=SERVICE),
                    **kwargs,
                )
            except ServiceError as exc:
                error = kisi_error_from(exc)
            pause = error.retry_after or BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            last = attempt == len(BACKOFF_SECONDS) or (deadline is not None and pause > deadline.remaining())
            if not error.transient or last:
                raise error
            ratelimit.sleep(pause)
        raise AssertionError("unreachable")

    def _slot_wait(self, deadline: Deadline | None) -> None:
        try:
            ratelimit.rate_limited(
                key=self.rate_key,
                per_second=REQUESTS_PER_SECOND,
                max_wait=deadline.remaining() if deadline is not None else None,
            )
        except ratelimit.RateWaitTooLong:
            raise VendorTransientError(
                "KISI is busy with other requests of this key (5 a second): try again in a moment",
                service=SERVICE,
            ) from None

    def _pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Every record of a list: bare JSON arrays paged by limit/offset, X-Collection-Range counts them."""
        offset = 0
        while True:
            response = self._request("GET", path, params={**(params or {}), "limit": PAGE_SIZE, "offset": offset})
            records = _json_list(response)
            yield from records
            total = _collection_total(response.headers.get("X-Collection-Range"))
            offset += len(records)
            if not records or len(records) < PAGE_SIZE or (total is not None and offset >= total):
                return

    # docs.kisi.io "Places": GET /places (test connection names them)
    def places_list(self) -> list[dict]:
        return [_record(place) for place in self._pages("/places")]

    # docs.kisi.io "Locks": GET /locks → [{id, name, online, unlocked, place_id, …}]
    def locks_list(self) -> list[dict]:
        return [_record(lock) for lock in self._pages("/locks")]

    # docs.kisi.io "Groups": GET /groups (a group is a set of locks)
    def groups_list(self) -> list[dict]:
        return [_record(group) for group in self._pages("/groups")]

    # GET /group_locks?group_id=<id> → [{id, group_id, lock_id}] (inferred: which locks a group opens)
    def group_lock_ids(self, *, group_id: str) -> list[str]:
        ids = []
        for link in self._pages("/group_locks", {"group_id": group_id}):
            lock_id = _record(link).get("lock_id")
            if isinstance(lock_id, bool) or not isinstance(lock_id, str | int):
                raise VendorPermanentError("a group lock has no lock_id", service=SERVICE)
            ids.append(str(lock_id))
        return ids

    # docs.kisi.io "Locks" / client-js README: POST /locks/<id>/unlock → {"message": "Unlocked!"}
    def lock_unlock(self, *, lock_id: str, deadline: Deadline | None = None) -> None:
        self._request("POST", f"/locks/{lock_id}/unlock", json={}, deadline=deadline)

    # docs.kisi.io "Users": GET /users?query=<email>; emails compared case-insensitively here
    def user_find(self, *, email: str) -> str | None:
        wanted = email.strip().lower()
        response = self._request("GET", "/users", params={"query": email.strip(), "limit": PAGE_SIZE})
        for user in _json_list(response):
            if str(_record(user).get("email") or "").strip().lower() == wanted:
                return _id(user)
        return None

    # GET /users: every user of the organization (the full sync compares them with ours)
    def users_list(self) -> list[dict]:
        return [_record(user) for user in self._pages("/users")]

    # docs.kisi.io "Users": POST /users {"user": {email, name, send_emails, confirm}} → {id, email, …}
    def user_create(self, *, email: str, name: str, send_emails: bool, confirm: bool) -> str:
        body = {"user": {"email": email, "name": name, "send_emails": send_emails, "confirm": confirm}}
        return _id(_json_object(self._request("POST", "/users", json=body)))

    # docs.kisi.io "Role assignments": GET /role_assignments?user_id=<id>
    def role_assignments_list(self, *, user_id: str) -> list[dict]:
        return [_record(a) for a in self._pages("/role_assignments", {"user_id": user_id})]

    # POST /role_assignments {"role_assignment": {user_id, role_id: group_basic, group_id, valid_from?, valid_until?}}
    def role_assignment_create(
        self, *, user_id: str, group_id: str, valid_from: datetime | None, valid_until: datetime | None
    ) -> str:
        assignment = {"user_id": _number_or_text(user_id), "role_id": "group_basic", "group_id": _number_or_text(group_id)}
        if valid_from:
            assignment["valid_from"] = valid_from.isoformat()
        if valid_until:
            assignment["valid_until"] = valid_until.isoformat()
        response = self._request("POST", "/role_assignments", json={"role_assignment": assignment})
        return _id(_json_object(response))

    # DELETE /role_assignments/<id>; 404 = already gone
    def role_assignment_delete(self, *, assignment_id: str) -> None:
        self._request("DELETE", f"/role_assignments/{assignment_id}", ok_statuses=(404,))


def kisi_error_from(exc: ServiceError):
    """One place for KISI's errors: its body in words, 401 = key rejected, 403 = unknown id or permission."""
    detail = _error_words(exc.response) if exc.response is not None else ""
    status = f"HTTP {exc.status}" if exc.status else ""
    kwargs = {"status": exc.status, "retry_after": exc.retry_after, "response": exc.response, "service": SERVICE}
    if exc.status == 401:
        return VendorAuthError(f"{status}: KISI rejected the API key" + (f" ({detail})" if detail else ""), **kwargs)
    if exc.status == 403:
        return VendorPermanentError(f"{status}: {FORBIDDEN}" + (f": {detail}" if detail else ""), **kwargs)
    if exc.status == 429:
        return VendorTransientError(f"{status}: more than 5 requests a second for this key", **kwargs)
    if exc.status is None:
        return vendor_error_from(exc)  # no answer (timeout, refused): the message is ours
    return vendor_error_from(ServiceError(f"{status}: {detail}" if detail else status, kind=exc.kind, **kwargs))


def _error_words(response) -> str:
    """`{"code": "ABC123", "error": "…"}` or `{"errors": {...} | [...]}` as one line."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or "").strip()[:200]
    if not isinstance(data, dict):
        return ""
    reason = data.get("error") or data.get("errors") or ""
    if isinstance(reason, dict):
        reason = "; ".join(f"{field} {_joined(value)}" for field, value in reason.items())
    elif isinstance(reason, list):
        reason = _joined(reason)
    code = data.get("code")
    words = str(reason).strip()[:300]
    return f"{words} (code {code})" if code and words else words or (f"code {code}" if code else "")


def _joined(value) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _collection_total(header: str | None) -> int | None:
    match = RANGE_RE.match(header or "")
    return int(match.group(3)) if match else None








def _record(value) -> dict:
    if not isinstance(value, dict):
        raise VendorPermanentError("expected a list of JSON objects", service=SERVICE)
    _id(value)
    return value



def _number_or_text(value: str):
    """KISI's ids are numbers; ours are kept as text."""
    return int(value) if value.isdigit() else value
