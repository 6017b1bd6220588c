"""Tenancy: a space admin sees only the spaces they administer; a foreign id is a 404.

Every view that shows or changes space data gets its objects through these helpers. The models
are looked up by name, so the project package does not import the apps.
"""

from django.apps import apps
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404


def administered_spaces(user) -> QuerySet:
    Space = apps.get_model("spaces", "Space")
    if not getattr(user, "is_authenticated", False):
        return Space.objects.none()
    return Space.objects.filter(admins__user=user).distinct()


def space_for_admin_or_404(user, **lookup):
    return get_object_or_404(administered_spaces(user), **lookup)


def for_admin_or_404(queryset: QuerySet, user, *, space_field: str = "space", **lookup):
    """Fetch one object of `queryset` whose space (reached by `space_field`) the user administers."""
    if not getattr(user, "is_authenticated", False):
        raise Http404
    return get_object_or_404(queryset.filter(**{f"{space_field}__admins__user": user}).distinct(), **lookup)
