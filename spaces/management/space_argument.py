"""The space a management command names by its Cobot subdomain."""

from django.core.management.base import CommandError

from spaces.models import Space


def space_from_argument(subdomain: str) -> Space:
    """The space, or a CommandError that lists the known subdomains (typos are the usual cause)."""
    cleaned = subdomain.strip().lower()
    space = Space.objects.filter(subdomain=cleaned).first()
    if space is None:
        known = ", ".join(Space.objects.order_by("subdomain").values_list("subdomain", flat=True)[:20])
        raise CommandError(f"No space with the subdomain {cleaned!r}. Known: {known or 'none yet'}.")
    return space
