"""The audit trail of what admins do (issue 14): rules, doors, connections, connect/disconnect, sync now,
retries, opens. Vendor changes are audited where they are made (locks.access.apply, locks.door_commands)."""

from locks.models import AuditEntry


def audit_admin_action(
    *, space, actor, action: str, detail: str, door=None, connection=None, membership=None, result: str = "ok"
) -> AuditEntry:
    return AuditEntry.objects.create(
        space=space,
        actor=actor,
        actor_label=f"admin: {actor}"[:100] if actor else "system",
        action=action,
        door=door,
        connection=connection,
        membership=membership,
        result=result,
        detail=detail[:4000],
    )
