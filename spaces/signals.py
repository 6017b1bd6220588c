"""Signals the mirror sends; `locks` listens (spaces never imports locks).

mirror_changed(sender=Space, space=..., membership_ids=[local Membership pks], reason="<event or sync>",
               full=False)
    Sent after the mirror committed a change that may alter who opens which door: a membership,
    its plan, its time passes, or one of its bookings. `full=True` (after a full sync) means
    "reconsider every member of the space"; membership_ids then lists the ones that changed.

space_admin_removed(sender=SpaceAdmin, space=..., user=<whose role>, actor=<user or None>, detail="admin role
                    removed: ...")
    Sent inside the transaction that removed an admin's role (spaces.admins.space_admin_remove), so that an
    audit entry written by a receiver commits or rolls back with the removal. `actor` is None when Cobot
    removed it (the check or a sign-in), else the admin who removed it.

space_admin_added(sender=SpaceAdmin, space=..., user=<whose role>, actor=<user or None>, detail="...")
    Sent inside the transaction that added a role outside connecting (a Cobot admin signing in), for the
    audit trail. `actor` None: Cobot vouched for it.

space_admin_action(sender=Space, space=..., actor=<user>, action="connect", detail="...")
    An admin acted on the space (connect, reconnect, disconnect, sync now, retry): for the audit trail.
"""

from django.dispatch import Signal

mirror_changed = Signal()
space_admin_removed = Signal()
space_admin_added = Signal()
space_admin_action = Signal()
