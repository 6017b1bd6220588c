"""Stand-in for Cobot: one server plays www.cobot.me, <subdomain>.cobot.me and api.cobot.me.

Point AccessBridge at it with COBOT_SITE_URL = fake.url, COBOT_API2_URL = fake.api2_url and the space
URL template fake.space_url_template, so space API 1 paths become /spaces/<subdomain>/api/...

Shapes follow dev.cobot.me/api-docs and /work/shared/cobot-api.md; anything not shown there is marked
"guessed". State lives in memory per space; tests change it through the helpers (add_membership,
cancel_membership, ...) and then simulate Cobot's webhook with deliver().
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from .base import FakeServer, RecordedRequest, Response

API1_TIME = "%Y/%m/%d %H:%M:%S %z"  # "2026/11/01 10:00:00 +0000"
API1_DATE = "%Y/%m/%d"  # "2026/11/01"

SCOPES = (
    "read", "read_user", "read_memberships", "read_plans", "read_check_ins", "checkin", "checkin_tokens",
    "read_time_passes", "read_bookings", "read_resources", "read_custom_fields", "write_custom_fields",
    "read_subscriptions", "write_subscriptions", "navigation", "write_memberships", "write_check_ins",
    "read_drop_in_passes",
)  # fmt: skip
WEBHOOK_EVENTS = frozenset({
    "confirmed_membership", "canceled_membership", "uncanceled_membership", "reactivated_membership",
    "membership_cancellation_date_reached", "changed_membership_plan", "membership_plan_change_date_reached",
    "deleted_membership", "membership_added_time_passes", "membership_removed_time_passes",
    "created_booking", "updated_booking", "deleted_booking", "created_checkin_token", "deleted_checkin_token",
    "created_drop_in_pass",
})  # fmt: skip
# Named only in a third-party transcription of Cobot's webhook page (cobot-api.md): offered here, so that
# connecting subscribes to them; a test drops them from `webhook_events` to play a Cobot that refuses them.
ADMIN_WEBHOOK_EVENTS = frozenset({"created_admin", "deleted_admin"})
NAVIGATION_SECTIONS = ("admin/setup", "admin/manage", "admin/analyze", "members")
DEFAULT_CLIENT_ID = "accessbridge-test"
DAY_PASS_TIMESPANS = [{"from_hour": 4, "from_minute": 0, "to_hour": 3, "to_minute": 59, "weekdays": []}]


@dataclass
class CobotUser:
    id: str
    email: str
    name: str
    token: str  # the user's first access token (add_token makes more)
    admin_of: set[str] = field(default_factory=set)  # space subdomains


@dataclass
class AccessToken:
    token: str
    user_id: str
    scopes: tuple[str, ...]
    space_id: str | None = None  # set for space-bound tokens: they work for that space only
    client_id: str = DEFAULT_CLIENT_ID
    revoked: bool = False


@dataclass
class CheckIn:
    id: str
    membership_id: str
    valid_from: datetime
    valid_until: datetime
    time_pass_id: str | None = None


@dataclass
class Space:
    id: str
    subdomain: str
    name: str
    plans: dict[str, dict] = field(default_factory=dict)
    default_plan_id: str | None = None
    memberships: dict[str, dict] = field(default_factory=dict)  # stored in Cobot's API 1 shape
    unused_time_passes: dict[str, list[dict]] = field(default_factory=dict)  # membership id → passes
    resources: dict[str, dict] = field(default_factory=dict)  # name → {id, name}
    bookings: dict[str, dict] = field(default_factory=dict)
    check_in_tokens: dict[str, str] = field(default_factory=dict)  # token → membership id
    check_ins: list[CheckIn] = field(default_factory=list)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    navigation_links: dict[str, dict] = field(default_factory=dict)
    custom_fields: dict[str, dict[str, str]] = field(default_factory=dict)  # membership id → label → value
    custom_field_ids: dict[str, str] = field(default_factory=dict)  # label → id
    drop_in_passes: dict[str, dict] = field(default_factory=dict)  # id → API 2 resource (shape guessed)


class _Reject(Exception):
    """Raised inside a handler to answer early with `response`."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


@dataclass
class _Call:
    request: RecordedRequest
    match: re.Match
    token: AccessToken | None = None
    space: Space | None = None

    def __getitem__(self, group: str) -> str:
        return self.match[group]

    def params(self) -> dict[str, Any]:
        """Query string merged with the body; Cobot accepts JSON or form-encoded bodies (api-docs)."""
        params: dict[str, Any] = {k: v[-1] for k, v in self.request.query.items()}
        body = self.request.body
        if not body:
            return params
        if "json" in self.request.headers.get("content-type", "") or body.lstrip()[:1] == b"{":
            try:
                data = json.loads(body)
            except ValueError:
                raise _Reject(_json(400, {"error": "invalid JSON body"})) from None
            if not isinstance(data, dict):
                raise _Reject(_json(400, {"error": "invalid JSON body"}))
            params.update(data)
        else:
            params.update(self.request.form())
        return params


class CobotFake(FakeServer):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spaces: dict[str, Space] = {}  # subdomain → space
        self.users: dict[str, CobotUser] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.clients: dict[str, str] = {}  # client_id → secret; empty means any client is accepted
        self.webhook_events: set[str] = set(WEBHOOK_EVENTS) | ADMIN_WEBHOOK_EVENTS
        # cobot-api.md: a token whose membership ended "may answer 204 with an empty body (unverified)".
        # Replace with e.g. Response(422, {"errors": [{"detail": "..."}]}) to test the other reading.
        self.inactive_check_in_response = Response(204)
        # A Cobot that differs from ours in small ways: endpoints it lacks, fields its listings leave out.
        # (An event it does not offer: remove the name from webhook_events; creating it answers 422.)
        self._removed: list[tuple[str, re.Pattern]] = []
        self.navigation_links_listed_without: tuple[str, ...] = ()
        self._codes: dict[str, tuple[str, str | None]] = {}  # code → (token, PKCE challenge)
        self._authorizing_token: str | None = None
        self._frozen_now: datetime | None = None
        self._limits: dict[str, int | None] = {"all": None, "memberships": None}
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._seq = 0
        self._register_routes()

    # --- URLs --------------------------------------------------------------------------------
    @property
    def api2_url(self) -> str:
        return f"{self.url}/api2"

    @property
    def space_url_template(self) -> str:
        return f"{self.url}/spaces/{{subdomain}}"

    def space_url(self, subdomain: str) -> str:
        return f"{self.url}/spaces/{subdomain}"

    def space_api_url(self, subdomain: str) -> str:
        return f"{self.space_url(subdomain)}/api"

    def membership_url(self, subdomain: str, membership_id: str) -> str:
        """The `url` a membership webhook carries."""
        return f"{self.space_api_url(subdomain)}/memberships/{membership_id}"

    def booking_url(self, subdomain: str, booking_id: str) -> str:
        return f"{self.space_api_url(subdomain)}/bookings/{booking_id}"

    # --- clock ---------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._frozen_now or datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()

    def set_now(self, when: datetime | None) -> None:
        """Freeze the clock (None: real time again). Drives check-in days, cancellations, rate limits."""
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self._frozen_now = when.astimezone(UTC) if when else None

    def advance(self, seconds: float) -> None:
        self._frozen_now = self.now() + timedelta(seconds=seconds)

    # --- rate limits and call counts -----------------------------------------------------------
    def rate_limit(self, per_minute: int | None) -> None:
        """Per-user limit on every authenticated call (Cobot: about 60/min). None turns it off."""
        self._limits["all"] = per_minute

    def memberships_limit(self, per_minute: int | None) -> None:
        """Extra per-user limit on GET /api/memberships (Cobot: 6/min). None turns it off."""
        self._limits["memberships"] = per_minute

    def endpoint_remove(self, method: str, path_regex: str) -> None:
        """From now on `method` on a path matching `path_regex` (searched) answers 404, as if this Cobot lacked it."""
        with self.lock:
            self._removed.append((method.upper(), re.compile(path_regex)))

    def _respond(self, request: RecordedRequest) -> Response:
        with self.lock:
            if any(method == request.method and rx.search(request.path) for method, rx in self._removed):
                self.requests.append(request)
                return _json(404, {"error": "not found"})
        return super()._respond(request)

    def calls(self, method: str, path_regex: str) -> int:
        return len(self.requests_to(method, path_regex))

    # --- spaces, users, tokens -----------------------------------------------------------------
    def add_space(self, subdomain: str, *, name: str | None = None, space_id: str | None = None) -> Space:
        with self.lock:
            space = Space(id=space_id or _new_id(), subdomain=subdomain, name=name or subdomain.title())
            self.spaces[subdomain] = space
            return space

    def space(self, subdomain: str) -> Space:
        return self.spaces[subdomain]

    def add_user(
        self,
        token: str | None = None,
        *,
        admin_of: Iterable[str] = (),
        scopes: Iterable[str] = SCOPES,
        email: str | None = None,
        name: str = "Alice",
        user_id: str | None = None,
    ) -> CobotUser:
        with self.lock:
            uid = user_id or f"user-{_new_id()[:12]}"
            user = CobotUser(
                id=uid, email=email or f"{uid}@example.com", name=name, token="", admin_of=set(admin_of)
            )
            self.users[uid] = user
            user.token = self.add_token(uid, token, scopes=scopes).token
            return user

    def add_token(
        self,
        user_id: str,
        token: str | None = None,
        *,
        scopes: Iterable[str] | None = None,
        space: str | None = None,
    ) -> AccessToken:
        """Another token for a user; `space` (a subdomain) makes it space-bound."""
        with self.lock:
            user = self.users[user_id]
            if scopes is None:
                scopes = self.tokens[user.token].scopes if user.token else SCOPES
            bound = self.spaces[space].id if space else None
            entry = AccessToken(token or secrets.token_hex(32), user_id, tuple(scopes), space_id=bound)
            self.tokens[entry.token] = entry
            return entry

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self.tokens[token].revoked = True

    def set_admin(self, user_id: str, subdomain: str, admin: bool = True) -> None:
        with self.lock:
            admins = self.users[user_id].admin_of
            if admin:
                admins.add(subdomain)
            else:
                admins.discard(subdomain)

    def add_client(self, client_id: str, secret: str) -> None:
        """Once any client is registered, the token endpoint checks client_id/client_secret."""
        self.clients[client_id] = secret

    def issue_code(self, user_token: str, *, code_challenge: str | None = None) -> str:
        """An authorization code that POST /oauth/access_token exchanges for `user_token`."""
        with self.lock:
            code = secrets.token_urlsafe(16)
            self._codes[code] = (user_token, code_challenge)
            return code

    def authorize_as(self, user_token: str | None) -> None:
        """GET /oauth/authorize then approves at once as this token's user and redirects with a code."""
        self._authorizing_token = user_token

    # --- plans and memberships -----------------------------------------------------------------
    def add_plan(
        self,
        subdomain: str,
        name: str,
        *,
        time_passes: Iterable[str] = (),
        plan_id: str | None = None,
        price: str = "100.0",
    ) -> dict:
        """`time_passes`: names of the pass types the plan includes, e.g. ("Day Pass",)."""
        with self.lock:
            space = self.spaces[subdomain]
            plan = {
                "id": plan_id or _new_id(),
                "name": name,
                "description": "",
                "price_per_cycle": price,
                "currency": "EUR",
                "cycle_duration": 1,
                "cancellation_period": 14,
                "hidden": False,
                "time_passes": [
                    {
                        "id": str(i),
                        "name": pass_name,
                        "timespans": "4-3:59",
                        "parsed_timespans": DAY_PASS_TIMESPANS,
                        "included_per_timespan": 0,
                        "included_timespan": "month",
                    }
                    for i, pass_name in enumerate(time_passes)
                ],
            }
            space.plans[plan["id"]] = plan
            return _copy(plan)

    def add_membership(
        self,
        subdomain: str,
        *,
        name: str = "Ada Lovelace",
        email: str | None = None,
        plan_id: str | None = None,
        user_id: str | None = None,
        membership_id: str | None = None,
        **overrides: Any,
    ) -> dict:
        """A confirmed, current membership; `overrides` replace any top-level field of the shape."""
        with self.lock:
            space = self.spaces[subdomain]
            membership = self._build_membership(
                space, self.now(), name=name, email=email, plan_id=plan_id, user_id=user_id, mid=membership_id
            )
            membership.update(overrides)
            space.memberships[membership["id"]] = membership
            return _copy(membership)

    def add_memberships(
        self, subdomain: str, n: int, *, plan_id: str | None = None, **overrides: Any
    ) -> list[dict]:
        with self.lock:
            space = self.spaces[subdomain]
            now = self.now()
            created = []
            for _ in range(n):
                membership = self._build_membership(space, now, name=None, email=None, plan_id=plan_id)
                membership.update(overrides)
                space.memberships[membership["id"]] = membership
                created.append(membership)
            return _copy(created)

    def membership(self, subdomain: str, membership_id: str) -> dict:
        with self.lock:
            return _copy(self.spaces[subdomain].memberships[membership_id])

    def update_membership(self, subdomain: str, membership_id: str, **fields: Any) -> dict:
        with self.lock:
            membership = self.spaces[subdomain].memberships[membership_id]
            membership.update(fields)
            return _copy(membership)

    def cancel_membership(self, subdomain: str, membership_id: str, canceled_to: date | str | None) -> dict:
        """Cancel to a date (past: ended, today or later: still current); None un-cancels."""
        value = _fmt_date(_parse_date(canceled_to)) if canceled_to is not None else None
        return self.update_membership(subdomain, membership_id, canceled_to=value)

    def change_plan(
        self, subdomain: str, membership_id: str, plan_id: str, *, on: date | None = None
    ) -> dict:
        """Switch plans now, or (with a future `on`) set it as the membership's upcoming_plan."""
        with self.lock:
            space = self.spaces[subdomain]
            membership = space.memberships[membership_id]
            plan = _membership_plan(space.plans[plan_id])
            if on is None or on <= self.today():
                membership["plan"], membership["upcoming_plan"] = plan, None
            else:
                membership["upcoming_plan"] = {**plan, "change_date": _fmt_date(on)}  # guessed field name
            return _copy(membership)

    def delete_membership(self, subdomain: str, membership_id: str) -> dict:
        """Removes it (GET answers 404 from now on); returns it for a deleted_membership payload."""
        with self.lock:
            space = self.spaces[subdomain]
            space.unused_time_passes.pop(membership_id, None)
            return space.memberships.pop(membership_id)

    def set_unused_time_passes(
        self, subdomain: str, membership_id: str, n: int, *, name: str = "Day Pass"
    ) -> list[dict]:
        with self.lock:
            space = self.spaces[subdomain]
            stamp = _fmt_time(self.now())
            passes = [
                {
                    "id": _new_id(),
                    "created_at": stamp,
                    "updated_at": stamp,
                    "expires_at": None,
                    "used_at": None,
                    "name": name,
                    "timespans": "4-3:59",
                    "parsed_timespans": DAY_PASS_TIMESPANS,
                }
                for _ in range(n)
            ]
            space.unused_time_passes[membership_id] = passes
            return _copy(passes)

    def set_custom_fields(self, subdomain: str, membership_id: str, values: dict[str, str]) -> None:
        """e.g. {"Card number": "04A1B2"}; labels get stable ids per space."""
        with self.lock:
            space = self.spaces[subdomain]
            for label in values:
                space.custom_field_ids.setdefault(label, _new_id()[:10])
            space.custom_fields.setdefault(membership_id, {}).update(values)

    # --- bookings, check-ins -------------------------------------------------------------------
    def add_booking(
        self,
        subdomain: str,
        *,
        from_: datetime | str,
        to: datetime | str,
        membership_id: str | None = None,
        resource: str = "Meeting Room",
        title: str | None = None,
        booking_id: str | None = None,
    ) -> dict:
        with self.lock:
            space = self.spaces[subdomain]
            room = space.resources.setdefault(resource, {"id": _new_id(), "name": resource})
            member = space.memberships[membership_id] if membership_id else None
            booking = {
                "id": booking_id or _new_id(),
                "from": _fmt_time(_as_time(from_)),
                "to": _fmt_time(_as_time(to)),
                "title": title,
                "comments": None,
                "price": "0.0",
                "currency": "EUR",
                "resource": dict(room),
                "membership": {"id": member["id"], "name": member["name"]} if member else None,
            }
            space.bookings[booking["id"]] = booking
            return _copy(booking)

    def update_booking(
        self,
        subdomain: str,
        booking_id: str,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
    ) -> dict:
        with self.lock:
            booking = self.spaces[subdomain].bookings[booking_id]
            if from_ is not None:
                booking["from"] = _fmt_time(_as_time(from_))
            if to is not None:
                booking["to"] = _fmt_time(_as_time(to))
            return _copy(booking)

    def delete_booking(self, subdomain: str, booking_id: str) -> dict:
        """Removes it; returns it for a deleted_booking payload ({"booking": ...})."""
        with self.lock:
            return self.spaces[subdomain].bookings.pop(booking_id)

    def add_check_in_token(self, subdomain: str, membership_id: str, token: str) -> dict:
        with self.lock:
            self.spaces[subdomain].check_in_tokens[token] = membership_id
            return {"token": token, "membership": {"id": membership_id}}

    def remove_check_in_token(self, subdomain: str, token: str) -> None:
        with self.lock:
            self.spaces[subdomain].check_in_tokens.pop(token, None)

    def check_ins(self, subdomain: str) -> list[dict]:
        """All check-ins of the space, in API 1 shape."""
        with self.lock:
            space = self.spaces[subdomain]
            return [self._render_check_in(space, c) for c in space.check_ins]

    # --- drop-in (day) passes (API 2; every shape here is guessed, cobot-api.md) ------------------
    def add_drop_in_pass(
        self,
        subdomain: str,
        *,
        day: date | str | None,
        name: str = "Vera Visitor",
        email: str = "vera@example.org",
        pass_id: str | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> dict:
        attributes = {
            "name": name,
            "email": email,
            "date": day.isoformat() if isinstance(day, date) else day,
            "validFrom": valid_from.isoformat() if valid_from else None,
            "validUntil": valid_until.isoformat() if valid_until else None,
            "status": "paid",
        }
        return self.put_drop_in_pass(
            subdomain, {"id": pass_id or _new_id(), "type": "dropInPasses", "attributes": attributes}
        )

    def put_drop_in_pass(self, subdomain: str, resource: dict) -> dict:
        """Store a pass resource as given (also a malformed one, to play a Cobot whose shape differs)."""
        with self.lock:
            self.spaces[subdomain].drop_in_passes[str(resource.get("id"))] = resource
            return _copy(resource)

    def remove_drop_in_pass(self, subdomain: str, pass_id: str) -> None:
        with self.lock:
            self.spaces[subdomain].drop_in_passes.pop(pass_id, None)

    # --- webhooks ------------------------------------------------------------------------------
    def deliver(
        self, subdomain: str, event: str, payload_or_url: str | dict, *, timeout: float = 10.0
    ) -> list[tuple[str, int | None]]:
        """POST a webhook to every active subscription for `event`, as Cobot does.

        A str is sent as {"url": ...}; a dict as is (delete events carry the object). Returns
        (callback_url, status) per subscription; status None when the connection failed.
        """
        payload = {"url": payload_or_url} if isinstance(payload_or_url, str) else payload_or_url
        with self.lock:  # not held while posting: the receiver may call back into this server
            targets = [
                s
                for s in self.spaces[subdomain].subscriptions.values()
                if s["event"] == event and s["active"]
            ]
        results = []
        for subscription in targets:
            status = _post_json(subscription["callback_url"], payload, timeout)
            if status == 410:  # api-docs: a 410 answer deactivates the subscription at once
                with self.lock:
                    subscription["active"] = False
            results.append((subscription["callback_url"], status))
        return results

    # --- routing -------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        public, api, space = self._public, self._api, self._space_api
        member = r"/memberships/(?P<id>[^/]+)"

        public("GET", r"/oauth/authorize", self._authorize)
        public("GET", r"/spaces/[^/]+/oauth/authorize", self._authorize)
        public("POST", r"/oauth/access_token", self._exchange_code)
        public("GET", r"/api/spaces/(?P<key>[^/]+)", self._get_space)
        api("GET", r"/api/user", self._get_user, scope="read_user")
        api("GET", r"/api/access_tokens/(?P<token>[^/]+)", self._get_token)
        api("DELETE", r"/api/access_tokens/(?P<token>[^/]+)", self._delete_token)
        api("POST", r"/api/access_tokens/(?P<token>[^/]+)/space", self._bind_token)

        space("GET", "/memberships", self._list_memberships, "read_memberships", bucket="memberships")
        space("GET", member, self._get_membership, "read_memberships")
        space("GET", f"{member}/time_passes/unused", self._unused_time_passes, "read_time_passes")
        space("GET", f"{member}/custom_fields", self._membership_custom_fields, "read_custom_fields")
        space("POST", f"{member}/work_sessions", self._check_in_membership, "checkin")
        space("DELETE", f"{member}/check_ins/current", self._check_out_membership, "checkin")
        space("GET", "/plans", self._list_plans, "read_plans")
        space("GET", "/resources", self._list_resources, "read_resources")
        space("GET", "/bookings", self._list_bookings, "read_bookings")
        space("GET", r"/bookings/(?P<id>[^/]+)", self._get_booking, "read_bookings")
        space("GET", "/check_in_tokens", self._list_check_in_tokens, "checkin_tokens")
        space("POST", "/check_in_tokens", self._create_check_in_token, "checkin_tokens")
        space("GET", "/check_ins", self._list_check_ins, "read_check_ins")
        space("GET", "/work_sessions", self._list_work_sessions, "read_check_ins")
        space("GET", "/subscriptions", self._list_subscriptions, "read_subscriptions")
        space("POST", "/subscriptions", self._create_subscription, "write_subscriptions")
        space("GET", r"/subscriptions/(?P<id>[^/]+)", self._get_subscription, "read_subscriptions")
        space("DELETE", r"/subscriptions/(?P<id>[^/]+)", self._delete_subscription, "write_subscriptions")
        space("GET", "/navigation_links", self._list_navigation_links, "navigation")
        space("POST", "/navigation_links", self._create_navigation_link, "navigation")
        space("DELETE", r"/navigation_links/(?P<id>[^/]+)", self._delete_navigation_link, "navigation")
        space("GET", "/custom_fields", self._all_custom_fields, "read_custom_fields")

        api("POST", r"/api2/check_ins", self._api2_check_in, scope="write_check_ins")
        passes = r"/api2/spaces/(?P<space_id>[^/]+)/drop_in_passes"
        api("GET", passes, self._api2_drop_in_passes, scope="read_drop_in_passes")

    def _public(self, method: str, pattern: str, handler: Callable[[_Call], Response]) -> None:
        def serve(request: RecordedRequest, match: re.Match) -> Response:
            try:
                return handler(_Call(request, match))
            except _Reject as reject:
                return reject.response

        self.route(method, pattern, serve)

    def _api(
        self,
        method: str,
        pattern: str,
        handler: Callable[[_Call], Response],
        *,
        scope: str | None = None,
        in_space: bool = False,
        bucket: str | None = None,
    ) -> None:
        def serve(request: RecordedRequest, match: re.Match) -> Response:
            call = _Call(request, match)
            try:
                call.token = self._authenticate(request)
                for name in ("all", bucket):
                    if name and (limited := self._throttle(name, call.token.user_id)):
                        return limited
                if scope and scope not in call.token.scopes:
                    return _json(403, {"error": "insufficient_scope", "scope": scope})  # guessed body
                if in_space:
                    call.space = self.spaces.get(call["sub"])
                    if call.space is None:
                        return _json(404, {"error": "not found"})
                    self._require_access(call.token, call.space)
                return handler(call)
            except _Reject as reject:
                return reject.response

        self.route(method, pattern, serve)

    def _space_api(
        self,
        method: str,
        tail: str,
        handler: Callable[[_Call], Response],
        scope: str,
        *,
        bucket: str | None = None,
    ) -> None:
        """A space API 1 endpoint: the caller must administer the space or hold a token bound to it."""
        self._api(
            method, rf"/spaces/(?P<sub>[^/]+)/api{tail}", handler, scope=scope, in_space=True, bucket=bucket
        )

    def _authenticate(self, request: RecordedRequest) -> AccessToken:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.revoked:
            raise _Reject(_json(401, {"error": "invalid_token"}))
        return token

    def _require_access(self, token: AccessToken, space: Space) -> None:
        # api-docs: a space-bound token keeps working after its creator stops being admin.
        if token.space_id:
            allowed = token.space_id == space.id
        else:
            allowed = space.subdomain in self.users[token.user_id].admin_of
        if not allowed:
            raise _Reject(_json(403, {"error": "forbidden"}))  # guessed body

    def _throttle(self, bucket: str, key: str) -> Response | None:
        limit = self._limits[bucket]
        if not limit:
            return None
        now = self.now().timestamp()
        window = self._windows.setdefault((bucket, key), deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            retry_after = max(1, math.ceil(window[0] + 60 - now))
            # api-docs: 429 "and a JSON error message" (its wording is guessed) plus Retry-After in seconds.
            return _json(429, {"error": "rate limit exceeded"}, {"Retry-After": str(retry_after)})
        window.append(now)
        return None

    # --- site: OAuth, user, spaces, access tokens ----------------------------------------------
    def _authorize(self, call: _Call) -> Response:
        query = {k: v[-1] for k, v in call.request.query.items()}
        redirect_uri = query.get("redirect_uri")
        if not (self._authorizing_token and redirect_uri):
            return Response(200, "Cobot stand-in sign-in page: call authorize_as(token) to approve.")
        code = self.issue_code(self._authorizing_token, code_challenge=query.get("code_challenge"))
        answer = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        joiner = "&" if "?" in redirect_uri else "?"
        return Response(302, None, {"Location": f"{redirect_uri}{joiner}{urlencode(answer)}"})

    def _exchange_code(self, call: _Call) -> Response:
        params = call.params()
        if params.get("grant_type") != "authorization_code":
            return _json(400, {"error": "unsupported_grant_type"})
        client_id = params.get("client_id")
        if self.clients and self.clients.get(client_id) != params.get("client_secret"):
            return _json(401, {"error": "invalid_client"})
        token_value, challenge = self._codes.pop(str(params.get("code")), (None, None))
        token = self.tokens.get(token_value or "")
        if (
            token is None
            or token.revoked
            or (challenge and not _pkce_matches(challenge, params.get("code_verifier")))
        ):
            return _json(400, {"error": "invalid_grant"})
        if client_id:
            token.client_id = client_id
        # guessed: scope as a space-separated string, as OAuth2 (RFC 6749) token responses have it.
        return _json(
            200, {"access_token": token.token, "token_type": "bearer", "scope": " ".join(token.scopes)}
        )

    def _get_user(self, call: _Call) -> Response:
        user = self.users[call.token.user_id]
        admin_of = [
            {
                "space_subdomain": s.subdomain,
                "space_name": s.name,
                "space_link": f"{self.url}/api/spaces/{s.subdomain}",
                "name": user.name,
            }
            for s in self.spaces.values()
            if s.subdomain in user.admin_of
        ]
        memberships = [
            {
                "id": m["id"],
                "space_subdomain": s.subdomain,
                "space_name": s.name,
                "space_link": f"{self.url}/api/spaces/{s.subdomain}",
                "link": self.membership_url(s.subdomain, m["id"]),
            }
            for s in self.spaces.values()
            for m in s.memberships.values()
            if (m.get("user") or {}).get("id") == user.id
        ]
        return _json(
            200, {"id": user.id, "email": user.email, "memberships": memberships, "admin_of": admin_of}
        )

    def _get_space(self, call: _Call) -> Response:
        key = call["key"]
        space = self.spaces.get(key) or next((s for s in self.spaces.values() if s.id == key), None)
        if space is None:
            return _json(404, {"error": "not found"})
        # A subset of api-docs "get space details"; time zone and locale values are guessed.
        return _json(
            200,
            {
                "id": space.id,
                "name": space.name,
                "subdomain": space.subdomain,
                "url": self.space_url(space.subdomain),
                "time_zone_name": "Etc/UTC",
                "locale": "en",
                "currency": "EUR",
            },
        )

    def _token_in_path(self, call: _Call) -> AccessToken:
        token = self.tokens.get(call["token"])
        if token is None or token.revoked:
            raise _Reject(_json(404, {"error": "not found"}))
        if token.user_id != call.token.user_id:
            raise _Reject(_json(403, {"error": "forbidden"}))  # guessed: only the owner may inspect it
        return token

    def _get_token(self, call: _Call) -> Response:
        return _json(200, {"scope": list(self._token_in_path(call).scopes)})

    def _delete_token(self, call: _Call) -> Response:
        self._token_in_path(call).revoked = True
        return Response(204)

    def _bind_token(self, call: _Call) -> Response:
        token = self._token_in_path(call)
        space_id = call.params().get("space_id")
        space = next((s for s in self.spaces.values() if s.id == space_id), None)
        if space is None:
            return _json(422, {"errors": {"space_id": ["is invalid"]}})  # guessed
        if space.subdomain not in self.users[token.user_id].admin_of:
            return _json(403, {"error": "forbidden"})  # guessed
        bound = AccessToken(secrets.token_hex(32), token.user_id, token.scopes, space.id, token.client_id)
        self.tokens[bound.token] = bound
        # guessed status: api-docs show the body only.
        return _json(201, {"scope": list(bound.scopes), "token": bound.token, "client_id": bound.client_id})

    # --- space API 1 ---------------------------------------------------------------------------
    def _list_memberships(self, call: _Call) -> Response:
        include_all = str(call.params().get("all", "")).lower() in ("true", "1")
        today = self.today()
        rows = [m for m in call.space.memberships.values() if include_all or _is_current(m, today)]
        return _json(200, rows)

    def _membership_in_path(self, call: _Call) -> dict:
        membership = call.space.memberships.get(call["id"])
        if membership is None:
            raise _Reject(_json(404, {"error": "not found"}))
        return membership

    def _get_membership(self, call: _Call) -> Response:
        return _json(200, self._membership_in_path(call))

    def _unused_time_passes(self, call: _Call) -> Response:
        membership = self._membership_in_path(call)
        api = self.space_api_url(call.space.subdomain)
        passes = call.space.unused_time_passes.get(membership["id"], [])
        return _json(200, [{**p, "url": f"{api}/time_passes/{p['id']}"} for p in passes])

    def _membership_custom_fields(self, call: _Call) -> Response:
        membership = self._membership_in_path(call)
        return _json(200, self._render_custom_fields(call.space, membership["id"]))

    def _all_custom_fields(self, call: _Call) -> Response:
        # guessed shape: one {membership_id, fields} entry per membership that has values.
        return _json(200, [self._render_custom_fields(call.space, mid) for mid in call.space.custom_fields])

    def _render_custom_fields(self, space: Space, membership_id: str) -> dict:
        values = space.custom_fields.get(membership_id, {})
        fields = [
            {"id": fid, "label": label, "value": values.get(label, "")}
            for label, fid in space.custom_field_ids.items()
        ]
        return {"membership_id": membership_id, "fields": fields}

    def _check_in_membership(self, call: _Call) -> Response:
        membership = self._membership_in_path(call)
        if not _is_current(membership, self.today()):
            return _json(422, {"errors": {"base": ["Membership is not active."]}})  # guessed
        result = self._check_in(call.space, membership)
        if isinstance(result, str):
            return _json(422, {"errors": {"base": [result]}})  # guessed: API 1 keeps Rails-style errors
        return _json(201, self._render_check_in(call.space, result))

    def _check_out_membership(self, call: _Call) -> Response:
        membership = self._membership_in_path(call)
        now = self.now()
        open_ones = [
            c for c in call.space.check_ins if c.membership_id == membership["id"] and c.valid_until > now
        ]
        if not open_ones:
            return _json(404, {"error": "not found"})
        for check_in in open_ones:
            check_in.valid_until = now
        return Response(204)  # guessed status

    def _list_plans(self, call: _Call) -> Response:
        return _json(200, list(call.space.plans.values()))

    def _list_resources(self, call: _Call) -> Response:
        return _json(200, list(call.space.resources.values()))

    def _list_bookings(self, call: _Call) -> Response:
        start, end = self._window(call)
        rows = [
            b
            for b in call.space.bookings.values()
            if _parse_time(b["from"]) < end and _parse_time(b["to"]) > start
        ]
        return _json(200, rows)

    def _get_booking(self, call: _Call) -> Response:
        booking = call.space.bookings.get(call["id"])
        return _json(200, booking) if booking else _json(404, {"error": "not found"})

    def _list_check_in_tokens(self, call: _Call) -> Response:
        return _json(
            200, [{"token": t, "membership": {"id": m}} for t, m in call.space.check_in_tokens.items()]
        )

    def _create_check_in_token(self, call: _Call) -> Response:
        params = call.params()
        token, membership_id = params.get("token"), params.get("membership_id")
        if not token:
            return _json(422, {"errors": {"token": ["can't be blank"]}})
        if membership_id not in call.space.memberships:
            return _json(422, {"errors": {"membership": ["can't be blank"]}})  # guessed
        if str(token) in call.space.check_in_tokens:
            return _json(422, {"errors": {"token": ["has already been taken"]}})
        call.space.check_in_tokens[str(token)] = membership_id
        return _json(201, {"token": str(token), "membership": {"id": membership_id}})

    def _list_check_ins(self, call: _Call) -> Response:
        today = self.today()
        space = call.space
        return _json(
            200, [self._render_check_in(space, c) for c in space.check_ins if c.valid_from.date() == today]
        )

    def _list_work_sessions(self, call: _Call) -> Response:
        start, end = self._window(call)
        space = call.space
        rows = [
            self._render_check_in(space, c)
            for c in space.check_ins
            if c.valid_from < end and c.valid_until > start
        ]
        return _json(200, rows)

    def _list_subscriptions(self, call: _Call) -> Response:
        return _json(200, list(call.space.subscriptions.values()))

    def _subscription_in_path(self, call: _Call) -> dict:
        subscription = call.space.subscriptions.get(call["id"])
        if subscription is None:
            raise _Reject(_json(404, {"error": "not found"}))
        return subscription

    def _get_subscription(self, call: _Call) -> Response:
        return _json(200, self._subscription_in_path(call))

    def _create_subscription(self, call: _Call) -> Response:
        params = call.params()
        event, callback_url = params.get("event"), params.get("callback_url")
        errors = {}
        if event not in self.webhook_events:
            errors["event"] = ["is not included in the list"]
        if not _is_http_url(callback_url):
            errors["callback_url"] = ["is invalid"]
        if errors:
            return _json(422, {"errors": errors})  # guessed body; api-docs give the status only
        subscriptions = call.space.subscriptions
        if any(
            s["event"] == event and s["callback_url"] == callback_url and s["active"]
            for s in subscriptions.values()
        ):
            return _json(409, {"errors": {"callback_url": ["has already been taken"]}})  # guessed body
        sid = _new_id()
        subscription = {
            "id": sid,
            "event": event,
            "url": f"{self.space_api_url(call.space.subdomain)}/subscriptions/{sid}",
            "active": True,
            "callback_url": callback_url,
        }
        subscriptions[sid] = subscription
        return _json(201, subscription)

    def _delete_subscription(self, call: _Call) -> Response:
        del call.space.subscriptions[self._subscription_in_path(call)["id"]]
        return Response(204)

    def _list_navigation_links(self, call: _Call) -> Response:
        omitted = self.navigation_links_listed_without
        return _json(200, [{k: v for k, v in link.items() if k not in omitted} for link in call.space.navigation_links.values()])

    def _create_navigation_link(self, call: _Call) -> Response:
        params = call.params()
        errors = {}
        if params.get("section") not in NAVIGATION_SECTIONS:
            errors["section"] = ["is not included in the list"]
        if not params.get("label"):
            errors["label"] = ["can't be blank"]
        if not _is_http_url(params.get("iframe_url")):
            errors["iframe_url"] = ["is invalid"]
        if errors:
            return _json(422, {"errors": errors})  # guessed body
        lid = _new_id()
        # api-docs show no "id" field: the API `url` is the handle used to delete the link.
        link = {
            "section": params["section"],
            "label": params["label"],
            "iframe_url": params["iframe_url"],
            "url": f"{self.space_api_url(call.space.subdomain)}/navigation_links/{lid}",
            "user_url": f"{self.space_url(call.space.subdomain)}/navigation_links/{lid}",
        }
        call.space.navigation_links[lid] = link
        return _json(201, link)

    def _delete_navigation_link(self, call: _Call) -> Response:
        if call.space.navigation_links.pop(call["id"], None) is None:
            return _json(404, {"error": "not found"})
        return Response(204)

    # --- API 2 ---------------------------------------------------------------------------------
    def _api2_drop_in_passes(self, call: _Call) -> Response:
        space = next((s for s in self.spaces.values() if s.id == call["space_id"]), None)
        if space is None:
            return _api2_error(404, "Space not found.")  # guessed
        self._require_access(call.token, space)
        return _json(200, {"data": [_copy(p) for p in space.drop_in_passes.values()]})

    def _api2_check_in(self, call: _Call) -> Response:
        try:
            data = call.params()["data"]
            if data["type"] != "checkIns":
                raise KeyError("type")
            token_value = str(data["attributes"]["checkInToken"])
            space_id = data["relationships"]["space"]["data"]["id"]
        except (KeyError, TypeError):
            return _api2_error(422, "Invalid check-in request.")  # guessed wording
        space = next((s for s in self.spaces.values() if s.id == space_id), None)
        if space is None:
            return _api2_error(404, "Space not found.")  # guessed
        self._require_access(call.token, space)
        membership = space.memberships.get(space.check_in_tokens.get(token_value, ""))
        if membership is None:
            return _api2_error(422, "Check-in token not found.")
        if not _is_current(membership, self.today()):
            return self.inactive_check_in_response
        result = self._check_in(space, membership)
        if isinstance(result, str):
            return _api2_error(422, result)
        attributes = {
            "validFrom": result.valid_from.isoformat(),
            "validUntil": result.valid_until.isoformat(),
        }
        return _json(201, {"data": {"id": result.id, "type": "checkIns", "attributes": attributes}})

    # --- shared logic --------------------------------------------------------------------------
    def _build_membership(
        self,
        space: Space,
        now: datetime,
        *,
        name: str | None,
        email: str | None,
        plan_id: str | None,
        user_id: str | None = None,
        mid: str | None = None,
    ) -> dict:
        self._seq += 1
        name = name or f"Member {self._seq}"
        email = email or f"member{self._seq}@example.com"
        plan = space.plans[plan_id] if plan_id else self._default_plan(space)
        return {
            "id": mid or _new_id(),
            "name": name,
            "email": email,
            "phone": None,
            "user": {"id": user_id or f"user-{_new_id()[:12]}", "email": email},
            "picture": None,
            "address": {"company": None, "name": name, "full_address": None, "country": None},
            "customer_number": str(10000 + self._seq),
            "plan": _membership_plan(plan),
            "upcoming_plan": None,
            "payment_method": {"name": "cash", "automated": False},
            "confirmed_at": _fmt_time(now),
            "starts_at": _fmt_date(now.date()),
            "canceled_to": None,
        }

    def _default_plan(self, space: Space) -> dict:
        if space.default_plan_id is None:
            space.default_plan_id = self.add_plan(space.subdomain, "Flex Desk")["id"]
        return space.plans[space.default_plan_id]

    def _check_in(self, space: Space, membership: dict) -> CheckIn | str:
        """Check the member in for the rest of today, using a time pass; an error message if refused."""
        now = self.now()
        mid = membership["id"]
        if any(c.membership_id == mid and c.valid_until > now for c in space.check_ins):
            return "Member is already checked in."
        passes = space.unused_time_passes.get(mid, [])
        if not passes and (membership.get("plan") or {}).get("time_passes"):
            return "No time passes left."
        time_pass_id = passes.pop(0)["id"] if passes else None
        until = datetime.combine(now.date(), time(23, 59, 59), UTC)  # guessed: a day pass ends at midnight
        check_in = CheckIn(_new_id(), mid, now, until, time_pass_id)
        space.check_ins.append(check_in)
        return check_in

    def _render_check_in(self, space: Space, check_in: CheckIn) -> dict:
        member = space.memberships.get(check_in.membership_id, {})
        row = {
            "id": check_in.id,
            "membership": {"id": check_in.membership_id, "name": member.get("name")},
            "valid_from": _fmt_time(check_in.valid_from),
            "valid_until": _fmt_time(check_in.valid_until),
        }
        if check_in.time_pass_id:  # api-docs: only present if a time pass was used
            row["time_pass"] = {"id": check_in.time_pass_id}
        return row

    def _window(self, call: _Call) -> tuple[datetime, datetime]:
        params = call.params()
        try:
            return _parse_time(params["from"]), _parse_time(params["to"])
        except KeyError as missing:
            raise _Reject(_json(422, {"errors": {missing.args[0]: ["can't be blank"]}})) from None  # guessed
        except ValueError:
            raise _Reject(_json(422, {"errors": {"from": ["is invalid"]}})) from None  # guessed


# --- module helpers ------------------------------------------------------------------------------
def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    # Encoded here, under the server lock: base.py encodes after releasing it, and state may change.
    return Response(
        status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def _api2_error(status: int, detail: str) -> Response:
    return _json(status, {"errors": [{"detail": detail}]})


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _new_id() -> str:
    return secrets.token_hex(16)  # Cobot ids are 32-char hex strings (api-docs examples)


def _membership_plan(plan: dict) -> dict:
    # api-docs: a membership carries its own copy of the plan, without the space plan's id; only
    # parent_plan.id names "the original plan of the space". Map rules by parent_plan.id.
    return {
        "name": plan["name"],
        "description": plan["description"],
        "parent_plan": {"id": plan["id"]},
        "price_per_cycle": plan["price_per_cycle"],
        "currency": plan["currency"],
        "cycle_duration": plan["cycle_duration"],
        "canceled_to": None,
        "extras": [],
        "time_passes": _copy(plan["time_passes"]),
    }


def _is_current(membership: dict, today: date) -> bool:
    if not membership.get("confirmed_at"):
        return False
    canceled_to = membership.get("canceled_to")
    return canceled_to is None or _parse_date(canceled_to) >= today


def _is_http_url(value: object) -> bool:
    return (
        isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > len("https://")
    )


def _fmt_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(API1_TIME)


def _fmt_date(value: date) -> str:
    return value.strftime(API1_DATE)


def _as_time(value: datetime | str) -> datetime:
    return value.astimezone(UTC) if isinstance(value, datetime) else _parse_time(value)


def _parse_time(value: str) -> datetime:
    """API 1 ("2026/11/01 10:00:00 +0000"), ISO 8601, or a bare date (midnight UTC)."""
    text = str(value).strip()
    for fmt in (API1_TIME, "%Y-%m-%d %H:%M:%S %z"):
        try:
            return datetime.strptime(text, fmt).astimezone(UTC)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise ValueError(f"not a Cobot time: {value!r}") from None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)


def _parse_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.strptime(str(value).replace("-", "/")[:10], API1_DATE).date()


def _pkce_matches(challenge: str, verifier: object) -> bool:
    if not isinstance(verifier, str):
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return secrets.compare_digest(base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), challenge)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # api-docs: Cobot does not follow redirects
        return None


_webhook_opener = urllib.request.build_opener(_NoRedirect)


def _post_json(url: str, payload: dict, timeout: float) -> int | None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with _webhook_opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return None
