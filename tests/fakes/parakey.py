"""Stand-in for Parakey's API (seed 004, shared/vendors.md "Parakey"; inferred paths: locks/vendors/parakey/api.py).

Users (by email, created with their first key), accesses ("keys": only those allowed for the API are
listed), access keys with optional windows, the manage-access call answered as a batch (completed at
once, or running until read at GET /batches/<id>; an item can be made to fail), event logs with an ETag
(`If-None-Match` → 304) and `startDate`/`orderBy=createdAt:DESC`, and webhooks posted with the custom
headers a space configured. 429 + Retry-After and other faults: `force()` from the base.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime

from .base import FakeServer, RecordedRequest, Response

TOKEN = "pk-token-123"
_ids = itertools.count(1)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


class ParakeyFake(FakeServer):
    def __init__(self, api_token: str = TOKEN, header: str = "access-token"):
        super().__init__()
        self.api_token, self.header = api_token, header
        self.users: dict[str, dict] = {}  # email → {id, email}
        self.accesses: dict[str, dict] = {}  # id → {id, name, api}
        self.access_keys: dict[str, dict] = {}
        self.event_logs: list[dict] = []  # oldest first
        self.batches: dict[str, dict] = {}
        self.fail_items: list[str] = []  # reasons for the next inserts to fail
        self.batches_run_async = False
        self.route("GET", "/accesses", self._authed(self._accesses))
        self.route("GET", "/access-keys", self._authed(self._keys_list))
        self.route("POST", "/access-keys", self._authed(self._manage))
        self.route("GET", "/batches/(?P<id>[^/]+)", self._authed(self._batch))
        self.route("GET", "/eventLogs", self._authed(self._event_logs))

    # --- helpers for tests -------------------------------------------------------------------
    def add_access(self, access_id: str, name: str, *, api: bool = True) -> dict:
        with self.lock:
            self.accesses[access_id] = {"id": access_id, "name": name, "api": api}
            return self.accesses[access_id]

    def keys_of(self, email: str) -> dict[str, tuple[str | None, str | None]]:
        """access id → (startDate, expirationDate) of the user's keys."""
        with self.lock:
            return {
                k["access"]["id"]: (k.get("startDate"), k.get("expirationDate"))
                for k in self.access_keys.values()
                if k["user"]["email"] == email.lower()
            }

    def event_log(
        self,
        email: str | None,
        access_id: str,
        *,
        type: str = "unlock",
        timestamp: datetime | None = None,
        created_at: datetime | None = None,
        **fields,
    ) -> dict:
        """An event log as Parakey would store it (the API 1.0 shape a webhook carries too)."""
        now = datetime.now(UTC)
        entry = {
            "id": f"evl_{next(_ids)}",
            "type": type,
            "createdAt": iso(created_at or now),
            "timestamp": iso(timestamp or now),
            "access": {"id": access_id, "name": self.accesses.get(access_id, {}).get("name", "")},
            **fields,
        }
        if email is not None:
            user = self.users.get(email.lower()) or {"id": f"usr_{next(_ids)}", "email": email.lower()}
            entry["user"] = {"id": user["id"], "email": user["email"]}
        with self.lock:
            self.event_logs.append(entry)
        return entry

    def webhook_post(self, url: str, body, *, headers: dict[str, str] | None = None) -> int:
        """POST one event log to AccessBridge as Parakey's webhook worker does; returns the status."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Parakey-WebhookWorker/1.0",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def etag(self) -> str:
        newest = str(self.event_logs[-1]) if self.event_logs else ""
        return '"' + hashlib.sha256(f"{len(self.event_logs)}|{newest}".encode()).hexdigest()[:16] + '"'

    # --- routes ------------------------------------------------------------------------------
    def _authed(self, handler):
        def wrapped(request: RecordedRequest, match: re.Match) -> Response:
            if request.headers.get(self.header) != self.api_token:
                return Response(401, {"message": "Unauthorized"})
            return handler(request, match)

        return wrapped

    def _accesses(self, request, match) -> Response:
        return Response(200, [{"id": a["id"], "name": a["name"]} for a in self.accesses.values() if a["api"]])

    def _keys_list(self, request, match) -> Response:
        access_id = (request.query.get("accessId") or [""])[0]
        email = (request.query.get("email") or [""])[0].lower()
        keys = [
            k
            for k in self.access_keys.values()
            if (not access_id or k["access"]["id"] == access_id)
            and (not email or k["user"]["email"] == email)
        ]
        return Response(200, keys)

    def _manage(self, request, match) -> Response:
        body = request.json()
        results = [self._delete(item) for item in body.get("delete", [])]
        results += [self._insert(item) for item in body.get("insert", [])]
        batch = {"id": f"batch_{next(_ids)}", "status": "completed", "items": results}
        if self.batches_run_async:
            self.batches[batch["id"]] = batch
            return Response(202, {"id": batch["id"], "status": "processing"})
        return Response(200, batch)

    def _batch(self, request, match) -> Response:
        batch = self.batches.get(match["id"])
        return Response(200, batch) if batch else Response(404, {"message": "Not found"})

    def _insert(self, item: dict) -> dict:
        access = self.accesses.get(str(item.get("access", {}).get("accessId")))
        email = str(item.get("user", {}).get("email", "")).lower()
        if self.fail_items:
            return {"operation": "insert", "status": "failed", "error": {"message": self.fail_items.pop(0)}}
        if access is None or not access["api"]:
            return {"operation": "insert", "status": "failed", "error": {"message": "Access not found"}}
        if "@" not in email:
            return {"operation": "insert", "status": "failed", "error": {"message": "Invalid email"}}
        user = self.users.setdefault(email, {"id": f"usr_{next(_ids)}", "email": email})
        for key in self.access_keys.values():
            if key["access"]["id"] == access["id"] and key["user"]["email"] == email:
                return {
                    "operation": "insert",
                    "status": "failed",
                    "error": {"message": "Access key already exists"},
                }
        for name in ("startDate", "expirationDate"):
            if name in item and _parse(item[name]) is None:
                return {"operation": "insert", "status": "failed", "error": {"message": f"Invalid {name}"}}
        key = {
            "id": f"ak_{next(_ids)}",
            "access": {"id": access["id"]},
            "user": {"id": user["id"], "email": email},
            "startDate": item.get("startDate"),
            "expirationDate": item.get("expirationDate"),
        }
        self.access_keys[key["id"]] = key
        return {"operation": "insert", "status": "success", "accessKey": key}

    def _delete(self, item: dict) -> dict:
        access_id = str(item.get("access", {}).get("accessId"))
        email = str(item.get("user", {}).get("email", "")).lower()
        gone = [
            i
            for i, k in self.access_keys.items()
            if k["access"]["id"] == access_id and k["user"]["email"] == email
        ]
        for key_id in gone:
            del self.access_keys[key_id]
        if not gone:
            return {"operation": "delete", "status": "failed", "error": {"message": "Access key not found"}}
        return {"operation": "delete", "status": "success"}

    def _event_logs(self, request, match) -> Response:
        etag = self.etag()
        headers = {"ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(304, None, headers)
        entries = list(self.event_logs)
        start = _parse((request.query.get("startDate") or [""])[0])
        created = {
            id(e): (_parse(e.get("createdAt")) if isinstance(e, dict) else None) or start for e in entries
        }
        if start is not None:  # a malformed entry (a test's) is always served
            entries = [e for e in entries if created[id(e)] >= start]
        entries.sort(key=lambda e: str(created[id(e)]), reverse=True)  # orderBy=createdAt:DESC
        limit = (request.query.get("limit") or [""])[0]
        if limit.isdigit():
            entries = entries[: int(limit)]
        return Response(200, entries, headers)
