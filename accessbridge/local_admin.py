"""The local admin of a fresh `make run`: made once, on a database without users, so a newcomer can sign in."""

import os
import secrets
import sys
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

LOCAL_ADMIN_EMAIL = "admin@localhost"
LOCAL_ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class LocalAdmin:
    email: str | None  # None: other users were there first, so no local admin was made
    password: str | None  # only right after it was made; never stored in clear


def local_admin_ensure() -> LocalAdmin:
    User = get_user_model()
    if User.objects.exists():
        exists = User.objects.filter(email=LOCAL_ADMIN_EMAIL).exists()
        return LocalAdmin(email=LOCAL_ADMIN_EMAIL if exists else None, password=None)
    password = secrets.token_urlsafe(12)
    user = User.objects.create_superuser(username=LOCAL_ADMIN_USERNAME, email=LOCAL_ADMIN_EMAIL, password=password)
    EmailAddress.objects.create(user=user, email=LOCAL_ADMIN_EMAIL, verified=True, primary=True)
    return LocalAdmin(email=LOCAL_ADMIN_EMAIL, password=password)


def local_admin_sign_in_lines(admin: LocalAdmin) -> list[str]:
    """What to tell the person at the terminal."""
    manage = f"{os.path.relpath(sys.executable)} manage.py"
    if admin.password:
        return [f"Sign in as {admin.email}", f"  password: {admin.password}   (shown this once: note it down)"]
    if admin.email:
        return [
            f"Sign in as {admin.email} (password shown on the first run; a new one:",
            f"  {manage} changepassword {LOCAL_ADMIN_USERNAME})",
        ]
    return [f"Sign in with your account (or make one: {manage} createsuperuser)"]
