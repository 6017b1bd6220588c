from django.conf import settings
from django.core.management.base import BaseCommand

from accessbridge.local_admin import local_admin_ensure, local_admin_sign_in_lines


class Command(BaseCommand):
    help = "Create a local superuser if no user exists yet, and say how to sign in (`make run` does this too)."

    def handle(self, *args, **options):
        admin = local_admin_ensure()
        if admin.password:
            self.stdout.write(self.style.SUCCESS("Created a local admin user."))
        self.stdout.write(f"{settings.ACCESSBRIDGE_BASE_URL}/")
        self.stdout.write("\n".join(local_admin_sign_in_lines(admin)))
