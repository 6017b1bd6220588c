"""Dashboard forms: connection settings (per vendor), doors, access rules."""

from django import forms

from locks.models import AccessRule, Door, LockConnection
from locks.vendors import adapter_class, vendor_choices
from spaces.models import Booking, Plan


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="For you, e.g. “Main entrance”.")


def vendor_settings_form(*, vendor: str, connection: LockConnection | None = None, data=None) -> forms.Form:
    """The vendor's own settings form, prefilled from config; secrets never rendered back.

    A stored secret is only said to exist (no part of it is shown), and leaving its field empty keeps it.
    """
    adapter = adapter_class(vendor)
    form = adapter.settings_form(
        data=data, initial=dict(connection.config) if connection else {}, prefix="settings"
    )
    stored = connection.credentials if connection else {}
    for name in adapter.secret_fields:
        field = form.fields.get(name)
        if field is None:
            continue
        field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
        if stored.get(name):
            field.required = False
            field.help_text = f"{field.help_text} A value is stored — leave empty to keep it."
    return form


def vendor_choice_valid(vendor: str | None) -> bool:
    return vendor in dict(vendor_choices())


class DoorForm(forms.ModelForm):
    class Meta:
        model = Door
        fields = ["connection", "name", "vendor_ref", "enabled"]
        labels = {"vendor_ref": "Vendor's lock id"}
        help_texts = {
            "vendor_ref": "The id the vendor uses for this lock (in its events, e.g. SmartLock's lock.id)."
        }

    def __init__(self, *args, space, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = LockConnection.objects.filter(space=space)
        if self.instance.pk:
            self.fields["connection"].disabled = True

    def clean(self):
        cleaned = super().clean()
        connection, ref = cleaned.get("connection"), cleaned.get("vendor_ref")
        if connection and ref:
            taken = Door.objects.filter(connection=connection, vendor_ref=ref).exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("vendor_ref", "This connection already has a door with this id.")
        return cleaned


class AccessRuleForm(forms.ModelForm):
    resource = forms.ChoiceField(
        required=False,
        label="Bookable resource",
        help_text="Resources appear here once Cobot has a booking of them.",
    )

    class Meta:
        model = AccessRule
        fields = [
            "kind",
            "plan",
            "doors",
            "requires_time_pass",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "day_from",
            "day_until",
            "enabled",
        ]
        widgets = {
            "doors": forms.CheckboxSelectMultiple,
            "day_from": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "day_until": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        labels = {"plan": "Plan"}

    def __init__(self, *args, space, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = Plan.objects.filter(space=space)
        self.fields["plan"].empty_label = "Every plan"
        self.fields["doors"].queryset = Door.objects.filter(connection__space=space).select_related(
            "connection"
        )
        resources = dict(
            Booking.objects.filter(space=space)
            .order_by("resource_name")
            .values_list("resource_cobot_id", "resource_name")
        )
        if self.instance.resource_cobot_id:
            resources.setdefault(self.instance.resource_cobot_id, self.instance.resource_name)
        self.fields["resource"].choices = [("", "—")] + [
            (rid, name or rid) for rid, name in resources.items()
        ]
        self.fields["resource"].initial = self.instance.resource_cobot_id
        self._resources = resources

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == AccessRule.Kind.BOOKING:
            if not cleaned.get("resource"):
                self.add_error("resource", "A booking rule needs the resource whose bookings open the doors.")
            cleaned["plan"] = None
        else:
            cleaned["resource"] = ""
        if cleaned.get("kind") == AccessRule.Kind.DAY_PASS:
            cleaned["plan"] = None
            day_from, day_until = cleaned.get("day_from"), cleaned.get("day_until")
            if day_from and day_until and day_until <= day_from:
                self.add_error("day_until", "A day pass's doors close after they open, on the same day.")
        else:
            cleaned["day_from"] = cleaned["day_until"] = None
        return cleaned

    def save(self, commit=True):
        rule = super().save(commit=False)
        rule.plan = self.cleaned_data.get("plan")
        rule.resource_cobot_id = self.cleaned_data.get("resource", "")
        rule.resource_name = self._resources.get(rule.resource_cobot_id, "") if rule.resource_cobot_id else ""
        if commit:
            rule.save()
            self.save_m2m()
        return rule
