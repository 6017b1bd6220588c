"""One base view for every incoming webhook (after django-anymail's webhooks/base.py).

CSRF-exempt, POST only (405 otherwise), body size limited (413), every validator runs before
anything is stored (a failed check answers its own 4xx), then the subclass stores the delivery
and we answer 2xx at once; the work is done by a worker. Our own unexpected failure is a 500, so
the sender retries. Never 410: Cobot and Parakey take 410 as "unsubscribe".

Every intake reads JSON with `json_loads_strict`, and the base view applies it to whatever JSON a body
carries (the body itself, or a form field holding a JSON object) before anything else runs: numbers
that are not finite (NaN, Infinity, 1e999999) and excessive nesting are a 400 that says why. Python's
json accepts the former, PostgreSQL's jsonb refuses them (a DataError), and deep nesting exhausts the
recursion limit (a RecursionError); either would be a 500, and Cobot retries a 500 for 20 hours and then
deactivates the webhook.
"""

import json
import logging
import math
import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BODY_BYTES = 256 * 1024
# Real deliveries nest a handful of levels; Python's json recurses once per level (limit ~1,000).
MAX_JSON_DEPTH = 64
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class JSONRejected(ValueError):
    """Valid JSON to Python, but not something we store: a non-finite number or too deep a nesting."""


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
        except JSONRejected as exc:
            return JsonResponse({"error": str(exc)}, status=400)
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
        body_json_check(request)

    def authenticate(self, request: HttpRequest, **kwargs):
        """Check the secret (constant time) and return what accept() needs. Raise WebhookError."""
        raise NotImplementedError

    def accept(self, request: HttpRequest, context, **kwargs) -> dict | None:
        """Validate and store the delivery (spaces.inbound.delivery_store). Raise WebhookError."""
        raise NotImplementedError


def json_loads_strict(text: str | bytes):
    """json.loads for input from outside: raise JSONRejected for non-finite numbers or deep nesting,
    ValueError for anything that is not JSON."""
    if isinstance(text, bytes):
        text = text.decode()
    _depth_check(text)
    return json.loads(text, parse_constant=_non_finite, parse_float=_finite_float)


def json_payload_check(payload) -> None:
    """Raise JSONRejected unless `payload` can be stored as JSON (jsonb) as it is."""
    try:
        json.dumps(payload, allow_nan=False)
    except ValueError:
        raise JSONRejected("the data holds a number JSON cannot carry (NaN or Infinity)") from None
    except RecursionError:
        raise JSONRejected("the data nests too deeply") from None


def body_json_check(request: HttpRequest) -> None:
    """Whatever JSON the body carries must read strictly; what is not JSON is left to the intake's parser."""
    if request.content_type in FORM_TYPES:
        values = [v for _, vs in request.POST.lists() for v in vs if v.lstrip()[:1] in ("{", "[")]
    else:
        values = [request.body]
    for value in values:
        try:
            json_loads_strict(value)
        except JSONRejected:
            raise
        except ValueError:
            pass


# A string (to its closing quote, or to the end if it has none: linear on any input) or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def _depth_check(text: str) -> None:
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        depth += 1 if token in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise JSONRejected(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")


def _non_finite(constant: str):
    raise JSONRejected(f"the JSON holds {constant}, which is not a number we accept")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JSONRejected(f"the JSON holds a number too large to store ({literal[:20]})")
    return value


def json_body(request: HttpRequest) -> dict:
    try:
        data = json_loads_strict(request.body)
    except JSONRejected as exc:
        raise WebhookError(str(exc)) from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookError("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookError("body must be a JSON object")
    return data
