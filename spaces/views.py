from urllib.parse import urlencode

from allauth.socialaccount.adapter import get_adapter as get_socialaccount_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accessbridge.tenancy import administered_spaces, space_for_admin_or_404
from accessbridge.work import work_retry
from spaces import admins, disconnect, selectors, services
from spaces.cobot.accounts import PROVIDER_ID, cobot_account, cobot_user_ids, cobot_user_token
from spaces.embedded import (
    admin_page_sections_render,
    framed_by_cobot,
    member_page_sections_render,
    page_sections_render,
)
from spaces.forms import DeliveryRetryForm, SpaceConnectForm, SpaceConnectTokenForm
from spaces.models import Space, SpaceAdmin
from spaces.signals import space_admin_action


def cobot_sign_in_url(request, **params) -> str | None:
    """Where a "Sign in with Cobot" form posts to; None when no Cobot OAuth app is configured."""
    if not get_socialaccount_adapter().list_apps(request, provider=PROVIDER_ID):
        return None
    return f"{reverse(f'{PROVIDER_ID}_login')}?{urlencode(params)}"


# --- dashboard -------------------------------------------------------------------------------------
def _cobot_sign_in_url_for_admin(request, next_url: str) -> str | None:
    # A user signed in with a password links their Cobot account ("connect"); others sign in again.
    process = "connect" if cobot_account(request.user) is None else "login"
    return cobot_sign_in_url(request, process=process, next=next_url)


@login_required
def dashboard(request):
    spaces = list(administered_spaces(request.user).order_by("name", "subdomain"))
    return render(
        request,
        "spaces/dashboard.html",
        {
            "spaces": spaces,
            "sections": [s for space in spaces for s in page_sections_render("dashboard", request=request, space=space)],
            "cobot_spaces": selectors.cobot_spaces_connectable(user=request.user),
            "has_cobot_account": cobot_account(request.user) is not None,
            "cobot_sign_in_url": _cobot_sign_in_url_for_admin(request, reverse("dashboard")),
            # A failed connect comes back here with the subdomain typed (never the token).
            "token_form": SpaceConnectTokenForm(initial={"subdomain": request.GET.get("subdomain", "")[:100]}),
            "webhooks_unreachable": selectors.webhooks_unreachable_reason(),
        },
    )


@login_required
@require_POST
def space_connect(request):
    form = SpaceConnectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick one of your Cobot spaces.")
        return redirect("dashboard")
    token = cobot_user_token(request.user)
    if not token:
        messages.error(request, "Sign in with Cobot first: connecting uses your Cobot account.")
        return redirect("dashboard")
    return _connect(request, subdomain=form.cleaned_data["subdomain"], token=token, source=SpaceAdmin.Source.COBOT_SIGN_IN)


@login_required
@require_POST
def space_connect_token(request):
    form = SpaceConnectTokenForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return _dashboard_with(request.POST.get("subdomain", ""))
    return _connect(
        request, subdomain=form.cleaned_data["subdomain"], token=form.cleaned_data["token"],
        source=SpaceAdmin.Source.PASTED_TOKEN,
    )  # fmt: skip


def _connect(request, *, subdomain: str, token: str, source: str, action: str = "space_connect"):
    try:
        space = services.space_connect(subdomain=subdomain, user_token=token, user=request.user, source=source)
    except services.ConnectError as exc:
        messages.error(request, exc.message)
        connected = administered_spaces(request.user).filter(subdomain=subdomain).first()
        return redirect("space_detail", connected.subdomain) if connected else _dashboard_with(subdomain)
    _audit(request, space, action, f"connected to Cobot ({SpaceAdmin.Source(source).label.lower()})")
    messages.success(request, f"{space} is connected to Cobot.")
    return redirect("space_detail", space.subdomain)


def _audit(request, space: Space, action: str, detail: str) -> None:
    space_admin_action.send(sender=Space, space=space, actor=request.user, action=action, detail=detail)


def _dashboard_with(subdomain: str):
    return redirect(f"{reverse('dashboard')}?{urlencode({'subdomain': subdomain.strip()[:100]})}")


# --- one space -------------------------------------------------------------------------------------
@login_required
def space_detail(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    return render(
        request,
        "spaces/space_detail.html",
        {
            "space": space,
            "overview": selectors.space_overview(space=space),
            "sections": page_sections_render("overview", request=request, space=space),
            "admins": selectors.space_admins_overview(space=space, viewer=request.user),
            "cobot_sign_in_url": _cobot_sign_in_url_for_admin(request, reverse("space_detail", args=[space.subdomain])),
            "has_cobot_token": cobot_user_token(request.user) is not None,
            "token_form": SpaceConnectTokenForm(initial={"subdomain": space.subdomain}),
            "webhooks_unreachable": selectors.webhooks_unreachable_reason(),
        },
    )


@login_required
@require_POST
def space_reconnect(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    token = cobot_user_token(request.user)
    if not token:
        messages.error(request, "Sign in with Cobot first, or paste a new token below.")
        return redirect("space_detail", space.subdomain)
    return _connect(
        request, subdomain=space.subdomain, token=token, source=SpaceAdmin.Source.COBOT_SIGN_IN, action="space_reconnect"
    )


@login_required
@require_http_methods(["GET", "POST"])
def space_disconnect(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    if request.method == "GET":
        return render(request, "spaces/space_disconnect.html", {"space": space})
    problems = disconnect.space_disconnect(space=space)
    _audit(request, space, "space_disconnect", "disconnected from Cobot" + (f"; {len(problems)} problem(s)" if problems else ""))
    for problem in problems:
        messages.warning(request, problem)
    if problems:
        messages.warning(request, f"{space} is disconnected here, but not everything at Cobot could be undone: see above.")
    else:
        messages.success(request, f"{space} is disconnected from Cobot. Its history stays here.")
    return redirect("space_detail", space.subdomain)


@login_required
@require_POST
def space_sync_now(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    if space.status != Space.Status.ACTIVE:
        messages.error(request, "Only a connected space can be synced.")
    else:
        services.space_sync_enqueue(space=space)
        _audit(request, space, "space_sync_now", "full sync with Cobot queued")
        messages.success(request, "A full sync with Cobot is queued.")
    return redirect("space_detail", space.subdomain)


@login_required
@require_POST
def space_deliveries_retry(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    form = DeliveryRetryForm(request.POST)
    deliveries = space.deliveries.all()
    if form.is_valid() and form.cleaned_data["delivery_id"]:
        deliveries = deliveries.filter(pk=form.cleaned_data["delivery_id"])
    count = work_retry(deliveries)
    if count:
        _audit(request, space, "work_retry", f"retried {count} Cobot change(s)")
    messages.success(request, f"{count} deliveries queued again." if count else "Nothing to retry.")
    return redirect("space_detail", space.subdomain)


# --- admins ---------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def space_admin_remove(request, subdomain, admin_id):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    space_admin = get_object_or_404(SpaceAdmin.objects.select_related("user", "added_by"), space=space, pk=admin_id)
    if request.method == "GET":
        refused = admins.space_admin_removal_refused(space_admin=space_admin, actor=request.user)
        context = {"space": space, "space_admin": space_admin, "refused": refused}
        return render(request, "spaces/space_admin_remove.html", context)
    try:
        admins.space_admin_remove_by_admin(space_admin=space_admin, actor=request.user)
    except admins.AdminRemoveRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{space_admin.user} is no longer an admin of {space}.")
    return redirect("space_detail", space.subdomain)


# --- pages framed inside Cobot ---------------------------------------------------------------------
def _viewer_check(request, space: Space, *, purpose: str):
    """None if the signed-in user may see the page as who Cobot says is looking; else the answer to give.

    Cobot's `cobot_user_id` parameter is unsigned: it only tells whom to expect. Who is looking is
    proven by a Cobot sign-in (OAuth); a different (or no) Cobot account gets "sign in again".
    """
    expected = request.GET.get("cobot_user_id", "")
    signed_in = request.user.is_authenticated
    if signed_in and (not expected or expected in cobot_user_ids(request.user)):
        return None
    sign_in_url = cobot_sign_in_url(
        request,
        process="login",
        next=request.get_full_path(),
        cobot_subdomain=space.subdomain,
        **({"purpose": "member"} if purpose == "member" else {}),
    )
    return render(
        request,
        "embedded/sign_in.html",
        {"space": space, "sign_in_url": sign_in_url, "mismatch": signed_in},
        status=403 if signed_in else 200,
    )


@framed_by_cobot
@require_GET
def embedded_admin_page(request, space_key):
    space = get_object_or_404(Space, key=space_key)
    request.framing_space = space
    if answer := _viewer_check(request, space, purpose="admin"):
        return answer
    try:
        space = space_for_admin_or_404(request.user, key=space_key)
    except Http404:
        return render(request, "embedded/not_found.html", {"space": space, "audience": "admin"}, status=404)
    membership = selectors.membership_of_viewer(
        space=space, user=request.user, cobot_user_id=request.GET.get("cobot_user_id")
    )
    return render(
        request,
        "embedded/admin_page.html",
        {
            "space": space,
            "overview": selectors.space_overview(space=space),
            "sections": admin_page_sections_render(request=request, space=space, membership=membership),
        },
    )


@framed_by_cobot
@require_GET
def embedded_member_page(request, space_key):
    space = get_object_or_404(Space, key=space_key)
    request.framing_space = space
    if answer := _viewer_check(request, space, purpose="member"):
        return answer
    membership = selectors.membership_of_viewer(
        space=space, user=request.user, cobot_user_id=request.GET.get("cobot_user_id")
    )
    if membership is None:
        return render(request, "embedded/not_found.html", {"space": space, "audience": "member"}, status=404)
    return render(
        request,
        "embedded/member_page.html",
        {
            "space": space,
            "membership": membership,
            "sections": member_page_sections_render(request=request, space=space, membership=membership),
        },
    )
