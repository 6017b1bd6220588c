"""The member page of the dashboard ("why does she (not) have access?"), linked from every member name:
plan, status, passes, bookings, what the rules give and when, what exists at each vendor, what a sync
would change and why not yet, and the last openings, check-ins and audit entries."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from accessbridge.tenancy import for_admin_or_404
from locks.models import AccessEvent, AuditEntry
from locks.selectors import door_set_limits, members_access_overview
from spaces.models import Booking, Membership

RECENT = 20


@login_required
def member_detail(request, subdomain, membership_id):
    membership = for_admin_or_404(
        Membership.objects.select_related("space", "plan"), request.user, pk=membership_id, space__subdomain=subdomain
    )
    space = membership.space
    rows = members_access_overview(space=space, memberships=[membership])
    bookings = Booking.objects.filter(membership=membership, ends_at__gte=timezone.now() - timezone.timedelta(days=1))
    context = {
        "space": space,
        "membership": membership,
        "row": rows[0] if rows else None,
        "bookings": bookings.order_by("starts_at")[:RECENT],
        "events": AccessEvent.objects.filter(membership=membership).select_related("door")[:RECENT],
        "audit": AuditEntry.objects.filter(membership=membership).select_related("door", "actor")[:RECENT],
        "door_set_limits": door_set_limits(space=space),
    }
    return render(request, "locks/member_detail.html", context)
