"""django-q tasks of the spaces app: thin, load by id and call a service."""

import logging

from accessbridge.http import ServiceError
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
