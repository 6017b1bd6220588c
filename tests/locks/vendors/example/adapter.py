"""Example: a vendor that exists only in the test suite, to prove CONTRIBUTING.md's "Adding a lock vendor".

It touches nothing outside this package and the registry line its conftest adds: people and door groups
(PERSON_ACCOUNTS, DOOR_GROUPS), door events by polling (POLLING, a sequence-number cursor), a device action
("Calibrate lock", with confirmation), and a per-door secret (the pairing key) kept in Door.vendor_secrets.
Its "cloud" is a Site in memory (SITES), found by the connection's `site` setting.

What things mean here: a person is a member (by email); a door is a lock; paused = the person keeps their
account but loses their door groups.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django import forms

from locks.vendors.base import (
    Capability,
    DeviceAction,
    DeviceLevel,
    EventKind,
    LockAdapter,
    VendorAuthError,
    VendorDoor,
    VendorEvent,
    VendorNotFound,
    event_kind_from,
)

EVENT_KINDS = {
    "door.unlocked": EventKind.UNLOCK,
    "door.access_denied": EventKind.DENIED,
    "door.locked": EventKind.LOCKED,
    "door.held_open": EventKind.HELD_OPEN,
}
PAGE_SIZE = 50
_ids = itertools.count(1)


@dataclass
class Site:
    """The vendor's side of one account."""

    api_key: str
    doors: dict[str, str] = field(default_factory=dict)  # lock id → name
    people: dict[str, str] = field(default_factory=dict)  # person id → email
    grants: dict[str, tuple[str, str]] = field(default_factory=dict)  # grant id → (person id, lock id)
    log: list[dict] = field(default_factory=list)  # door events, oldest first, numbered by "seq"
    calibrated: list[str] = field(default_factory=list)
    polls: list[dict] = field(default_factory=list)  # the cursors we were asked with
    during_poll: object = None  # a callable run inside events_poll (another worker, in tests)
    fail_next: list[Exception] = field(default_factory=list)

    def event_add(self, word: str, *, person: str = "", door: str = "", at: datetime | None = None) -> dict:
        entry = {
            "seq": len(self.log) + 1,
            "id": f"ev-{next(_ids)}",
            "type": word,
            "person": person,
            "lock": door,
            "at": (at or datetime.now(UTC)).isoformat(),
        }
        self.log.append(entry)
        return entry

    def person_of(self, email: str) -> str | None:
        return next((pid for pid, known in self.people.items() if known == email), None)


SITES: dict[str, Site] = {}


class ExampleSettingsForm(forms.Form):
    site = forms.SlugField(label="Site")
    api_key = forms.CharField(label="API key", required=False, widget=forms.PasswordInput)


class ExampleAdapter(LockAdapter):
    key = "example"
    label = "Example (tests)"
    capabilities = frozenset({Capability.PERSON_ACCOUNTS, Capability.DOOR_GROUPS, Capability.POLLING})
    settings_form = ExampleSettingsForm
    secret_fields = ("api_key",)
    poll_interval_seconds = 90
    device_actions = (
        DeviceAction(
            name="lock_calibrate",
            label="Calibrate lock",
            level=DeviceLevel.DOOR,
            method="lock_calibrate",
            done="{name}: calibrated.",
            question="Calibrate the lock “{name}” now?",
            confirm="The bolt turns fully twice; the door cannot be opened for about ten seconds.",
        ),
    )

    def site(self) -> Site:
        site = SITES.get(self.config.get("site", ""))
        if site is None:
            raise VendorNotFound("No such site.")
        if site.api_key != self.credentials.get("api_key"):
            raise VendorAuthError("API key rejected.")
        if site.fail_next:
            raise site.fail_next.pop(0)
        return site

    def test_connection(self) -> str:
        return f"{len(self.site().doors)} locks"

    def list_doors(self) -> list[VendorDoor]:
        return [VendorDoor(vendor_ref=ref, name=name) for ref, name in self.site().doors.items()]

    def doors_sync(self):
        doors = super().doors_sync()
        for door in doors:
            if "pairing_key" not in door.vendor_secrets:
                door.vendor_secrets = {**door.vendor_secrets, "pairing_key": f"pk-{door.vendor_ref}-{next(_ids)}"}
                door.save(update_fields=["vendor_secrets"])
        return doors

    def person_ensure(self, *, membership, vendor_person_id: str = "") -> str:
        site = self.site()
        person = site.person_of(membership.email)
        if person is None:
            person = f"person-{next(_ids)}"
            site.people[person] = membership.email
        return person

    def person_find(self, *, membership) -> str | None:
        return self.site().person_of(membership.email)

    def person_remove(self, *, vendor_person_id: str) -> None:
        site = self.site()
        site.people.pop(vendor_person_id, None)
        site.grants = {ref: g for ref, g in site.grants.items() if g[0] != vendor_person_id}

    def persons_present(self) -> set[str]:
        return set(self.site().people)

    def access_grant(self, *, vendor_person_id, door, valid_from=None, valid_until=None, membership=None) -> str:
        site = self.site()
        wanted = (vendor_person_id, door.vendor_ref)
        existing = next((ref for ref, grant in site.grants.items() if grant == wanted), None)
        if existing:
            return existing
        ref = f"grant-{next(_ids)}"
        site.grants[ref] = wanted
        return ref

    def access_revoke(self, *, grant) -> None:
        site = self.site()
        if grant.vendor_ref:
            site.grants.pop(grant.vendor_ref, None)

    def events_poll(self, *, cursor: dict) -> tuple[list[VendorEvent], dict]:
        site = self.site()
        site.polls.append(dict(cursor))
        if callable(site.during_poll):
            site.during_poll()
        after = int(cursor.get("after", 0))
        page = [entry for entry in site.log if entry["seq"] > after][:PAGE_SIZE]
        events = [
            VendorEvent(
                event_id=entry["id"],
                occurred_at=datetime.fromisoformat(entry["at"]),
                kind=event_kind_from(entry["type"], EVENT_KINDS),
                person_ref=entry["person"],
                door_ref=entry["lock"],
                vendor_kind=entry["type"],
                raw=entry,
            )
            for entry in page
        ]
        return events, {"after": page[-1]["seq"] if page else after}

    def lock_calibrate(self, *, door) -> None:
        site = self.site()
        if not door.vendor_secrets.get("pairing_key"):
            raise VendorNotFound(f"{door.name} is not paired yet: sync the doors.")
        site.calibrated.append(door.vendor_ref)
