"""The sections the door side adds to the space overview, the dashboard and the admin page inside Cobot:
the "needs attention" list (also the partial that django-htmx polls while work is in flight) and the
picture of the doors."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accessbridge.tenancy import space_for_admin_or_404
from locks.activity import door_activity
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


def activity_section(request, space, membership):
    activity = door_activity(space=space)
    charts = [("Last 30 days", activity["days"]), ("Today by hour", activity["hours"])]
    return "locks/_activity.html", {"charts": charts}


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
    page_section_register("overview", activity_section)
    page_section_register("admin", activity_section)
