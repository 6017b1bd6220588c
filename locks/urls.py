from django.urls import include, path

from locks import drift_views, embedded, views
from locks.webhooks import vendor_webhook

space = "spaces/<slug:subdomain>"

urlpatterns = [
    path("", include("locks.readers.urls")),
    path("hooks/vendor/<uuid:connection_key>/<str:secret>/", vendor_webhook, name="vendor_webhook"),
    path(f"{space}/connections/", views.connections, name="connections"),
    path(f"{space}/connections/add/", views.connection_add, name="connection_add"),
    path(f"{space}/connections/<int:connection_id>/", views.connection_edit, name="connection_edit"),
    path(f"{space}/connections/<int:connection_id>/test/", views.connection_test, name="connection_test"),
    path(
        f"{space}/connections/<int:connection_id>/webhook-secret/",
        views.connection_webhook_rotate,
        name="connection_webhook_rotate",
    ),
    path(
        f"{space}/connections/<int:connection_id>/doors-refresh/",
        views.connection_doors_refresh,
        name="connection_doors_refresh",
    ),
    path(
        f"{space}/connections/<int:connection_id>/status-refresh/",
        views.connection_status_refresh,
        name="connection_status_refresh",
    ),
    path(
        f"{space}/devices/<slug:level>/<int:device_id>/<slug:action>/",
        views.device_action,
        name="device_action",
    ),
    path(f"{space}/doors/", views.doors, name="doors"),
    path(f"{space}/doors/<int:door_id>/", views.door_edit, name="door_edit"),
    path(f"{space}/doors/<int:door_id>/open/", views.door_open, name="door_open"),
    path(f"{space}/doors/<int:door_id>/close/", views.door_close, name="door_close"),
    path(f"{space}/rules/", views.rules, name="rules"),
    path(f"{space}/rules/add/", views.rule_add, name="rule_add"),
    path(f"{space}/rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path(f"{space}/rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path(f"{space}/members/", views.members, name="access_members"),
    path(f"{space}/events/", views.events, name="access_events"),
    path(f"{space}/audit/", views.audit, name="access_audit"),
    path(f"{space}/work/", views.work, name="access_work"),
    path(f"{space}/work/retry/", views.work_retry_view, name="access_work_retry"),
    path(f"{space}/access-sync/preview/", views.sync_preview, name="sync_preview"),
    path(f"{space}/access-sync/unknown/", drift_views.unknown_people, name="unknown_people"),
    path(
        f"{space}/access-sync/unknown/<int:connection_id>/",
        drift_views.unknown_person_action,
        name="unknown_person_action",
    ),
    path(f"{space}/access-sync/", views.sync_now, name="sync_now"),
    path(f"{space}/my-doors/<int:door_id>/open/", embedded.member_door_open, name="member_door_open"),
]
