from django.contrib import admin, messages

from accessbridge.admin_tools import RetryableWorkAdmin, masked, pretty_json
from locks import services
from locks.models import (
    AccessBoundary,
    AccessEvent,
    AccessRule,
    AccessSyncJob,
    AuditEntry,
    Door,
    Gateway,
    Grant,
    LockConnection,
    Reader,
    VendorAccount,
    VendorDelivery,
)


class DeletedThroughServiceAdmin(admin.ModelAdmin):
    """Deletes go through a service that refuses while people or grants we created at the vendor remain
    (their rows are PROTECTed): the confirmation page lists why, instead of Django's protected rows."""

    def deletion_blockers(self, obj) -> list[str]:
        raise NotImplementedError

    def delete_through_service(self, obj, *, actor) -> None:
        raise NotImplementedError

    def get_deleted_objects(self, objs, request):
        to_delete, model_count, perms_needed, _protected = super().get_deleted_objects(objs, request)
        blockers = [reason for obj in objs for reason in self.deletion_blockers(obj)]
        return to_delete, model_count, perms_needed, blockers

    def delete_model(self, request, obj):
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.delete_through_service(obj, actor=request.user)
            except services.DeletionRefused as exc:  # blocked since the confirmation page was shown
                self.message_user(request, str(exc), messages.ERROR)


@admin.register(LockConnection)
class LockConnectionAdmin(DeletedThroughServiceAdmin):
    list_display = ["name", "vendor", "space", "enabled", "status", "last_checked_at"]
    list_filter = ["vendor", "enabled", "status", "space"]
    search_fields = ["name", "space__subdomain"]
    exclude = ["credentials", "webhook_secret"]
    readonly_fields = [
        "key", "credentials_masked", "secret", "last_error", "last_checked_at", "created_at",
        # the poll runner's own bookkeeping (locks.polling); poll_cursor and poll_due_at stay editable
        "poll_lease_until", "poll_lease_token", "polled_at", "poll_error",
    ]

    @admin.display(description="Credentials")
    def credentials_masked(self, obj):
        return ", ".join(f"{k}: {masked(str(v))}" for k, v in sorted(obj.credentials.items())) or "—"

    @admin.display(description="Webhook secret")
    def secret(self, obj):
        return masked(obj.webhook_secret)

    def deletion_blockers(self, obj):
        return services.connection_deletion_blockers(connection=obj)

    def delete_through_service(self, obj, *, actor):
        services.connection_delete(connection=obj, actor=actor)


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    list_display = ["__str__", "connection", "host", "version", "last_seen_at"]
    list_filter = ["connection__vendor"]
    search_fields = ["name", "vendor_ref", "host"]
    readonly_fields = ["last_signing_ts", "status"]


@admin.register(Door)
class DoorAdmin(DeletedThroughServiceAdmin):
    list_display = ["name", "connection", "vendor_ref", "state", "battery", "enabled"]
    list_filter = ["state", "enabled", "connection__vendor", "connection__space"]
    search_fields = ["name", "vendor_ref"]
    exclude = ["vendor_secrets"]
    readonly_fields = ["vendor_secrets_masked", "last_status_at"]

    @admin.display(description="Vendor secrets")
    def vendor_secrets_masked(self, obj):
        return ", ".join(f"{k}: {masked(str(v))}" for k, v in sorted(obj.vendor_secrets.items())) or "—"

    def deletion_blockers(self, obj):
        return services.door_deletion_blockers(door=obj)

    def delete_through_service(self, obj, *, actor):
        services.door_delete(door=obj, actor=actor)


@admin.register(AccessRule)
class AccessRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "space", "kind", "requires_time_pass", "enabled"]
    list_filter = ["kind", "enabled", "requires_time_pass", "space"]
    search_fields = ["plan__name", "resource_name"]
    filter_horizontal = ["doors"]
    raw_id_fields = ["plan"]


@admin.register(VendorAccount)
class VendorAccountAdmin(admin.ModelAdmin):
    list_display = ["membership", "connection", "vendor_person_id", "status", "last_synced_at", "updated_at"]
    list_filter = ["status", "connection__vendor", "connection__space"]
    search_fields = ["membership__name", "membership__email", "vendor_person_id"]
    raw_id_fields = ["membership"]


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    list_display = ["membership", "door", "status", "valid_from", "valid_until"]
    list_filter = ["status", "connection__space"]
    search_fields = ["membership__name", "door__name", "vendor_ref"]
    raw_id_fields = ["membership", "door", "booking"]


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "door", "membership", "checkin_result", "connection"]
    list_filter = ["kind", "checkin_result", "connection__space"]
    search_fields = ["vendor_event_id", "vendor_person_id", "membership__name"]
    raw_id_fields = ["membership", "door"]
    exclude = ["raw"]
    readonly_fields = ["raw_pretty", "received_at"]

    @admin.display(description="Raw event")
    def raw_pretty(self, obj):
        return pretty_json(obj.raw)


@admin.register(VendorDelivery)
class VendorDeliveryAdmin(RetryableWorkAdmin):
    list_display = ["__str__", "connection", "source", "kind", "status", "attempts", "received_at"]
    list_filter = ["status", "source", "kind", "connection__vendor", "connection__space"]
    search_fields = ["event_key"]
    exclude = ["payload"]
    readonly_fields = [
        "connection", "source", "event_key", "kind", "payload_pretty", "times_received", "received_at",
        *RetryableWorkAdmin.readonly_fields,
    ]

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)


@admin.register(Reader)
class ReaderAdmin(admin.ModelAdmin):
    list_display = ["name", "space", "door", "api_key_prefix", "enabled", "last_seen_at"]
    list_filter = ["enabled", "space"]
    search_fields = ["name", "api_key_prefix"]
    exclude = ["api_key_hash"]
    readonly_fields = ["api_key_prefix", "last_seen_at"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "space", "actor_label", "action", "membership", "door", "result"]
    list_filter = ["action", "result", "space"]
    search_fields = ["action", "detail", "membership__name"]
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None):
        return False  # the audit trail is history


@admin.register(AccessBoundary)
class AccessBoundaryAdmin(RetryableWorkAdmin):
    list_display = ["__str__", "space", "membership", "status", "next_attempt_at", "reason"]
    list_filter = ["status", "space"]
    search_fields = ["reason", "membership__name", "space__subdomain"]
    raw_id_fields = ["membership"]


@admin.register(AccessSyncJob)
class AccessSyncJobAdmin(RetryableWorkAdmin):
    list_display = ["__str__", "space", "membership", "status", "attempts", "next_attempt_at", "reason"]
    list_filter = ["status", "refresh", "space"]
    search_fields = ["reason", "membership__name", "space__subdomain"]
    raw_id_fields = ["membership"]
    exclude = ["result"]
    readonly_fields = [*RetryableWorkAdmin.readonly_fields, "result_pretty"]

    @admin.display(description="Result")
    def result_pretty(self, obj):
        return pretty_json(obj.result)
