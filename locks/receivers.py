"""What the door side does when the Cobot side (or a rule) changes: queue an access sync."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from locks.access.boundaries import access_boundaries_update
from locks.access.jobs import access_sync_enqueue
from locks.audit import audit_admin_action
from locks.models import AccessRule, AuditEntry
from spaces.models import Membership
from spaces.signals import mirror_changed, space_admin_action, space_admin_added, space_admin_removed


@receiver(mirror_changed, dispatch_uid="locks_access_after_mirror_change")
def access_after_mirror_change(sender, *, space, membership_ids=(), reason="", full=False, **kwargs):
    # Bookings and membership dates moved: the instants their access changes move with them.
    access_boundaries_update(space=space, membership_ids=None if full else list(membership_ids or []))
    if full:
        # Reading every vendor's list of people is the daily job's (locks.tasks.access_sync_daily), not
        # every 15-minute mirror sync's.
        access_sync_enqueue(space=space, reason=reason or "full sync")
        return
    for membership in Membership.objects.filter(space=space, pk__in=list(membership_ids or [])):
        access_sync_enqueue(space=space, membership=membership, reason=reason or "mirror changed")


# Rules edited anywhere (dashboard, Django admin, shell) change who opens what for everyone.
@receiver(post_save, sender=AccessRule, dispatch_uid="locks_access_after_rule_saved")
def access_after_rule_saved(sender, instance, **kwargs):
    access_sync_enqueue(space=instance.space, reason="access rules changed")
    access_boundaries_update(space=instance.space)


@receiver(post_delete, sender=AccessRule, dispatch_uid="locks_access_after_rule_deleted")
def access_after_rule_deleted(sender, instance, origin=None, **kwargs):
    # Deleted along with its space or plan: the space is going, or the mirror reports the members.
    if isinstance(origin, AccessRule) or getattr(origin, "model", None) is AccessRule:
        access_sync_enqueue(space=instance.space, reason="access rule deleted")
        access_boundaries_update(space=instance.space)


@receiver(m2m_changed, sender=AccessRule.doors.through, dispatch_uid="locks_access_after_rule_doors")
def access_after_rule_doors_changed(sender, instance, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, AccessRule):
        access_sync_enqueue(space=instance.space, reason="access rules changed")
        access_boundaries_update(space=instance.space)


# The audit trail is the door side's; a role removed (at Cobot or by another admin) or added by a Cobot
# admin's sign-in belongs in it.
def _audit_admin_role(*, action: str, space, user, actor, detail: str, by_cobot: str) -> None:
    AuditEntry.objects.create(
        space=space,
        actor=actor,
        actor_label=f"admin: {actor}"[:100] if actor else by_cobot,
        action=action,
        detail=f"{user.get_full_name() or user.get_username()}: {detail}",
    )


@receiver(space_admin_removed, dispatch_uid="locks_audit_admin_removed")
def audit_admin_removed(sender, *, space, user, actor=None, detail="", **kwargs):
    _audit_admin_role(
        action="admin_remove", space=space, user=user, actor=actor, detail=detail, by_cobot="cobot check"
    )


@receiver(space_admin_added, dispatch_uid="locks_audit_admin_added")
def audit_admin_added(sender, *, space, user, actor=None, detail="", **kwargs):
    _audit_admin_role(
        action="admin_add", space=space, user=user, actor=actor, detail=detail, by_cobot="cobot sign-in"
    )


@receiver(space_admin_action, dispatch_uid="locks_audit_space_admin_action")
def audit_space_admin_action(sender, *, space, actor, action, detail="", **kwargs):
    audit_admin_action(space=space, actor=actor, action=action, detail=detail)
