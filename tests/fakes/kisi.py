"""Stand-in for KISI's API (../shared/vendors.md "KISI", docs.kisi.io, kisi-inc/client-js).

Users, groups, group locks, role assignments with windows, locks and unlock, bare JSON arrays paged by
limit/offset with `X-Collection-Range`, 403 for unknown ids, errors as `{"code", "error"}` or `{"errors"}`,
and KISI's limit: more than 5 requests in any second (on the stand-in's `clock`) answers 429. It counts what
it saw: `seen_at` (every request's time), `too_many` (the times it answered 429) and `writes`.
`event_send` posts a signed Event Webhook the way KISI does (X-Signature = hex HMAC-SHA256 of the body).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from .base import FakeServer, RecordedRequest, Response

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIMIT_PER_SECOND = 5


class KisiFake(FakeServer):
    def __init__(self, api_key: str = "kisi-key-123", *, clock: Callable[[], float] = time.time):
        super().__init__()
        self.api_key = api_key
        self.clock = clock
        self._ids = itertools.count(101)
        self.places = [{"id": 1, "name": "HQ Berlin"}]
        self.users: dict[int, dict] = {}
        self.groups: dict[int, dict] = {}
        self.locks: dict[int, dict] = {}
        self.group_locks: list[dict] = []
        self.role_assignments: dict[int, dict] = {}
        self.unlocked: list[int] = []
        self.seen_at: list[float] = []
        self.too_many: list[float] = []
        self.writes = 0
        self.signature_key = ""
        for method, path, handler in (
            ("GET", "/places", lambda r, m: self._page(r, self.places)),
            ("GET", "/locks", lambda r, m: self._page(r, list(self.locks.values()))),
            ("POST", r"/locks/(?P<id>\d+)/unlock", self._unlock),
            ("GET", "/groups", lambda r, m: self._page(r, list(self.groups.values()))),
            ("GET", "/group_locks", self._group_locks),
            ("GET", "/users", self._users),
            ("POST", "/users", self._user_create),
            ("GET", "/role_assignments", self._assignments),
            ("POST", "/role_assignments", self._assignment_create),
            ("DELETE", r"/role_assignments/(?P<id>\d+)", self._assignment_delete),
        ):
            self.route(method, path, self._limited(handler))

    # --- helpers for tests -------------------------------------------------------------------
    def add_group(self, name: str, *, locks: tuple[int, ...] = ()) -> dict:
        group = {"id": next(self._ids), "name": name, "place_id": 1}
        self.groups[group["id"]] = group
        for lock_id in locks:
            self.group_locks.append({"id": next(self._ids), "group_id": group["id"], "lock_id": lock_id})
        return group

    def add_lock(self, name: str, **fields) -> dict:
        lock = {"id": next(self._ids), "name": name, "online": True, "unlocked": False, "place_id": 1, **fields}
        self.locks[lock["id"]] = lock
        return lock

    def add_user(self, email: str, name: str = "") -> dict:
        user = {"id": next(self._ids), "email": email, "name": name or email, "confirmed": True}
        self.users[user["id"]] = user
        return user

    def user_of(self, email: str) -> dict | None:
        return next((u for u in self.users.values() if u["email"].lower() == email.lower()), None)

    def groups_of(self, user_id: int) -> list[str]:
        """The names of the groups a user holds (any window)."""
        return sorted(
            self.groups[a["group_id"]]["name"] for a in self.role_assignments.values() if a["user_id"] == user_id
        )

    def busiest_second(self) -> int:
        """The most requests seen in any one second (a sliding window over `seen_at`)."""
        times, most, start = sorted(self.seen_at), 0, 0
        for end, at in enumerate(times):
            while times[start] <= at - 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    def event(self, *, user_id: int | None, lock_id: int, success: bool = True, **fields) -> dict:
        user = self.users.get(user_id) if user_id else None
        return {
            "uuid": str(uuid.uuid4()),
            "actor_type": "User",
            "actor_id": user_id,
            "actor_name": user["name"] if user else "Someone",
            "object_type": "Lock",
            "object_id": lock_id,
            "object_name": self.locks[lock_id]["name"],
            "organization_id": 7,
            "place_id": 1,
            "success": success,
            "type": "lock.unlock",
            "error_code": None if success else "40301",
            "error_message": None if success else "Access denied",
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **fields,
        }

    def event_send(self, webhook_url: str, event: dict, *, signature: str | None = None) -> int:
        """POST the event as KISI's Event Webhook does; returns the HTTP status AccessBridge answered."""
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json"}
        if signature is None and self.signature_key:
            signature = hmac.new(self.signature_key.encode(), body, hashlib.sha256).hexdigest()
        if signature is not None:
            headers["X-Signature"] = signature
        request = urllib.request.Request(webhook_url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # --- routes ------------------------------------------------------------------------------
    def _limited(self, handler):
        def wrapped(request: RecordedRequest, match: re.Match) -> Response:
            if request.headers.get("authorization") != f"KISI-LOGIN {self.api_key}":
                return Response(401, {"code": "000401", "error": "Authentication required"})
            now = self.clock()
            recent = sum(1 for at in self.seen_at[-LIMIT_PER_SECOND:] if at > now - 1.0)
            self.seen_at.append(now)
            if recent >= LIMIT_PER_SECOND:
                self.too_many.append(now)
                return Response(429, {"code": "000429", "error": "Too many requests"})
            if request.method in ("POST", "DELETE") and not request.path.endswith("/unlock"):
                self.writes += 1
            return handler(request, match)

        return wrapped

    def _page(self, request: RecordedRequest, records: list) -> Response:
        try:
            limit = min(int(request.query.get("limit", ["10"])[-1]), 100)
            offset = int(request.query.get("offset", ["0"])[-1])
        except ValueError:
            return Response(422, {"code": "000422", "errors": {"limit": ["is not a number"]}})
        chunk = records[offset : offset + limit]
        span = f"{offset}-{offset + len(chunk) - 1}" if chunk else "*"
        return Response(200, chunk, headers={"X-Collection-Range": f"{span}/{len(records)}"})

    def _body(self, request: RecordedRequest, key: str) -> dict | None:
        try:
            data = request.json()
        except ValueError:
            return None
        inner = data.get(key) if isinstance(data, dict) else None
        return inner if isinstance(inner, dict) else None

    def _users(self, request, match) -> Response:
        query = request.query.get("query", [""])[-1].lower()
        users = [u for u in self.users.values() if query in u["email"].lower() or query in u["name"].lower()]
        return self._page(request, users)

    def _user_create(self, request, match) -> Response:
        data = self._body(request, "user")
        if data is None:
            return Response(422, {"code": "000422", "error": "user is missing"})
        email = data.get("email")
        if not isinstance(email, str) or not EMAIL_RE.match(email):
            return Response(422, {"code": "000422", "errors": {"email": ["is invalid"]}})
        if self.user_of(email):
            return Response(422, {"code": "000422", "errors": {"email": ["has already been taken"]}})
        user = self.add_user(email, str(data.get("name") or ""))
        user.update(confirmed=bool(data.get("confirm")), send_emails=bool(data.get("send_emails", True)))
        return Response(200, user)

    def _group_locks(self, request, match) -> Response:
        group_id = request.query.get("group_id", [""])[-1]
        return self._page(request, [g for g in self.group_locks if str(g["group_id"]) == group_id])

    def _assignments(self, request, match) -> Response:
        user_id = request.query.get("user_id", [""])[-1]
        return self._page(request, [a for a in self.role_assignments.values() if str(a["user_id"]) == user_id])

    def _assignment_create(self, request, match) -> Response:
        data = self._body(request, "role_assignment")
        if data is None or data.get("role_id") != "group_basic":
            return Response(422, {"code": "000422", "errors": {"role_id": ["is not included in the list"]}})
        if data.get("user_id") not in self.users or data.get("group_id") not in self.groups:
            return Response(403, {"code": "000403", "error": "Forbidden"})  # KISI: also for unknown ids
        assignment = {
            "id": next(self._ids),
            "type": "group",
            "role_id": "group_basic",
            "user_id": data["user_id"],
            "group_id": data["group_id"],
            "valid_from": data.get("valid_from"),
            "valid_until": data.get("valid_until"),
        }
        self.role_assignments[assignment["id"]] = assignment
        return Response(200, assignment)

    def _assignment_delete(self, request, match) -> Response:
        if self.role_assignments.pop(int(match["id"]), None) is None:
            return Response(404, {"code": "000404", "error": "Not found"})
        return Response(204)

    def _unlock(self, request, match) -> Response:
        lock = self.locks.get(int(match["id"]))
        if lock is None:
            return Response(403, {"code": "000403", "error": "Forbidden"})
        if lock.get("reader_restriction_enabled") or lock.get("primary_device_restriction_enabled"):
            return Response(403, {"code": "000403", "error": "Unlock refused by restriction"})
        self.unlocked.append(lock["id"])
        return Response(200, {"message": "Unlocked!"})
