"""Cobot API client: plain functions over the shared HTTP session.

Every call names the space whose token it uses. Base URLs come from settings, so a staging
server or the local stand-in (tests/fakes/cobot.py) can replace Cobot. Facts: shared/cobot-api.md.
"""

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings

from accessbridge.http import TRANSIENT, ServiceError, http_request
from accessbridge.logging import MASK
from spaces.cobot.records import cobot_time_format

logger = logging.getLogger(__name__)

SERVICE = "Cobot"

# A Cobot subdomain as we accept it anywhere (forms, connect, framed pages' authorize host).
SUBDOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
# Cobot allows about 60 requests/min per user and answers 429 with Retry-After: a short pause is
# waited out here; a longer one goes back to the work runner as a transient error.
MAX_INLINE_WAIT_SECONDS = 30


def subdomain_is_valid(value) -> bool:
    return isinstance(value, str) and SUBDOMAIN.fullmatch(value) is not None


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
        # Also percent-encoded ("%2e%2e"): a server that decodes it would climb out of the space.
        and ".." not in unquote(target.path).replace("\\", "/").split("/")
    )


def cobot_request(
    space,
    method: str,
    url: str,
    *,
    token: str | None = None,
    ok_statuses=(),
    max_inline_wait: float = MAX_INLINE_WAIT_SECONDS,
    **kwargs,
):
    """One authenticated Cobot call. A 401 for the space's stored token marks the space "reconnect
    needed" and re-raises; a 401 for a token replaced meanwhile (a reconnect) is a transient error."""
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    headers["Authorization"] = f"Bearer {token or space.access_token}"
    generation = space.token_generation if space is not None else None
    for attempt in (1, 2):
        try:
            return http_request(method, url, service=SERVICE, headers=headers, ok_statuses=ok_statuses, **kwargs)
        except ServiceError as exc:
            wait = exc.retry_after if exc.retry_after is not None else 1.0
            if exc.status == 429 and attempt == 1 and wait <= max_inline_wait:
                time.sleep(wait)
                continue
            if exc.status == 401 and space is not None and token is None:
                _space_token_refused(space, generation, exc)
            raise
    raise AssertionError("unreachable")


def _space_token_refused(space, generation: int, exc: ServiceError) -> None:
    if not space.mark_reconnect_needed(error=str(exc), token_generation=generation):
        raise ServiceError(
            "the space's token was replaced while this call used the old one; retrying with the new one",
            kind=TRANSIENT,
            status=exc.status,
            service=SERVICE,
        ) from exc


# --- site: user, spaces, access tokens ------------------------------------------------------------
def user_get(*, token: str) -> dict:
    # GET {site}/api/user → {id, email, admin_of: [{space_subdomain, space_name, space_link}], memberships}
    user = _object(cobot_request(None, "GET", site_url("api/user"), token=token))
    if not user.get("id"):
        raise ServiceError("user without an id", service=SERVICE)
    return user


def space_get(*, subdomain: str, token: str) -> dict:
    # GET {site}/api/spaces/<subdomain> → {id, name, subdomain, ...}; admin_of entries carry no space id
    space = _object(cobot_request(None, "GET", site_url(f"api/spaces/{quote(subdomain, safe='')}"), token=token))
    if not space.get("id"):
        raise ServiceError("space without an id", service=SERVICE)
    return space


def _token_log_url(tail: str = "") -> str:
    # The token is in the path of the access-token endpoints: logs show this instead of the URL.
    return site_url(f"api/access_tokens/{MASK}{tail}")


def access_token_scopes(*, token: str) -> set[str] | None:
    # GET {site}/api/access_tokens/<token> → {scope: [...]}; None when Cobot does not say. It only tells
    # which features will lack a scope, so a Cobot that does not answer it (404, 5xx) does not stop us.
    url = site_url(f"api/access_tokens/{quote(token, safe='')}")
    try:
        info = _object(cobot_request(None, "GET", url, token=token, log_url=_token_log_url()))
    except ServiceError as exc:
        if exc.status == 401:
            raise
        logger.info("Cobot's token inspection did not answer: %s", exc)
        return None
    scope = info.get("scope")
    if isinstance(scope, str):
        return set(scope.split())
    if isinstance(scope, list):
        return {str(s) for s in scope}
    return None


def access_token_bind(*, token: str, space_id: str) -> str:
    # POST {site}/api/access_tokens/<token>/space {space_id} → {token, scope}: same scope, bound to the space
    url = site_url(f"api/access_tokens/{quote(token, safe='')}/space")
    body = {"space_id": space_id}
    response = cobot_request(None, "POST", url, token=token, json=body, log_url=_token_log_url("/space"))
    bound = _object(response).get("token")
    if not isinstance(bound, str) or not bound:
        raise ServiceError("no token in the answer", service=SERVICE)
    return bound


def access_token_revoke(*, token: str) -> None:
    # DELETE {site}/api/access_tokens/<token>; a token that is already gone answers 401/404: fine
    url = site_url(f"api/access_tokens/{quote(token, safe='')}")
    cobot_request(None, "DELETE", url, token=token, ok_statuses=(401, 404), log_url=_token_log_url())


# --- memberships, plans, time passes (API 1) ------------------------------------------------------
def memberships_list(*, space) -> list[dict]:
    # GET {space}/api/memberships: all current ones. Limited to about 6/min: never call it per member.
    return _list(cobot_request(space, "GET", space_api_url(space, "memberships")))


def space_resource_get(*, space, url: str) -> dict:
    """GET a resource named by a webhook (membership, booking): only ever on the space's own host."""
    if not url_is_on_space_host(space, url):
        raise ServiceError("refusing to fetch a URL outside the space's Cobot host", service=SERVICE)
    return _object(cobot_request(space, "GET", url))


def membership_get(*, space, membership_cobot_id: str) -> dict:
    # GET {space}/api/memberships/<id>
    return space_resource_get(space=space, url=space_api_url(space, f"memberships/{quote(membership_cobot_id)}"))


def plans_list(*, space) -> list[dict]:
    # GET {space}/api/plans
    return _list(cobot_request(space, "GET", space_api_url(space, "plans")))


def time_passes_unused(*, space, membership_cobot_id: str) -> list[dict]:
    # GET {space}/api/memberships/<id>/time_passes/unused (scope read_time_passes)
    url = space_api_url(space, f"memberships/{quote(membership_cobot_id)}/time_passes/unused")
    return _list(cobot_request(space, "GET", url))


def custom_fields_list(*, space) -> list[dict]:
    # GET {space}/api/custom_fields → [{membership_id, fields: [{id, label, value}]}]
    return _list(cobot_request(space, "GET", space_api_url(space, "custom_fields")))


def membership_custom_fields(*, space, membership_cobot_id: str) -> dict:
    # GET {space}/api/memberships/<id>/custom_fields → {membership_id, fields: [...]}
    url = space_api_url(space, f"memberships/{quote(membership_cobot_id)}/custom_fields")
    return _object(cobot_request(space, "GET", url))


# --- bookings (API 1) -----------------------------------------------------------------------------
def bookings_list(*, space, starts: datetime, ends: datetime) -> list[dict]:
    # GET {space}/api/bookings?from&to → bookings overlapping the window
    params = {"from": cobot_time_format(starts), "to": cobot_time_format(ends)}
    return _list(cobot_request(space, "GET", space_api_url(space, "bookings"), params=params))


# --- drop-in (day) passes (API 2, unverified) -----------------------------------------------------
def drop_in_passes_list(*, space) -> list[dict]:
    # GET {api2}/spaces/<id>/drop_in_passes (scope read_drop_in_passes; shape unverified): JSON:API
    # {"data": [...]} or a bare list. The records are read in spaces.cobot.records.drop_in_pass_record.
    if not space.cobot_space_id:
        raise ServiceError("the space's Cobot id is not known yet (reconnect the space)", service=SERVICE)
    url = api2_url(f"spaces/{quote(space.cobot_space_id)}/drop_in_passes")
    data = _json(cobot_request(space, "GET", url, headers={"Accept": "application/vnd.api+json"}))
    rows = data.get("data") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ServiceError("expected a list of drop-in passes", service=SERVICE)
    return rows


# --- check-ins (API 1) ----------------------------------------------------------------------------
def work_sessions_list(*, space, starts: datetime, ends: datetime) -> list[dict]:
    # GET {space}/api/work_sessions?from&to → [{membership: {id}, valid_from, valid_until, time_pass?}]
    params = {"from": cobot_time_format(starts), "to": cobot_time_format(ends)}
    return _list(cobot_request(space, "GET", space_api_url(space, "work_sessions"), params=params))


def checkin_by_membership(*, space, membership_cobot_id: str, seconds: float | None = None) -> "CheckInResult":
    # POST {space}/api/memberships/<id>/work_sessions; 422 → Rails-style {"errors": {"base": [...]}}
    url = space_api_url(space, f"memberships/{quote(membership_cobot_id)}/work_sessions")
    try:
        _object(cobot_request(space, "POST", url, **_answer_within(seconds)))
    except ServiceError as exc:
        if exc.status != 422:
            raise
        return _checkin_refusal(_api1_detail(exc))
    return CheckInResult("checked_in")


def checkout_by_membership(*, space, membership_cobot_id: str) -> None:
    # DELETE {space}/api/memberships/<id>/check_ins/current; 404 = not checked in
    url = space_api_url(space, f"memberships/{quote(membership_cobot_id)}/check_ins/current")
    cobot_request(space, "DELETE", url, ok_statuses=(404,))


# --- webhook subscriptions (API 1) ----------------------------------------------------------------
def subscriptions_list(*, space) -> list[dict]:
    # GET {space}/api/subscriptions → [{id, event, url, active, callback_url}]
    return _list(cobot_request(space, "GET", space_api_url(space, "subscriptions")))


def subscription_create(*, space, event: str, callback_url: str) -> dict | None:
    # POST {space}/api/subscriptions {event, callback_url} → 201 {id, ...}; 409: the same one exists (None)
    response = cobot_request(
        space,
        "POST",
        space_api_url(space, "subscriptions"),
        json={"event": event, "callback_url": callback_url},
        ok_statuses=(409,),
    )
    return None if response.status_code == 409 else _object(response)


def subscription_delete(*, space, subscription_cobot_id: str) -> None:
    # DELETE {space}/api/subscriptions/<id>; 404: already gone
    url = space_api_url(space, f"subscriptions/{quote(str(subscription_cobot_id))}")
    cobot_request(space, "DELETE", url, ok_statuses=(404,))


# --- navigation links (API 1) ---------------------------------------------------------------------
def navigation_links_list(*, space) -> list[dict]:
    # GET {space}/api/navigation_links → [{section, label, iframe_url, url, user_url}] (no id: `url` is the handle)
    return _list(cobot_request(space, "GET", space_api_url(space, "navigation_links")))


def navigation_link_create(*, space, section: str, label: str, iframe_url: str) -> dict:
    # POST {space}/api/navigation_links {section, label, iframe_url} (scope navigation)
    body = {"section": section, "label": label, "iframe_url": iframe_url}
    return _object(cobot_request(space, "POST", space_api_url(space, "navigation_links"), json=body))


def navigation_link_delete(*, space, url: str) -> None:
    # DELETE <link url>; the url comes from Cobot, but the token only ever goes to the space's host
    if not url_is_on_space_host(space, url):
        raise ServiceError("navigation link URL is not on the space's Cobot host", service=SERVICE)
    cobot_request(space, "DELETE", url, ok_statuses=(404,))


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


def checkin_by_token(*, space, token: str, seconds: float | None = None) -> CheckInResult:
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
            space,
            "POST",
            api2_url("check_ins"),
            json=body,
            headers={"Content-Type": "application/vnd.api+json"},
            **_answer_within(seconds),
        )
    except ServiceError as exc:
        if exc.status != 422:
            raise
        return _checkin_refusal(_api2_detail(exc))
    if response.status_code == 204:
        # A token without an active membership (cobot-api.md: unverified).
        return CheckInResult("not_member", "No active membership for this token.")
    attributes = (_object(response).get("data") or {}).get("attributes") or {}
    return CheckInResult("checked_in", "", str(attributes.get("validUntil") or ""))


def _answer_within(seconds: float | None) -> dict:
    """For someone waiting at a door: Cobot must answer within `seconds`, and a 429 is not waited out."""
    if seconds is None:
        return {}
    return {"timeout": (min(settings.HTTP_CONNECT_TIMEOUT, seconds), seconds), "max_inline_wait": 0}


def _checkin_refusal(message: str) -> CheckInResult:
    """Cobot's 422 on a check-in, by its message: already in (fine), not a member, or refused."""
    message = message or "Cobot refused the check-in."
    lowered = message.lower()
    if "already" in lowered:
        return CheckInResult("already", message)
    if "token not found" in lowered or "no active membership" in lowered:
        return CheckInResult("not_member", message)
    return CheckInResult("refused", message)


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


def refusal_message(exc: ServiceError) -> str:
    """Cobot's own words for a refused request (API 1 answers with Rails-style errors), else the error."""
    detail = _api1_detail(exc)
    return f"{SERVICE} answered HTTP {exc.status}: {detail}" if detail else str(exc)


def _api1_detail(exc: ServiceError) -> str:
    """API 1 refuses with Rails-style errors: {"errors": {"base": ["No time passes left."]}}."""
    try:
        errors = exc.response.json().get("errors") if exc.response is not None else None
    except (ValueError, AttributeError):
        return ""
    if isinstance(errors, dict):
        return "; ".join(
            str(m) for messages in errors.values() for m in (messages if isinstance(messages, list) else [messages])
        )
    return ""
