"""Cookies that work inside Cobot's cross-site iframe, and stay SameSite=Lax everywhere else.

Cobot frames our pages from another site. A browser keeps a cookie set there only if it is
`SameSite=None; Secure`, and where third-party cookies are blocked (Safari, Firefox strict, Chrome with
"block third-party cookies" or incognito) only if it is also `Partitioned` (CHIPS): the browser then
keeps it in a jar of its own for AccessBridge-inside-Cobot, apart from the top-level one.

So every cookie a response sets for a framed request gets those three attributes, and every other
cookie keeps the settings' SameSite=Lax: the top-level dashboard has its own (unpartitioned, Lax)
session, the frame another (partitioned) one, and the two never meet under one name.

Which request is framed: the browser says so in `Sec-Fetch-Dest` ("iframe" for every navigation inside
the frame: the page, its forms, the OAuth redirects back to us). Browsers too old to send Fetch Metadata
get the framed attributes (SameSite=None worked for them before partitioning existed). A view answering
a script inside the frame (`fetch` says "empty") marks the request with `cookies_for_frame`.

Where the member allowed our cookies in the frame ("Allow cookies", the Storage Access API), the frame's
next loads keep them through Storage Access Headers (`storage_access_activate`).
"""

from http.cookies import Morsel

from django.conf import settings

FRAMED_FETCH_DESTS = frozenset({"iframe", "frame"})


def partitioned_attribute_register() -> None:
    """Teach http.cookies the `Partitioned` flag (Python 3.14 knows it; 3.11 raises CookieError on it)."""
    if "partitioned" not in Morsel._reserved:
        Morsel._reserved["partitioned"] = "Partitioned"
        Morsel._flags.add("partitioned")


def request_is_framed(request) -> bool:
    if getattr(request, "cookies_for_frame", False):
        return True
    dest = request.headers.get("Sec-Fetch-Dest")
    return dest is None or dest in FRAMED_FETCH_DESTS


class FramedCookiesMiddleware:
    """Give the cookies of a framed request's response the attributes a cross-site frame needs.

    Sits above the session, CSRF and messages middleware, so it sees the cookies they set (and the
    deletions: a partitioned cookie is only removed by a Set-Cookie that names its partition too).
    Active with settings.FRAMED_COOKIES (https only: SameSite=None needs Secure).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not settings.FRAMED_COOKIES:
            return response
        if response.cookies and request_is_framed(request):
            for morsel in response.cookies.values():
                morsel["samesite"] = "None"
                morsel["secure"] = True
                if settings.FRAMED_COOKIES_PARTITIONED:
                    morsel["partitioned"] = True
        storage_access_activate(request, response)
        return response


def storage_access_activate(request, response) -> None:
    """Storage Access Headers (Chrome 133+, Firefox 147+): once the member allowed our cookies in Cobot's
    frame ("Allow cookies", document.requestStorageAccess()), keep them allowed on the frame's next loads.

    The browser says `Sec-Fetch-Storage-Access: inactive` when it holds the permission but sent a request
    without our cookies (the OAuth callback coming back from Cobot, a reload): we ask it to send the
    request again with them (`retry`; only reads: a POST is never sent twice). A framed page loaded with
    them (`active`) keeps them for its own requests (`load`). The permission is the browser's, given by
    the member for AccessBridge inside this Cobot site only; without it the browser sends `none`.
    """
    status = request.headers.get("Sec-Fetch-Storage-Access")
    if status == "inactive" and request.method in ("GET", "HEAD"):
        response["Activate-Storage-Access"] = "retry; allowed-origin=*"
    elif status == "active" and request.headers.get("Sec-Fetch-Dest") in FRAMED_FETCH_DESTS:
        response["Activate-Storage-Access"] = "load"
