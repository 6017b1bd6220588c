"""KISI's connection settings: the API key, the webhook signature key, how members become KISI users, and
the default group for plans without a group of their own name."""

from django import forms


class KisiSettingsForm(forms.Form):
    api_key = forms.CharField(
        label="API key",
        help_text="Use a key of the organization's owner: a KISI key stops working when its user loses admin "
        "rights. KISI → your profile → API keys.",
    )
    webhook_signature_key = forms.CharField(
        label="Event webhook signature key",
        required=False,
        help_text="Recommended: set the same key in KISI's Event Webhook; events without its X-Signature are "
        "then refused.",
    )
    default_group = forms.CharField(
        label="Default group",
        required=False,
        max_length=200,
        help_text="The KISI group a plan gets when no group has the plan's exact name. Empty: such plans get "
        "no group until you add a rule.",
    )
    managed_users = forms.BooleanField(
        label="Create managed users",
        required=False,
        help_text="Members new to KISI get no KISI emails and need no confirmation (for members without KISI "
        "accounts of their own). Off: KISI invites them by email.",
    )

    def clean_default_group(self):
        return self.cleaned_data["default_group"].strip()
