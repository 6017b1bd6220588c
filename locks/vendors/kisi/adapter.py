"""KISI adapter: members are KISI users, access is a `group_basic` role assignment per KISI group.

What things mean here:
- a person is a KISI user of the organization, found by email (case-insensitively) or created (invited by
  KISI, or a managed user without KISI emails: a connection setting). Members without an email cannot be
  provisioned and say so.
- a door is either a KISI lock (door events and remote unlock; vendor ref = the lock id) or a KISI group
  (what rules grant; vendor ref "group-<id>", `extra["opens"]` = its locks, so a member holding the group may
  also unlock those locks from the member page). Granting a lock itself is refused in words: KISI gives
  access through groups only.
- a grant is a role assignment, with `valid_from`/`valid_until` for booking windows (TIME_WINDOWS).
- paused = the user stays, the role assignments go (the engine revokes them); a removed member's role
  assignments on this connection's groups go, and the KISI user is left (it may be staff's or used elsewhere).
Plans get the group with their exact name, else the default group (locks.vendors.kisi.defaults).
"""

from __future__ import annotations

from datetime import datetime

from locks.models import Door
from locks.vendors.base import (
    Capability,
    LockAdapter,
    VendorDoor,
    VendorError,
    VendorNotFound,
    VendorPermanentError,
)
from locks.vendors.kisi.client import API_URL, SERVICE, KisiClient
from locks.vendors.kisi.defaults import GROUP, plan_rules_default
from locks.vendors.kisi.forms import KisiSettingsForm
from locks.vendors.kisi.webhooks import event_parse, signature_verify

LOCK = "lock"
GROUP_PREFIX = "group-"
NO_EMAIL = "cannot be provisioned: no email"
# Lock fields that make KISI refuse an unlock through the API (inferred from KISI's lock settings).
RESTRICTIONS = {
    "reader_restriction_enabled": "reader restriction (it opens only at its reader)",
    "primary_device_restriction_enabled": "primary device restriction (it opens only from the user's primary device)",
}


class KisiAdapter(LockAdapter):
    key = "kisi"
    label = "KISI"
    capabilities = frozenset(
        {
            Capability.PERSON_ACCOUNTS,
            Capability.DOOR_GROUPS,
            Capability.TIME_WINDOWS,
            Capability.REMOTE_OPEN,
            Capability.WEBHOOKS,
        }
    )
    settings_form = KisiSettingsForm
    secret_fields = ("api_key", "webhook_signature_key")

    def __init__(self, connection):
        super().__init__(connection)
        self.client = KisiClient(
            api_key=self.credentials.get("api_key", ""), base_url=self.config.get("base_url", API_URL)
        )
        self._fresh_users: set[str] = set()  # created by this adapter: no role assignments to look up

    # --- connection and doors -------------------------------------------------------------------------
    def test_connection(self) -> str:
        places = self.client.places_list()
        try:
            groups = self.client.groups_list()
        except (VendorNotFound, VendorPermanentError) as exc:
            if exc.status not in (403, 404):
                raise
            raise VendorPermanentError(
                "this key belongs to a KISI account of the Standard model (places and members); AccessBridge "
                "needs KISI's Organizations model (users, groups, role assignments)",
                status=exc.status,
                service=SERVICE,
            ) from None
        names = ", ".join(str(p.get("name") or p["id"]) for p in places[:5]) or "no places"
        more = f" and {len(places) - 5} more" if len(places) > 5 else ""
        return f"places {names}{more}; {len(groups)} groups"

    def list_doors(self) -> list[VendorDoor]:
        doors = [_lock_door(lock) for lock in self.client.locks_list()]
        for group in self.client.groups_list():
            group_id = str(group["id"])
            opens = sorted(str(ref) for ref in self.client.group_lock_ids(group_id=group_id))
            name = str(group.get("name") or group_id)
            doors.append(
                VendorDoor(
                    vendor_ref=f"{GROUP_PREFIX}{group_id}",
                    name=f"Group: {name}",
                    extra={"kind": GROUP, "group_id": group_id, "group_name": name, "opens": opens},
                )
            )
        return doors

    def doors_sync(self) -> list[Door]:
        doors = super().doors_sync()
        plan_rules_default(connection=self.connection, groups=[d for d in doors if d.extra.get("kind") == GROUP])
        return doors

    # --- people -----------------------------------------------------------------------------------------
    def person_ensure(self, *, membership, vendor_person_id: str = "") -> str:
        email = _email_of(membership)
        found = self.client.user_find(email=email)
        if found:
            return found
        managed = bool(self.config.get("managed_users"))
        user_id = self.client.user_create(
            email=email, name=membership.name or email, send_emails=not managed, confirm=managed
        )
        self._fresh_users.add(user_id)
        return user_id

    def person_find(self, *, membership) -> str | None:
        email = (membership.email or "").strip()
        return self.client.user_find(email=email) if email else None

    def person_remove(self, *, vendor_person_id: str) -> None:
        groups = set(
            Door.objects.filter(connection=self.connection, extra__kind=GROUP).values_list("vendor_ref", flat=True)
        )
        for assignment in self.client.role_assignments_list(user_id=vendor_person_id):
            if f"{GROUP_PREFIX}{assignment.get('group_id')}" in groups:
                self.client.role_assignment_delete(assignment_id=str(assignment["id"]))

    def persons_present(self) -> set[str]:
        return {str(user["id"]) for user in self.client.users_list()}

    # --- access -----------------------------------------------------------------------------------------
    def access_grant(self, *, vendor_person_id, door, valid_from=None, valid_until=None, membership=None) -> str:
        group_id = _group_id(door)
        if vendor_person_id not in self._fresh_users:
            for assignment in self._assignments(vendor_person_id, group_id, valid_from, valid_until):
                return str(assignment["id"])  # granted before, its answer lost: the same grant
        return self.client.role_assignment_create(
            user_id=vendor_person_id, group_id=group_id, valid_from=valid_from, valid_until=valid_until
        )

    def access_revoke(self, *, grant) -> None:
        if grant.vendor_ref:
            self.client.role_assignment_delete(assignment_id=grant.vendor_ref)
            return
        person = grant.membership.vendor_accounts.filter(connection=self.connection).first()
        if person is None or not person.vendor_person_id:
            return
        group_id = _group_id(grant.door)
        for assignment in self._assignments(person.vendor_person_id, group_id, grant.valid_from, grant.valid_until):
            self.client.role_assignment_delete(assignment_id=str(assignment["id"]))

    def _assignments(self, user_id: str, group_id: str, valid_from, valid_until) -> list[dict]:
        """The user's role assignments of this group with this window."""
        return [
            a
            for a in self.client.role_assignments_list(user_id=user_id)
            if str(a.get("group_id")) == group_id
            and _same_time(a.get("valid_from"), valid_from)
            and _same_time(a.get("valid_until"), valid_until)
        ]

    # --- doors on demand and events ---------------------------------------------------------------------
    def door_open(self, *, door, deadline=None) -> None:
        if door.extra.get("kind") == GROUP:
            raise VendorPermanentError(f"“{door}” is a KISI group: open one of its locks", service=SERVICE)
        try:
            self.client.lock_unlock(lock_id=door.vendor_ref, deadline=deadline)
        except VendorError as exc:
            restriction = _restriction(door, exc)
            if restriction is None:
                raise
            raise VendorPermanentError(
                f"KISI refuses to unlock “{door}” from here: the lock has {restriction}. Turn the restriction off "
                "in KISI to open it from AccessBridge",
                status=exc.status,
                service=SERVICE,
            ) from None

    def door_close(self, *, door, deadline=None) -> None:
        raise VendorPermanentError("KISI locks lock again by themselves; there is no remote lock", service=SERVICE)

    def webhook_setup(self) -> list[str]:
        signed = bool(self.credentials.get("webhook_signature_key"))
        return [
            "In KISI: Integrations → Event Webhook, paste this URL.",
            "Signature key: the same as this connection's “Event webhook signature key”; events without its "
            "X-Signature are refused."
            if signed
            else "Recommended: set a signature key there and in this connection's settings, so that only "
            "KISI's signed events are taken.",
        ]

    def webhook_parse(self, request):
        signature_verify(request, self.credentials.get("webhook_signature_key", ""))
        return event_parse(request)


def _email_of(membership) -> str:
    email = (membership.email or "").strip()
    if not email:
        raise VendorPermanentError(NO_EMAIL, service=SERVICE)
    return email


def _lock_door(lock: dict) -> VendorDoor:
    flags = {name: bool(lock.get(name)) for name in RESTRICTIONS if name in lock}
    extra = {"kind": LOCK, "place_id": lock.get("place_id"), "online": lock.get("online"), **flags}
    return VendorDoor(vendor_ref=str(lock["id"]), name=str(lock.get("name") or lock["id"]), extra=extra)


def _group_id(door: Door) -> str:
    if door.extra.get("kind") != GROUP:
        raise VendorPermanentError(
            f"“{door}” is a KISI lock: KISI gives access through groups, choose a group holding it in the rule",
            service=SERVICE,
        )
    return str(door.extra["group_id"])


def _restriction(door: Door, exc: VendorError) -> str | None:
    """Why KISI refused an unlock, when a restriction of the lock explains it."""
    if exc.transient or exc.status not in (403, 422, 423):
        return None
    named = [words for flag, words in RESTRICTIONS.items() if door.extra.get(flag)]
    if named:
        return " and ".join(named)
    if "restriction" in exc.message.lower():
        return "a restriction set in KISI (reader or primary device)"
    return None


def _same_time(value, wanted: datetime | None) -> bool:
    if not value or wanted is None:
        return not value and wanted is None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) == wanted
    except ValueError:
        return False
