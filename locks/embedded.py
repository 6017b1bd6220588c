"""The "My doors" section of the member page framed in Cobot, and its Open button.

The section is registered with spaces.embedded (LocksConfig.ready); the Open button posts here
(CSRF-protected, framed like the member page) and goes through the same service as the dashboard.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from locks.door_commands import door_open
from locks.models import Door
from locks.selectors import door_is_group, door_set_limits, member_access_desired, member_remote_doors
from spaces.embedded import admin_page_section_register, framed_by_cobot, member_page_section_register
from spaces.models import Space
from spaces.selectors import membership_of_viewer


def member_doors_section(request, space, membership):
    """spaces.embedded member page section: every door the member opens (card, app or here), when (booking
    windows), an Open button where AccessBridge can open it now, and why access is paused, if it is."""
    if membership is None:
        return None
    now = timezone.now()
    desire = member_access_desired(membership=membership, at=now)
    remote = {door.pk: door for door in member_remote_doors(membership=membership, at=now)}
    usable = Door.objects.filter(enabled=True, connection__enabled=True).select_related("connection")
    doors = usable.in_bulk({a.door_id for a in [*desire.access, *desire.paused]})
    rows = [
        {"door": doors[a.door_id], "window": a.valid_from or a.valid_until, "access": a,
         "now": a.covers(now), "open": a.door_id in remote and a.covers(now)}  # fmt: skip
        for a in sorted(desire.access, key=lambda a: (a.valid_from or now, a.door_id))
        if a.door_id in doors and not door_is_group(doors[a.door_id])  # a group: its doors are listed
    ]
    listed = {row["door"].pk for row in rows}
    rows += [{"door": d, "window": None, "access": None, "now": True, "open": True}
             for pk, d in remote.items() if pk not in listed]  # fmt: skip
    rows += _door_set_rows(space, rows)
    paused = sorted({doors[a.door_id].name for a in desire.paused if a.door_id in doors})
    if not rows and not paused:
        return None
    context = {"space": space, "membership": membership, "rows": rows, "paused": paused}
    return "locks/_member_doors.html", context


def _door_set_rows(space, rows: list[dict]) -> list[dict]:
    """A vendor without per-door permissions (SmartLock) lets the member through every door of the
    connection: list the ones the rules did not name too, so the page says what really opens."""
    listed = {row["door"].pk for row in rows if row["now"]}
    connections = {row["door"].connection_id for row in rows if row["now"]}
    extra = []
    for limit in door_set_limits(space=space):
        if limit.connection.pk in connections:
            extra += [{"door": d, "window": None, "access": None, "now": True, "open": False, "door_set": limit.connection}
                      for d in limit.doors if d.pk not in listed]  # fmt: skip
    return extra


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
