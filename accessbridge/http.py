"""The one outbound HTTP session: timeouts, User-Agent, and one error type.

Every call to Cobot or a vendor goes through `http_request`. Network failures and error answers
become `ServiceError`, classified so that the work runner knows what to do:
transient (retry with backoff, honouring Retry-After), auth (reconnect needed: wait), permanent.
A call to a host someone typed in passes an `address_check`: the host is then resolved once, every
address checked, and the checked address connected to (accessbridge.pinning), never a second lookup.
"""

import email.utils
import logging
import time
from dataclasses import dataclass
from datetime import UTC

import requests
from django.conf import settings

from accessbridge.logging import mask_secrets
from accessbridge.pinning import AddressCheck, UnresolvableHost, pinned_session_build, pinned_target

logger = logging.getLogger(__name__)

TRANSIENT = "transient"
PERMANENT = "permanent"
AUTH = "auth"

# Cap on what we accept as a server-requested pause; anything longer is treated as this.
MAX_RETRY_AFTER_SECONDS = 3600


class ServiceError(Exception):
    """A call to an outside service failed.

    kind: TRANSIENT / PERMANENT / AUTH. status: HTTP status if there was an answer.
    retry_after: seconds the server asked us to wait (429/503), if it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = PERMANENT,
        status: int | None = None,
        retry_after: float | None = None,
        response: requests.Response | None = None,
        service: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.response = response
        self.service = service

    @property
    def transient(self) -> bool:
        return self.kind == TRANSIENT

    @property
    def is_auth(self) -> bool:
        return self.kind == AUTH

    def __str__(self) -> str:
        prefix = f"{self.service}: " if self.service else ""
        return f"{prefix}{self.message}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (now if now is not None else time.time())
    return max(0.0, min(seconds, MAX_RETRY_AFTER_SECONDS))


def classify_status(status: int) -> str:
    if status in (401, 403):
        return AUTH
    if status in (408, 425, 429) or status >= 500:
        return TRANSIENT
    return PERMANENT


def error_detail(response: requests.Response, limit: int = 300) -> str:
    """A short, safe description of an error answer (never echoes request headers)."""
    try:
        data = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:limit]
    if isinstance(data, dict):
        for key in ("error_description", "message", "error", "errors", "detail"):
            if key in data:
                value = data[key]
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    value = "; ".join(str(item.get("detail") or item.get("title") or item) for item in value)
                return str(value)[:limit]
    return str(data)[:limit]


@dataclass(frozen=True)
class Timeout:
    connect: float
    read: float

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)


def default_timeout() -> Timeout:
    return Timeout(settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT)


_session: requests.Session | None = None


def session() -> requests.Session:
    """One pooled session per process. No automatic retries: retrying is the work runner's job."""
    global _session
    if _session is None:
        s = requests.Session()
        s.headers["User-Agent"] = settings.HTTP_USER_AGENT
        s.trust_env = False  # never route tokens through a proxy picked up from the environment
        _session = s
    return _session


_pinned_session: requests.Session | None = None


def pinned_session() -> requests.Session:
    """The session for calls pinned to a checked address (its own pools: keyed by IP and server name)."""
    global _pinned_session
    if _pinned_session is None:
        _pinned_session = pinned_session_build(user_agent=settings.HTTP_USER_AGENT)
    return _pinned_session


def http_request(
    method: str,
    url: str,
    *,
    service: str,
    timeout: Timeout | tuple[float, float] | None = None,
    ok_statuses: tuple[int, ...] = (),
    allow_redirects: bool = False,
    log_url: str | None = None,
    address_check: AddressCheck | None = None,
    **kwargs,
) -> requests.Response:
    """Send one request; return the response for 2xx (and `ok_statuses`), else raise ServiceError.

    `service` names the other side in messages ("Cobot", "SmartLock"). Redirects are not followed
    by default: a token must not be replayed to wherever a Location header points. `log_url` is what
    logs show instead of `url` when the caller knows the URL holds a secret. With `address_check`, the
    request goes to an address that passed it (whatever the check raises propagates), never redirected.
    """
    if timeout is None:
        timeout = default_timeout()
    if isinstance(timeout, Timeout):
        timeout = timeout.as_tuple()
    try:
        response = _send(
            method, url, timeout=timeout, allow_redirects=allow_redirects, address_check=address_check, **kwargs
        )
    except UnresolvableHost as exc:
        raise ServiceError(str(exc), kind=TRANSIENT, service=service) from None
    except requests.Timeout:
        raise ServiceError(f"no answer within {timeout[1]:g} s", kind=TRANSIENT, service=service) from None
    except requests.ConnectionError:
        raise ServiceError("could not connect", kind=TRANSIENT, service=service) from None
    except requests.RequestException as exc:
        raise ServiceError(f"request failed ({exc.__class__.__name__})", kind=TRANSIENT, service=service) from None

    status = response.status_code
    if 200 <= status < 300 or status in ok_statuses:
        return response
    kind = classify_status(status)
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if kind == TRANSIENT else None
    detail = error_detail(response)
    message = f"HTTP {status}" + (f": {detail}" if detail else "")
    logger.info("%s %s → %s (%s)", method, _redact(log_url or url), status, kind)
    raise ServiceError(message, kind=kind, status=status, retry_after=retry_after, response=response, service=service)


def _send(method, url, *, timeout, allow_redirects, address_check, **kwargs) -> requests.Response:
    if address_check is None:
        return session().request(method, url, timeout=timeout, allow_redirects=allow_redirects, **kwargs)
    if allow_redirects:
        raise ValueError("a call pinned to a checked address never follows redirects")
    target, host = pinned_target(url, address_check=address_check)
    headers = {**(kwargs.pop("headers", None) or {}), "Host": host}
    return pinned_session().request(method, target, headers=headers, timeout=timeout, allow_redirects=False, **kwargs)


def _redact(url: str) -> str:
    """Log URLs without query strings (tokens sometimes travel there) and without secret path segments."""
    return mask_secrets(url.split("?", 1)[0])
