"""Vendors for testing the engine's capability branches that no real adapter in the tree has yet
(door groups, time windows, remote open only). They keep their "vendor side" in STATE, in memory;
registered through the vendor registry (the `test_vendors` fixture), like any vendor."""

from __future__ import annotations

import itertools

from django import forms

from locks.vendors.base import Capability, LockAdapter, VendorNotFound

STATE: dict = {}
_ids = itertools.count(1)


def side_of(connection) -> dict:
    """The vendor side. "fail": errors raised before the next calls do anything; "fail_after": errors
    raised after the next calls did their work (the answer is lost on the way back)."""
    return STATE.setdefault(
        connection.pk,
        {"persons": {}, "grants": {}, "opened": [], "closed": [], "fail": [], "fail_after": [], "calls": []},
    )


class _Form(forms.Form):
    token = forms.CharField()


class RecordingAdapter(LockAdapter):
    key = "recording"
    label = "Recording (tests)"
    capabilities = frozenset(
        {Capability.PERSON_ACCOUNTS, Capability.DOOR_GROUPS, Capability.TIME_WINDOWS, Capability.REMOTE_OPEN}
    )
    settings_form = _Form
    secret_fields = ("token",)

    def _maybe_fail(self):
        side = side_of(self.connection)
        if side["fail"]:
            raise side["fail"].pop(0)

    def _answer_lost(self):
        side = side_of(self.connection)
        if side["fail_after"]:
            raise side["fail_after"].pop(0)

    def test_connection(self) -> str:
        self._maybe_fail()
        return "ok"

    def person_ensure(self, *, membership, vendor_person_id: str = "") -> str:
        self._maybe_fail()
        pid = self.person_find(membership=membership)
        if pid is None:
            pid = f"p{next(_ids)}"
            side_of(self.connection)["persons"][pid] = membership.email
        self._answer_lost()
        return pid

    def person_find(self, *, membership) -> str | None:
        self._maybe_fail()
        persons = side_of(self.connection)["persons"]
        return next((pid for pid, email in persons.items() if email and email == membership.email), None)

    def person_remove(self, *, vendor_person_id: str) -> None:
        self._maybe_fail()
        side_of(self.connection)["persons"].pop(vendor_person_id, None)

    def access_grant(
        self, *, vendor_person_id, door, valid_from=None, valid_until=None, membership=None
    ) -> str:
        self._maybe_fail()
        side = side_of(self.connection)
        side["calls"].append(("access_grant", membership.cobot_id if membership else None))
        grant = (vendor_person_id, door.vendor_ref, valid_from, valid_until)
        ref = next((r for r, g in side["grants"].items() if g == grant), None)  # idempotent
        if ref is None:
            ref = f"g{next(_ids)}"
            side["grants"][ref] = grant
        self._answer_lost()
        return ref

    def access_revoke(self, *, grant) -> None:
        self._maybe_fail()
        grants = side_of(self.connection)["grants"]
        if grant.vendor_ref:
            refs = [grant.vendor_ref]
        else:  # its create's answer was lost: whatever the person holds for that door and window
            person = self._person_of(grant.membership)
            wanted = (person, grant.door.vendor_ref, grant.valid_from, grant.valid_until)
            refs = [r for r, g in grants.items() if g == wanted]
        if not [grants.pop(r) for r in refs if r in grants]:
            raise VendorNotFound("no such grant")

    def _person_of(self, membership) -> str | None:
        persons = side_of(self.connection)["persons"]
        return next((pid for pid, email in persons.items() if email == membership.email), None)

    def door_open(self, *, door, deadline=None) -> None:
        self._maybe_fail()
        side_of(self.connection)["opened"].append(door.vendor_ref)

    def door_close(self, *, door, deadline=None) -> None:
        self._maybe_fail()
        side_of(self.connection)["closed"].append(door.vendor_ref)


class WindowlessAdapter(RecordingAdapter):
    key = "windowless"
    label = "Door groups without windows (tests)"
    capabilities = frozenset({Capability.PERSON_ACCOUNTS, Capability.DOOR_GROUPS})


class RemoteOpenAdapter(RecordingAdapter):
    """Like The Keys: no people, no grants, only "open this door now"."""

    key = "remote"
    label = "Remote open only (tests)"
    capabilities = frozenset({Capability.REMOTE_OPEN})


def grants_of(connection) -> set[tuple]:
    return set(side_of(connection)["grants"].values())


def persons_of(connection) -> dict:
    return dict(side_of(connection)["persons"])
