"""Connecting a space (pasted token, Cobot sign-in, command), repairing it, and disconnecting it."""

import logging

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_q.models import OrmQ

from accessbridge.http import ServiceError
from spaces.mirror import SUBSCRIBED_EVENTS
from spaces.models import CobotSubscription, InboundDelivery, Membership, NavigationLink, Space, SpaceAdmin
from tests.fakes.base import Response
from tests.fakes.cobot import ADMIN_WEBHOOK_EVENTS, SCOPES, WEBHOOK_EVENTS
from tests.spaces.conftest import ADMIN_TOKEN, BASE_URL

SUBSCRIPTIONS = "/spaces/harbour/api/subscriptions"
LINKS = "/spaces/harbour/api/navigation_links"


def paste(client, token=ADMIN_TOKEN, subdomain="harbour"):
    return client.post(reverse("space_connect_token"), {"subdomain": subdomain, "token": token})


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_we_subscribe_to_every_event_cobot_api_md_lists():
    # The admin events come from a third-party transcription only (issue 20): asked for, refusal allowed.
    assert set(SUBSCRIBED_EVENTS) == WEBHOOK_EVENTS | ADMIN_WEBHOOK_EVENTS


def test_it_connects_a_space_with_a_pasted_token(client, alice, harbour, base_url):
    client.force_login(alice)
    response = paste(client)
    space = Space.objects.get(subdomain="harbour")
    assert response.status_code == 302
    assert response["Location"] == reverse("space_detail", args=["harbour"])
    assert (space.status, space.name, space.cobot_space_id) == ("active", "Harbour Works", "space-harbour")
    assert SpaceAdmin.objects.get(space=space).user == alice
    assert SpaceAdmin.objects.get(space=space).cobot_user_id == "user-alice"

    # A space-bound token, not the pasted one, stored encrypted.
    bound = harbour.tokens[space.access_token]
    assert bound.space_id == "space-harbour" and space.access_token != ADMIN_TOKEN
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM spaces_space WHERE id = %s", [space.pk])
        assert space.access_token not in cursor.fetchone()[0]

    subscriptions = list(harbour.space("harbour").subscriptions.values())
    assert {s["event"] for s in subscriptions} == set(SUBSCRIBED_EVENTS)
    for s in subscriptions:
        assert s["callback_url"] == f"{BASE_URL}/hooks/cobot/{space.key}/{space.webhook_secret}/{s['event']}/"
    assert CobotSubscription.objects.filter(space=space, active=True).count() == len(SUBSCRIBED_EVENTS)

    links = {link["section"]: link for link in harbour.space("harbour").navigation_links.values()}
    assert set(links) == {"admin/manage", "members"}
    assert links["admin/manage"]["iframe_url"] == f"{BASE_URL}/embedded/{space.key}/admin/"
    assert links["members"]["iframe_url"] == f"{BASE_URL}/embedded/{space.key}/member/"
    assert NavigationLink.objects.filter(space=space).count() == 2


def test_connecting_again_repairs_what_is_missing_and_duplicates_nothing(connected, harbour, alice):
    at_cobot = harbour.space("harbour")
    first_token = connected.access_token
    lost = next(iter(at_cobot.subscriptions))
    del at_cobot.subscriptions[lost]
    at_cobot.navigation_links.pop(next(iter(at_cobot.navigation_links)))
    posts_before = harbour.calls("POST", SUBSCRIPTIONS)

    client = Client()
    client.force_login(alice)
    assert paste(client).status_code == 302

    assert len(at_cobot.subscriptions) == len(SUBSCRIBED_EVENTS)
    assert len({(s["event"], s["callback_url"]) for s in at_cobot.subscriptions.values()}) == len(SUBSCRIBED_EVENTS)
    assert sorted(link["section"] for link in at_cobot.navigation_links.values()) == ["admin/manage", "members"]
    assert harbour.calls("POST", SUBSCRIPTIONS) - posts_before == 1
    assert harbour.tokens[first_token].revoked  # the previous space token does not linger
    assert SpaceAdmin.objects.filter(space=connected).count() == 1


def test_it_replaces_subscriptions_cobot_deactivated_or_made_with_an_old_secret(connected, harbour):
    from spaces.services import space_connect

    at_cobot = harbour.space("harbour")
    deactivated = next(s for s in at_cobot.subscriptions.values() if s["event"] == "confirmed_membership")
    deactivated["active"] = False
    stale = next(s for s in at_cobot.subscriptions.values() if s["event"] == "created_booking")
    stale["callback_url"] = stale["callback_url"].replace(connected.webhook_secret, "old-secret")
    harbour.add_user("token-other", admin_of=["harbour"])
    someone_elses = {"id": "x1", "event": "created_booking", "url": "", "active": True, "callback_url": "https://zapier.example/h"}
    at_cobot.subscriptions["x1"] = someone_elses

    space_connect(subdomain="harbour", user_token=ADMIN_TOKEN)

    ours = [s for s in at_cobot.subscriptions.values() if s["id"] != "x1"]
    assert len(ours) == len(SUBSCRIBED_EVENTS)
    assert all(s["active"] and connected.webhook_secret in s["callback_url"] for s in ours)
    assert at_cobot.subscriptions["x1"] == someone_elses  # never touch another integration's hooks


def test_a_409_from_cobot_means_the_subscription_is_already_there(connected, harbour):
    from spaces.services import space_connect

    # Cobot's list is momentarily missing our subscriptions, so we try to create them: each gets 409.
    harbour.force(Response(200, []), path=f"^{SUBSCRIPTIONS}$")
    space_connect(subdomain="harbour", user_token=ADMIN_TOKEN)
    assert len(harbour.space("harbour").subscriptions) == len(SUBSCRIBED_EVENTS)
    assert CobotSubscription.objects.filter(space=connected, active=True).count() == len(SUBSCRIBED_EVENTS)


def test_it_refuses_a_token_of_someone_who_does_not_administer_the_space(client, alice, harbour, base_url):
    harbour.add_user("token-charlie", admin_of=["dock"])
    client.force_login(alice)
    response = paste(client, token="token-charlie")
    assert response.status_code == 302 and response["Location"] == reverse("dashboard") + "?subdomain=harbour"
    assert "does not administer the Cobot space “harbour”" in messages_of(client.get(reverse("dashboard")))[0]
    assert not Space.objects.exists()
    assert harbour.calls("POST", r"/api/access_tokens/.*/space") == 0


def test_a_token_lacking_a_scope_connects_and_names_what_is_unavailable(client, alice, harbour, base_url):
    harbour.add_user("token-narrow", admin_of=["harbour"], scopes=[s for s in SCOPES if s != "navigation"])
    client.force_login(alice)
    paste(client, token="token-narrow")
    space = Space.objects.get(subdomain="harbour")
    assert space.status == "active"
    assert len(harbour.space("harbour").subscriptions) == len(SUBSCRIBED_EVENTS)  # webhooks need no `navigation`
    assert harbour.space("harbour").navigation_links == {}

    body = client.get(reverse("space_detail", args=["harbour"])).content.decode()
    assert "Pages inside Cobot" in body and "<code>navigation</code>" in body
    assert "sign in with Cobot again to grant it" in body
    assert "Members</strong>" not in body  # only what lacks a scope is listed


def test_it_says_so_when_cobot_rejects_the_pasted_token(client, alice, harbour, base_url):
    client.force_login(alice)
    paste(client, token="no-such-token")
    (message,) = messages_of(client.get(reverse("dashboard")))
    assert "Cobot refused" in message and "invalid_token" in message


def test_a_malformed_subdomain_is_refused_before_calling_cobot(client, alice, harbour, base_url):
    client.force_login(alice)
    paste(client, subdomain="https://harbour.cobot.me")
    assert "Only the subdomain" in messages_of(client.get(reverse("dashboard")))[0]
    assert harbour.requests == []


def cobot_sign_in_of(user, cobot, token=ADMIN_TOKEN):
    """What "Sign in with Cobot" leaves behind: the social account and its stored token."""
    import requests

    profile = requests.get(f"{cobot.url}/api/user", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    account = SocialAccount.objects.create(user=user, provider="cobot", uid=profile["id"], extra_data=profile)
    SocialToken.objects.create(account=account, token=token)
    return account


def test_the_dashboard_lists_my_cobot_spaces_and_connects_one(client, alice, harbour, base_url, cobot_app):
    cobot_sign_in_of(alice, harbour)
    client.force_login(alice)
    page = client.get(reverse("dashboard"))
    assert b"Harbour Works" in page.content
    assert b'name="subdomain" value="harbour"' in page.content

    response = client.post(reverse("space_connect"), {"subdomain": "harbour"})
    assert response.status_code == 302
    space = Space.objects.get(subdomain="harbour")
    assert space.status == "active" and SpaceAdmin.objects.filter(user=alice, space=space).exists()
    assert len(harbour.space("harbour").subscriptions) == len(SUBSCRIBED_EVENTS)


def test_the_stored_cobot_token_is_encrypted(alice, harbour):
    from spaces.cobot.accounts import cobot_user_token

    cobot_sign_in_of(alice, harbour)
    assert SocialToken.objects.get().token != ADMIN_TOKEN
    assert cobot_user_token(alice) == ADMIN_TOKEN


def test_connecting_from_the_list_needs_a_cobot_sign_in(client, alice, harbour, base_url):
    client.force_login(alice)
    client.post(reverse("space_connect"), {"subdomain": "harbour"})
    assert "Sign in with Cobot first" in messages_of(client.get(reverse("dashboard")))[0]
    assert not Space.objects.exists()


def test_the_connect_space_command(alice, harbour, base_url, capsys):
    call_command("connect_space", subdomain="harbour", token=ADMIN_TOKEN, admin=alice.email)
    space = Space.objects.get(subdomain="harbour")
    assert space.status == "active" and SpaceAdmin.objects.filter(user=alice, space=space).exists()
    assert "Connected Harbour Works" in capsys.readouterr().out
    with pytest.raises(CommandError, match="does not administer"):
        call_command("connect_space", subdomain="dock", token=ADMIN_TOKEN)
    with pytest.raises(CommandError, match="No user"):
        call_command("connect_space", subdomain="harbour", token=ADMIN_TOKEN, admin="nobody@example.org")


def test_it_disconnects_and_keeps_the_history(client, alice, connected, harbour):
    Membership.objects.create(space=connected, cobot_id="m1", name="Ada", status="confirmed")
    token, secret = connected.access_token, connected.webhook_secret
    client.force_login(alice)

    page = client.get(reverse("space_disconnect", args=["harbour"]))
    assert page.status_code == 200 and b"Disconnect Harbour Works from Cobot?" in page.content
    assert len(harbour.space("harbour").subscriptions) == len(SUBSCRIBED_EVENTS)  # GET changes nothing

    response = client.post(reverse("space_disconnect", args=["harbour"]))
    assert response.status_code == 302
    at_cobot = harbour.space("harbour")
    assert at_cobot.subscriptions == {} and at_cobot.navigation_links == {}
    assert harbour.tokens[token].revoked
    connected.refresh_from_db()
    assert (connected.status, connected.access_token) == ("disconnected", "")
    assert connected.webhook_secret != secret  # leftovers at Cobot could no longer deliver
    assert Membership.objects.filter(space=connected).count() == 1
    assert SpaceAdmin.objects.filter(space=connected, user=alice).exists()


def test_disconnecting_with_a_revoked_token_still_disconnects_here(alice, connected, harbour, capsys):
    harbour.revoke_token(connected.access_token)
    call_command("disconnect_space", "harbour")
    connected.refresh_from_db()
    assert connected.status == "disconnected"
    assert "Could not remove the webhook subscriptions at Cobot" in connected.last_error
    assert "Disconnected Harbour Works" in capsys.readouterr().out


def test_state_changes_need_post_and_a_csrf_token(alice, connected, harbour):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    for name in ("space_disconnect", "space_reconnect", "space_sync_now", "space_deliveries_retry"):
        assert client.post(reverse(name, args=["harbour"])).status_code == 403
    for name in ("space_reconnect", "space_sync_now", "space_deliveries_retry"):
        assert client.get(reverse(name, args=["harbour"])).status_code == 405
    for name in ("space_connect", "space_connect_token"):
        assert client.get(reverse(name)).status_code == 405
    assert len(harbour.space("harbour").subscriptions) == len(SUBSCRIBED_EVENTS)


# --- tokens stay out of the logs ---------------------------------------------------------------------
@pytest.mark.parametrize("status", [403, 500])
def test_cobot_token_calls_that_fail_never_log_the_token(harbour, caplog, status):
    from spaces.cobot import client as cobot_client

    caplog.set_level(logging.INFO)
    harbour.force(Response(status, {"error": "nope"}), path="/api/access_tokens/", times=3)
    for call in (
        lambda: cobot_client.access_token_revoke(token=ADMIN_TOKEN),
        lambda: cobot_client.access_token_bind(token=ADMIN_TOKEN, space_id="space-harbour"),
    ):
        with pytest.raises(ServiceError):
            call()
    assert cobot_client.access_token_scopes(token=ADMIN_TOKEN) is None  # optional: Cobot did not say
    assert ADMIN_TOKEN not in caplog.text
    assert caplog.text.count("/api/access_tokens/[masked]") == 3


# --- connecting queues a sync, and a reconnect keeps what works until the new token is proven -------
def sync_tasks() -> list:
    return [q.task["args"] for q in OrmQ.objects.all() if q.task["func"] == "spaces.tasks.space_sync_task"]


def test_connecting_queues_a_full_sync(harbour, alice, base_url, django_capture_on_commit_callbacks):
    from spaces.services import space_connect

    with django_capture_on_commit_callbacks(execute=True):
        space = space_connect(subdomain="harbour", user_token=ADMIN_TOKEN, user=alice)
    assert sync_tasks() == [(space.pk,)]
    with django_capture_on_commit_callbacks(execute=True):
        space_connect(subdomain="harbour", user_token=ADMIN_TOKEN)  # a reconnect, too
    assert sync_tasks() == [(space.pk,), (space.pk,)]


def test_a_reconnect_whose_setup_fails_keeps_the_working_token(connected, harbour):
    from spaces.services import ConnectError, space_connect

    working, generation = connected.access_token, connected.token_generation
    harbour.force(Response(500, {"error": "down"}), path=f"^{SUBSCRIPTIONS}$")
    with pytest.raises(ConnectError, match="keeps its previous connection"):
        space_connect(subdomain="harbour", user_token=ADMIN_TOKEN)

    connected.refresh_from_db()
    assert (connected.status, connected.access_token) == ("active", working)
    assert not harbour.tokens[working].revoked
    assert connected.token_generation == generation + 2  # the new token, then the old one again
    assert "Reconnecting failed" in connected.last_error
    unproven = [t for t in harbour.tokens.values() if t.space_id and t.token != working]
    assert len(unproven) == 1 and unproven[0].revoked


def test_a_reconnect_resumes_waiting_work_with_the_new_token_even_if_setup_then_fails(connected, harbour):
    from spaces.services import ConnectError, space_connect

    dead = connected.access_token
    harbour.revoke_token(dead)
    Space.objects.filter(pk=connected.pk).update(status=Space.Status.RECONNECT_NEEDED)
    waiting = InboundDelivery.objects.create(
        source="cobot", space=connected, event="confirmed_membership", dedupe_key="k", status="waiting"
    )
    harbour.force(Response(500, {"error": "down"}), path=f"^{SUBSCRIPTIONS}$")
    with pytest.raises(ConnectError, match="Connect again to repair"):
        space_connect(subdomain="harbour", user_token=ADMIN_TOKEN)

    connected.refresh_from_db()
    # The previous token was refused already: the new one stays, and the work waiting for it goes.
    assert connected.status == "active" and connected.access_token != dead
    assert not harbour.tokens[connected.access_token].revoked
    waiting.refresh_from_db()
    assert waiting.status == "pending"


def test_a_reconnect_revokes_the_previous_token_only_after_setup_worked(connected, harbour):
    from spaces.services import space_connect

    previous = connected.access_token
    revokes_before = harbour.calls("DELETE", r"/api/access_tokens/.*")
    space_connect(subdomain="harbour", user_token=ADMIN_TOKEN)
    setup_calls = [i for i, r in enumerate(harbour.requests) if r.path.startswith("/spaces/harbour/api/")]
    (revoke,) = [i for i, r in enumerate(harbour.requests) if r.method == "DELETE" and "/access_tokens/" in r.path]
    assert harbour.calls("DELETE", r"/api/access_tokens/.*") == revokes_before + 1
    assert revoke > max(setup_calls)
    assert harbour.tokens[previous].revoked


# --- the space's time zone ---------------------------------------------------------------------------
def space_details(time_zone_name: str) -> Response:
    body = {"id": "space-harbour", "name": "Harbour Works", "subdomain": "harbour", "time_zone_name": time_zone_name}
    return Response(200, body)


def test_connecting_stores_the_space_time_zone(harbour, base_url, db):
    from spaces.services import space_connect

    harbour.force(space_details("Europe/Berlin"), path="^/api/spaces/harbour$")
    assert space_connect(subdomain="harbour", user_token=ADMIN_TOKEN).time_zone == "Europe/Berlin"
    harbour.force(space_details("Berlin"), path="^/api/spaces/harbour$")  # not an IANA name: kept
    assert space_connect(subdomain="harbour", user_token=ADMIN_TOKEN).time_zone == "Europe/Berlin"


def test_a_time_zone_must_be_an_iana_name(db):
    with pytest.raises(ValidationError) as excinfo:
        Space(subdomain="harbour", time_zone="Mars/Olympus_Mons").full_clean()
    assert "time_zone" in excinfo.value.message_dict


def test_the_connect_space_command_refuses_a_malformed_subdomain_before_calling_cobot(harbour, base_url, db):
    for subdomain in ("https://harbour.cobot.me", "harbour.cobot.me", "harbour_works", "a" * 101):
        with pytest.raises(CommandError, match="is not a Cobot subdomain"):
            call_command("connect_space", subdomain=subdomain, token=ADMIN_TOKEN)
    assert harbour.requests == []
