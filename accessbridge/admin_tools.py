"""Admin pieces shared by both apps: raw payloads read-only, secrets masked, retry of failed work."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from accessbridge.fields import mask_secret
from accessbridge.work import work_retry


def pretty_json(value) -> str:
    # A class, not a style attribute: the Content-Security-Policy allows styles from our own files only.
    return format_html('<pre class="pretty-json">{}</pre>', json.dumps(value, indent=2, default=str))


def masked(value) -> str:
    return mask_secret(value) or "—"


@admin.action(description="Retry selected failed or waiting work now")
def retry_work(modeladmin, request, queryset):
    count = work_retry(queryset)
    modeladmin.message_user(request, f"{count} item(s) queued again.", messages.SUCCESS if count else messages.WARNING)


class RetryableWorkAdmin(admin.ModelAdmin):
    actions = [retry_work]
    list_filter = ["status"]
    readonly_fields = ["status", "attempts", "next_attempt_at", "last_error", "created_at", "updated_at", "finished_at"]
