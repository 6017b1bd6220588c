"""Disconnecting a space from Cobot: remove what we created there, revoke the token, keep the history.

What cannot be removed (a listing without the URL needed and no stored one, a refusal) is reported with
where to remove it by hand, never passed over as done.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from accessbridge.http import ServiceError
from spaces.cobot import client
from spaces.feature_problems import feature_problem_record, feature_problems_reset
from spaces.models import CobotSubscription, NavigationLink, Space, new_secret
from spaces.services import navigation_link_is_ours, subscription_is_ours


@dataclass(frozen=True)
class _Leftover:
    """Something of ours that stays at Cobot after disconnecting, and where to remove it by hand."""

    feature: str
    message: str
    by_hand_url: str


def space_disconnect(*, space: Space) -> list[str]:
    """Remove our subscriptions and navigation links at Cobot, revoke the token, keep the history.

    Returns what could not be done at Cobot (e.g. the token was already revoked); the local side is
    disconnected regardless, and the webhook secret changes so that leftovers can no longer deliver.
    What stays at Cobot is also listed on the overview, with where to remove it by hand.
    """
    problems, leftovers = [], []
    if space.access_token:
        for feature, step in (("subscriptions", _subscriptions_remove), ("navigation_links", _navigation_links_remove)):
            try:
                leftovers.extend(step(space))
            except ServiceError as exc:
                message = f"Could not remove the webhook subscriptions at Cobot ({exc}); they can no longer deliver."
                if feature == "navigation_links":
                    message = f"Could not remove our pages from Cobot's navigation ({exc})."
                leftovers.append(_Leftover(feature, message, space.cobot_url))
        problems.extend(f"{leftover.message} Remove it by hand in Cobot: {leftover.by_hand_url}" for leftover in leftovers)
        try:
            client.access_token_revoke(token=space.access_token)
        except ServiceError as exc:
            problems.append(f"Could not revoke the token at Cobot: {exc}")
    with transaction.atomic():
        Space.objects.filter(pk=space.pk).update(
            status=Space.Status.DISCONNECTED,
            access_token="",
            token_scopes="",
            token_generation=F("token_generation") + 1,
            webhook_secret=new_secret(),
            last_error=" ".join(problems)[:1000],
        )
        space.refresh_from_db(
            fields=["status", "access_token", "token_scopes", "token_generation", "webhook_secret", "last_error"]
        )
        CobotSubscription.objects.filter(space=space).update(active=False)
        NavigationLink.objects.filter(space=space).delete()
        _leftovers_record(space, leftovers)
    return problems


def _leftovers_record(space: Space, leftovers: list[_Leftover]) -> None:
    """The token is gone, and with it what it could not do; what stays at Cobot is listed instead."""
    feature_problems_reset(space=space, granted=None)
    for feature in dict.fromkeys(leftover.feature for leftover in leftovers):
        mine = [leftover for leftover in leftovers if leftover.feature == feature]
        message = " ".join(leftover.message for leftover in mine)
        feature_problem_record(space=space, feature=feature, error=message, action_url=mine[0].by_hand_url)


def _subscriptions_remove(space: Space) -> list[_Leftover]:
    for subscription in client.subscriptions_list(space=space):
        if subscription_is_ours(space, subscription.get("callback_url")) and subscription.get("id") is not None:
            client.subscription_delete(space=space, subscription_cobot_id=str(subscription["id"]))
    return []


def _navigation_links_remove(space: Space) -> list[_Leftover]:
    """By the url Cobot lists, else the one Cobot gave us at creation (our rows); what stays is returned."""
    stored = {row.iframe_url: row for row in NavigationLink.objects.filter(space=space)}
    try:
        listed = [link for link in client.navigation_links_list(space=space) if navigation_link_is_ours(space, link.get("iframe_url"))]
    except ServiceError as exc:
        if exc.status == 401:
            raise
        listed = [{"iframe_url": iframe_url} for iframe_url in stored]  # our rows say what we created
    leftovers = []
    for link in listed:
        row = stored.get(link.get("iframe_url"))
        label = link.get("label") or (row.label if row else "") or link.get("iframe_url")
        try:
            url = link.get("url") or (row.api_url if row else "")
            if not url:
                raise ServiceError("neither Cobot's list nor our records name its URL", service=client.SERVICE)
            client.navigation_link_delete(space=space, url=url)
        except ServiceError as exc:
            if exc.status == 401:
                raise
            by_hand = link.get("user_url") or (row.user_url if row else "") or space.cobot_url
            message = f"Could not remove the page “{label}” from Cobot's navigation: {exc}."
            leftovers.append(_Leftover("navigation_links", message, str(by_hand)))
    return leftovers
