"""Pages shown inside Cobot (iframe): framing rules, the viewer check, and the sections other apps add.

Extension point: the locks app adds its parts ("my doors", "open door", door status) without spaces
importing locks:

    member_page_section_register(my_doors_section)
    admin_page_section_register(doors_status_section)

Each section is a callable (request, space, membership) -> (template_name, context) | None, rendered
in registration order. `membership` is the viewer's own membership in the space, if any.

The dashboard's own pages take sections the same way (`page_section_register("overview", ...)` for the
space overview, "dashboard" for each space on the list of spaces), rendered with `page_sections_render`.
"""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from spaces.cobot.client import space_base_url
from spaces.models import Membership, Space

PageSection = Callable[[HttpRequest, Space, Membership | None], tuple[str, dict] | None]
_sections: dict[str, list[PageSection]] = {"member": [], "admin": [], "overview": [], "dashboard": []}


def page_section_register(page: str, section: PageSection) -> None:
    if section not in _sections[page]:
        _sections[page].append(section)


def member_page_section_register(section: PageSection) -> None:
    page_section_register("member", section)


def admin_page_section_register(section: PageSection) -> None:
    page_section_register("admin", section)


def _sections_render(sections, request, space, membership) -> list[str]:
    rendered = []
    for section in sections:
        result = section(request, space, membership)
        if result is not None:
            template_name, context = result
            context = {"space": space, "membership": membership, **context}
            rendered.append(mark_safe(render_to_string(template_name, context, request=request)))
    return rendered


def page_sections_render(page: str, *, request, space, membership=None) -> list[str]:
    return _sections_render(_sections[page], request, space, membership)


def member_page_sections_render(*, request, space, membership) -> list[str]:
    return page_sections_render("member", request=request, space=space, membership=membership)


def admin_page_sections_render(*, request, space, membership) -> list[str]:
    return page_sections_render("admin", request=request, space=space, membership=membership)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def cobot_frame_origins(space: Space) -> list[str]:
    """Who may frame the space's pages: the space's Cobot host and Cobot's site."""
    origins = [_origin(space_base_url(space.subdomain)), _origin(settings.COBOT_SITE_URL)]
    return list(dict.fromkeys(origins))


def cobot_frame_origins_any() -> list[str]:
    """Cobot's site and every space's host (a wildcard), for a page reached before we know the space."""
    return list(dict.fromkeys([_origin(space_base_url("*")), _origin(settings.COBOT_SITE_URL)]))


def frame_ancestors_allow(response, origins: list[str]) -> None:
    """Only these origins may frame the response (CSP frame-ancestors instead of X-Frame-Options: DENY)."""
    # Read by django-csp's middleware (csp.decorators.csp_replace sets the same attribute): the rest of
    # the site-wide policy stays.
    response._csp_replace = {"frame-ancestors": origins}
    response.xframe_options_exempt = True


def framed_by_cobot(view):
    """Let only the space's Cobot origins frame this view (CSP frame-ancestors instead of DENY).

    The wrapped view sets `request.framing_space` once it knows the space; without it (e.g. a 404
    for an unknown space) the response keeps the site-wide X-Frame-Options: DENY and frame-ancestors
    'none'. The rest of the site-wide policy (settings.CONTENT_SECURITY_POLICY) applies as it is.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.framing_space = None
        response = view(request, *args, **kwargs)
        if request.framing_space is not None:
            response_framable_by_cobot(response, space=request.framing_space)
        return response

    return wrapper


def response_framable_by_cobot(response, *, space: Space) -> None:
    """Let the space's Cobot origins (only them) frame this response."""
    frame_ancestors_allow(response, cobot_frame_origins(space))
