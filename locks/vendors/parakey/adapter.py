"""Parakey adapter: keys by plan and booking, unlocks by ETag polling and Basic-auth webhooks (seed 004).

What things mean at Parakey: a door is an access ("key": one or more doors) the integration may manage;
a person is a Parakey user, known by email (the manage-access call creates unknown users), so the
member's email is their person id and there is nothing to create ahead of a key; a grant is an access
key (user ↔ access, optional startDate/expirationDate). Paused = the person keeps their account but loses
their keys. Parakey never deletes a user for us: removing a person deletes their keys on our accesses.
Parakey opens over Bluetooth from the member's phone: no remote open. Locks work offline and sync late:
only an unlock of the space's current day checks in (checkin_same_day_only).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.utils import timezone

from locks.models import Door, VendorAccount
from locks.vendors.base import (
    Capability,
    LockAdapter,
    VendorDoor,
    VendorEvent,
    VendorPermanentError,
    vendor_time_parse,
)
from locks.vendors.parakey import api
from locks.vendors.parakey.client import (
    SERVICE,
    ItemResult,
    ParakeyClient,
    access_key_access,
    access_key_window,
)
from locks.vendors.parakey.events import event_log_created_at, event_log_parse, time_format
from locks.vendors.parakey.forms import API_KEYS_NOTE, ParakeySettingsForm
from locks.vendors.parakey.webhooks import basic_auth_header, basic_auth_verify, event_log_from_body

WEBHOOK_USERNAME = "accessbridge"


class ParakeyAdapter(LockAdapter):
    key = "parakey"
    label = "Parakey"
    capabilities = frozenset(
        {
            Capability.PERSON_ACCOUNTS,
            Capability.DOOR_GROUPS,
            Capability.TIME_WINDOWS,
            Capability.WEBHOOKS,
            Capability.POLLING,
        }
    )
    settings_form = ParakeySettingsForm
    secret_fields = ("api_token",)
    poll_interval_seconds = 60  # seed 004: "we do not recommend an interval of less than 60 sec"
    checkin_same_day_only = True

    @property
    def client(self) -> ParakeyClient:
        return ParakeyClient(
            base_url=self.config.get("base_url") or api.DEFAULT_BASE_URL,
            api_token=self.credentials.get("api_token", ""),
            token_header=self.config.get("token_header") or api.DEFAULT_TOKEN_HEADER,
            domain_id=str(self.config.get("domain_id") or ""),
            send_invitation_email=bool(self.config.get("send_invitation_email")),
        )

    def test_connection(self) -> str:
        count = len(self.client.accesses_list())
        if not count:
            return "connected, but no key is allowed for the API yet. " + API_KEYS_NOTE
        return f"{count} key(s) AccessBridge may manage"

    def list_doors(self) -> list[VendorDoor]:
        accesses = self.client.accesses_list()
        if not accesses:
            raise VendorPermanentError(
                "Parakey lists no key for this token. " + API_KEYS_NOTE, service=SERVICE
            )
        return [
            VendorDoor(vendor_ref=str(a["id"]).strip(), name=str(a.get("name") or a["id"])[:200])
            for a in accesses
        ]

    # --- people: users by email -------------------------------------------------------------------
    def person_ensure(self, *, membership, vendor_person_id: str = "") -> str:
        email = (membership.email or "").strip().lower()
        if not email:
            raise VendorPermanentError("cannot be provisioned: no email")  # shown after the connection name
        return email  # Parakey creates the user with their first key (manage access, by email)

    def person_find(self, *, membership) -> str | None:
        return (membership.email or "").strip().lower() or None

    def person_remove(self, *, vendor_person_id: str) -> None:
        ours = set(Door.objects.filter(connection=self.connection).values_list("vendor_ref", flat=True))
        held = {access_key_access(k) for k in self.client.access_keys_list(email=vendor_person_id)}
        deletes = [_item(access_id, vendor_person_id) for access_id in sorted(held & ours)]
        if deletes:
            _results_check(self.client.access_manage(delete=deletes), doing="remove the keys of")

    def checkin_token_for(self, *, vendor_person_id: str) -> str:
        return ""  # an email is no check-in token: Parakey's unlocks check in by membership

    # --- keys: access keys with optional windows ---------------------------------------------------
    def access_grant(
        self, *, vendor_person_id, door, valid_from=None, valid_until=None, membership=None
    ) -> str:
        email = vendor_person_id
        client = self.client
        held = client.access_keys_list(access_id=door.vendor_ref, email=email)
        same = next((k for k in held if _window_is(k, valid_from, valid_until)), None)
        if same is not None:
            return str(same["id"])
        if held:  # an end date cannot be edited at Parakey: delete, then insert (vendors.md)
            _results_check(
                client.access_manage(delete=[_item(door.vendor_ref, email)]), doing="replace the key of"
            )
        insert = _item(door.vendor_ref, email, valid_from=valid_from, valid_until=valid_until)
        (result,) = _results_check(client.access_manage(insert=[insert]), doing=f"give {door.name} to")
        if result.access_key_id:
            return result.access_key_id
        found = [
            k
            for k in client.access_keys_list(access_id=door.vendor_ref, email=email)
            if _window_is(k, valid_from, valid_until)
        ]
        return str(found[0]["id"]) if found else ""

    def access_revoke(self, *, grant) -> None:
        email = _grant_email(grant)
        if not email:
            return  # nobody was ever provisioned for this member
        door = grant.door
        held = self.client.access_keys_list(access_id=door.vendor_ref, email=email)
        # Only the key this grant made: a key with another window is a newer grant's (delete + insert).
        if not any(
            str(k["id"]) == grant.vendor_ref or _window_is(k, grant.valid_from, grant.valid_until)
            for k in held
        ):
            return
        _results_check(
            self.client.access_manage(delete=[_item(door.vendor_ref, email)]), doing=f"take {door.name} from"
        )

    # --- door events --------------------------------------------------------------------------------
    def events_poll(self, *, cursor: dict) -> tuple[list[VendorEvent], dict]:
        """Seed 004: a `limit=1` probe with If-None-Match; a 304 ends the poll. The first poll keeps only
        the ETag (and "now" to read from); after a change, the event logs since lastFetchedCreatedAt."""
        client = self.client
        since = cursor.get("since")
        if not isinstance(since, str) or vendor_time_parse(since) is None:
            probe = client.event_logs_probe()
            return [], {"etag": probe.etag, "since": time_format(timezone.now())}
        probe = client.event_logs_probe(etag=str(cursor.get("etag") or ""))
        if not probe.changed:
            return [], cursor
        entries = client.event_logs_since(start=since)
        # Continue from the newest createdAt Parakey gave (its clock, not ours: nothing falls in a gap);
        # the event logs at that instant come again and are known by their id.
        newest = max(filter(None, map(event_log_created_at, entries)), default=None)
        next_since = time_format(max(newest, vendor_time_parse(since))) if newest else since
        return [event_log_parse(entry) for entry in entries], {"etag": probe.etag, "since": next_since}

    def webhook_parse(self, request) -> list[VendorEvent]:
        basic_auth_verify(
            request,
            username=self.credentials.get("webhook_username", ""),
            password=self.credentials.get("webhook_password", ""),
        )
        return event_log_from_body(request)

    def webhook_credentials_make(self) -> dict[str, str]:
        return {"webhook_username": WEBHOOK_USERNAME, "webhook_password": secrets.token_urlsafe(24)}

    def webhook_setup(self) -> list[str]:
        header = basic_auth_header(
            username=self.credentials.get("webhook_username", ""),
            password=self.credentials.get("webhook_password", ""),
        )
        return [
            "In Parakey: Settings → Integrations → Webhooks → Add (for a partner integration: Developer → "
            "Webhooks → Add), and paste this URL.",
            f"In the webhook's Advanced settings, add the custom header Authorization with the value: {header}",
            "It is shown only this once, like the URL. Door events are also polled every minute: the webhook "
            "only makes them arrive sooner.",
        ]


def _item(
    access_id: str, email: str, *, valid_from: datetime | None = None, valid_until: datetime | None = None
):
    item = {"access": {"accessId": access_id}, "user": {"email": email}}
    if valid_from:
        item["startDate"] = time_format(valid_from)
    if valid_until:
        item["expirationDate"] = time_format(valid_until)
    return item


def _window_is(key: dict, valid_from: datetime | None, valid_until: datetime | None) -> bool:
    start, end = (vendor_time_parse(value) for value in access_key_window(key))
    return _same_second(start, valid_from) and _same_second(end, valid_until)


def _same_second(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return int(a.timestamp()) == int(b.timestamp())


def _results_check(results: list[ItemResult], *, doing: str) -> list[ItemResult]:
    """A failed item was not done, and Parakey tells nobody: it is an error with Parakey's reason."""
    failed = [r for r in results if not r.ok]
    if failed:
        raise VendorPermanentError(f"Parakey did not {doing} the member: {failed[0].error}")
    return results


def _grant_email(grant) -> str:
    person = (
        VendorAccount.objects.filter(connection_id=grant.connection_id, membership_id=grant.membership_id)
        .values_list("vendor_person_id", flat=True)
        .first()
    )
    return person or (grant.membership.email or "").strip().lower()
