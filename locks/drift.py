"""People at a vendor that AccessBridge did not create: "unknown at AccessBridge", never removed silently.

The daily check (locks.tasks.access_sync_daily: an access sync with `refresh`) reads each vendor's people
and repairs what AccessBridge owns: a person of ours missing at the vendor is created again, a person of a
member who should no longer have one is removed. Everyone else at the vendor — staff keys, people made on
the vendor's own site — is listed here, and only an admin's "adopt" (the person becomes a member's account,
which the engine then keeps in step) or "remove" (audited) changes anything about them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accessbridge.http import ServiceError
from locks.models import AuditEntry, LockConnection, VendorAccount
from locks.vendors import adapter_for
from locks.vendors.base import Capability
from spaces.models import Membership, Space


class DriftRefused(Exception):
    """The admin's adopt/remove cannot be done; the message says why."""


@dataclass(frozen=True)
class UnknownPerson:
    connection: LockConnection
    vendor_person_id: str


@dataclass
class DriftReport:
    unknown: list[UnknownPerson] = field(default_factory=list)
    missing: list[VendorAccount] = field(default_factory=list)  # ours, gone at the vendor: the sync re-creates
    unread: list[str] = field(default_factory=list)  # vendors whose list could not be read, with the error


def vendor_drift_read(*, space: Space) -> DriftReport:
    """Compare each vendor's people (where the vendor can list them) with the accounts we created."""
    report = DriftReport()
    for connection in LockConnection.objects.filter(space=space, enabled=True).order_by("name"):
        adapter = adapter_for(connection)
        if not adapter.supports(Capability.PERSON_ACCOUNTS):
            continue
        try:
            present = adapter.persons_present()
        except ServiceError as exc:
            report.unread.append(f"{connection.name}: {exc}")
            continue
        if present is None:
            continue
        accounts = list(VendorAccount.objects.filter(connection=connection).select_related("membership"))
        ours = {a.vendor_person_id for a in accounts if a.vendor_person_id}
        report.unknown += [UnknownPerson(connection, pid) for pid in sorted(present - ours)]
        report.missing += [
            a for a in accounts
            if a.status in (VendorAccount.Status.ACTIVE, VendorAccount.Status.PAUSED)
            and a.vendor_person_id not in present
        ]  # fmt: skip
    return report


def unknown_person_remove(*, connection: LockConnection, vendor_person_id: str, actor) -> None:
    """Remove a person AccessBridge did not create, because an admin said so (audited)."""
    _not_ours_check(connection, vendor_person_id)
    detail = f"removed person {vendor_person_id}, unknown at AccessBridge, from {connection.name}"
    try:
        adapter_for(connection).person_remove(vendor_person_id=vendor_person_id)
    except ServiceError as exc:
        _audit(connection, actor, "unknown_person_remove", result="failed", detail=f"{detail}: {exc}")
        raise DriftRefused(f"{connection.name} did not remove {vendor_person_id}: {exc}") from exc
    _audit(connection, actor, "unknown_person_remove", result="ok", detail=detail)


def unknown_person_adopt(*, connection: LockConnection, vendor_person_id: str, membership: Membership, actor) -> None:
    """Make a person AccessBridge did not create the member's account there; the next sync keeps it in step
    (grants, check-in token, removal when the member goes)."""
    _not_ours_check(connection, vendor_person_id)
    if membership.space_id != connection.space_id:
        raise DriftRefused("That member is not in this space.")
    if VendorAccount.objects.filter(connection=connection, membership=membership).exists():
        raise DriftRefused(f"{membership} already has a person at {connection.name}.")
    VendorAccount.objects.create(
        connection=connection,
        membership=membership,
        vendor_person_id=vendor_person_id,
        status=VendorAccount.Status.ACTIVE,
    )
    detail = f"adopted person {vendor_person_id} at {connection.name} as {membership}"
    _audit(connection, actor, "unknown_person_adopt", result="ok", detail=detail, membership=membership)


def _not_ours_check(connection: LockConnection, vendor_person_id: str) -> None:
    if VendorAccount.objects.filter(connection=connection, vendor_person_id=vendor_person_id).exists():
        raise DriftRefused(f"{vendor_person_id} is a person AccessBridge manages: the sync takes care of it.")


def _audit(connection, actor, action: str, *, result: str, detail: str, membership=None) -> None:
    AuditEntry.objects.create(
        space_id=connection.space_id,
        actor=actor,
        actor_label=f"dashboard: {actor}"[:100],
        action=action,
        connection=connection,
        membership=membership,
        result=result,
        detail=detail[:4000],
    )
