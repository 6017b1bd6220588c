"""Stand-in for SmartLock, the generic cloud lock of seed 000 (see /work/shared/vendors.md).

Seed 000 only shows `POST /users {email}` → `{id}` with an `X-Api-Token` header and a lock-opened
webhook whose form field `event` holds JSON. Everything else here is our definition of the
"generic REST lock": list/get/delete users, 422 for a bad email and 409 for a duplicate email.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlencode

from .base import FakeServer, RecordedRequest, Response

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SmartLockFake(FakeServer):
    def __init__(self, api_token: str = "sl-token-123"):
        super().__init__()
        self.api_token = api_token
        self.users: dict[str, dict] = {}
        self._id_by_email: dict[str, str] = {}  # lower-cased email → id; users holds the truth
        self.sent_events: list[dict] = []  # payloads posted by lock_opened(), for assertions
        self.route("POST", "/users", self._authed(self._create_user))
        self.route("GET", "/users", self._authed(self._list_users))
        self.route("GET", "/users/(?P<id>[^/]+)", self._authed(self._get_user))
        self.route("DELETE", "/users/(?P<id>[^/]+)", self._authed(self._delete_user))

    # --- helpers for tests -------------------------------------------------------------------
    def add_user(self, email: str) -> dict:
        """Seed a user directly, as if created earlier on the vendor's own website."""
        with self.lock:
            user = {"id": f"usr_{secrets.token_hex(6)}", "email": email}
            self.users[user["id"]] = user
            self._id_by_email[email.strip().lower()] = user["id"]
            return user

    def user_by_email(self, email: str) -> dict | None:
        # Indexed so a 10,000-member benchmark does not scan every user per registration.
        key = email.strip().lower()
        with self.lock:
            user = self.users.get(self._id_by_email.get(key, ""))
            return user if user and user["email"].lower() == key else None

    def lock_opened(
        self,
        webhook_url: str,
        user_id: str,
        *,
        as_form: bool = True,
        headers: dict[str, str] | None = None,
        event_id: str | None = None,
        door_id: str | None = None,
        occurred_at: str | None = None,
        timeout: float = 10,
    ) -> int:
        """POST the lock-opened webhook to AccessBridge; returns the HTTP status it answered.

        Seed 000 only fixes `event={"user": {"id": ...}, ...}` as a form field holding JSON; the event
        id, lock id and occurred_at are the fields any real lock sends and our adapter dedupes on.
        """
        event = {
            "id": event_id or f"evt_{secrets.token_hex(6)}",
            "user": {"id": user_id},
            "lock": {"id": door_id or "lock_1"},
            "occurred_at": occurred_at or datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if as_form:
            body = urlencode({"event": json.dumps(event)}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(event).encode()
            content_type = "application/json"
        request = urllib.request.Request(
            webhook_url,
            data=body,
            method="POST",
            headers={"Content-Type": content_type, **(headers or {})},
        )
        self.sent_events.append(event)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # --- routes ------------------------------------------------------------------------------
    def _authed(self, handler):
        def wrapped(request: RecordedRequest, match: re.Match) -> Response:
            # Seed 000: "a fixed API token sent as an HTTP header called X-Api-Token".
            if request.headers.get("x-api-token") != self.api_token:
                return Response(401, {"error": "unauthorized"})
            return handler(request, match)

        return wrapped

    def _create_user(self, request: RecordedRequest, match: re.Match) -> Response:
        # The seed's Ruby client posts a form (RestClient with a hash); a JSON client is just as likely.
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = request.json()
            except ValueError:
                return Response(422, {"error": "invalid", "field": "body"})
            if not isinstance(data, dict):
                return Response(422, {"error": "invalid", "field": "body"})
        else:
            data = request.form()
        email = data.get("email")
        if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
            return Response(422, {"error": "invalid", "field": "email"})
        email = email.strip()
        existing = self.user_by_email(email)
        if existing:
            # Our definition (seed 000 is silent): a duplicate email is a conflict that names the
            # existing user, so a retried registration can adopt it instead of failing.
            return Response(409, {"error": "exists", "id": existing["id"]})
        return Response(201, self.add_user(email))

    def _list_users(self, request: RecordedRequest, match: re.Match) -> Response:
        return Response(200, list(self.users.values()))

    def _get_user(self, request: RecordedRequest, match: re.Match) -> Response:
        user = self.users.get(match["id"])
        return Response(200, user) if user else Response(404, {"error": "not_found"})

    def _delete_user(self, request: RecordedRequest, match: re.Match) -> Response:
        # Seed 000's endpoint list is empty; vendors.md defines DELETE /users/<id> for offboarding.
        if self.users.pop(match["id"], None) is None:
            return Response(404, {"error": "not_found"})
        return Response(204)
