"""Signals the mirror sends; `locks` listens (spaces never imports locks).

mirror_changed(sender=Space, space=..., membership_ids=[local Membership pks], reason="<event or sync>",
               full=False)
    Sent after the mirror committed a change that may alter who opens which door: a membership,
    its plan, its time passes, or one of its bookings. `full=True` (after a full sync) means
    "reconsider every member of the space"; membership_ids then lists the ones that changed.
"""

from django.dispatch import Signal

mirror_changed = Signal()
