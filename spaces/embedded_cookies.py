"""When the browser keeps no cookie for AccessBridge inside Cobot's frame: tell the member, offer the ways on.

Partitioned cookies (accessbridge.framed_cookies) make the framed pages work where third-party cookies
are blocked in browsers that support them. Where they are not enough, the framed sign-in page asks
`cookies_check` whether its CSRF cookie came back (static/js/framed.js) and, if not, shows two ways on:
"Allow cookies" (`document.requestStorageAccess()` on a click) and "Open in a new tab" (the page works at
top level, then links back to Cobot). A form posted without its cookie lands on `csrf_failure`
(settings.CSRF_FAILURE_VIEW), which inside the frame shows the same two ways instead of a refused frame.
"""

from django.conf import settings
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accessbridge.framed_cookies import request_is_framed
from spaces.cobot.client import subdomain_is_valid
from spaces.embedded import response_framable_by_cobot
from spaces.models import Space


@never_cache
@require_GET
def cookies_check(request):
    """Did the CSRF cookie the page set come back? The answer also sets it again, and gives its token.

    Only framed pages' script asks (a `fetch`, so the browser says "empty", not "iframe"): its cookie
    belongs to the frame's jar. After the member allowed cookies, the page asks twice: the first answer
    sets a cookie the browser now keeps, the second says whether it came back. Opened as a page of its
    own, it keeps the top-level (Lax) cookie: a partitioned one beside it would shadow it.
    """
    request.cookies_for_frame = request.headers.get("Sec-Fetch-Dest") != "document"
    came_back = settings.CSRF_COOKIE_NAME in request.COOKIES
    return JsonResponse({"cookies": came_back, "csrf_token": get_token(request)})


def _space_of(request) -> Space | None:
    """The space whose framed page (or its sign-in) posted the failed form, if the request names one."""
    kwargs = request.resolver_match.kwargs if request.resolver_match else {}
    if "space_key" in kwargs:
        return Space.objects.filter(key=kwargs["space_key"]).first()
    subdomain = kwargs.get("subdomain") or request.GET.get("cobot_subdomain", "")
    return Space.objects.filter(subdomain=subdomain).first() if subdomain_is_valid(subdomain) else None


def _page_to_retry(request) -> str | None:
    """Where the member was: the form's `next` (sign-in, Open), else the referring page; ours only."""
    candidates = (request.GET.get("next"), request.POST.get("next"), request.headers.get("Referer"))
    for url in candidates:
        if url and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return url
    return None


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: a readable 403; inside Cobot's frame, framed, with the ways on."""
    space = _space_of(request) if request_is_framed(request) else None
    response = render(
        request,
        "embedded/csrf_failure.html",
        {"space": space, "framed": space is not None, "reason": reason, "retry_url": _page_to_retry(request)},
        status=403,
    )
    if space is not None:
        response_framable_by_cobot(response, space=space)
    return response
