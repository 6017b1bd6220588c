"""What an admin's change (a rule, a door, a connection) would do before it is applied (issue 14, safe changes).

The change is made inside a transaction that is always rolled back: who opens which door is decided
before and after it by the engine's own reads (locks.selectors.member_doors_open, the desired state), and
the engine's dry run (locks.access.run.access_sync(dry_run=True)) lists the calls a sync would then make.
Nothing is kept, nothing is queued (on_commit callbacks of a rolled-back block are dropped), no vendor
is called.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from locks.access.run import access_sync
from locks.models import Door
from locks.selectors import member_doors_open
from spaces.models import Membership, Space
from spaces.selectors import CURRENT_STATUSES

OPERATIONS_SHOWN = 200


@dataclass(frozen=True)
class MemberChange:
    membership: Membership
    gains: list[Door]
    loses: list[Door]


@dataclass
class ChangePreview:
    changes: list[MemberChange] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    operations_total: int = 0

    @property
    def nothing(self) -> bool:
        return not self.changes and not self.operations_total


def _doors_by_member(members: list[Membership]) -> dict[int, set[int]]:
    return {m.pk: member_doors_open(membership=m) for m in members}


def change_preview(*, space: Space, change: Callable[[], object]) -> ChangePreview:
    """Run `change` (which writes the change) and undo it; say who would gain or lose which doors."""
    members = list(Membership.objects.filter(space=space, status__in=CURRENT_STATUSES).order_by("name", "pk"))
    before = _doors_by_member(members)
    with transaction.atomic():
        change()
        after = _doors_by_member(members)
        report = access_sync(space=space, dry_run=True)
        operations = [op.describe() for op in report.operations]
        transaction.set_rollback(True)
    door_ids = set().union(*before.values(), *after.values()) if members else set()
    doors = Door.objects.in_bulk(door_ids)
    changes = []
    for membership in members:
        gains, loses = after[membership.pk] - before[membership.pk], before[membership.pk] - after[membership.pk]
        if gains or loses:
            changes.append(MemberChange(membership, _named(doors, gains), _named(doors, loses)))
    return ChangePreview(changes, operations[:OPERATIONS_SHOWN], len(operations))


def _named(doors: dict[int, Door], ids: set[int]) -> list[Door]:
    return sorted((doors[pk] for pk in ids if pk in doors), key=lambda door: door.name)
