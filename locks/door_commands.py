"""Remote open and close: someone asks from the member page or the dashboard, and waits for the answer.

A try goes through its steps in order — may this door be driven from here, may this member open it now,
does Cobot accept the check-in (when opens count as check-ins), does the lock do it — and the first step
that says no is the answer. Whatever the answer, the try is recorded once: an AccessEvent and an AuditEntry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.utils import timezone

from accessbridge.http import ServiceError
from locks.checkins import CHECKIN_OUTCOMES, member_checkin
from locks.models import AccessEvent, AuditEntry, Door
from locks.selectors import member_may_open
from locks.vendors import adapter_for
from locks.vendors.base import Capability, Deadline, DeviceOffline, LockAdapter
from spaces.cobot.client import CheckInResult, checkin_by_token
from spaces.models import Membership

# Someone waits at the door: the whole open (gateway lock, busy pauses, retries) is answered within this,
# well inside the web server's 30 s. After a check-in Cobot accepted (maybe using a time pass), the door
# still gets at least DOOR_MIN_SECONDS, however long Cobot took.
OPEN_SECONDS = 10.0
DOOR_MIN_SECONDS = 5.0


@dataclass(frozen=True)
class DoorOpenResult:
    ok: bool
    message: str = ""
    event: AccessEvent | None = None


def door_open(
    *,
    door: Door,
    membership: Membership | None = None,
    actor=None,
    via: str = "dashboard",
    seconds: float = OPEN_SECONDS,
) -> DoorOpenResult:
    """Open a door on demand: for a member (who must be allowed now), or for an admin (membership None).

    With `space.opens_count_as_checkins`, a member is checked in at Cobot first and a refusal keeps the
    door shut, with Cobot's message ("No time passes left."). Every try is an AccessEvent (opened,
    refused, or failed with the check-in Cobot made) and an AuditEntry.

    Always called in the request of the person at the door, never queued as retryable work: a vendor
    error is answered once, as a result, even a "transient" one (DeviceOffline), within `seconds`. A read
    timeout may mean the door did open, and a retry minutes later would open it for nobody.
    Call it outside any transaction (the views are non_atomic_requests): the gateway signing timestamp is
    claimed and committed before the call (The Keys' signing.py), and a rollback of an outer transaction
    would hand the gateway an already used timestamp next time.
    """
    command = _DoorCommand(door=door, membership=membership, actor=actor, via=via, close=False)
    return _door_command(command=command, seconds=seconds)


def door_open_by_card(
    *,
    door: Door,
    token: str,
    membership: Membership | None,
    via: str,
    seconds: float,
    door_seconds: float,
    known_checkin: CheckInResult | None = None,
    raw: dict | None = None,
) -> DoorOpenResult:
    """A card reader's live request: Cobot checks the card's token in and decides (live data such as time
    passes; seed 001), then the door opens. `membership` is who the mirror says holds the token (None when
    unknown), kept on the record. The whole answer fits `seconds`: Cobot gets what the door's share
    (`door_seconds`) leaves. `known_checkin`: Cobot already accepted this member today (no second pass).
    """
    command = _DoorCommand(
        door=door, membership=membership, actor=None, via=via, close=False, token=token,
        door_seconds=door_seconds, known_checkin=known_checkin, raw=raw or {},
    )
    return _door_command(command=command, seconds=seconds)


def door_close(
    *, door: Door, actor=None, via: str = "dashboard", seconds: float = OPEN_SECONDS
) -> DoorOpenResult:
    command = _DoorCommand(door=door, membership=None, actor=actor, via=via, close=True)
    return _door_command(command=command, seconds=seconds)


@dataclass
class _DoorCommand:
    """One try at opening or closing a door, and what Cobot said about the check-in it needed (if any)."""

    door: Door
    membership: Membership | None
    actor: object
    via: str
    close: bool
    # A card reader's request: checked in by this token, Cobot alone decides (no rule check here).
    token: str = ""
    door_seconds: float = DOOR_MIN_SECONDS
    known_checkin: CheckInResult | None = None
    raw: dict = field(default_factory=dict)
    checkin_result: str = AccessEvent.CheckIn.NOT_APPLICABLE
    checkin_message: str = ""

    @property
    def checks_in(self) -> bool:
        if self.token:
            return True
        return self.membership is not None and self.door.connection.space.opens_count_as_checkins

    @property
    def action(self) -> str:
        return "door_close" if self.close else "door_open"

    @property
    def verb(self) -> str:
        return "close" if self.close else "open"

    @property
    def done(self) -> str:
        return "closed" if self.close else "opened"


@dataclass(frozen=True)
class _Answer:
    """How a try ended: for the person asking (`message`), and for the record (event kind, audit)."""

    ok: bool
    message: str
    kind: str
    audit_result: str
    detail: str
    error: str = ""


def _denied(message: str, *, detail: str, audit_result: str = "refused") -> _Answer:
    """The door stays shut before the lock is asked."""
    return _Answer(False, message, kind=AccessEvent.Kind.DENIED, audit_result=audit_result, detail=detail)


def _door_command(*, command: _DoorCommand, seconds: float) -> DoorOpenResult:
    deadline = Deadline.within(seconds)
    adapter = adapter_for(command.door.connection)
    answer = _command_refusal(command, adapter)
    if answer is None and command.checks_in:
        answer = _command_checkin(command, deadline)
        deadline = _deadline_at_least(deadline, command.door_seconds)
    if answer is None:
        answer = _command_send(command, adapter, deadline)
    return _command_record(command, answer)


def _command_refusal(command: _DoorCommand, adapter: LockAdapter) -> _Answer | None:
    """Refused before anyone is called: the door cannot be driven from here, or the member may not open it."""
    door, membership = command.door, command.membership
    if not adapter.supports(Capability.REMOTE_OPEN) or not (door.enabled and door.connection.enabled):
        return _denied(
            f"{door} cannot be {command.done} from here.",
            detail=f"{door} cannot be {command.done} from AccessBridge",
        )
    if membership is not None and not command.token and not member_may_open(membership=membership, door=door, at=timezone.now()):
        return _denied(
            "You have no access to this door right now.", detail=f"{membership} has no access to {door} now"
        )
    return None


def _command_checkin(command: _DoorCommand, deadline: Deadline) -> _Answer | None:
    """Check the member in at Cobot first; None when Cobot accepted. Cobot's answer is kept on the command."""
    try:
        # Cobot gets what the budget leaves after the door's own minimum.
        outcome = command.known_checkin or _checkin_call(
            command, seconds=max(1.0, deadline.remaining() - command.door_seconds)
        )
    except ServiceError as exc:
        command.checkin_result, command.checkin_message = AccessEvent.CheckIn.ERROR, str(exc)
        return _denied(
            "Cobot did not answer the check-in; please try again in a moment.",
            detail=f"check-in at Cobot failed: {exc}",
            audit_result="failed",
        )
    command.checkin_result = CHECKIN_OUTCOMES.get(outcome.outcome, AccessEvent.CheckIn.ERROR)
    command.checkin_message = outcome.message
    if outcome.allowed:
        return None
    return _denied(
        outcome.message or "Cobot refused the check-in.",
        detail=f"Cobot refused the check-in: {outcome.message}",
    )


def _checkin_call(command: _DoorCommand, *, seconds: float) -> CheckInResult:
    if command.token:
        return checkin_by_token(space=command.door.connection.space, token=command.token, seconds=seconds)
    return member_checkin(membership=command.membership, seconds=seconds)


def _deadline_at_least(deadline: Deadline, seconds: float) -> Deadline:
    return deadline if deadline.remaining() >= seconds else Deadline.within(seconds)


def _command_send(command: _DoorCommand, adapter: LockAdapter, deadline: Deadline) -> _Answer:
    door, Kind = command.door, AccessEvent.Kind
    try:
        if command.close:
            adapter.door_close(door=door, deadline=deadline)
        else:
            adapter.door_open(door=door, deadline=deadline)
    except ServiceError as exc:
        # Answered here, never re-raised into a retry (see door_open). Members get no LAN addresses or
        # setup advice; the admin reads the detail in the audit trail and on the event.
        reason = _member_error(exc) if command.membership is not None else exc.message
        return _Answer(
            False,
            f"The door did not {command.verb}: {reason}",
            kind=Kind.CLOSE_FAILED if command.close else Kind.OPEN_FAILED,
            audit_result="failed",
            detail=f"{command.verb} {door}: {exc}",
            error=str(exc),
        )
    return _Answer(
        True,
        f"{door} {command.done}.",
        kind=Kind.REMOTE_CLOSE if command.close else Kind.REMOTE_OPEN,
        audit_result="ok",
        detail=f"{command.done} {door}",
    )


def _member_error(exc: ServiceError) -> str:
    if isinstance(exc, DeviceOffline):
        return "the lock's gateway did not answer. Please check the door, then try again or tell the staff."
    if exc.transient:
        return "the lock is busy. Please try again in a moment."
    return "something went wrong at the lock. Please tell the staff."


def _command_record(command: _DoorCommand, answer: _Answer) -> DoorOpenResult:
    """The try, whatever its answer: an AccessEvent for the Events page and an AuditEntry for the trail."""
    door, connection = command.door, command.door.connection
    raw = {**command.raw, "via": command.via}
    if answer.error:
        raw["error"] = answer.error[:500]
    event = AccessEvent.objects.create(
        connection=connection,
        vendor_event_id=f"accessbridge:{uuid.uuid4()}",
        door=door,
        membership=command.membership,
        actor=command.actor,
        kind=answer.kind,
        occurred_at=timezone.now(),
        checkin_result=command.checkin_result,
        checkin_message=command.checkin_message[:2000],
        raw=raw,
    )
    AuditEntry.objects.create(
        space=connection.space,
        actor=command.actor,
        actor_label=f"{command.via}: {command.membership or command.actor or 'system'}"[:100],
        action=command.action,
        membership=command.membership,
        door=door,
        connection=connection,
        result=answer.audit_result,
        detail=answer.detail[:4000],
    )
    return DoorOpenResult(answer.ok, answer.message, event)
