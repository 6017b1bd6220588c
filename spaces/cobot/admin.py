"""allauth's social apps in the admin: the Cobot OAuth app comes from settings only
(COBOT_CLIENT_ID / COBOT_CLIENT_SECRET), and no app secret is ever shown back.

allauth keeps a SocialApp's secret in clear in its own table; a Cobot app entered here would hold the
client secret that way (and clash with the one from settings), so such a row is refused.
"""

from allauth.socialaccount import admin as allauth_admin
from allauth.socialaccount.models import SocialApp
from django import forms
from django.contrib import admin

from accessbridge.admin_tools import masked
from spaces.cobot.accounts import PROVIDER_ID

COBOT_FROM_SETTINGS = (
    "The Cobot app is configured from COBOT_CLIENT_ID and COBOT_CLIENT_SECRET in the environment, "
    "never here: a secret entered here would be stored in clear."
)


class SocialAppForm(allauth_admin.SocialAppForm):
    class Meta(allauth_admin.SocialAppForm.Meta):
        widgets = {
            **allauth_admin.SocialAppForm.Meta.widgets,
            "secret": forms.PasswordInput(render_value=False, attrs={"size": "100", "autocomplete": "off"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.secret:
            self.fields["secret"].help_text = f"Stored: {masked(self.instance.secret)}. Leave empty to keep it."

    def clean_provider(self):
        provider = self.cleaned_data["provider"]
        if provider == PROVIDER_ID:
            raise forms.ValidationError(COBOT_FROM_SETTINGS)
        return provider

    def clean_secret(self):
        # A password field never shows the stored value: empty on a change means "keep it".
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


class SocialAppAdmin(allauth_admin.SocialAppAdmin):
    form = SocialAppForm


admin.site.unregister(SocialApp)
admin.site.register(SocialApp, SocialAppAdmin)
