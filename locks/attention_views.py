"""The "needs attention" list as a page section (space overview, dashboard, admin page inside Cobot) and
as the partial that django-htmx polls while work is in flight."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accessbridge.tenancy import space_for_admin_or_404
from locks.attention import space_attention
from spaces.embedded import page_section_register

TEMPLATE = "locks/_attention.html"


def attention_section(request, space, membership):
    return TEMPLATE, {"attention": space_attention(space=space), "framed": False}


def attention_section_framed(request, space, membership):
    return TEMPLATE, {"attention": space_attention(space=space), "framed": True}


def attention_section_if_any(request, space, membership):
    """On the list of spaces: only a space with something to show."""
    attention = space_attention(space=space)
    if not (attention.problems or attention.access_behind):
        return None
    return TEMPLATE, {"attention": attention, "framed": False, "dashboard": True}


@login_required
@require_GET
def attention_partial(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    context = {"attention": space_attention(space=space), "framed": request.GET.get("framed") == "1"}
    return render(request, TEMPLATE, context)


def sections_register() -> None:
    page_section_register("overview", attention_section)
    page_section_register("dashboard", attention_section_if_any)
    page_section_register("admin", attention_section_framed)
