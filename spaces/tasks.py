"""django-q tasks of the spaces app: thin, load by id and call a service."""

import logging

from accessbridge.http import ServiceError
from spaces.admins import CobotIdentity, cobot_identities_due, cobot_identity_check
from spaces.models import Space
from spaces.services import space_sync_send
from spaces.sync import space_sync

logger = logging.getLogger(__name__)


def space_sync_task(space_id: int) -> dict:
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return {"skipped": "no such space"}
    try:
        return space_sync(space=space)
    except ServiceError as exc:
        # Stored on the space (last_sync_result); the next scheduled run tries again.
        logger.warning("full sync of %s failed: %s", space.subdomain, exc)
        return {"ok": False, "error": str(exc)}


def spaces_sync_all() -> int:
    """Scheduled every 15 minutes: one sync task per connected space, so one slow space delays no other."""
    space_ids = list(Space.objects.filter(status=Space.Status.ACTIVE).values_list("pk", flat=True))
    for space_id in space_ids:
        space_sync_send(space_id)
    return len(space_ids)


# --- admin roles that follow Cobot (spaces.admins) -----------------------------------------------------
def space_admins_check_due() -> int:
    """Scheduled (accessbridge.apps.SCHEDULES): one task per Cobot identity whose roles are due for a check.

    Queued twice (a slow queue), the second task finds the roles claimed and asks Cobot nothing.
    """
    from django_q.tasks import async_task

    identities = cobot_identities_due()
    for identity in identities:
        async_task(
            "spaces.tasks.cobot_identity_check_task",
            identity.user_id,
            identity.cobot_user_id,
            task_name=f"check admin roles of user #{identity.user_id} at Cobot",
            group="spaces.admins",
        )
    return len(identities)


def cobot_identity_check_task(user_id: int, cobot_user_id: str) -> dict:
    return cobot_identity_check(identity=CobotIdentity(user_id, cobot_user_id))
