"""SmartLock adapter: person accounts and a lock-opened webhook (seed 000).

SmartLock has no per-door permissions in its API: "any permissions can be configured on the SmartLock
website" (seed 000). So a person at SmartLock stands for the doors of that connection: the engine keeps
a person there exactly while the member should open at least one of its doors, and removes the person
otherwise. Pausing (no unused time pass) also removes the person, because SmartLock has no way to
suspend one and a paused key must stop working; resuming registers them again and the id becomes their
check-in token. An email SmartLock already knows (a create whose answer was lost, or one person shared
by two memberships with the same email) is looked up by email instead of created twice.
Spaces that need different doors per plan use one connection per SmartLock account/door set.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms

from locks.vendors.addresses import private_hosts_allowed
from locks.vendors.base import Capability, LockAdapter, VendorConflict, VendorPermanentError
from locks.vendors.smartlock.client import SERVICE, SmartLockClient
from locks.vendors.smartlock.webhooks import lock_opened_parse, shared_secret_verify


class SmartLockSettingsForm(forms.Form):
    base_url = forms.URLField(
        label="API base URL", assume_scheme="https", help_text="e.g. https://api.smartlock.com"
    )
    api_token = forms.CharField(label="API token", help_text="Sent as X-Api-Token.")
    webhook_shared_secret = forms.CharField(
        label="Webhook shared secret",
        required=False,
        help_text="Optional: SmartLock sends it in the X-Webhook-Secret header of its webhooks.",
    )

    def clean_base_url(self):
        url = self.cleaned_data["base_url"].rstrip("/")
        # The API token travels in a header: only over TLS. Where the host may point is checked on its
        # resolved addresses with every call (locks.vendors.addresses), the test call of "test and save" too.
        if urlsplit(url).scheme != "https" and not private_hosts_allowed():
            raise forms.ValidationError("Use an https:// URL: the API token is sent with every call.")
        return url


class SmartLockAdapter(LockAdapter):
    key = "smartlock"
    label = "SmartLock"
    capabilities = frozenset({Capability.PERSON_ACCOUNTS, Capability.WEBHOOKS})
    settings_form = SmartLockSettingsForm
    secret_fields = ("api_token", "webhook_shared_secret")
    lists_doors = False  # seed 000 has no lock list: doors are entered by their SmartLock lock id

    @property
    def client(self) -> SmartLockClient:
        return SmartLockClient(
            base_url=self.config.get("base_url", ""), api_token=self.credentials.get("api_token", "")
        )

    def test_connection(self) -> str:
        users = self.client.users_list()
        return f"{len(users)} people registered at SmartLock"

    def persons_present(self) -> set[str]:
        return {str(user["id"]) for user in self.client.users_list()}

    def person_ensure(self, *, membership, vendor_person_id: str = "") -> str:
        email = (membership.email or "").strip()
        if not email:
            raise VendorPermanentError(
                "the member has no email address, SmartLock registers people by email", service=SERVICE
            )
        client = self.client
        try:
            return client.user_create(email=email)
        except VendorConflict as conflict:
            found = client.user_find(email=email)
            if found is None:
                raise VendorPermanentError(
                    "SmartLock refused the registration as a conflict but lists nobody with this email",
                    status=conflict.status,
                    service=SERVICE,
                ) from None
            return found

    def person_find(self, *, membership) -> str | None:
        email = (membership.email or "").strip()
        return self.client.user_find(email=email) if email else None

    def person_remove(self, *, vendor_person_id: str) -> None:
        self.client.user_delete(user_id=vendor_person_id)

    def webhook_parse(self, request):
        shared_secret_verify(request, self.credentials.get("webhook_shared_secret", ""))
        return lock_opened_parse(request)
