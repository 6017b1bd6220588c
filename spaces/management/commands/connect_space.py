from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from spaces.services import ConnectError, space_connect


class Command(BaseCommand):
    help = (
        "Connect (or repair) a Cobot space with an access token of one of its admins: the token is exchanged "
        "for a space-bound one, webhooks and navigation links are set up."
    )

    def add_arguments(self, parser):
        parser.add_argument("--subdomain", required=True, help="The space's Cobot subdomain.")
        parser.add_argument("--token", required=True, help="A Cobot access token of an admin of the space.")
        parser.add_argument("--admin", help="Email of an AccessBridge user to make admin of the space.")

    def handle(self, *args, subdomain, token, admin=None, **options):
        user = None
        if admin:
            user = get_user_model().objects.filter(email__iexact=admin).first()
            if user is None:
                raise CommandError(f"No user with the email {admin}.")
        try:
            space = space_connect(subdomain=subdomain, user_token=token, user=user)
        except ConnectError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Connected {space} ({space.subdomain}): {space.subscriptions.filter(active=True).count()} webhook "
            f"subscriptions, {space.navigation_links.count()} navigation links."
        )
