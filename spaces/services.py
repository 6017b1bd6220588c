"""Writes on the Cobot side (HackSoft style: keyword-only, <noun>_<verb>)."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accessbridge.http import ServiceError
from accessbridge.work import WorkStatus, work_retry
from spaces.cobot import client
from spaces.cobot.records import administered_subdomains, space_time_zone
from spaces.feature_problems import (
    feature_problem_clear,
    feature_problem_record,
    feature_problems_reset,
    features_lacking_scope,
)
from spaces.mirror import EVENT_FEATURES, SUBSCRIBED_EVENTS, values_assign
from spaces.models import (
    CheckInToken,
    CobotSubscription,
    Membership,
    NavigationLink,
    Space,
    SpaceAdmin,
)

logger = logging.getLogger(__name__)

# Our pages inside Cobot: (section, label, URL name of the framed view).
NAVIGATION_LINKS = (
    ("admin/manage", "Door access", "embedded_admin_page"),
    ("members", "Doors", "embedded_member_page"),
)


class ConnectError(Exception):
    """Connecting failed in a way the user can act on; the message says how."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CheckInTokenTaken(ServiceError):
    """Cobot already has the token as another membership's check-in token (`owner_cobot_id`)."""

    def __init__(self, exc: ServiceError, *, owner_cobot_id: str):
        super().__init__(exc.message, kind=exc.kind, status=exc.status, response=exc.response, service=exc.service)
        self.owner_cobot_id = owner_cobot_id


def checkin_token_ensure(*, membership: Membership, token: str) -> CheckInToken:
    """Register `token` at Cobot as this member's check-in token, unless it is already there."""
    space = membership.space
    known = CheckInToken.objects.filter(space=space, token=token).first()
    if known and known.membership_cobot_id == membership.cobot_id:
        return known
    try:
        raw = client.checkin_token_create(space=space, membership_cobot_id=membership.cobot_id, token=token)
    except ServiceError as exc:
        if exc.status != 422:
            raise
        # Taken: it may be ours from an earlier try whose answer was lost. Ask Cobot whose it is.
        raw = next((t for t in client.checkin_tokens_list(space=space) if str(t.get("token")) == token), None)
        owner = str(((raw or {}).get("membership") or {}).get("id") or "")
        if owner != membership.cobot_id:
            raise CheckInTokenTaken(exc, owner_cobot_id=owner) from exc
    row, _ = CheckInToken.objects.update_or_create(
        space=space,
        token=token,
        defaults={"membership": membership, "membership_cobot_id": membership.cobot_id, "raw": raw or {}},
    )
    return row


# --- URLs Cobot calls or frames ---------------------------------------------------------------------
def subscription_callback_url(*, space: Space, event: str) -> str:
    path = reverse("cobot_webhook", kwargs={"space_key": space.key, "secret": space.webhook_secret, "event": event})
    return f"{settings.ACCESSBRIDGE_BASE_URL}{path}"


def subscription_is_ours(space: Space, callback_url) -> bool:
    # Any secret: subscriptions made with an older secret of this space are ours to replace.
    return isinstance(callback_url, str) and callback_url.startswith(
        f"{settings.ACCESSBRIDGE_BASE_URL}/hooks/cobot/{space.key}/"
    )


def embedded_page_url(*, space: Space, url_name: str) -> str:
    return f"{settings.ACCESSBRIDGE_BASE_URL}{reverse(url_name, kwargs={'space_key': space.key})}"


def navigation_link_is_ours(space: Space, iframe_url) -> bool:
    return isinstance(iframe_url, str) and iframe_url.startswith(
        f"{settings.ACCESSBRIDGE_BASE_URL}/embedded/{space.key}/"
    )


# --- connect ---------------------------------------------------------------------------------------
def space_connect(
    *, subdomain: str, user_token: str, user=None, source: str = SpaceAdmin.Source.PASTED_TOKEN
) -> Space:
    """Connect (or reconnect, or repair) a space with a Cobot user's token.

    The token's user must administer the space at Cobot. The token is exchanged for a space-bound
    one (it survives its creator leaving the space's admins) and stored encrypted; work that waited
    for a reconnect resumes and a full sync is queued at once; then webhooks and navigation links are
    made complete. Only once that worked with the new token is the previous one revoked; if it failed,
    a previously working connection is put back. `user` becomes an admin of the space; `source` says how.
    """
    subdomain = subdomain.strip().lower()
    if not client.subdomain_is_valid(subdomain):
        raise ConnectError(f"“{subdomain}” is not a Cobot subdomain (e.g. “harbour” for harbour.cobot.me).")
    profile = _connect_step(lambda: client.user_get(token=user_token))
    if subdomain not in _connect_step(lambda: administered_subdomains(profile)):
        who = profile.get("email") or "this Cobot account"
        raise ConnectError(f"{who} does not administer the Cobot space “{subdomain}”.")
    # Scopes the token lacks do not stop connecting: those features show as unavailable on the overview.
    granted = _connect_step(lambda: client.access_token_scopes(token=user_token))
    details = _connect_step(lambda: client.space_get(subdomain=subdomain, token=user_token))
    bound = _connect_step(lambda: client.access_token_bind(token=user_token, space_id=str(details["id"])))

    space, previous = _space_token_store(
        subdomain=subdomain, details=details, token=bound, scopes=granted, user=user, cobot_user_id=str(profile["id"]),
        source=source,
    )  # fmt: skip
    feature_problems_reset(space=space, granted=granted)
    space_deliveries_resume(space=space)
    space_sync_enqueue(space=space)
    try:
        space_cobot_setup_ensure(space=space)
    except ServiceError as exc:
        raise ConnectError(_connect_setup_failed(space=space, previous=previous, error=exc)) from None
    if previous.token and previous.token != bound:
        _token_revoke_quietly(space, previous.token)
    return space


@dataclass(frozen=True)
class _PreviousToken:
    token: str
    scopes: str
    working: bool  # the space was connected with it and Cobot had not refused it


def _space_token_store(*, subdomain, details, token, scopes, user, cobot_user_id, source) -> tuple[Space, _PreviousToken]:
    with transaction.atomic():
        space = Space.objects.select_for_update().filter(subdomain=subdomain).first() or Space(subdomain=subdomain)
        previous = _PreviousToken(
            space.access_token if space.pk else "", space.token_scopes, space.status == Space.Status.ACTIVE
        )
        if space.status != Space.Status.ACTIVE or not space.pk:
            space.connected_at = timezone.now()
        space.cobot_space_id = str(details["id"])
        space.name = str(details.get("name") or space.name or subdomain)[:200]
        space.time_zone = space_time_zone(details) or space.time_zone
        space.access_token = token
        space.token_scopes = " ".join(sorted(scopes or ()))[:500]
        space.token_generation += 1
        space.status = Space.Status.ACTIVE
        space.last_error = ""
        space.save()
        if user is not None:
            _space_admin_grant(space=space, user=user, cobot_user_id=cobot_user_id, source=source)
    return space, previous


def _space_admin_grant(*, space: Space, user, cobot_user_id: str, source: str) -> None:
    """The connecting user administers the space: Cobot just said so, which counts as a check (spaces.admins)."""
    now = timezone.now()
    SpaceAdmin.objects.update_or_create(
        user=user,
        space=space,
        defaults={
            "cobot_user_id": cobot_user_id,
            "source": source,
            "cobot_checked_at": now,
            "cobot_confirmed_at": now,
            "cobot_check_error": "",
        },
        create_defaults={
            "cobot_user_id": cobot_user_id,
            "source": source,
            "added_by": user,
            "cobot_checked_at": now,
            "cobot_confirmed_at": now,
        },
    )


def _connect_setup_failed(*, space: Space, previous: _PreviousToken, error: ServiceError) -> str:
    """Put a previously working token back (the new one is not proven); return what to tell the admin."""
    failed = space.access_token
    if previous.working and previous.token and previous.token != failed:
        restored = Space.objects.filter(pk=space.pk, token_generation=space.token_generation).update(
            access_token=previous.token,
            token_scopes=previous.scopes,
            token_generation=space.token_generation + 1,
            status=Space.Status.ACTIVE,
            last_error=f"Reconnecting failed while setting up at Cobot: {error}"[:1000],
        )
        if restored:
            space.refresh_from_db()
            _token_revoke_quietly(space, failed)
            return (
                f"Setting up webhooks and pages at Cobot with the new token failed ({error}); the space keeps "
                "its previous connection. Connect again to repair."
            )
    Space.objects.filter(pk=space.pk).update(last_error=f"Setting up at Cobot failed: {error}"[:1000])
    return f"Connected, but setting up webhooks and pages at Cobot failed ({error}). Connect again to repair."


def _token_revoke_quietly(space: Space, token: str) -> None:
    try:
        client.access_token_revoke(token=token)
    except ServiceError as exc:
        logger.info("could not revoke a replaced token of %s: %s", space.subdomain, exc)


def _connect_step(call):
    try:
        return call()
    except ServiceError as exc:
        if exc.is_auth:
            raise ConnectError(f"Cobot refused: {exc.message}. Sign in with Cobot again.") from None
        raise ConnectError(f"Talking to Cobot failed: {exc}") from None


def space_deliveries_resume(*, space: Space) -> int:
    """After a reconnect: the deliveries that waited for it go back in the queue."""
    return work_retry(space.deliveries.filter(status=WorkStatus.WAITING))


def space_cobot_setup_ensure(*, space: Space) -> dict:
    """Webhooks and navigation links at Cobot, each on its own: a scope the token lacks (403) makes that
    feature unavailable (shown on the overview); any other failure is raised once both were tried."""
    done, failures = {}, []
    for feature, ensure in (("subscriptions", subscriptions_ensure), ("navigation_links", navigation_links_ensure)):
        try:
            done[feature] = ensure(space=space)
        except ServiceError as exc:
            if exc.status == 401:
                raise
            feature_problem_record(space=space, feature=feature, error=exc)
            if exc.status != 403:
                failures.append(exc)
        else:
            feature_problem_clear(space=space, feature=feature)
    if failures:
        raise failures[0]
    return done


def subscriptions_ensure(*, space: Space) -> dict:
    """One active subscription per event we handle, with the current secret. Idempotent; repairs.

    An event Cobot refuses (422/404: not offered by this Cobot, e.g. a name from an unverified source)
    is recorded with Cobot's answer and tried again next time; it never stops the other events. Events
    of a feature the token lacks a scope for are left out until a new token grants it.
    """
    unusable = features_lacking_scope(space=space)  # e.g. no read_bookings: booking events could not be read
    wanted = {
        event: subscription_callback_url(space=space, event=event)
        for event in SUBSCRIBED_EVENTS
        if EVENT_FEATURES[event] not in unusable
    }
    counts = {"kept": 0, "created": 0, "deleted": 0, "refused": 0}
    kept: dict[str, dict] = {}
    refused: dict[str, str] = {}
    for subscription in client.subscriptions_list(space=space):
        if not subscription_is_ours(space, subscription.get("callback_url")):
            continue  # someone else's subscription
        event = subscription.get("event")
        if (
            wanted.get(event) == subscription.get("callback_url")
            and subscription.get("active", True)
            and event not in kept
        ):
            kept[event] = subscription
            counts["kept"] += 1
        elif subscription.get("id") is not None:
            # Deactivated by Cobot, an old secret, a duplicate, or an event we dropped.
            client.subscription_delete(space=space, subscription_cobot_id=str(subscription["id"]))
            counts["deleted"] += 1
    for event, callback_url in wanted.items():
        if event in kept:
            continue
        try:
            created = client.subscription_create(space=space, event=event, callback_url=callback_url)
        except ServiceError as exc:
            if exc.status not in (404, 422):
                raise
            refused[event] = client.refusal_message(exc)
            counts["refused"] += 1
            continue
        kept[event] = created or {}
        counts["created"] += 1
    _subscriptions_record(space, kept, refused)
    return counts


def _subscriptions_record(space: Space, kept: dict[str, dict], refused: dict[str, str]) -> None:
    """Our rows of the subscriptions at Cobot; unchanged rows are not written (the sync runs this often)."""
    with transaction.atomic():
        rows = {row.event: row for row in CobotSubscription.objects.select_for_update().filter(space=space)}
        for event, subscription in kept.items():
            values = {
                "cobot_id": str(subscription.get("id") or ""),
                "api_url": str(subscription.get("url") or "")[:500],
                "active": True,
                "refusal": "",
            }
            _subscription_row_write(space, rows.get(event), event, values)
        for event, message in refused.items():
            values = {"cobot_id": "", "api_url": "", "active": False, "refusal": message[:500]}
            _subscription_row_write(space, rows.get(event), event, values)
        CobotSubscription.objects.filter(space=space).exclude(event__in=[*kept, *refused]).delete()


def _subscription_row_write(space: Space, row: CobotSubscription | None, event: str, values: dict) -> None:
    if row is None:
        CobotSubscription.objects.create(space=space, event=event, **values)
    elif values_assign(row, values):
        row.save()


def navigation_links_ensure(*, space: Space) -> dict:
    """Our two pages in Cobot's navigation, once each. Idempotent; removes our duplicates."""
    wanted = {section: (label, embedded_page_url(space=space, url_name=name)) for section, label, name in NAVIGATION_LINKS}
    counts = {"kept": 0, "created": 0, "deleted": 0}
    kept: dict[str, dict] = {}
    for link in client.navigation_links_list(space=space):
        if not navigation_link_is_ours(space, link.get("iframe_url")):
            continue
        section = link.get("section")
        if section in wanted and wanted[section][1] == link.get("iframe_url") and section not in kept:
            kept[section] = link
            counts["kept"] += 1
        elif link.get("url"):
            client.navigation_link_delete(space=space, url=link["url"])
            counts["deleted"] += 1
    for section, (label, iframe_url) in wanted.items():
        if section not in kept:
            kept[section] = client.navigation_link_create(space=space, section=section, label=label, iframe_url=iframe_url)
            counts["created"] += 1
    with transaction.atomic():
        stored = {row.iframe_url: row for row in NavigationLink.objects.filter(space=space)}
        for section, link in kept.items():
            # A listing may lack `url`/`user_url`: what Cobot answered when we created the link still holds.
            row = stored.get(wanted[section][1])
            api_url = str(link.get("url") or (row.api_url if row else ""))
            NavigationLink.objects.update_or_create(
                space=space,
                section=section,
                defaults={
                    "label": str(link.get("label") or wanted[section][0])[:100],
                    "iframe_url": wanted[section][1],
                    "cobot_id": api_url.rstrip("/").rsplit("/", 1)[-1][:100],
                    "api_url": api_url[:500],
                    "user_url": str(link.get("user_url") or (row.user_url if row else ""))[:500],
                },
            )
        NavigationLink.objects.filter(space=space).exclude(section__in=list(wanted)).delete()
    return counts


# --- sync --------------------------------------------------------------------------------------------
def space_sync_enqueue(*, space: Space) -> None:
    """Ask a worker for a full sync of this space, once the current transaction commits."""
    pk = space.pk
    transaction.on_commit(lambda: space_sync_send(pk))


def space_sync_send(space_id: int) -> None:
    from django_q.tasks import async_task

    async_task("spaces.tasks.space_sync_task", space_id, task_name=f"sync space #{space_id}", group="spaces.sync")
