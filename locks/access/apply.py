"""Applying operations: one small function per operation type, chosen from OPERATION_HANDLERS.

Each calls the vendor (or Cobot), then records the outcome and its audit entry in one transaction. Creates
are announced first: a PENDING row is committed before the vendor is asked (see locks.access, "Crashes").
A vendor's error is raised to the run, which decides what it means for the rest of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from locks.access.operations import (
    AccessGrant,
    AccessRevoke,
    AccountMark,
    CheckinTokenRegister,
    CheckinTokenTaken,
    Operation,
    PersonCreate,
    PersonForget,
    PersonRemove,
)
from locks.models import AuditEntry, Grant, LockConnection, VendorAccount
from locks.vendors.base import LockAdapter, VendorNotFound
from spaces.models import Membership, Space
from spaces.services import checkin_token_ensure


@dataclass
class ApplyContext:
    """What operations are applied with: the run's adapters, who the audit names, and the check-in token
    owners of the members at hand (kept up to date as tokens are registered)."""

    space: Space
    now: datetime
    adapters: dict[int, LockAdapter]
    token_owners: dict[str, str]
    actor: object = None
    actor_label: str = "sync"


Accounts = dict[int, VendorAccount]  # the member's account rows by connection id, updated as they change


def operation_apply(context: ApplyContext, op: Operation, accounts: Accounts) -> None:
    handler = OPERATION_HANDLERS.get(type(op))
    if handler is None:
        raise TypeError(f"unknown operation {op!r}")
    handler(context, op, accounts)


def operation_audit(context: ApplyContext, op: Operation, *, result: str, detail: str) -> None:
    AuditEntry.objects.create(
        space=context.space,
        actor=context.actor,
        actor_label=context.actor_label[:100],
        action=op.action,
        membership=op.membership,
        door=getattr(op, "door", None)
        or (op.grant.door if isinstance(op, AccessRevoke) and op.grant else None),
        connection=op.connection,
        result=result,
        detail=detail[:4000],
    )


def account_error_record(op: Operation, error: str) -> None:
    """A member's step failed for good: say so on their account row (created pending if there is none)."""
    VendorAccount.objects.update_or_create(
        connection=op.connection,
        membership=op.membership,
        defaults={"last_error": error[:2000]},
        create_defaults={"status": VendorAccount.Status.PENDING, "last_error": error[:2000]},
    )


# --- one function per operation type ----------------------------------------------------------------
def _person_create(context: ApplyContext, op: PersonCreate, accounts: Accounts) -> None:
    adapter, connection, membership = context.adapters[op.connection.pk], op.connection, op.membership
    account = accounts[connection.pk] = _account_intent(connection, membership, accounts.get(connection.pk))
    found = adapter.person_find(membership=membership) if op.lookup else None
    person_id = found or adapter.person_ensure(membership=membership)
    with transaction.atomic():
        account.vendor_person_id, account.status, account.last_error = person_id, op.then_status, ""
        account.last_synced_at = context.now
        account.save(update_fields=["vendor_person_id", "status", "last_error", "last_synced_at", "updated_at"])
        how = "found again by email" if found else "person"
        operation_audit(context, op, result="ok", detail=f"{op.describe()}: {how} {person_id}")


def _person_remove(context: ApplyContext, op: PersonRemove, accounts: Accounts) -> None:
    note = ""
    if _person_shared(op.connection, op.vendor_person_id, op.membership):
        # Two memberships with the same email share one person (an email is registered once):
        # removing it would lock the other one out.
        note = " (kept at the vendor: another current membership uses the same person)"
    else:
        context.adapters[op.connection.pk].person_remove(vendor_person_id=op.vendor_person_id)
    with transaction.atomic():
        _account_status_set(accounts[op.connection.pk], op.then_status)
        operation_audit(context, op, result="ok", detail=f"{op.describe()}{note}")


def _person_forget(context: ApplyContext, op: PersonForget, accounts: Accounts) -> None:
    adapter = context.adapters[op.connection.pk]
    person_id = adapter.person_find(membership=op.membership)
    if not person_id:
        note = ": nobody there"
    elif _person_shared(op.connection, person_id, op.membership):
        note = f": person {person_id} kept (another current membership uses the same person)"
    else:
        adapter.person_remove(vendor_person_id=person_id)
        note = f": removed person {person_id}"
    with transaction.atomic():
        _account_status_set(accounts[op.connection.pk], op.then_status)
        operation_audit(context, op, result="ok", detail=f"{op.describe()}{note}")


def _account_mark(context: ApplyContext, op: AccountMark, accounts: Accounts) -> None:
    with transaction.atomic():
        _account_status_set(accounts[op.connection.pk], op.status)
        operation_audit(context, op, result="ok", detail=op.describe())


def _checkin_token_register(context: ApplyContext, op: CheckinTokenRegister, accounts: Accounts) -> None:
    connection, membership = op.connection, op.membership
    account = accounts[connection.pk]
    adapter = context.adapters[connection.pk]
    token = op.token or adapter.checkin_token_for(vendor_person_id=account.vendor_person_id)
    if not token:
        return  # this vendor's people have no check-in token: its events check in by membership
    owner = context.token_owners.get(token)
    if owner not in (None, membership.cobot_id):
        taken = CheckinTokenTaken(connection, membership, token=token, owner=owner)
        _checkin_token_taken(context, taken, accounts)
        return
    if owner == membership.cobot_id:
        detail = f"{token[:4]}… is already {membership}'s check-in token at Cobot; nothing sent"
    else:
        checkin_token_ensure(membership=membership, token=token)
        context.token_owners[token] = membership.cobot_id
        detail = f"registered {token[:4]}… at Cobot as {membership}'s check-in token"
    with transaction.atomic():
        if account.checkin_token_owner:
            account.checkin_token_owner = ""
            account.save(update_fields=["checkin_token_owner", "updated_at"])
        operation_audit(context, op, result="ok", detail=detail)


def _checkin_token_taken(context: ApplyContext, op: CheckinTokenTaken, accounts: Accounts) -> None:
    account = accounts[op.connection.pk]
    with transaction.atomic():
        account.checkin_token_owner = op.owner
        account.save(update_fields=["checkin_token_owner", "updated_at"])
        operation_audit(context, op, result="ok", detail=op.describe())


def _access_grant(context: ApplyContext, op: AccessGrant, accounts: Accounts) -> None:
    account = accounts.get(op.connection.pk)
    grant = op.pending or Grant.objects.create(
        connection=op.connection,
        membership=op.membership,
        door=op.door,
        booking_id=op.booking_id,
        valid_from=op.valid_from,
        valid_until=op.valid_until,
        status=Grant.Status.PENDING,
    )
    ref = context.adapters[op.connection.pk].access_grant(
        vendor_person_id=account.vendor_person_id if account else "",
        door=op.door,
        valid_from=op.valid_from,
        valid_until=op.valid_until,
        membership=op.membership,
    )
    with transaction.atomic():
        Grant.objects.filter(pk=grant.pk).update(
            status=Grant.Status.ACTIVE, vendor_ref=ref or "", updated_at=timezone.now()
        )
        operation_audit(context, op, result="ok", detail=op.describe())


def _access_revoke(context: ApplyContext, op: AccessRevoke, accounts: Accounts) -> None:
    try:
        context.adapters[op.connection.pk].access_revoke(grant=op.grant)
    except VendorNotFound:
        pass  # already gone at the vendor: that is what we wanted
    with transaction.atomic():
        Grant.objects.filter(pk=op.grant.pk).update(status=Grant.Status.REVOKED, updated_at=timezone.now())
        operation_audit(context, op, result="ok", detail=op.describe())


OPERATION_HANDLERS = {
    PersonCreate: _person_create,
    PersonRemove: _person_remove,
    PersonForget: _person_forget,
    AccountMark: _account_mark,
    CheckinTokenRegister: _checkin_token_register,
    CheckinTokenTaken: _checkin_token_taken,
    AccessGrant: _access_grant,
    AccessRevoke: _access_revoke,
}


# --- our rows -------------------------------------------------------------------------------------------
def _account_intent(
    connection: LockConnection, membership: Membership, account: VendorAccount | None
) -> VendorAccount:
    """Commit "a create of this member's person is under way" before asking the vendor."""
    Status = VendorAccount.Status
    if account is None:
        try:
            with transaction.atomic():
                return VendorAccount.objects.create(
                    connection=connection, membership=membership, status=Status.PENDING
                )
        except IntegrityError:  # written meanwhile by another process (SQLite has no per-space lock)
            account = VendorAccount.objects.get(connection=connection, membership=membership)
    if account.status != Status.PENDING or account.vendor_person_id:
        account.status, account.vendor_person_id = Status.PENDING, ""
        account.save(update_fields=["status", "vendor_person_id", "updated_at"])
    return account


def _person_shared(connection: LockConnection, vendor_person_id: str, membership: Membership) -> bool:
    return (
        VendorAccount.objects.filter(
            connection=connection, vendor_person_id=vendor_person_id, status=VendorAccount.Status.ACTIVE
        )
        .exclude(membership=membership)
        .exists()
    )


def _account_status_set(account: VendorAccount, status: str) -> None:
    account.status = status
    account.last_error = ""
    account.save(update_fields=["status", "last_error", "updated_at"])
