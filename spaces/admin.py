from django.contrib import admin, messages

from accessbridge.admin_tools import RetryableWorkAdmin, masked, pretty_json
from spaces.admins import space_admin_remove
from spaces.models import (
    Booking,
    CheckInToken,
    CobotSubscription,
    DropInPass,
    FeatureProblem,
    InboundDelivery,
    Membership,
    NavigationLink,
    Plan,
    Space,
    SpaceAdmin,
)
from spaces.services import space_sync_enqueue

# --- admin roles: who added one here is recorded, a removal here is audited like any other (spaces.admins)
ROLE_CHECK_FIELDS = ["source", "added_by", "cobot_checked_at", "cobot_confirmed_at", "cobot_check_error"]


def _role_added_here(request, role: SpaceAdmin) -> None:
    if role._state.adding:
        role.source, role.added_by = SpaceAdmin.Source.DJANGO_ADMIN, request.user


def _role_removed_here(request, role: SpaceAdmin) -> None:
    detail = f"admin role removed by {request.user} in the Django admin"
    space_admin_remove(space_admin=role, actor=request.user, detail=detail)


class SpaceAdminInline(admin.TabularInline):
    model = SpaceAdmin
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "cobot_user_id", "source", "added_by", "cobot_confirmed_at"]
    readonly_fields = ["source", "added_by", "cobot_confirmed_at"]


@admin.register(Space)
class SpaceModelAdmin(admin.ModelAdmin):
    list_display = ["__str__", "subdomain", "status", "last_synced_at", "connected_at"]
    list_filter = ["status"]
    search_fields = ["subdomain", "name", "cobot_space_id"]
    exclude = ["access_token", "webhook_secret"]
    readonly_fields = ["key", "token", "secret", "last_sync_result_pretty", "created_at"]
    inlines = [SpaceAdminInline]
    actions = ["sync_now"]

    def save_formset(self, request, form, formset, change):
        if formset.model is not SpaceAdmin:
            return super().save_formset(request, form, formset, change)
        roles = formset.save(commit=False)
        for role in formset.deleted_objects:
            _role_removed_here(request, role)
        for role in roles:
            _role_added_here(request, role)
            role.save()

    @admin.action(description="Full sync with Cobot now (queued)")
    def sync_now(self, request, queryset):
        spaces = list(queryset.filter(status=Space.Status.ACTIVE))
        for space in spaces:
            space_sync_enqueue(space=space)
        self.message_user(request, f"{len(spaces)} space(s) queued for a full sync.", messages.SUCCESS)

    @admin.display(description="Cobot token")
    def token(self, obj):
        return masked(obj.access_token)

    @admin.display(description="Webhook secret")
    def secret(self, obj):
        return masked(obj.webhook_secret)

    @admin.display(description="Last sync result")
    def last_sync_result_pretty(self, obj):
        return pretty_json(obj.last_sync_result)


@admin.register(SpaceAdmin)
class SpaceAdminModelAdmin(admin.ModelAdmin):
    list_display = ["user", "space", "source", "added_by", "cobot_user_id", "cobot_confirmed_at", "created_at"]
    list_filter = ["space", "source"]
    search_fields = ["user__email", "space__subdomain"]
    autocomplete_fields = ["user", "space"]
    readonly_fields = ROLE_CHECK_FIELDS

    def save_model(self, request, obj, form, change):
        _role_added_here(request, obj)
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        _role_removed_here(request, obj)

    def delete_queryset(self, request, queryset):
        for role in queryset.select_related("space", "user"):
            _role_removed_here(request, role)


class RawReadOnly:
    """Mirror rows come from Cobot: show the raw record pretty and read-only."""

    exclude = ["raw"]

    @admin.display(description="Raw record from Cobot")
    def raw_pretty(self, obj):
        return pretty_json(obj.raw)


@admin.register(Plan)
class PlanAdmin(RawReadOnly, admin.ModelAdmin):
    list_display = ["name", "space", "has_time_passes", "active"]
    list_filter = ["active", "has_time_passes", "space"]
    search_fields = ["name", "cobot_id"]
    readonly_fields = ["raw_pretty", "updated_at"]


@admin.register(Membership)
class MembershipAdmin(RawReadOnly, admin.ModelAdmin):
    list_display = ["__str__", "email", "space", "plan_name", "status", "canceled_to", "unused_time_passes"]
    list_filter = ["kind", "status", "space"]
    search_fields = ["name", "email", "cobot_id"]
    list_select_related = ["space"]
    raw_id_fields = ["plan"]
    readonly_fields = ["raw_pretty", "synced_at", "updated_at"]


@admin.register(DropInPass)
class DropInPassAdmin(RawReadOnly, admin.ModelAdmin):
    list_display = ["__str__", "email", "space", "day", "status", "visitor"]
    list_filter = ["status", "space"]
    search_fields = ["name", "email", "cobot_id"]
    raw_id_fields = ["visitor"]
    readonly_fields = ["raw_pretty", "synced_at", "updated_at"]


@admin.register(Booking)
class BookingAdmin(RawReadOnly, admin.ModelAdmin):
    list_display = ["__str__", "space", "membership", "starts_at", "ends_at", "status"]
    list_filter = ["status", "space"]
    search_fields = ["title", "resource_name", "cobot_id"]
    raw_id_fields = ["membership"]
    readonly_fields = ["raw_pretty", "updated_at"]


@admin.register(CheckInToken)
class CheckInTokenAdmin(RawReadOnly, admin.ModelAdmin):
    """A check-in token is a card number or a vendor's person id: masked on every page, never edited here
    (Cobot holds the tokens; the mirror and the access engine write these rows)."""

    list_display = ["masked_token", "membership", "space"]
    list_filter = ["space"]
    search_fields = ["membership__name", "membership_cobot_id"]
    raw_id_fields = ["membership"]
    exclude = ["raw", "token"]
    readonly_fields = ["masked_token", "raw_pretty", "updated_at"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Token")
    def masked_token(self, obj):
        return masked(obj.token)

    @admin.display(description="Raw record from Cobot")
    def raw_pretty(self, obj):
        raw = obj.raw
        if isinstance(raw, dict) and "token" in raw:
            raw = {**raw, "token": masked(str(raw["token"]))}
        return pretty_json(raw)


@admin.register(CobotSubscription)
class CobotSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["event", "space", "active", "refusal", "cobot_id", "created_at"]
    list_filter = ["active", "event", "space"]
    search_fields = ["event", "cobot_id"]


@admin.register(FeatureProblem)
class FeatureProblemAdmin(admin.ModelAdmin):
    list_display = ["feature", "space", "missing_scope", "error", "since", "updated_at"]
    list_filter = ["feature", "space"]
    search_fields = ["feature", "error"]


@admin.register(NavigationLink)
class NavigationLinkAdmin(admin.ModelAdmin):
    list_display = ["label", "section", "space", "user_url"]
    list_filter = ["section", "space"]
    search_fields = ["label"]


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(RetryableWorkAdmin):
    list_display = ["__str__", "space", "source", "event", "status", "attempts", "received_at", "next_attempt_at"]
    list_filter = ["status", "source", "event", "space"]
    search_fields = ["event", "dedupe_key"]
    exclude = ["payload"]
    readonly_fields = [
        "source", "space", "event", "dedupe_key", "payload_pretty", "times_received", "received_at",
        *RetryableWorkAdmin.readonly_fields,
    ]

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)
