import json

from django.core.management.base import BaseCommand, CommandError

from accessbridge.http import ServiceError
from spaces.management.space_argument import space_from_argument
from spaces.sync import space_sync


class Command(BaseCommand):
    help = "Full sync of a space's mirror with Cobot now (memberships, plans, check-in tokens, bookings)."

    def add_arguments(self, parser):
        parser.add_argument("subdomain", help="The space's Cobot subdomain.")

    def handle(self, *args, subdomain, **options):
        space = space_from_argument(subdomain)
        try:
            result = space_sync(space=space)
        except ServiceError as exc:
            if exc.is_auth:
                raise CommandError(
                    f"Cobot rejected the space's token ({exc}): reconnect the space (dashboard or connect_space)."
                ) from None
            raise CommandError(f"Sync failed: {exc}") from None
        self.stdout.write(json.dumps(result, indent=2))
