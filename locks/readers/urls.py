from django.urls import path

from locks.readers import api, card_views, views

space = "spaces/<slug:subdomain>"

urlpatterns = [
    path("api/readers/<int:reader_id>/check-in", api.reader_check_in, name="reader_request"),
    path("api/readers/<int:reader_id>/allowlist", api.reader_allowlist_view, name="reader_allowlist"),
    path("api/readers/openapi.json", api.reader_api_schema, name="reader_api_schema"),
    path("api/readers/docs/", api.reader_api_docs, name="reader_api_docs"),
    path(f"{space}/readers/cards/", card_views.cards, name="cards"),
    path("embedded/<uuid:space_key>/admin/cards/", card_views.embedded_cards, name="embedded_cards"),
    path(f"{space}/readers/", views.readers, name="readers"),
    path(f"{space}/readers/<int:reader_id>/rotate/", views.reader_key_rotate, name="reader_key_rotate"),
    path(f"{space}/readers/<int:reader_id>/revoke/", views.reader_key_revoke_view, name="reader_key_revoke"),
]
