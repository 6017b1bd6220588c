"""The events and audit pages: filtered by door, member, kind (or action) and date, exported as CSV."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from accessbridge.tenancy import space_for_admin_or_404
from locks import exports
from locks.models import AccessEvent, AuditEntry, Door
from spaces.models import Membership

PAGE_SIZE = 50


class TrailFilterForm(forms.Form):
    door = forms.ModelChoiceField(queryset=Door.objects.none(), required=False, empty_label="Every door")
    member = forms.ModelChoiceField(queryset=Membership.objects.none(), required=False, empty_label="Everyone")
    kind = forms.ChoiceField(required=False, label="What")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def __init__(self, *args, space, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["door"].queryset = Door.objects.filter(connection__space=space).order_by("name")
        self.fields["member"].queryset = Membership.objects.filter(space=space).order_by("name")
        self.fields["kind"].choices = [("", "Everything"), *kinds]

    def filtered(self, queryset, *, kind_field: str, when_field: str):
        """The queryset narrowed to the filters; invalid ones are shown with their error and nothing is
        applied. Dates are days in the deployment's time zone, as the pages show times."""
        data = self.cleaned_data if self.is_valid() else {}
        for name, lookup in (("door", "door"), ("member", "membership"), ("kind", kind_field)):
            if data.get(name):
                queryset = queryset.filter(**{lookup: data[name]})
        if data.get("since"):
            queryset = queryset.filter(**{f"{when_field}__date__gte": data["since"]})
        if data.get("until"):
            queryset = queryset.filter(**{f"{when_field}__date__lte": data["until"]})
        return queryset


def _trail(request, *, space, queryset, kinds, kind_field, when_field, template, export):
    form = TrailFilterForm(request.GET or None, space=space, kinds=kinds)
    queryset = form.filtered(queryset, kind_field=kind_field, when_field=when_field) if request.GET else queryset
    if request.GET.get("format") == "csv":
        return export(space=space, queryset=queryset)
    query = request.GET.copy()
    query.pop("page", None)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"space": space, "page": page, "filters": form, "filter_query": query.urlencode()}
    return render(request, template, context)


@login_required
def events(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    queryset = AccessEvent.objects.filter(connection__space=space).select_related(
        "door", "membership", "connection", "actor"
    )
    return _trail(
        request, space=space, queryset=queryset, kinds=AccessEvent.Kind.choices, kind_field="kind",
        when_field="occurred_at", template="locks/events.html", export=exports.events_csv,
    )  # fmt: skip


@login_required
def audit(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    queryset = AuditEntry.objects.filter(space=space).select_related("membership", "door", "connection", "actor")
    actions = AuditEntry.objects.filter(space=space).order_by("action").values_list("action", flat=True).distinct()
    return _trail(
        request, space=space, queryset=queryset, kinds=[(a, a.replace("_", " ")) for a in actions],
        kind_field="action", when_field="created_at", template="locks/audit.html", export=exports.audit_csv,
    )  # fmt: skip
