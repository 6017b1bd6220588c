from django.apps import AppConfig


class CobotConfig(AppConfig):
    """Installed only so that allauth finds the "Sign in with Cobot" provider (`provider.py`)."""

    name = "spaces.cobot"
    label = "cobot"
    verbose_name = "Sign in with Cobot"
