"""Cobot's own KISI add-on gives a plan the group with the plan's exact name, else a default group. Here that
default becomes an ordinary access rule, written once per plan when the groups are synced: the rules page
shows which groups each plan gets, and the admin changes or deletes it like any rule (a deleted one is not
written again). Plans that already have a rule naming one of this connection's groups are left alone."""

from __future__ import annotations

from django.db import transaction

from locks.models import AccessRule, Door, LockConnection
from spaces.models import Plan

GROUP = "group"
WRITTEN_KEY = "default_rules_written"  # in LockConnection.config: plan ids that had their default rule


def plan_rules_default(*, connection: LockConnection, groups: list[Door]) -> list[AccessRule]:
    """Write the default rule of every plan that has none yet; return the rules written."""
    by_name = {door.extra.get("group_name"): door for door in groups if door.enabled}
    default_name = (connection.config or {}).get("default_group", "")
    default = by_name.get(default_name) if default_name else None
    rules = AccessRule.objects.filter(space=connection.space, kind=AccessRule.Kind.PLAN, doors__connection=connection)
    covered = set(rules.values_list("plan_id", flat=True))
    if None in covered:
        return []  # a rule for every plan names one of these groups: the admin has decided
    written = set(connection.config.get(WRITTEN_KEY, []))
    created = []
    with transaction.atomic():
        for plan in Plan.objects.filter(space=connection.space, active=True).order_by("name"):
            group = by_name.get(plan.name) or default
            if plan.pk in covered or plan.pk in written or group is None:
                continue
            rule = AccessRule.objects.create(space=connection.space, kind=AccessRule.Kind.PLAN, plan=plan)
            rule.doors.add(group)
            written.add(plan.pk)
            created.append(rule)
        if created:
            connection.config = {**connection.config, WRITTEN_KEY: sorted(written)}
            connection.save(update_fields=["config"])
    return created
