"""The "unknown at AccessBridge" page: people at the vendors that AccessBridge did not create, read live, with
adopt and remove (locks.drift). Linked from the sync preview."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accessbridge.tenancy import for_admin_or_404, space_for_admin_or_404
from locks.drift import DriftRefused, unknown_person_adopt, unknown_person_remove, vendor_drift_read
from locks.models import LockConnection
from spaces.models import Membership
from spaces.selectors import CURRENT_STATUSES


@login_required
def unknown_people(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    context = {
        "space": space,
        "report": vendor_drift_read(space=space),
        "members": Membership.objects.filter(space=space, status__in=CURRENT_STATUSES).order_by("name"),
    }
    return render(request, "locks/unknown_people.html", context)


@login_required
@require_POST
def unknown_person_action(request, subdomain, connection_id):
    connection = for_admin_or_404(
        LockConnection.objects.select_related("space"), request.user, pk=connection_id, space__subdomain=subdomain
    )
    person = request.POST.get("person", "").strip()[:200]
    try:
        if not person:
            raise DriftRefused("No person was named.")
        if request.POST.get("action") == "remove":
            unknown_person_remove(connection=connection, vendor_person_id=person, actor=request.user)
            messages.success(request, f"{person} removed from {connection.name}.")
        elif request.POST.get("action") == "adopt":
            member_id = request.POST.get("member", "")
            if not member_id.isdigit():
                raise DriftRefused("Pick the member this person is.")
            membership = get_object_or_404(Membership, pk=member_id, space=connection.space)
            unknown_person_adopt(
                connection=connection, vendor_person_id=person, membership=membership, actor=request.user
            )
            messages.success(request, f"{person} at {connection.name} is now {membership}'s; the next sync keeps it.")
        else:
            raise DriftRefused("Choose adopt or remove.")
    except DriftRefused as exc:
        messages.error(request, str(exc))
    return redirect("unknown_people", subdomain=subdomain)
