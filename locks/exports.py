"""CSV exports of the members, events and audit pages (issue 14): what the page lists, all of it."""

import csv

from django.http import HttpResponse
from django.utils import timezone


def csv_response(*, filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        # A cell starting with = + - @ would be a formula in a spreadsheet (CSV injection): quote it as text.
        writer.writerow(["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row])
    return response


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def members_csv(*, space, queryset) -> HttpResponse:
    rows = (
        (m.name, m.email, m.plan_name, m.get_status_display(), m.canceled_to or "", m.cobot_id)
        for m in queryset.iterator()
    )
    header = ["name", "email", "plan", "status", "canceled to", "cobot id"]
    return csv_response(filename=f"{space.subdomain}-members.csv", header=header, rows=rows)


def events_csv(*, space, queryset) -> HttpResponse:
    rows = (
        (_when(e.occurred_at), e.get_kind_display(), e.door.name if e.door else "", str(e.membership or ""),
         e.connection.name, e.checkin_result, e.checkin_message)  # fmt: skip
        for e in queryset.iterator()
    )
    header = ["when", "what", "door", "member", "connection", "cobot check-in", "cobot message"]
    return csv_response(filename=f"{space.subdomain}-events.csv", header=header, rows=rows)


def audit_csv(*, space, queryset) -> HttpResponse:
    rows = (
        (_when(a.created_at), a.actor_label, a.action, str(a.membership or ""), a.door.name if a.door else "",
         a.connection.name if a.connection else "", a.result, a.detail)  # fmt: skip
        for a in queryset.iterator()
    )
    header = ["when", "who", "action", "member", "door", "connection", "result", "detail"]
    return csv_response(filename=f"{space.subdomain}-audit.csv", header=header, rows=rows)
