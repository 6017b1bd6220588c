"""Admin roles that follow Cobot (issue 20): an admin removed at Cobot loses AccessBridge within minutes.

Who may manage a space is a SpaceAdmin row, read on every request (accessbridge.tenancy) and never
cached in the session: deleting the row is all it takes for that person's open sessions to lose the
space at their next request.

A role is *linked* to Cobot when its `cobot_user_id` is that of the user's "Sign in with Cobot" account
and that account's token is stored (spaces.cobot.accounts). `GET {site}/api/user` with that token then
says whether the space is still in their `admin_of`; one request answers for all their spaces. The
schedule asks about every linked role at least every 15 minutes (ADMIN_CHECK_INTERVAL plus the
schedule's period) and never more often than ADMIN_CHECK_INTERVAL. A token Cobot rejects, or a list
without the space, removes the role; an unanswered request (network, 5xx, 429) removes nothing: the
error is kept on the role, shown on the space overview, and the next check asks again. Cobot's
`created_admin`/`deleted_admin` webhooks, where Cobot offers them, check the space's linked admins at once.

Other roles (a local account that pasted a token) are removed by another admin on the space overview.

A Cobot admin of a connected space who signs in with Cobot (on the dashboard or inside Cobot) is its
admin here (`admin_roles_grant_after_sign_in`): /api/user just listed the space, which is the proof a
pasted token gives. A local account that holds roles only from that Cobot identity (it pasted that
person's token) is the same person: the Cobot sign-in is linked to it (`cobot_identity_link`) instead of
making a second account. A member sign-in (read_user, its token dropped) never grants a role.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accessbridge.http import ServiceError
from spaces.cobot import client
from spaces.cobot.accounts import (
    MEMBER_PURPOSE,
    PROVIDER_ID,
    PURPOSE_STATE_KEY,
    cobot_identity_linked,
    cobot_identity_profile_store,
    cobot_identity_token,
)
from spaces.cobot.records import CobotDataError, administered_subdomains
from spaces.models import Space, SpaceAdmin
from spaces.signals import space_admin_added, space_admin_removed

ADMIN_CHECK_INTERVAL = timedelta(minutes=10)
# accessbridge.apps.SCHEDULES runs the check this often: a role is asked about within 10 + 5 minutes.
ADMIN_CHECK_SCHEDULE_MINUTES = 5
# Named only in a third-party transcription of Cobot's webhook page (cobot-api.md): Cobot may refuse them.
ADMIN_EVENTS = ("created_admin", "deleted_admin")
REMOVED_AT_COBOT = "admin role removed: no longer an admin at Cobot"


class AdminRemoveRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def space_admin_remove(*, space_admin: SpaceAdmin, detail: str, actor=None) -> bool:
    """Remove one admin role; the audit signal goes out in the same transaction. False if already gone."""
    with transaction.atomic():
        deleted, _ = SpaceAdmin.objects.filter(pk=space_admin.pk).delete()
        if deleted:
            space_admin_removed.send(
                sender=SpaceAdmin, space=space_admin.space, user=space_admin.user, actor=actor, detail=detail
            )
    return bool(deleted)


def space_admins_prune(*, user, cobot_user_id: str, administered: set[str]) -> int:
    """Remove the user's admin roles that came from this Cobot account for spaces it no longer administers.

    Roles given otherwise (no cobot_user_id, another Cobot account) are left alone; new ones come from
    connecting a space or from space_admins_grant. Each removal is audited.
    """
    gone = SpaceAdmin.objects.filter(user=user, cobot_user_id=cobot_user_id).exclude(space__subdomain__in=administered)
    detail = f"{REMOVED_AT_COBOT} (seen at their sign-in)"
    return sum(space_admin_remove(space_admin=row, detail=detail) for row in gone.select_related("space", "user"))


def admin_roles_after_sign_in(sender, request, sociallogin, **kwargs) -> None:
    """Receiver of allauth's sign-in signals (beside cobot_sign_in_received): /api/user was just read
    again, so the user's roles in spaces the Cobot account no longer administers go."""
    account, user = sociallogin.account, sociallogin.user
    if account.provider != PROVIDER_ID or user is None or user.pk is None:
        return
    try:
        administered = administered_subdomains(account.extra_data)
    except CobotDataError:
        return  # an answer without the list says nothing about the user's roles
    space_admins_prune(user=user, cobot_user_id=str(account.uid), administered=administered)


def _admin_sign_in(sociallogin) -> bool:
    """A Cobot sign-in that speaks for the person's admin roles: not a member's (read_user only)."""
    purpose = (sociallogin.state or {}).get(PURPOSE_STATE_KEY)
    return sociallogin.account.provider == PROVIDER_ID and purpose != MEMBER_PURPOSE


def space_admins_grant(*, user, cobot_user_id: str, administered: set[str]) -> int:
    """Make the user an admin of every connected space their Cobot account administers; audited.

    Roles they hold already (however given) are left as they are. Returns how many were added.
    """
    now = timezone.now()
    held = SpaceAdmin.objects.filter(user=user).values_list("space_id", flat=True)
    spaces = Space.objects.filter(subdomain__in=administered, status=Space.Status.ACTIVE).exclude(pk__in=held)
    added = 0
    for space in spaces:
        with transaction.atomic():
            _, created = SpaceAdmin.objects.get_or_create(
                user=user,
                space=space,
                defaults={
                    "cobot_user_id": cobot_user_id, "source": SpaceAdmin.Source.COBOT_SIGN_IN, "added_by": user,
                    "cobot_checked_at": now, "cobot_confirmed_at": now,
                },
            )  # fmt: skip
            if created:
                detail = "admin role added: an admin of the space at Cobot signed in with Cobot"
                space_admin_added.send(sender=SpaceAdmin, space=space, user=user, actor=None, detail=detail)
                added += 1
    return added


def admin_roles_grant_after_sign_in(sender, request=None, sociallogin=None, **kwargs) -> None:
    """Receiver of allauth's user_logged_in / social_account_added (the user is saved by then)."""
    if sociallogin is None or not _admin_sign_in(sociallogin) or sociallogin.user.pk is None:
        return
    try:
        administered = administered_subdomains(sociallogin.account.extra_data)
    except CobotDataError:
        return
    space_admins_grant(
        user=sociallogin.user, cobot_user_id=str(sociallogin.account.uid), administered=administered
    )


def cobot_identity_local_account(*, uid: str):
    """The local account that connected spaces with this Cobot identity's pasted token, if it is only that.

    None unless exactly one account holds roles from `uid`, every role it holds came from `uid`, it has
    no Cobot sign-in of its own and no staff rights: linking must never hand anyone more than the
    roles that Cobot identity earned.
    """
    users = set(SpaceAdmin.objects.filter(cobot_user_id=uid).values_list("user_id", flat=True))
    if len(users) != 1:
        return None
    (user_id,) = users
    if SpaceAdmin.objects.filter(user_id=user_id).exclude(cobot_user_id=uid).exists():
        return None
    if SocialAccount.objects.filter(user_id=user_id, provider=PROVIDER_ID).exists():
        return None
    return (
        get_user_model()
        .objects.filter(pk=user_id, is_staff=False, is_superuser=False, is_active=True)
        .first()
    )


def cobot_identity_link(sender, request, sociallogin, **kwargs) -> None:
    """Receiver of allauth's pre_social_login: a first Cobot sign-in of the person who pasted their token
    signs in to that account (and links the two) instead of creating a second one."""
    if (
        sociallogin.is_existing
        or not _admin_sign_in(sociallogin)
        or (sociallogin.state or {}).get("process") == "connect"
    ):
        return
    local = cobot_identity_local_account(uid=str(sociallogin.account.uid))
    if local is not None:
        sociallogin.connect(request, local)


def space_admin_removal_refused(*, space_admin: SpaceAdmin, actor, linked: bool | None = None) -> str:
    """Why `actor` may not remove this role on the space overview, or "" if they may.

    Not one's own role: a mis-click would leave the space without its last admin. A role linked to
    Cobot follows Cobot: it is removed there. `linked`: when the caller knows it already.
    """
    if space_admin.user_id == actor.pk:
        return "You cannot remove your own role: another admin of the space can."
    if linked is None:
        linked = cobot_identity_linked(SpaceAdmin.objects.filter(pk=space_admin.pk)).filter(cobot_linked=True).exists()
    if linked:
        return (
            f"{space_admin.user} is an admin through Cobot: remove them as an admin of the space at Cobot, "
            "and AccessBridge follows within 15 minutes."
        )
    return ""


def space_admin_remove_by_admin(*, space_admin: SpaceAdmin, actor) -> None:
    """Another admin removes a role that Cobot does not vouch for (the overview's "Remove").

    The space's roles are locked and the actor must still hold one: two admins removing each other at
    the same moment cannot leave the space without any.
    """
    if refused := space_admin_removal_refused(space_admin=space_admin, actor=actor):
        raise AdminRemoveRefused(refused)
    with transaction.atomic():
        holders = SpaceAdmin.objects.select_for_update().filter(space_id=space_admin.space_id)
        if actor.pk not in set(holders.values_list("user_id", flat=True)):
            raise AdminRemoveRefused("You are no longer an admin of this space.")
        space_admin_remove(space_admin=space_admin, actor=actor, detail=f"admin role removed by {actor}")


# --- the check at Cobot -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CobotIdentity:
    user_id: int
    cobot_user_id: str


def _due(now: datetime) -> Q:
    return Q(cobot_checked_at__isnull=True) | Q(cobot_checked_at__lte=now - ADMIN_CHECK_INTERVAL)


def cobot_identities_due(*, now: datetime | None = None) -> list[CobotIdentity]:
    """The Cobot identities with a linked role that Cobot was not asked about for ADMIN_CHECK_INTERVAL."""
    rows = cobot_identity_linked(SpaceAdmin.objects.exclude(cobot_user_id="")).filter(cobot_linked=True)
    pairs = rows.filter(_due(now or timezone.now())).values_list("user_id", "cobot_user_id").distinct()
    return [CobotIdentity(user_id, uid) for user_id, uid in sorted(pairs)]


def cobot_identity_check(
    *, identity: CobotIdentity, space: Space | None = None, force: bool = False, now: datetime | None = None
) -> dict:
    """Ask Cobot which spaces this identity administers; remove its roles for spaces no longer listed.

    Only roles due for a check (all of them with `force`, for an admin webhook) of `space` if given.
    They are claimed first (`cobot_checked_at`), so that a repeated schedule or a second worker asks
    nothing more.
    """
    now = now or timezone.now()
    rows = SpaceAdmin.objects.filter(user_id=identity.user_id, cobot_user_id=identity.cobot_user_id)
    if space is not None:
        rows = rows.filter(space=space)
    pending = rows if force else rows.filter(_due(now))
    # One conditional UPDATE per role: the count says whether this worker claimed it (rows are few).
    pks = [pk for pk in pending.values_list("pk", flat=True) if pending.filter(pk=pk).update(cobot_checked_at=now)]
    claimed = list(SpaceAdmin.objects.filter(pk__in=pks).select_related("space", "user"))
    token = cobot_identity_token(user_id=identity.user_id, uid=identity.cobot_user_id)
    if not claimed or token is None:
        return {"checked": 0}
    try:
        profile = client.user_get(token=token)
        administered = administered_subdomains(profile)
    except ServiceError as exc:
        # Only 401 says "this token is dead"; a 403 may be a scope the token lacks, not a lost role.
        if exc.status == 401:
            detail = f"{REMOVED_AT_COBOT} (Cobot rejected their token: HTTP {exc.status})"
            return {"checked": len(claimed), "removed": _roles_remove(claimed, detail)}
        # Not an answer about the role: keep it, say why on the overview, ask again at the next check.
        error = f"Asking Cobot failed: {exc.message}"[:1000]
        SpaceAdmin.objects.filter(pk__in=[row.pk for row in claimed]).update(cobot_check_error=error)
        return {"checked": len(claimed), "error": error}
    cobot_identity_profile_store(user_id=identity.user_id, uid=identity.cobot_user_id, profile=profile)
    kept = [row.pk for row in claimed if row.space.subdomain in administered]
    SpaceAdmin.objects.filter(pk__in=kept).update(cobot_confirmed_at=now, cobot_check_error="")
    gone = [row for row in claimed if row.pk not in kept]
    return {"checked": len(claimed), "kept": len(kept), "removed": _roles_remove(gone, REMOVED_AT_COBOT)}


def _roles_remove(rows: list[SpaceAdmin], detail: str) -> int:
    return sum(space_admin_remove(space_admin=row, detail=detail) for row in rows)


def space_admins_check_now(*, space: Space) -> int:
    """Check every linked admin of the space at once (Cobot announced an admin change). Returns how many
    roles were removed."""
    linked = cobot_identity_linked(SpaceAdmin.objects.filter(space=space).exclude(cobot_user_id=""))
    pairs = sorted(set(linked.filter(cobot_linked=True).values_list("user_id", "cobot_user_id")))
    removed = 0
    for user_id, uid in pairs:
        result = cobot_identity_check(identity=CobotIdentity(user_id, uid), space=space, force=True)
        removed += result.get("removed", 0)
    return removed


def admin_event_process(*, space: Space, payload: dict) -> list[int]:
    """The mirror's handler for ADMIN_EVENTS: the payload's shape is unknown and not needed (no fetch)."""
    space_admins_check_now(space=space)
    return []  # no membership changed
