"""End to end over real HTTP: AccessBridge on pytest-django's live server, Cobot played by the stand-in.

The stand-in POSTs webhooks to the live server exactly as Cobot would (its `deliver`). The intake only
stores and queues; these tests then run the queued work in this process with work_run_due(), as a
worker would (no django-q cluster, and Q_CLUSTER is not switched to sync: the request must not do it).
"""

import threading

import pytest
from django.urls import reverse

from accessbridge.work import work_run_due
from spaces.mirror import SUBSCRIBED_EVENTS
from spaces.models import InboundDelivery, Membership, Space
from tests.spaces.conftest import ADMIN_TOKEN, MEMBER_ID, cobot_payload


@pytest.fixture
def bridge(live_server, settings):
    """AccessBridge's public URL is the live server: callbacks at the stand-in point to it."""
    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


def connect(admin_client) -> Space:
    response = admin_client.post(reverse("space_connect_token"), {"subdomain": "harbour", "token": ADMIN_TOKEN})
    assert response.status_code == 302, response
    return Space.objects.get(subdomain="harbour")


def test_connect_deliver_cancel_disconnect(bridge, harbour, ada, admin_client):
    space = connect(admin_client)
    at_cobot = harbour.space("harbour")
    callbacks = {s["event"]: s["callback_url"] for s in at_cobot.subscriptions.values()}
    assert set(callbacks) == set(SUBSCRIBED_EVENTS)
    assert callbacks["confirmed_membership"] == (
        f"{bridge}/hooks/cobot/{space.key}/{space.webhook_secret}/confirmed_membership/"
    )
    assert {(link["section"], link["iframe_url"]) for link in at_cobot.navigation_links.values()} == {
        ("admin/manage", f"{bridge}/embedded/{space.key}/admin/"),
        ("members", f"{bridge}/embedded/{space.key}/member/"),
    }

    # Cobot confirms Ada: it POSTs to our callback, we store and answer, a worker mirrors her.
    results = harbour.deliver("harbour", "confirmed_membership", cobot_payload("confirmed_membership__basic", harbour))
    assert results == [(callbacks["confirmed_membership"], 200)]
    assert not Membership.objects.exists()  # nothing was fetched inside the request
    assert work_run_due() == 1
    membership = Membership.objects.get(space=space, cobot_id=MEMBER_ID)
    assert (membership.name, membership.status) == ("Ada Lovelace", "confirmed")

    harbour.cancel_membership("harbour", MEMBER_ID, "2999/12/31")
    results = harbour.deliver("harbour", "canceled_membership", cobot_payload("canceled_membership__basic", harbour))
    assert results == [(callbacks["canceled_membership"], 200)]
    work_run_due()
    membership.refresh_from_db()
    assert (membership.status, str(membership.canceled_to)) == ("canceled", "2999-12-31")

    assert admin_client.post(reverse("space_disconnect", args=["harbour"])).status_code == 302
    assert at_cobot.subscriptions == {} and at_cobot.navigation_links == {}
    assert all(t.revoked for t in harbour.tokens.values() if t.space_id == at_cobot.id)
    assert harbour.deliver("harbour", "confirmed_membership", cobot_payload("confirmed_membership__basic", harbour)) == []
    assert Membership.objects.get(pk=membership.pk).status == "canceled"  # history kept


def test_the_same_delivery_five_times_makes_one_delivery_and_one_membership(bridge, harbour, ada, admin_client):
    connect(admin_client)
    payload = cobot_payload("confirmed_membership__basic", harbour)
    for _ in range(5):
        assert [status for _, status in harbour.deliver("harbour", "confirmed_membership", payload)] == [200]
    work_run_due()
    delivery = InboundDelivery.objects.get()
    assert (delivery.times_received, delivery.status) == (5, "done")
    assert Membership.objects.count() == 1


@pytest.mark.postgres_only
def test_the_same_delivery_five_times_at_once_makes_one_delivery_and_one_membership(bridge, harbour, ada, admin_client):
    connect(admin_client)
    payload = cobot_payload("confirmed_membership__basic", harbour)
    statuses, start = [], threading.Barrier(5)

    def post():
        start.wait()
        statuses.extend(status for _, status in harbour.deliver("harbour", "confirmed_membership", payload))

    threads = [threading.Thread(target=post) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 5
    assert InboundDelivery.objects.get().times_received == 5
    work_run_due()
    assert Membership.objects.count() == 1


@pytest.mark.parametrize("fixture", ["confirmed_membership__foreign_host", "confirmed_membership__other_space"])
def test_a_url_off_the_space_host_is_refused_and_nothing_is_fetched(bridge, harbour, admin_client, fixture):
    connect(admin_client)
    harbour.requests.clear()
    results = harbour.deliver("harbour", "confirmed_membership", cobot_payload(fixture, harbour))
    assert [status for _, status in results] == [400]
    assert work_run_due() == 0
    assert harbour.requests == []  # the stand-in (either space) was never asked for anything
    assert not InboundDelivery.objects.exists()


def test_a_revoked_token_makes_work_wait_and_reconnecting_resumes_it(bridge, harbour, ada, admin_client):
    space = connect(admin_client)
    harbour.revoke_token(space.access_token)
    harbour.deliver("harbour", "confirmed_membership", cobot_payload("confirmed_membership__basic", harbour))
    work_run_due()
    assert InboundDelivery.objects.get().status == "waiting"
    page = admin_client.get(reverse("space_detail", args=["harbour"]))
    assert b"Reconnect needed" in page.content

    connect(admin_client)  # Alice pastes her (still valid) user token again
    assert Space.objects.get(pk=space.pk).status == "active"
    work_run_due()
    assert InboundDelivery.objects.get().status == "done"
    assert Membership.objects.get(cobot_id=MEMBER_ID).status == "confirmed"
