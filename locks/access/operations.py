"""The operations of an access sync: one change each, at a vendor or (check-in tokens) at Cobot.

Plain values: `plan` decides which are needed, `apply` carries each out, the dry run shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from locks.models import Door, Grant, LockConnection, VendorAccount
from spaces.models import Membership

COBOT = "cobot"  # the run's key for Cobot calls (check-in tokens), next to connection ids


@dataclass(frozen=True)
class Operation:
    """One change at a vendor (or at Cobot, for check-in tokens). `describe()` is for people."""

    action: ClassVar[str] = ""
    connection: LockConnection
    membership: Membership

    @property
    def target(self):
        return self.connection.pk

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class PersonCreate(Operation):
    """Create the person; with `lookup`, first look for them by email (an earlier create's answer was lost)."""

    action: ClassVar[str] = "person_create"
    reason: str = ""
    then_status: str = VendorAccount.Status.ACTIVE
    lookup: bool = False

    def describe(self) -> str:
        return f"create {self.membership} at {self.connection.name}" + (
            f" ({self.reason})" if self.reason else ""
        )


@dataclass(frozen=True)
class PersonRemove(Operation):
    """Remove the person at the vendor; the account row then says `then_status` (paused or removed)."""

    action: ClassVar[str] = "person_remove"
    vendor_person_id: str = ""
    then_status: str = VendorAccount.Status.REMOVED

    def describe(self) -> str:
        why = (
            "paused: no unused time pass" if self.then_status == VendorAccount.Status.PAUSED else "no access"
        )
        return f"remove {self.membership} from {self.connection.name} ({why})"


@dataclass(frozen=True)
class PersonForget(Operation):
    """A create was started for a member who should no longer have a person there: find them by email
    and remove them if that create did reach the vendor."""

    action: ClassVar[str] = "person_forget"
    then_status: str = VendorAccount.Status.REMOVED

    def describe(self) -> str:
        return (
            f"remove {self.membership} from {self.connection.name} if an unfinished registration created them"
        )


@dataclass(frozen=True)
class AccountMark(Operation):
    """A change of our own record only (the vendor already has the right state)."""

    action: ClassVar[str] = "account_mark"
    status: str = VendorAccount.Status.REMOVED

    def describe(self) -> str:
        return f"mark {self.membership} at {self.connection.name} as {self.status}"


@dataclass(frozen=True)
class AccessGrant(Operation):
    """Grant a door; `pending`: the row of an earlier grant whose answer was lost, to finish."""

    action: ClassVar[str] = "access_grant"
    door: Door | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    booking_id: int | None = None
    pending: Grant | None = None

    def describe(self) -> str:
        window = (
            f" from {self.valid_from:%Y-%m-%d %H:%M} to {self.valid_until:%Y-%m-%d %H:%M}"
            if self.valid_from
            else ""
        )
        return f"grant {self.door} to {self.membership}{window}"


@dataclass(frozen=True)
class AccessRevoke(Operation):
    action: ClassVar[str] = "access_revoke"
    grant: Grant | None = None

    def describe(self) -> str:
        return f"revoke {self.grant.door if self.grant else '?'} from {self.membership}"


@dataclass(frozen=True)
class CheckinTokenRegister(Operation):
    """Register the vendor's id as the member's Cobot check-in token; "" = the id the create returns."""

    action: ClassVar[str] = "checkin_token_register"
    token: str = ""

    @property
    def target(self):
        return COBOT

    def describe(self) -> str:
        token = f"{self.token[:4]}…" if self.token else "the new person id"
        return f"register {token} at Cobot as {self.membership}'s check-in token"


@dataclass(frozen=True)
class CheckinTokenTaken(Operation):
    """Cobot has the person's id as another membership's check-in token: record it, register nothing.

    Planned once per owner; registering is tried again when the mirror shows the token free.
    """

    action: ClassVar[str] = "checkin_token_taken"
    token: str = ""
    owner: str = ""

    def describe(self) -> str:
        return (
            f"not registering {self.token[:4]}… for {self.membership}: Cobot has it as the check-in token "
            f"of membership {self.owner}"
        )
