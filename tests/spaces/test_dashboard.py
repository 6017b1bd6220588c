"""The space overview page: connection, subscriptions, links, mirror counts, sync result, failed work."""

import pytest
from django.urls import reverse
from django.utils import timezone

from spaces.models import InboundDelivery, Membership, Space


def test_the_overview_shows_the_connection_and_the_mirror(client, alice, connected, harbour):
    Membership.objects.create(space=connected, cobot_id="m1", status="confirmed")
    Membership.objects.create(space=connected, cobot_id="m2", status="canceled")
    Space.objects.filter(pk=connected.pk).update(
        last_synced_at=timezone.now(),
        last_sync_result={"ok": True, "changed_rows": 7, "memberships": {"listed": 2}, "cobot_calls": 5, "error_count": 0},
    )
    client.force_login(alice)
    body = client.get(reverse("space_detail", args=["harbour"])).content.decode()
    assert "Connected" in body
    assert "Members mirrored</dt><dd>2" in body and "confirmed: 1" in body and "canceled: 1" in body
    assert "7 rows changed" in body and "5 Cobot calls" in body
    assert "confirmed_membership" in body and "deleted_checkin_token" in body  # subscriptions
    assert "Door access" in body and "(admin/manage)" in body and "(members)" in body  # navigation links
    assert "Sync now" in body
    assert "Reconnect needed" not in body
    assert connected.webhook_secret not in body and connected.access_token not in body


def test_failed_and_waiting_deliveries_show_with_a_retry(client, alice, connected):
    failed = InboundDelivery.objects.create(
        source="cobot", space=connected, event="confirmed_membership", dedupe_key="a", status="failed",
        last_error="Cobot: HTTP 422: nope", attempts=8,
    )  # fmt: skip
    waiting = InboundDelivery.objects.create(
        source="cobot", space=connected, event="created_booking", dedupe_key="b", status="waiting"
    )
    InboundDelivery.objects.create(source="cobot", space=connected, event="created_booking", dedupe_key="c", status="done")
    client.force_login(alice)
    body = client.get(reverse("space_detail", args=["harbour"])).content.decode()
    assert "HTTP 422: nope" in body and "Needs attention" in body  # the one list (locks.attention)
    assert f'name="pk" value="{failed.pk}"' in body and f'name="pk" value="{waiting.pk}"' in body

    client.post(reverse("space_deliveries_retry", args=["harbour"]), {"delivery_id": failed.pk})
    failed.refresh_from_db()
    waiting.refresh_from_db()
    assert (failed.status, failed.attempts, waiting.status) == ("pending", 0, "waiting")
    client.post(reverse("space_deliveries_retry", args=["harbour"]))
    assert set(InboundDelivery.objects.values_list("status", flat=True)) == {"pending", "done"}


def test_a_space_needing_a_reconnect_says_so_with_a_button(client, alice, connected):
    Space.objects.filter(pk=connected.pk).update(status="reconnect_needed", last_error="Cobot: HTTP 401: invalid_token")
    client.force_login(alice)
    body = client.get(reverse("space_detail", args=["harbour"])).content.decode()
    assert "Reconnect needed" in body and "HTTP 401: invalid_token" in body
    assert "Sync now" not in body


def test_reconnect_uses_my_cobot_sign_in(client, alice, connected, harbour):
    from allauth.socialaccount.models import SocialAccount, SocialToken

    from tests.spaces.conftest import ADMIN_TOKEN

    account = SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    SocialToken.objects.create(account=account, token=ADMIN_TOKEN)
    harbour.revoke_token(connected.access_token)
    Space.objects.filter(pk=connected.pk).update(status="reconnect_needed")
    client.force_login(alice)
    response = client.post(reverse("space_reconnect", args=["harbour"]))
    assert response.status_code == 302
    connected.refresh_from_db()
    assert connected.status == "active" and not harbour.tokens[connected.access_token].revoked


def test_reconnect_without_a_cobot_sign_in_says_what_to_do(client, alice, connected):
    client.force_login(alice)
    response = client.post(reverse("space_reconnect", args=["harbour"]), follow=True)
    assert b"Sign in with Cobot first, or paste a new token" in response.content


def test_the_dashboard_offers_the_paste_form_and_hides_cobot_sign_in_without_an_app(client, alice, db):
    client.force_login(alice)
    body = client.get(reverse("dashboard")).content.decode()
    assert "Or paste a Cobot access token" in body
    assert "Sign in with Cobot is not configured" in body


def test_the_dashboard_offers_cobot_sign_in_with_an_app(client, alice, cobot_app):
    client.force_login(alice)
    body = client.get(reverse("dashboard")).content.decode()
    assert f'action="{reverse("cobot_login")}?process=connect&amp;next=%2Fdashboard%2F"' in body


@pytest.mark.parametrize(
    "base_url, reason",
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000 is not an https:// address"),
        ("https://localhost:8443", "https://localhost:8443 is not on the internet"),
        ("https://10.0.0.5", "https://10.0.0.5 is not on the internet"),
        ("https://bridge", "https://bridge is not on the internet"),
        ("https://accessbridge.example.com", ""),
        ("https://203.0.113.1", "https://203.0.113.1 is not on the internet"),  # documentation range
    ],
)
def test_it_says_when_cobot_cannot_reach_our_webhooks(settings, base_url, reason):
    from spaces.selectors import webhooks_unreachable_reason

    settings.ACCESSBRIDGE_BASE_URL = base_url
    assert webhooks_unreachable_reason() == reason


def test_a_local_run_shows_why_changes_arrive_with_the_sync(client, alice, space_a, settings):
    client.force_login(alice)
    settings.ACCESSBRIDGE_BASE_URL = "http://127.0.0.1:8000"
    for url in (reverse("dashboard"), reverse("space_detail", args=[space_a.subdomain])):
        assert "Cobot cannot send webhooks here: http://127.0.0.1:8000 is not an https:// address" in (
            client.get(url).content.decode()
        )
    settings.ACCESSBRIDGE_BASE_URL = "https://accessbridge.example.com"
    assert "Cobot cannot send webhooks here" not in client.get(reverse("dashboard")).content.decode()


def test_connect_reconnect_sync_and_disconnect_are_in_the_audit_trail_with_who(client, alice, harbour, base_url):
    from allauth.socialaccount.models import SocialAccount, SocialToken

    from locks.models import AuditEntry
    from tests.spaces.conftest import ADMIN_TOKEN

    client.force_login(alice)
    client.post(reverse("space_connect_token"), {"subdomain": "harbour", "token": ADMIN_TOKEN})
    account = SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    SocialToken.objects.create(account=account, token=ADMIN_TOKEN)
    client.post(reverse("space_reconnect", args=["harbour"]))
    client.post(reverse("space_sync_now", args=["harbour"]))
    client.post(reverse("space_disconnect", args=["harbour"]))
    entries = AuditEntry.objects.filter(space__subdomain="harbour").order_by("created_at", "pk")
    assert [(e.action, e.actor) for e in entries] == [
        ("space_connect", alice), ("space_reconnect", alice), ("space_sync_now", alice), ("space_disconnect", alice),
    ]  # fmt: skip


def test_a_failed_connect_keeps_the_subdomain_typed_but_never_the_token(client, alice, harbour, base_url):
    client.force_login(alice)
    response = client.post(reverse("space_connect_token"), {"subdomain": "harbour", "token": "wrong-token"}, follow=True)
    body = response.content.decode()
    assert 'value="harbour"' in body and "wrong-token" not in body
    assert "copy it again from Cobot and paste it here" in body and "Sign in with Cobot again" not in body


def test_the_overview_refreshes_its_facts_until_the_first_sync_has_run(client, alice, connected):
    from django.utils import timezone

    client.force_login(alice)
    Space.objects.filter(pk=connected.pk).update(last_synced_at=None)
    body = client.get(reverse("space_detail", args=["harbour"])).content.decode()
    assert 'hx-select="#space-facts"' in body
    Space.objects.filter(pk=connected.pk).update(last_synced_at=timezone.now())
    assert 'hx-select="#space-facts"' not in client.get(reverse("space_detail", args=["harbour"])).content.decode()
