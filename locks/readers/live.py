"""A reader's live request (seed 001 "Live Requests"): the reader sends the scanned card's token, Cobot
checks it in and decides, the reader's door opens, and the reader shows the answer.

The door side of it (Cobot first, then the lock, one AccessEvent and one AuditEntry per request, all
within the reader's bound) is `locks.door_commands.door_open_by_card`; here the reader's words are made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.utils import timezone

from locks.access.desired import members_checked_in_today
from locks.door_commands import door_open_by_card
from locks.models import AccessEvent, Reader
from spaces.cobot.client import CheckInResult
from spaces.models import CheckInToken, Membership

# Of the reader's bound, the lock gets this share and Cobot the rest (Cobot answers slower than a lock).
DOOR_SHARE = 0.4
MAX_TOKEN_LENGTH = 255  # spaces.CheckInToken.token

# What the reader is told, by how the request ended (the device maker's page lists them).
GRANTED, REFUSED, UNKNOWN_CARD, ERROR = "granted", "refused", "unknown_card", "error"
CARD_NOT_KNOWN = "Card not known."


@dataclass(frozen=True)
class ReaderAnswer:
    open: bool
    result: str
    message: str
    member: str | None = None

    def as_json(self) -> dict:
        return asdict(self)


def token_problem(token) -> str:
    """Why a scanned token cannot be sent to Cobot, or "" when it can."""
    if not isinstance(token, str) or not token.strip():
        return "token must be a non-empty string"
    if len(token) > MAX_TOKEN_LENGTH:
        return f"token must be at most {MAX_TOKEN_LENGTH} characters"
    if not token.isprintable():
        return "token must not contain control characters"
    return ""


def reader_checkin(*, reader: Reader, token: str) -> ReaderAnswer:
    """Check the card in at Cobot and open the reader's door; a member Cobot already accepted today (at any
    of the space's doors) opens without a second check-in, so no second time pass is spent."""
    now = timezone.now()
    membership = _token_holder(reader=reader, token=token)
    known = None
    if membership is not None and members_checked_in_today(space=reader.space, membership_ids=[membership.pk], now=now):
        known = CheckInResult("already", "Already checked in today.")
    seconds = reader.answer_seconds
    result = door_open_by_card(
        door=reader.door,
        token=token,
        membership=membership,
        via=f"reader {reader.name}"[:60],
        seconds=seconds,
        door_seconds=seconds * DOOR_SHARE,
        known_checkin=known,
        raw={"reader": reader.pk, "card": token},
    )
    Reader.objects.filter(pk=reader.pk).update(last_seen_at=now)
    first_name = _first_name(membership)
    if result.ok:
        return ReaderAnswer(True, GRANTED, f"Welcome, {first_name}." if first_name else "Welcome.", first_name)
    checkin = result.event.checkin_result if result.event else ""
    if checkin == AccessEvent.CheckIn.NOT_MEMBER:
        return ReaderAnswer(False, UNKNOWN_CARD, CARD_NOT_KNOWN)
    if checkin == AccessEvent.CheckIn.REFUSED:
        return ReaderAnswer(False, REFUSED, result.message, first_name)
    return ReaderAnswer(False, ERROR, result.message, first_name)


def _token_holder(*, reader: Reader, token: str) -> Membership | None:
    row = (
        CheckInToken.objects.filter(space_id=reader.space_id, token=token, membership__isnull=False)
        .select_related("membership")
        .first()
    )
    return row.membership if row else None


def _first_name(membership: Membership | None) -> str | None:
    if membership is None or not membership.name.strip():
        return None
    return membership.name.split()[0]
