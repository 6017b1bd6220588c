"""Vendors for testing the engine's capability branches that no real adapter in the tree has yet
(door groups, time windows, remote open only). They keep their "vendor side" in STATE, in memory;
registered through the vendor registry (the `test_vendors` fixture), like any vendor."""

from __future__ import annotations

import itertools

from django import forms

from locks.vendors.base import Capability, LockAdapter, VendorNotFound

STATE: dict = {}
_ids = itertools.count(1)


def _side(connection) -> dict:
    return STATE.setdefault(
        connection.pk, {"persons": {}, "grants": {}, "opened": [], "closed": [], "fail": []}
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
        side = _side(self.connection)
        if side["fail"]:
            raise side["fail"].pop(0)

    def test_connection(self) -> str:
        self._maybe_fail()
        return "ok"

    def person_ensure(self, *, membership, vendor_person_id: str = "") -> str:
        self._maybe_fail()
        persons = _side(self.connection)["persons"]
        for pid, email in persons.items():
            if email == membership.email:
                return pid
        pid = f"p{next(_ids)}"
        persons[pid] = membership.email
        return pid

    def person_remove(self, *, vendor_person_id: str) -> None:
        self._maybe_fail()
        _side(self.connection)["persons"].pop(vendor_person_id, None)

    def access_grant(self, *, vendor_person_id, door, valid_from=None, valid_until=None) -> str:
        self._maybe_fail()
        ref = f"g{next(_ids)}"
        _side(self.connection)["grants"][ref] = (vendor_person_id, door.vendor_ref, valid_from, valid_until)
        return ref

    def access_revoke(self, *, grant) -> None:
        self._maybe_fail()
        if _side(self.connection)["grants"].pop(grant.vendor_ref, None) is None:
            raise VendorNotFound("no such grant")

    def door_open(self, *, door) -> None:
        self._maybe_fail()
        _side(self.connection)["opened"].append(door.vendor_ref)

    def door_close(self, *, door) -> None:
        self._maybe_fail()
        _side(self.connection)["closed"].append(door.vendor_ref)


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
    return set(_side(connection)["grants"].values())


def persons_of(connection) -> dict:
    return dict(_side(connection)["persons"])
