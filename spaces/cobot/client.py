"""Cobot API client: plain functions over the shared HTTP session.

Every call names the space whose token it uses. Base URLs come from settings, so a staging
server or the local stand-in (tests/fakes/cobot.py) can replace Cobot. Facts: shared/cobot-api.md.
"""

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from accessbridge.http import ServiceError, http_request

logger = logging.getLogger(__name__)

SERVICE = "Cobot"
# Cobot allows about 60 requests/min per user and answers 429 with Retry-After: a short pause is
# waited out here; a longer one goes back to the work runner as a transient error.
MAX_INLINE_WAIT_SECONDS = 30


def space_base_url(subdomain: str) -> str:
    return settings.COBOT_SPACE_URL_TEMPLATE.format(subdomain=subdomain)


def space_api_url(space, path: str) -> str:
    return f"{space_base_url(space.subdomain)}/api/{path.lstrip('/')}"


def site_url(path: str) -> str:
    return f"{settings.COBOT_SITE_URL}/{path.lstrip('/')}"


def api2_url(path: str) -> str:
    return f"{settings.COBOT_API2_URL}/{path.lstrip('/')}"


def url_is_on_space_host(space, url: str) -> bool:
    """True only for an http(s) URL under this space's own Cobot API (same scheme, host, port).

    Webhook payloads name a URL that we then fetch with the space's bearer token: anything
    else would hand the token to whoever sent the payload.
    """
    if not isinstance(url, str):
        return False
    base = urlsplit(space_api_url(space, ""))
    target = urlsplit(url)
    if target.username or target.password:
        return False
    return (
        target.scheme == base.scheme
        and (target.hostname or "").lower() == (base.hostname or "").lower()
        and target.port == base.port
        and target.path.startswith(base.path)
        and ".." not in target.path.split("/")
    )


def cobot_request(space, method: str, url: str, *, token: str | None = None, ok_statuses=(), **kwargs):
    """One authenticated Cobot call. 401 marks the space "reconnect needed" and re-raises."""
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    headers["Authorization"] = f"Bearer {token or space.access_token}"
    for attempt in (1, 2):
        try:
            return http_request(method, url, service=SERVICE, headers=headers, ok_statuses=ok_statuses, **kwargs)
        except ServiceError as exc:
            wait = exc.retry_after if exc.retry_after is not None else 1.0
            if exc.status == 429 and attempt == 1 and wait <= MAX_INLINE_WAIT_SECONDS:
                time.sleep(wait)
                continue
            if exc.status == 401 and space is not None and token is None:
                from spaces.services import space_mark_reconnect_needed

                space_mark_reconnect_needed(space=space, error=str(exc))
            raise
    raise AssertionError("unreachable")


# --- check-in tokens (API 1) ----------------------------------------------------------------------
def checkin_tokens_list(*, space) -> list[dict]:
    # GET {space}/api/check_in_tokens → [{token, membership: {id}}]
    return _list(cobot_request(space, "GET", space_api_url(space, "check_in_tokens")))


def checkin_token_create(*, space, membership_cobot_id: str, token: str) -> dict:
    # POST {space}/api/check_in_tokens {membership_id, token}; a taken token → 422
    response = cobot_request(
        space, "POST", space_api_url(space, "check_in_tokens"), json={"membership_id": membership_cobot_id, "token": token}
    )
    return _object(response)


# --- check-ins (API 2 by token) -------------------------------------------------------------------
@dataclass(frozen=True)
class CheckInResult:
    outcome: str  # "checked_in" | "already" | "refused" | "not_member"
    message: str = ""
    valid_until: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome in ("checked_in", "already")


def checkin_by_token(*, space, token: str) -> CheckInResult:
    # POST {api2}/check_ins (JSON:API): 201 → checked in; 422 → errors[].detail (shown at the door)
    body = {
        "data": {
            "type": "checkIns",
            "attributes": {"checkInToken": token},
            "relationships": {"space": {"data": {"id": space.cobot_space_id, "type": "spaces"}}},
        }
    }
    try:
        response = cobot_request(
            space, "POST", api2_url("check_ins"), json=body, headers={"Content-Type": "application/vnd.api+json"}
        )
    except ServiceError as exc:
        if exc.status != 422:
            raise
        message = _api2_detail(exc) or "Cobot refused the check-in."
        lowered = message.lower()
        if "already" in lowered:
            return CheckInResult("already", message)
        if "token not found" in lowered or "no active membership" in lowered:
            return CheckInResult("not_member", message)
        return CheckInResult("refused", message)
    if response.status_code == 204:
        # A token without an active membership (cobot-api.md: unverified).
        return CheckInResult("not_member", "No active membership for this token.")
    attributes = (_object(response).get("data") or {}).get("attributes") or {}
    return CheckInResult("checked_in", "", str(attributes.get("validUntil") or ""))


# --- strict parsing ------------------------------------------------------------------------------
def _json(response):
    try:
        return response.json()
    except ValueError:
        raise ServiceError("answer is not JSON", status=response.status_code, service=SERVICE) from None


def _object(response) -> dict:
    data = _json(response)
    if not isinstance(data, dict):
        raise ServiceError("expected a JSON object", status=response.status_code, service=SERVICE)
    return data


def _list(response) -> list[dict]:
    data = _json(response)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ServiceError("expected a JSON list of objects", status=response.status_code, service=SERVICE)
    return data


def _api2_detail(exc: ServiceError) -> str:
    try:
        errors = exc.response.json().get("errors") if exc.response is not None else None
    except (ValueError, AttributeError):
        return ""
    if isinstance(errors, list):
        return "; ".join(str(e.get("detail") or e.get("title") or "") for e in errors if isinstance(e, dict)).strip("; ")
    return ""
