"""What every lock vendor adapter is: declared capabilities, one set of errors, one interface.

Vendors differ in what they can do (after Seam's unified lock API): an adapter declares its
`capabilities` and implements only the methods those need. The access engine asks for
capabilities, never for vendor names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING, ClassVar

from django import forms

from accessbridge.http import AUTH, PERMANENT, TRANSIENT, ServiceError
from locks.models import Door, Grant, LockConnection
from spaces.models import Membership

if TYPE_CHECKING:
    from django.http import HttpRequest


class Capability(StrEnum):
    PERSON_ACCOUNTS = "person_accounts"  # the vendor knows people; we create/remove them
    DOOR_GROUPS = "door_groups"  # a person can be granted/revoked individual doors (or groups)
    TIME_WINDOWS = "time_windows"  # grants can carry a from/until window
    REMOTE_OPEN = "remote_open"  # we can open a door on demand
    WEBHOOKS = "webhooks"  # the vendor pushes door events to us
    POLLING = "polling"  # we pull door events from a cursor
    STATUS = "status"  # we read door state, battery and gateway status (status_refresh)


class EventKind(StrEnum):
    """What a door event says happened, in our words: each adapter maps its vendor's words to these."""

    UNLOCK = "unlock"  # a person opened the door: a Cobot check-in
    DENIED = "denied"  # the lock refused a person: recorded
    LOCKED = "locked"
    HELD_OPEN = "held_open"
    FORCED_OPEN = "forced_open"
    UNKNOWN = "unknown"  # a word the adapter does not know


# The kinds AccessBridge acts on; any other is stored as ignored (on the events page) and never checks in.
EVENT_KINDS_ACTED_ON = frozenset({EventKind.UNLOCK, EventKind.DENIED})


def event_kind_from(word, words: dict[str, EventKind]) -> EventKind:
    """The EventKind a vendor's word stands for (`words`: the adapter's mapping); UNKNOWN for any other."""
    return words.get(word.strip().lower(), EventKind.UNKNOWN) if isinstance(word, str) else EventKind.UNKNOWN


# --- errors ---------------------------------------------------------------------------------------
class VendorError(ServiceError):
    """A vendor call failed. Subclasses say how; `kind` drives the work runner (retry/wait/fail)."""

    default_kind = PERMANENT

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("kind", self.default_kind)
        super().__init__(message, **kwargs)


class VendorTransientError(VendorError):
    default_kind = TRANSIENT


class VendorAuthError(VendorError):
    default_kind = AUTH


class VendorNotFound(VendorError):
    default_kind = PERMANENT


class VendorConflict(VendorError):
    default_kind = PERMANENT


class DeviceOffline(VendorError):
    default_kind = TRANSIENT


class VendorPermanentError(VendorError):
    default_kind = PERMANENT


def answer_json(response, *, service: str, shape: type | None = None):
    """A vendor's answer read as JSON, of `shape` (dict or list) if given: anything else is a permanent
    vendor error with the answer's status, never a KeyError or ValueError further on."""
    try:
        data = response.json()
    except ValueError:
        raise VendorPermanentError("answer is not JSON", status=response.status_code, service=service) from None
    if shape is not None and not isinstance(data, shape):
        what = "object" if shape is dict else "list"
        raise VendorPermanentError(f"expected a JSON {what}", status=response.status_code, service=service)
    return data


def answer_id(data: dict, *, service: str, what: str = "id") -> str:
    """The `id` of a record in a vendor's answer (text or number), as text; missing or blank is a
    permanent vendor error."""
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise VendorPermanentError(f"answer has no {what}", service=service)
    return str(value).strip()


def vendor_time_parse(value) -> datetime | None:
    """An ISO 8601 time a vendor sent ("Z" for UTC, a time without offset read as UTC), or None when it is
    missing or unreadable: the caller says what that means."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def vendor_error_from(exc: ServiceError) -> VendorError:
    """Turn the HTTP helper's error into the vendor error class it stands for."""
    if isinstance(exc, VendorError):
        return exc
    kwargs = {"status": exc.status, "retry_after": exc.retry_after, "response": exc.response, "service": exc.service}
    if exc.kind == AUTH:
        return VendorAuthError(exc.message, **kwargs)
    if exc.kind == TRANSIENT:
        return VendorTransientError(exc.message, **kwargs)
    if exc.status == 404:
        return VendorNotFound(exc.message, **kwargs)
    if exc.status == 409:
        return VendorConflict(exc.message, **kwargs)
    return VendorPermanentError(exc.message, **kwargs)


def status_only(exc: ServiceError) -> ServiceError:
    """The same error with "HTTP <status> <reason>" as its message, without the answer's body.

    For hosts an admin chose (a vendor base URL, a gateway address): an error message must not show
    the admin what some other server on that address answered.
    """
    if exc.status is None:
        return exc  # no answer (timeout, refused): the message is ours
    try:
        phrase = HTTPStatus(exc.status).phrase
    except ValueError:
        phrase = ""
    return ServiceError(
        f"HTTP {exc.status} {phrase}".strip(),
        kind=exc.kind,
        status=exc.status,
        retry_after=exc.retry_after,
        response=exc.response,
        service=exc.service,
    )


class WebhookRejected(Exception):
    """An incoming vendor webhook failed verification or parsing. `status` is what we answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --- values crossing the adapter boundary ---------------------------------------------------------
@dataclass(frozen=True)
class Deadline:
    """The time an interactive call (someone waits at the door) must be answered by, on the monotonic clock.

    Adapters fit their waits (locks, pauses, HTTP timeouts) into `remaining()` instead of their defaults.
    """

    at: float

    @classmethod
    def within(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0


class DeviceLevel(StrEnum):
    DOOR = "door"
    GATEWAY = "gateway"


@dataclass(frozen=True)
class DeviceAction:
    """A maintenance call an adapter offers on a door or a gateway (synchronize, update firmware).

    The dashboard shows a button per declared action and serves them all through one route; every run is
    audited under `name`. The adapter implements `method`, called with `door=` or `gateway=`.
    """

    name: str  # unique per adapter: the URL part and the audit action
    label: str  # the button
    level: DeviceLevel
    method: str
    done: str  # success message; {name} is the door's or gateway's name
    confirm: str = ""  # what happens, shown on a confirmation page first; empty: no confirmation
    question: str = ""  # the confirmation page's question; {name} as in `done`

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.confirm)


@dataclass(frozen=True)
class VendorDoor:
    vendor_ref: str
    name: str
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class VendorEvent:
    """One door event as the vendor reported it. `event_id` is the vendor's own id (dedupe key)."""

    event_id: str
    occurred_at: datetime
    kind: EventKind
    person_ref: str = ""  # the vendor's person/credential id
    door_ref: str = ""  # the vendor's door/lock id
    vendor_kind: str = ""  # the vendor's own word for the kind, shown for events we do not act on
    raw: dict = field(default_factory=dict)
    # Why the event cannot be used (no id, an unreadable time): stored as a failed delivery, never acted on.
    problem: str = ""


# --- the adapter ----------------------------------------------------------------------------------
class LockAdapter:
    key: ClassVar[str]
    label: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    settings_form: ClassVar[type[forms.Form]]
    # Fields of settings_form that are secrets: stored encrypted in LockConnection.credentials,
    # never rendered back. All other fields go to LockConnection.config.
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # False when the vendor has no list of its locks: the admin enters doors by the vendor's id.
    lists_doors: ClassVar[bool] = True
    # Maintenance calls on doors and gateways the dashboard offers (see DeviceAction).
    device_actions: ClassVar[tuple[DeviceAction, ...]] = ()

    def __init__(self, connection: LockConnection):
        self.connection = connection
        self.credentials: dict = connection.credentials or {}
        self.config: dict = connection.config or {}

    @classmethod
    def supports(cls, capability: Capability) -> bool:
        """The one way to ask what a vendor does, on the adapter class or an instance."""
        return capability in cls.capabilities

    @classmethod
    def device_action(cls, name: str, *, level: str) -> DeviceAction | None:
        return next((a for a in cls.device_actions if a.name == name and a.level == level), None)

    @classmethod
    def device_actions_at(cls, level: str) -> list[DeviceAction]:
        return [a for a in cls.device_actions if a.level == level]

    # Every adapter
    def test_connection(self) -> str:
        """A real, harmless call proving the credentials work. Returns a short description."""
        raise NotImplementedError

    def list_doors(self) -> list[VendorDoor]:
        raise NotImplementedError

    def doors_sync(self) -> list[Door]:
        """Bring the connection's Door rows in step with the vendor (new ones added, names updated).

        Vendors that need more than a list (gateways, share codes) override this.
        """
        doors = []
        for found in self.list_doors():
            door, _ = Door.objects.update_or_create(
                connection=self.connection, vendor_ref=found.vendor_ref,
                defaults={"name": found.name, "extra": found.extra},
            )
            doors.append(door)
        return doors

    def status_refresh(self) -> None:
        """Refresh door state / battery / gateway status where the vendor reports them."""

    # PERSON_ACCOUNTS
    def person_ensure(self, *, membership: Membership, vendor_person_id: str = "") -> str:
        """Create the person (or find them again) and return the vendor's person id."""
        raise NotImplementedError

    def person_find(self, *, membership: Membership) -> str | None:
        """The vendor's id of this member's person (looked up by email), or None if there is none.

        The engine asks before creating a person whose earlier create may have succeeded unseen, and to
        remove such a person once the member has gone.
        """
        raise NotImplementedError

    def person_remove(self, *, vendor_person_id: str) -> None:
        """Remove the person; a person already gone is not an error."""
        raise NotImplementedError

    def persons_present(self) -> set[str] | None:
        """The vendor's person ids as they are now (the full sync compares them with our rows).

        None: this vendor cannot list them. Raise a VendorError when the read fails: the engine then
        treats the list as unknown (it only uses it to re-create people missing at the vendor).
        """
        return None

    def checkin_token_for(self, *, vendor_person_id: str) -> str:
        """The token registered at Cobot so this vendor's events check the member in."""
        return vendor_person_id

    # DOOR_GROUPS (+ TIME_WINDOWS)
    def access_grant(
        self,
        *,
        vendor_person_id: str,
        door: Door,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        membership: Membership | None = None,
    ) -> str:
        """Grant the door to the member's person; return the vendor's reference for the grant.

        Idempotent: the engine repeats a grant whose answer was lost, and the same person, door and
        window must then give back the existing grant's reference, not a second grant.
        """
        raise NotImplementedError

    def access_revoke(self, *, grant: Grant) -> None:
        """Revoke the grant. Without `grant.vendor_ref` (its create's answer was lost), revoke what the
        person holds for that door and window. Already gone: VendorNotFound or nothing."""
        raise NotImplementedError

    # REMOTE_OPEN
    def door_open(self, *, door: Door, deadline: Deadline | None = None) -> None:
        """Open now. With a deadline (someone is waiting), give up by then instead of waiting longer."""
        raise NotImplementedError

    def door_close(self, *, door: Door, deadline: Deadline | None = None) -> None:
        raise NotImplementedError

    # WEBHOOKS
    def webhook_parse(self, request: HttpRequest) -> list[VendorEvent]:
        """Verify the request (signature, shared secret) and parse it. Raise WebhookRejected."""
        raise NotImplementedError

    def webhook_credentials_make(self) -> dict[str, str]:
        """Secrets the vendor must send with its webhooks (e.g. Basic auth), made by AccessBridge whenever
        the webhook URL is made; kept in the connection's credentials (encrypted). {}: none."""
        return {}

    def webhook_setup(self) -> list[str]:
        """How to set the webhook up at the vendor, with those secrets: shown once, next to the new URL."""
        return []

    # Door events
    # True for locks that report late (offline, synced hours after): an unlock checks in only when it
    # happened on the space's current day; older ones are recorded with the reason, without a check-in.
    checkin_same_day_only: ClassVar[bool] = False

    # POLLING
    # Seconds between two polls of one connection (the schedule runs every minute: less is not possible).
    poll_interval_seconds: ClassVar[int] = 60

    def events_poll(self, *, cursor: dict) -> tuple[list[VendorEvent], dict]:
        """The events after `cursor` (a JSON object, {} at first) and the cursor to continue from.

        The new cursor is saved only once the events are stored: a poll that dies in between is repeated
        from the old cursor, and the events it gets again are recognized by their `event_id`.
        """
        raise NotImplementedError
