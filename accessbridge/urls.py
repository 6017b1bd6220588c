from django.contrib import admin
from django.urls import include, path

from accessbridge import views

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("favicon.ico", views.favicon),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("spaces.urls")),
    path("", include("locks.urls")),
]
