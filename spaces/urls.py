from django.urls import path

from spaces import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("spaces/<slug:subdomain>/", views.space_detail, name="space_detail"),
]
