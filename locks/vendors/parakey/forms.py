"""Parakey's connection settings: the API token (secret), the optional domain, invitations, and the two
inferred connection details (base URL, token header) with their known defaults."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms

from locks.vendors.addresses import private_hosts_allowed
from locks.vendors.parakey import api

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # an HTTP token (RFC 9110)
API_KEYS_NOTE = (
    "AccessBridge sees only the keys whose “Allow to be used with API” is turned on in Parakey; use keys "
    "made for this integration alone (with “individual time restrictions for each user” for bookings)."
)


class ParakeySettingsForm(forms.Form):
    api_token = forms.CharField(
        label="API token",
        help_text="Shown once when you add the integration in Parakey (Settings → Integrations). "
        + API_KEYS_NOTE,
    )
    domain_id = forms.CharField(
        label="Domain id",
        required=False,
        max_length=100,
        help_text="Optional: the Parakey domain (place) to work in, when the token reaches several.",
    )
    send_invitation_email = forms.BooleanField(
        label="Send Parakey's invitation email",
        required=False,
        help_text="To members Parakey creates a user for (Parakey sends it anyway to a user without a password).",
    )
    base_url = forms.URLField(
        label="API base URL",
        assume_scheme="https",
        initial=api.DEFAULT_BASE_URL,
        help_text="Change only if Parakey gives you another one.",
    )
    token_header = forms.CharField(
        label="Token header",
        initial=api.DEFAULT_TOKEN_HEADER,
        help_text="The header that carries the token; change only if Parakey names another one.",
    )

    def clean_base_url(self):
        url = self.cleaned_data["base_url"].rstrip("/")
        # The token travels in a header: only over TLS. Where the host points is checked on its resolved
        # addresses with every call (locks.vendors.addresses), the test call of "test and save" too.
        if urlsplit(url).scheme != "https" and not private_hosts_allowed():
            raise forms.ValidationError("Use an https:// URL: the API token is sent with every call.")
        return url

    def clean_token_header(self):
        name = self.cleaned_data["token_header"].strip()
        if not HEADER_NAME.match(name):
            raise forms.ValidationError("Not a valid HTTP header name.")
        return name
