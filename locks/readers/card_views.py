"""The token registration page, on the dashboard and framed inside Cobot's admin area: one page, two frames.

Pick a member (search), then scan: the card field has the focus and a keyboard-wedge reader's Enter
submits it (a form with one text field submits on Enter: no script needed). After each card the page
comes back with the field focused again, ready for the next.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from accessbridge.tenancy import space_for_admin_or_404
from locks.readers.cards import card_register, member_cards, members_search
from spaces.embedded import framed_by_cobot
from spaces.models import Membership, Space


@login_required
def cards(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    return _cards_page(request, space, page_url=reverse("cards", args=[subdomain]), base="base.html")


@framed_by_cobot
def embedded_cards(request, space_key):
    space = get_object_or_404(Space, key=space_key)
    request.framing_space = space
    if not request.user.is_authenticated:
        # The framed admin page signs the viewer in (with Cobot) and links back here.
        return redirect("embedded_admin_page", space_key=space_key)
    space = space_for_admin_or_404(request.user, key=space_key)
    page_url = reverse("embedded_cards", args=[space_key])
    return _cards_page(request, space, page_url=page_url, base="embedded/base.html")


def _cards_page(request, space, *, page_url: str, base: str):
    source = request.POST if request.method == "POST" else request.GET
    member_id = source.get("member", "")
    membership = (
        get_object_or_404(Membership, space=space, pk=member_id) if member_id.isdigit() else None
    )
    if request.method == "POST" and membership is not None:
        result = card_register(membership=membership, token=request.POST.get("token", ""), actor=request.user)
        (messages.success if result.ok else messages.error)(request, result.message)
        return redirect(f"{page_url}?{urlencode({'member': membership.pk})}")
    query = request.GET.get("q", "")
    context = {
        "space": space,
        "base_template": base,
        "page_url": page_url,
        "query": query,
        "found": members_search(space=space, query=query) if membership is None else [],
        "membership": membership,
        "cards": member_cards(membership=membership) if membership else [],
    }
    return render(request, "locks/cards.html", context)
