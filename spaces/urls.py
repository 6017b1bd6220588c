from django.urls import path

from spaces import embedded_cookies, views
from spaces.webhooks import cobot_webhook

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/connect/", views.space_connect, name="space_connect"),
    path("dashboard/connect-token/", views.space_connect_token, name="space_connect_token"),
    path("spaces/<slug:subdomain>/", views.space_detail, name="space_detail"),
    path("spaces/<slug:subdomain>/reconnect/", views.space_reconnect, name="space_reconnect"),
    path("spaces/<slug:subdomain>/disconnect/", views.space_disconnect, name="space_disconnect"),
    path("spaces/<slug:subdomain>/sync/", views.space_sync_now, name="space_sync_now"),
    path("spaces/<slug:subdomain>/deliveries/retry/", views.space_deliveries_retry, name="space_deliveries_retry"),
    path("spaces/<slug:subdomain>/admins/<int:admin_id>/remove/", views.space_admin_remove, name="space_admin_remove"),
    # Framed inside Cobot (navigation links); their own sign-in check, see views._viewer_check.
    path("embedded/<uuid:space_key>/admin/", views.embedded_admin_page, name="embedded_admin_page"),
    path("embedded/<uuid:space_key>/member/", views.embedded_member_page, name="embedded_member_page"),
    path("embedded/cookies/", embedded_cookies.cookies_check, name="embedded_cookies_check"),
    # Cobot → us: the per-space secret is in the path (Cobot webhooks are unsigned).
    path("hooks/cobot/<uuid:space_key>/<str:secret>/<slug:event>/", cobot_webhook, name="cobot_webhook"),
]
