"""allauth's account adapter, with one change: a mail that cannot be sent is logged and told, never a 500.

A sign-up, a password reset or an address confirmation must not fail with a server error because the
mail server is down or not configured (DEBUG=false defaults to SMTP on localhost).
"""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from django.contrib import messages

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context_: dict) -> None:
        try:
            super().send_mail(template_prefix, email, context_)
        except Exception as exc:  # any backend's failure: SMTP, a socket, a mail provider's API
            kind = template_prefix.rsplit("/", 1)[-1]
            logger.error("Could not send the %s mail: %s: %s", kind, exc.__class__.__name__, exc)
            if context.request is not None:
                messages.error(
                    context.request,
                    f"AccessBridge could not send the email to {email} ({exc.__class__.__name__}): "
                    "its mail server is not reachable. Try again later, or ask whoever runs AccessBridge "
                    "to check the mail settings (EMAIL_HOST, EMAIL_PORT).",
                )
