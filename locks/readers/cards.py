"""Token registration (seed 001's sample app, built in): a USB card reader types the card's number like a
keyboard, and it becomes the member's check-in token at Cobot (spaces.services.checkin_token_ensure).

A card another member already has is refused with who has it: first from the mirror, else from Cobot's own
answer. Cobot's API has no call that deletes a check-in token (cobot-api.md), so removing one is done in
Cobot, and the mirror follows its deleted_checkin_token webhook.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from accessbridge.http import ServiceError
from locks.models import AuditEntry
from locks.readers.live import token_problem
from spaces.models import CheckInToken, Membership, Space
from spaces.selectors import CURRENT_STATUSES
from spaces.services import CheckInTokenTaken, checkin_token_ensure

SEARCH_LIMIT = 20


@dataclass(frozen=True)
class CardRegistration:
    ok: bool
    message: str


def members_search(*, space: Space, query: str) -> list[Membership]:
    """Current members whose name or email holds `query` (all current members for an empty query)."""
    members = Membership.objects.filter(space=space, status__in=CURRENT_STATUSES)
    query = query.strip()
    if query:
        members = members.filter(Q(name__icontains=query) | Q(email__icontains=query))
    return list(members.order_by("name")[:SEARCH_LIMIT])


def member_cards(*, membership: Membership) -> list[CheckInToken]:
    return list(CheckInToken.objects.filter(space_id=membership.space_id, membership=membership).order_by("token"))


def card_register(*, membership: Membership, token: str, actor=None) -> CardRegistration:
    """Register the scanned card as the member's check-in token at Cobot, or say why not."""
    if problem := token_problem(token):
        return CardRegistration(False, f"Nothing registered: {problem}.")
    token = token.strip()
    holder = (
        CheckInToken.objects.filter(space_id=membership.space_id, token=token)
        .exclude(membership_cobot_id=membership.cobot_id)
        .first()
    )
    if holder is not None:
        return _taken(membership, token, holder.membership_cobot_id)
    try:
        checkin_token_ensure(membership=membership, token=token)
    except CheckInTokenTaken as exc:
        return _taken(membership, token, exc.owner_cobot_id)
    except ServiceError as exc:
        _audit(membership, token, actor, result="failed", detail=str(exc))
        return CardRegistration(False, f"Cobot did not register card {token}: {exc}")
    _audit(membership, token, actor, result="ok", detail=f"card {token} registered for {membership}")
    return CardRegistration(True, f"Card {token} registered for {membership.name or membership.email}.")


def _taken(membership: Membership, token: str, owner_cobot_id: str) -> CardRegistration:
    owner = Membership.objects.filter(space_id=membership.space_id, cobot_id=owner_cobot_id).first()
    who = (owner.name or owner.email) if owner else f"another membership (Cobot id {owner_cobot_id or 'unknown'})"
    return CardRegistration(False, f"Card {token} is already registered to {who}: nothing changed.")


def _audit(membership: Membership, token: str, actor, *, result: str, detail: str) -> None:
    AuditEntry.objects.create(
        space_id=membership.space_id,
        actor=actor,
        actor_label="card registration",
        action="checkin_token_register",
        membership=membership,
        result=result,
        detail=detail[:4000],
    )
