"""The "My doors" section of the member page framed in Cobot, and its Open button.

The section is registered with spaces.embedded (LocksConfig.ready); the Open button posts here
(CSRF-protected, framed like the member page) and goes through the same service as the dashboard.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from locks.door_commands import door_open
from locks.models import Door
from locks.selectors import member_remote_doors
from spaces.embedded import admin_page_section_register, framed_by_cobot, member_page_section_register
from spaces.models import Space
from spaces.selectors import membership_of_viewer


def member_doors_section(request, space, membership):
    """spaces.embedded member page section: doors this member may open from here, or nothing."""
    if membership is None:
        return None
    doors = member_remote_doors(membership=membership)
    if not doors:
        return None
    return "locks/_member_doors.html", {"space": space, "membership": membership, "doors": doors}


# Not in a request transaction: see locks.views.door_open (signing timestamps are claimed and committed).
@transaction.non_atomic_requests
@framed_by_cobot
@login_required
@require_POST
def member_door_open(request, subdomain, door_id):
    space = get_object_or_404(Space, subdomain=subdomain)
    membership = membership_of_viewer(space=space, user=request.user)
    if membership is None:
        raise Http404
    request.framing_space = space
    door = get_object_or_404(
        Door.objects.select_related("connection__space"), pk=door_id, connection__space=space
    )
    result = door_open(door=door, membership=membership, actor=request.user, via="member page")
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        (messages.success if result.ok else messages.error)(request, result.message)
        return redirect(next_url)
    return render(request, "locks/member_door_result.html", {"space": space, "door": door, "result": result})


def card_registration_section(request, space, membership):
    """spaces.embedded admin page section: the way to the card registration page."""
    return "locks/_admin_cards_link.html", {}


def sections_register() -> None:
    member_page_section_register(member_doors_section)
    admin_page_section_register(card_registration_section)
