"""Dashboard pages of the door side. Thin: fetch through tenancy, call a service or selector, render."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accessbridge.http import ServiceError
from accessbridge.tenancy import for_admin_or_404, space_for_admin_or_404
from accessbridge.work import WorkStatus, work_retry
from locks import door_commands, services
from locks.access.jobs import access_sync_enqueue
from locks.access.run import access_sync
from locks.forms import AccessRuleForm, ConnectionForm, DoorForm, vendor_choice_valid, vendor_settings_form
from locks.models import (
    AccessEvent,
    AccessRule,
    AccessSyncJob,
    AuditEntry,
    Door,
    Gateway,
    LockConnection,
    VendorDelivery,
)
from locks.selectors import (
    connection_webhook_url,
    members_access_overview,
    space_doors_overview,
    visitors_access_overview,
)
from locks.vendors import adapter_class, adapter_for, vendor_choices
from locks.vendors.base import Capability, DeviceLevel
from spaces.models import InboundDelivery, Membership

PAGE_SIZE = 50
PREVIEW_LIMIT = 500


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _connection(request, subdomain, connection_id):
    return for_admin_or_404(
        LockConnection.objects.select_related("space"),
        request.user,
        pk=connection_id,
        space__subdomain=subdomain,
    )


def _door(request, subdomain, door_id):
    return for_admin_or_404(
        Door.objects.select_related("connection__space"),
        request.user,
        space_field="connection__space",
        pk=door_id,
        connection__space__subdomain=subdomain,
    )


def _gateway(request, subdomain, gateway_id):
    return for_admin_or_404(
        Gateway.objects.select_related("connection__space"),
        request.user,
        space_field="connection__space",
        pk=gateway_id,
        connection__space__subdomain=subdomain,
    )


def _has_webhooks(vendor: str) -> bool:
    return adapter_class(vendor).supports(Capability.WEBHOOKS)


# --- connections ------------------------------------------------------------------------------------------
@login_required
def connections(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    rows = [
        {
            "connection": c,
            "webhook_url": connection_webhook_url(connection=c) if _has_webhooks(c.vendor) else "",
            "webhook_url_revealed": (revealed := _webhook_url_revealed(request, c)),
            "webhook_setup": _webhook_setup(c, revealed),
            "lists_doors": adapter_class(c.vendor).lists_doors,
            "polls": adapter_class(c.vendor).supports(Capability.POLLING),
        }
        for c in LockConnection.objects.filter(space=space).order_by("name")
    ]
    return render(
        request, "locks/connections.html", {"space": space, "rows": rows, "vendors": vendor_choices()}
    )


@login_required
def connection_add(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    vendor = request.POST.get("vendor") or request.GET.get("vendor")
    if not vendor_choice_valid(vendor):
        messages.error(request, "Choose a lock vendor first.")
        return redirect("connections", subdomain=space.subdomain)
    return _connection_form(request, space=space, vendor=vendor, connection=None)


@login_required
def connection_edit(request, subdomain, connection_id):
    connection = _connection(request, subdomain, connection_id)
    return _connection_form(request, space=connection.space, vendor=connection.vendor, connection=connection)


def _connection_form(request, *, space, vendor, connection):
    data = request.POST if request.method == "POST" else None
    form = ConnectionForm(data=data, initial={"name": connection.name} if connection else {})
    settings_form = vendor_settings_form(vendor=vendor, connection=connection, data=data)
    if data is not None and form.is_valid() and settings_form.is_valid():
        saved, message = services.connection_save(
            space=space,
            vendor=vendor,
            name=form.cleaned_data["name"],
            values=settings_form.cleaned_data,
            connection=connection,
        )
        if saved is None:
            form.add_error(None, f"Test connection failed: {message}")
        else:
            messages.success(request, f"{saved.name}: {message}")
            if connection is None and adapter_class(vendor).lists_doors:
                messages.info(request, f"Next: “Sync doors” on {saved.name} fetches its doors.")
            if connection is None and _has_webhooks(vendor):
                _webhook_url_reveal_once(request, saved)
            return redirect("connections", subdomain=space.subdomain)
    context = {
        "space": space,
        "connection": connection,
        "vendor": vendor,
        "vendor_label": adapter_class(vendor).label,
        "form": form,
        "settings_form": settings_form,
        "webhook_url": connection_webhook_url(connection=connection)
        if connection and _has_webhooks(vendor)
        else "",
        "webhook_url_revealed": (revealed := _webhook_url_revealed(request, connection) if connection else ""),
        "webhook_setup": _webhook_setup(connection, revealed),
    }
    return render(request, "locks/connection_form.html", context)


# The webhook URL holds the connection's secret: shown on the next page only, and never put in a message
# (messages may travel in a cookie). The session keeps which connection to reveal, not the secret.
REVEAL_SESSION_KEY = "locks_webhook_url_reveal"


def _webhook_url_reveal_once(request, connection: LockConnection) -> None:
    request.session[REVEAL_SESSION_KEY] = connection.pk


def _webhook_url_revealed(request, connection: LockConnection) -> str:
    if request.session.get(REVEAL_SESSION_KEY) != connection.pk:
        return ""
    del request.session[REVEAL_SESSION_KEY]
    return connection_webhook_url(connection=connection, reveal=True)


def _webhook_setup(connection: LockConnection | None, revealed: str) -> list[str]:
    """The vendor's setup steps, which may hold the webhook's own secrets: only with the revealed URL."""
    return adapter_for(connection).webhook_setup() if connection and revealed else []


@login_required
@require_POST
def connection_test(request, subdomain, connection_id):
    connection = _connection(request, subdomain, connection_id)
    ok, message = services.connection_test(connection=connection)
    (messages.success if ok else messages.error)(request, f"{connection.name}: {message}")
    return redirect("connections", subdomain=subdomain)


@login_required
@require_POST
def connection_webhook_rotate(request, subdomain, connection_id):
    connection = _connection(request, subdomain, connection_id)
    services.connection_webhook_secret_rotate(connection=connection)
    _webhook_url_reveal_once(request, connection)
    messages.info(request, f"{connection.name} has a new webhook URL; the old one stops working now.")
    return redirect("connection_edit", subdomain=subdomain, connection_id=connection.pk)


@login_required
@require_POST
def connection_doors_refresh(request, subdomain, connection_id):
    connection = _connection(request, subdomain, connection_id)
    if not adapter_class(connection.vendor).lists_doors:
        messages.error(
            request, f"{connection.get_vendor_display()} has no list of locks: add doors by their id."
        )
        return redirect("doors", subdomain=subdomain)
    try:
        doors = services.doors_refresh(connection=connection)
    except ServiceError as exc:
        messages.error(request, f"{connection.name}: {exc}")
    else:
        messages.success(request, f"{connection.name}: {len(doors)} door(s).")
    return redirect("doors", subdomain=subdomain)


# --- doors ------------------------------------------------------------------------------------------------
@login_required
def doors(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    form = DoorForm(space=space, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        door = form.save()
        access_sync_enqueue(space=space, reason="door added")
        messages.success(request, f"Door {door.name} added.")
        return redirect("doors", subdomain=subdomain)
    context = {"space": space, "overview": space_doors_overview(space=space), "form": form}
    return render(request, "locks/doors.html", context)


@login_required
def door_edit(request, subdomain, door_id):
    door = _door(request, subdomain, door_id)
    space = door.connection.space
    form = DoorForm(space=space, instance=door, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        form.save()
        access_sync_enqueue(space=space, reason="door changed")
        messages.success(request, f"Door {door.name} saved.")
        return redirect("doors", subdomain=subdomain)
    return render(request, "locks/door_form.html", {"space": space, "door": door, "form": form})


# Opening signs a gateway call with a timestamp claimed and committed in the database: never inside a request
# transaction (ATOMIC_REQUESTS) whose rollback would undo a claim the gateway has already seen.
@transaction.non_atomic_requests
@login_required
@require_POST
def door_open(request, subdomain, door_id):
    door = _door(request, subdomain, door_id)
    result = door_commands.door_open(door=door, actor=request.user, via="dashboard")
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("doors", subdomain=subdomain)


@transaction.non_atomic_requests
@login_required
@require_POST
def door_close(request, subdomain, door_id):
    door = _door(request, subdomain, door_id)
    result = door_commands.door_close(door=door, actor=request.user, via="dashboard")
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("doors", subdomain=subdomain)


# --- device status and maintenance ----------------------------------------------------------------------
@transaction.non_atomic_requests  # /locker_status calls are signed, like opens
@login_required
@require_POST
def connection_status_refresh(request, subdomain, connection_id):
    connection = _connection(request, subdomain, connection_id)
    if not adapter_class(connection.vendor).supports(Capability.STATUS):
        raise Http404
    ok, message = services.connection_status_refresh(connection=connection)
    (messages.success if ok else messages.error)(request, f"{connection.name}: {message}")
    return redirect("doors", subdomain=subdomain)


@transaction.non_atomic_requests
@login_required
def device_action(request, subdomain, level, device_id, action):
    """Every maintenance call an adapter declares, on one of its doors or gateways."""
    if level == DeviceLevel.DOOR:
        target = _door(request, subdomain, device_id)
    elif level == DeviceLevel.GATEWAY:
        target = _gateway(request, subdomain, device_id)
    else:
        raise Http404
    declared = adapter_class(target.connection.vendor).device_action(action, level=level)
    if declared is None:
        raise Http404
    return _device_action(request, declared, target)


def _device_action(request, action, target):
    """POST runs the action; an action with consequences (firmware) shows what happens on GET first."""
    connection = target.connection
    space = connection.space
    if request.method == "GET" and action.needs_confirmation:
        context = {
            "space": space,
            "action": action,
            "question": action.question.format(name=target),
            "target": target,
            "connection": connection,
        }
        return render(request, "locks/device_action_confirm.html", context)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"] if action.needs_confirmation else ["POST"])
    ok, message = services.device_action_run(action=action, target=target, actor=request.user)
    (messages.success if ok else messages.error)(request, message)
    return redirect("doors", subdomain=space.subdomain)


# --- rules ------------------------------------------------------------------------------------------------
@login_required
def rules(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    rule_list = AccessRule.objects.filter(space=space).select_related("plan").prefetch_related("doors")
    return render(request, "locks/rules.html", {"space": space, "rules": rule_list})


@login_required
def rule_add(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    return _rule_form(request, space=space, rule=AccessRule(space=space))


@login_required
def rule_edit(request, subdomain, rule_id):
    rule = for_admin_or_404(
        AccessRule.objects.select_related("space"), request.user, pk=rule_id, space__subdomain=subdomain
    )
    return _rule_form(request, space=rule.space, rule=rule)


def _rule_form(request, *, space, rule):
    form = AccessRuleForm(space=space, instance=rule, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        form.save()  # saving a rule queues a sync of every member (locks.receivers)
        messages.success(request, "Rule saved. Access is being brought in step.")
        return redirect("rules", subdomain=space.subdomain)
    return render(request, "locks/rule_form.html", {"space": space, "rule": rule, "form": form})


@login_required
@require_POST
def rule_delete(request, subdomain, rule_id):
    rule = for_admin_or_404(AccessRule.objects.all(), request.user, pk=rule_id, space__subdomain=subdomain)
    rule.delete()
    messages.success(request, "Rule deleted. Access is being brought in step.")
    return redirect("rules", subdomain=subdomain)


# --- members, events, audit -------------------------------------------------------------------------------
@login_required
def members(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    queryset = Membership.objects.filter(space=space, kind=Membership.Kind.MEMBER).order_by("name", "pk")
    query = request.GET.get("q", "").strip()
    if query:
        queryset = queryset.filter(name__icontains=query) | queryset.filter(email__icontains=query)
    page = _page(request, queryset)
    rows = members_access_overview(space=space, memberships=list(page.object_list))
    visitors = visitors_access_overview(space=space)
    context = {"space": space, "page": page, "rows": rows, "q": query, "visitors": visitors}
    return render(request, "locks/members.html", context)


@login_required
def events(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    queryset = AccessEvent.objects.filter(connection__space=space).select_related(
        "door", "membership", "connection", "actor"
    )
    return render(request, "locks/events.html", {"space": space, "page": _page(request, queryset)})


@login_required
def audit(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    queryset = AuditEntry.objects.filter(space=space).select_related(
        "membership", "door", "connection", "actor"
    )
    return render(request, "locks/audit.html", {"space": space, "page": _page(request, queryset)})


# --- work and sync ----------------------------------------------------------------------------------------
STUCK = [WorkStatus.FAILED, WorkStatus.WAITING]
# kind → (model, the lookup of its space)
WORK_KINDS = {
    "sync": (AccessSyncJob, "space"),
    "delivery": (InboundDelivery, "space"),
    "vendor_delivery": (VendorDelivery, "connection__space"),
}


@login_required
def work(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    context = {
        "space": space,
        "jobs": AccessSyncJob.objects.filter(space=space, status__in=STUCK).select_related("membership")[
            :200
        ],
        "deliveries": InboundDelivery.objects.filter(space=space, status__in=STUCK)[:200],
        "vendor_deliveries": VendorDelivery.objects.filter(
            connection__space=space, status__in=STUCK
        ).select_related("connection")[:200],
        "recent": AccessSyncJob.objects.filter(space=space).select_related("membership")[:20],
    }
    return render(request, "locks/work.html", context)


@login_required
@require_POST
def work_retry_view(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    kind = WORK_KINDS.get(request.POST.get("kind", ""))
    if kind is None:
        raise Http404
    model, space_lookup = kind
    queryset = model.objects.filter(**{space_lookup: space})
    pk = request.POST.get("pk", "")
    if pk:
        if not pk.isdigit():
            return HttpResponseBadRequest("pk must be a number")
        queryset = queryset.filter(pk=get_object_or_404(queryset, pk=pk).pk)
    count = work_retry(queryset)
    messages.success(request, f"{count} item(s) queued again.")
    return redirect("access_work", subdomain=subdomain)


@login_required
def sync_preview(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    report = access_sync(space=space, dry_run=True)
    context = {
        "space": space,
        "report": report,
        "operations": report.operations[:PREVIEW_LIMIT],
        "truncated": len(report.operations) > PREVIEW_LIMIT,
    }
    return render(request, "locks/sync_preview.html", context)


@login_required
@require_POST
def sync_now(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    job = access_sync_enqueue(space=space, reason=f"sync now by {request.user}", refresh=True)
    if job is None:
        messages.error(request, "Add a lock connection first.")
    else:
        messages.success(request, "Sync of every member queued; the work page shows how it went.")
    return redirect("access_work", subdomain=subdomain)
