from django import forms
from django.core.exceptions import ValidationError

from spaces.cobot.client import subdomain_is_valid


def validate_subdomain(value: str) -> None:
    if not subdomain_is_valid(value):
        raise ValidationError("Only the subdomain, e.g. “harbour” for harbour.cobot.me.")


class SubdomainField(forms.CharField):
    default_validators = [validate_subdomain]

    def __init__(self, **kwargs):
        super().__init__(label="Cobot subdomain", max_length=100, help_text="The part before .cobot.me", **kwargs)

    def to_python(self, value):
        return super().to_python(value).lower()


class SpaceConnectForm(forms.Form):
    subdomain = SubdomainField()


class SpaceConnectTokenForm(forms.Form):
    subdomain = SubdomainField()
    token = forms.CharField(
        label="Cobot access token",
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="A token of a Cobot user who administers the space; it is exchanged for one bound to the space.",
    )


class DeliveryRetryForm(forms.Form):
    delivery_id = forms.IntegerField(required=False, min_value=1)
