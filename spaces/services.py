"""Writes on the Cobot side (HackSoft style: keyword-only, <noun>_<verb>)."""

import logging

from accessbridge.http import ServiceError
from spaces.cobot import client
from spaces.models import CheckInToken, Membership, Space

logger = logging.getLogger(__name__)


def space_mark_reconnect_needed(*, space: Space, error: str) -> None:
    Space.objects.filter(pk=space.pk).update(status=Space.Status.RECONNECT_NEEDED, last_error=error[:1000])
    space.status, space.last_error = Space.Status.RECONNECT_NEEDED, error[:1000]


def checkin_token_ensure(*, membership: Membership, token: str) -> CheckInToken:
    """Register `token` at Cobot as this member's check-in token, unless it is already there."""
    space = membership.space
    known = CheckInToken.objects.filter(space=space, token=token).first()
    if known and known.membership_cobot_id == membership.cobot_id:
        return known
    try:
        raw = client.checkin_token_create(space=space, membership_cobot_id=membership.cobot_id, token=token)
    except ServiceError as exc:
        if exc.status != 422:
            raise
        # Taken: it may be ours from an earlier try whose answer was lost. Ask Cobot whose it is.
        raw = next((t for t in client.checkin_tokens_list(space=space) if str(t.get("token")) == token), None)
        owner = str(((raw or {}).get("membership") or {}).get("id") or "")
        if owner != membership.cobot_id:
            raise
    row, _ = CheckInToken.objects.update_or_create(
        space=space,
        token=token,
        defaults={"membership": membership, "membership_cobot_id": membership.cobot_id, "raw": raw or {}},
    )
    return row
