"""Reject NUL characters in query strings before any view sees them.

No parameter of ours may hold one, and PostgreSQL refuses them in text (a 500 otherwise). Form
fields are covered by Django's forms (ProhibitNullCharactersValidator); webhook bodies by
accessbridge.webhooks.
"""

from django.http import HttpResponseBadRequest


class RejectNulCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return HttpResponseBadRequest("The address contains a NUL character.", content_type="text/plain")
        return self.get_response(request)
