import secrets

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

LOCAL_ADMIN_EMAIL = "admin@localhost"


class Command(BaseCommand):
    help = "Create a local superuser if no user exists yet, and say how to sign in (for `make run`)."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.exists():
            if User.objects.filter(email=LOCAL_ADMIN_EMAIL).exists():
                self.stdout.write(
                    f"Sign in at http://127.0.0.1:8000/ as {LOCAL_ADMIN_EMAIL} (password shown when it was "
                    "created; set a new one with `.venv/bin/python manage.py changepassword admin`)."
                )
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username="admin", email=LOCAL_ADMIN_EMAIL, password=password)
        EmailAddress.objects.create(user=user, email=LOCAL_ADMIN_EMAIL, verified=True, primary=True)
        self.stdout.write(self.style.SUCCESS("Created a local admin user."))
        self.stdout.write(f"Sign in at http://127.0.0.1:8000/ with\n  email:    {LOCAL_ADMIN_EMAIL}\n  password: {password}")
