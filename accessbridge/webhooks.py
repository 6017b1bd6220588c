"""One base view for every incoming webhook (after django-anymail's webhooks/base.py).

CSRF-exempt, POST only (405 otherwise), body size limited (413), every validator runs before
anything is stored (a failed check answers its own 4xx), then the subclass stores the delivery
and we answer 2xx at once; the work is done by a worker. Our own unexpected failure is a 500, so
the sender retries. Never 410: Cobot and Parakey take 410 as "unsubscribe".
"""

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BODY_BYTES = 256 * 1024


class WebhookError(Exception):
    """Reject the request with `status` (400 malformed, 404 unknown/wrong secret, 413 too big)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(View):
    http_method_names = ["post"]
    max_body_bytes = MAX_WEBHOOK_BODY_BYTES

    def post(self, request: HttpRequest, **kwargs) -> HttpResponse:
        try:
            self.check_body(request)
            context = self.authenticate(request, **kwargs)
            result = self.accept(request, context, **kwargs)
        except WebhookError as exc:
            # 404 says nothing more than "not here": no hint whether the space or the secret was wrong.
            body = {"error": "not found"} if exc.status == 404 else {"error": str(exc)}
            return JsonResponse(body, status=exc.status)
        return JsonResponse(result or {"ok": True}, status=200)

    def check_body(self, request: HttpRequest) -> None:
        declared = request.META.get("CONTENT_LENGTH")
        try:
            too_big = declared and int(declared) > self.max_body_bytes
        except ValueError:
            raise WebhookError("invalid Content-Length") from None
        if too_big or len(request.body) > self.max_body_bytes:
            raise WebhookError(f"body larger than {self.max_body_bytes} bytes", status=413)
        # PostgreSQL stores neither a NUL in text nor \u0000 in jsonb: refuse it here, not with a 500.
        body = request.body.lower()
        if b"\x00" in body or b"\\u0000" in body or b"%00" in body:
            raise WebhookError("body contains a NUL character")

    def authenticate(self, request: HttpRequest, **kwargs):
        """Check the secret (constant time) and return what accept() needs. Raise WebhookError."""
        raise NotImplementedError

    def accept(self, request: HttpRequest, context, **kwargs) -> dict | None:
        """Validate and store the delivery (spaces.inbound.delivery_store). Raise WebhookError."""
        raise NotImplementedError


def json_body(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookError("body must be a JSON object")
    return data
