"""Connection settings for The Keys: the account (phone + password) and the gateway's LAN address."""

import ipaddress
import re

from django import forms

from locks.vendors.addresses import device_address_refusal, private_hosts_allowed

PHONE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164, as The Keys app signs in ("+33…", vendors.md)
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class TheKeysSettingsForm(forms.Form):
    username = forms.CharField(
        label="The Keys account phone number",
        max_length=20,
        help_text="The number you sign in to The Keys app with, in international format: +33612345678.",
    )
    password = forms.CharField(
        label="The Keys account password", widget=forms.PasswordInput(render_value=False)
    )
    gateway_host = forms.CharField(
        label="Gateway LAN address",
        required=False,
        max_length=255,
        help_text=(
            "IP address (or host:port) at which AccessBridge reaches the gateway, e.g. 192.168.1.50. "
            "Leave empty to use the address The Keys' cloud reports for the gateway."
        ),
    )

    def clean_username(self) -> str:
        value = re.sub(r"[\s.\-()]", "", self.cleaned_data["username"])
        if value.startswith("00"):
            value = "+" + value[2:]
        if not PHONE.match(value):
            raise forms.ValidationError("Enter the phone number in international format, e.g. +33612345678.")
        return value

    def clean_gateway_host(self) -> str:
        value = self.cleaned_data["gateway_host"].strip()
        if not value:
            return ""
        host, port = _split_host_port(value)
        if port is not None and not 1 <= port <= 65535:
            raise forms.ValidationError("The port must be between 1 and 65535.")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if not HOSTNAME.match(host) or host.lower() == "localhost" or host.lower().endswith(".localhost"):
                raise forms.ValidationError(
                    "Enter an IP address or host name, optionally with :port."
                ) from None
            # A name is checked on what it resolves to, with every call (locks.vendors.addresses).
            return value
        if device_address_refusal(address) and not private_hosts_allowed():
            raise forms.ValidationError("This address cannot be a gateway on your network.")
        if address.version == 6 and not value.startswith("["):
            return f"[{value}]"  # so that http://<host> stays a valid URL
        return value


def _split_host_port(value: str) -> tuple[str, int | None]:
    if any(c in value for c in "/@?#") or " " in value or "://" in value:
        raise forms.ValidationError("Enter only the address (and port), without http:// or a path.")
    if value.startswith("["):  # [IPv6]:port
        host, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise forms.ValidationError("Enter an IP address or host name, optionally with :port.")
        port = rest[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    if port == "":
        return host, None
    if not port.isdigit():
        raise forms.ValidationError("The port must be a number.")
    return host, int(port)
