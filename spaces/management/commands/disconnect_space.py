from django.core.management.base import BaseCommand

from spaces.disconnect import space_disconnect
from spaces.management.space_argument import space_from_argument


class Command(BaseCommand):
    help = "Disconnect a space from Cobot: remove our webhooks and navigation links there, revoke the token."

    def add_arguments(self, parser):
        parser.add_argument("subdomain", help="The space's Cobot subdomain.")

    def handle(self, *args, subdomain, **options):
        space = space_from_argument(subdomain)
        for problem in space_disconnect(space=space):
            self.stderr.write(problem)
        self.stdout.write(f"Disconnected {space} ({space.subdomain}); its history is kept.")
