"""allauth's account adapter, with one change: a mail that cannot be sent is logged and told, never a 500.

A sign-up, a password reset or an address confirmation must not fail with a server error because the
mail server is down or not configured (DEBUG=false defaults to SMTP on localhost).
"""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from django.contrib import messages

logger = logging.getLogger(__name__)


# allauth says "Confirmation email sent" after trying: not when it could not.
_SENT_MESSAGE = "account/messages/email_confirmation_sent.txt"


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context_: dict) -> None:
        try:
            super().send_mail(template_prefix, email, context_)
        except Exception as exc:  # any backend's failure: SMTP, a socket, a mail provider's API
            kind = template_prefix.rsplit("/", 1)[-1]
            logger.error("Could not send the %s mail: %s: %s", kind, exc.__class__.__name__, exc)
            if context.request is not None:
                context.request.accessbridge_mail_failed = True
                messages.error(
                    context.request,
                    f"AccessBridge could not send the email to {email} ({exc.__class__.__name__}): "
                    "its mail server is not reachable. Try again later, or ask whoever runs AccessBridge "
                    "to check the mail settings (EMAIL_HOST, EMAIL_PORT).",
                )

    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="", message=None):
        if message_template == _SENT_MESSAGE and getattr(request, "accessbridge_mail_failed", False):
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)
