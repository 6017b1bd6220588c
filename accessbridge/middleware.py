"""Request guards that every view shares.

- NUL characters in query strings are refused before any view sees them: no parameter of ours may
  hold one, and PostgreSQL refuses them in text (a 500 otherwise). Form fields are covered by Django's
  forms (ProhibitNullCharactersValidator); webhook bodies by accessbridge.webhooks.
- A stored secret that the configured keys cannot decrypt is a page that says so (503), not a 500.
"""

import logging

from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse

from accessbridge.fields import DecryptionError

logger = logging.getLogger(__name__)


class RejectNulCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return HttpResponseBadRequest("The address contains a NUL character.", content_type="text/plain")
        return self.get_response(request)


class DecryptionErrorMiddleware:
    """Every page that reads a secret the keys cannot decrypt: the reason in words, 503 (/health/ says it too)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DecryptionError):
            return None
        logger.error("secrets: cannot decrypt (%s %s)", request.method, request.path)
        response = TemplateResponse(request, "secrets_unreadable.html", status=503)
        return response.render()
