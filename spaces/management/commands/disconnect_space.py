from django.core.management.base import BaseCommand, CommandError

from spaces.models import Space
from spaces.services import space_disconnect


class Command(BaseCommand):
    help = "Disconnect a space from Cobot: remove our webhooks and navigation links there, revoke the token."

    def add_arguments(self, parser):
        parser.add_argument("subdomain", help="The space's Cobot subdomain.")

    def handle(self, *args, subdomain, **options):
        space = Space.objects.filter(subdomain=subdomain).first()
        if space is None:
            raise CommandError(f"No space with the subdomain {subdomain!r}.")
        for problem in space_disconnect(space=space):
            self.stderr.write(problem)
        self.stdout.write(f"Disconnected {space} ({space.subdomain}); its history is kept.")
