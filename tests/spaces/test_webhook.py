"""Cobot webhook intake: authenticate, check, store, answer — and every bad input's answer."""

import logging

import pytest
from django.urls import reverse

from accessbridge.webhooks import MAX_WEBHOOK_BODY_BYTES
from spaces.models import InboundDelivery, Space
from tests.spaces.conftest import cobot_payload, webhook_post, webhook_url


@pytest.fixture
def space(connected, harbour):
    harbour.requests.clear()  # only what the intake does counts from here
    return connected


def test_it_stores_a_delivery_and_answers_at_once_without_calling_cobot(client, space, harbour):
    response = webhook_post(client, space, "confirmed_membership", cobot_payload("confirmed_membership__basic", harbour))
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    delivery = InboundDelivery.objects.get()
    assert (delivery.source, delivery.space, delivery.event, delivery.status) == (
        "cobot", space, "confirmed_membership", "pending",
    )  # fmt: skip
    assert delivery.payload == cobot_payload("confirmed_membership__basic", harbour)
    assert harbour.requests == []


def test_the_same_delivery_five_times_is_stored_once(client, space, harbour):
    payload = cobot_payload("confirmed_membership__basic", harbour)
    for _ in range(5):
        assert webhook_post(client, space, "confirmed_membership", payload).status_code == 200
    delivery = InboundDelivery.objects.get()
    assert delivery.times_received == 5
    # The same body for another event is another delivery.
    webhook_post(client, space, "canceled_membership", payload)
    assert InboundDelivery.objects.count() == 2


def test_a_wrong_secret_is_a_404(client, space):
    response = webhook_post(client, space, "confirmed_membership", {"url": "x"}, secret="wrong-secret")
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    assert not InboundDelivery.objects.exists()


def test_an_unknown_or_disconnected_space_is_a_404(client, space):
    other = Space(subdomain="ghost")
    assert webhook_post(client, other, "confirmed_membership", {}, secret=space.webhook_secret).status_code == 404
    Space.objects.filter(pk=space.pk).update(status=Space.Status.DISCONNECTED)
    assert webhook_post(client, space, "confirmed_membership", {}).status_code == 404


def test_a_wrong_method_is_a_405(client, space):
    assert client.get(webhook_url(space, "confirmed_membership")).status_code == 405
    assert client.put(webhook_url(space, "confirmed_membership")).status_code == 405


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_malformed_json_is_a_400(client, space, body):
    response = webhook_post(client, space, "confirmed_membership", body)
    assert response.status_code == 400
    assert not InboundDelivery.objects.exists()


def test_an_oversized_body_is_a_413(client, space):
    body = '{"url": "%s"}' % ("x" * MAX_WEBHOOK_BODY_BYTES)
    assert webhook_post(client, space, "confirmed_membership", body).status_code == 413
    assert not InboundDelivery.objects.exists()


@pytest.mark.parametrize(
    "fixture", ["confirmed_membership__foreign_host", "confirmed_membership__other_space", "confirmed_membership__no_url"]
)
def test_a_url_off_the_space_host_is_a_400_and_nothing_is_fetched(client, space, harbour, fixture):
    response = webhook_post(client, space, "confirmed_membership", cobot_payload(fixture, harbour))
    assert response.status_code == 400
    assert not InboundDelivery.objects.exists()
    assert harbour.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "{space}/../dock/api/memberships/1",
        "{space}/%2e%2e/%2E%2E/dock/api/memberships/1",
        "{space}/..%5c..%5cdock/api/memberships/1",
        "{space}@attacker.example/api/memberships/1",
        "{root}/spaces/harbour-evil/api/memberships/1",
        "{root}/api/user",
        "javascript:alert(1)",
    ],
)
def test_tricky_urls_are_refused(client, space, harbour, url):
    url = url.format(space=harbour.space_api_url("harbour"), root=harbour.url)
    assert webhook_post(client, space, "confirmed_membership", {"url": url}).status_code == 400
    assert harbour.requests == []


def test_an_unknown_event_is_stored_as_ignored_and_answered_2xx(client, space, harbour):
    response = webhook_post(client, space, "created_invoice", cobot_payload("unknown_event__basic", harbour))
    assert response.status_code == 200
    delivery = InboundDelivery.objects.get()
    assert (delivery.event, delivery.status) == ("created_invoice", "ignored")
    assert harbour.requests == []


def test_delete_events_carry_the_object_instead_of_a_url(client, space, harbour):
    assert webhook_post(client, space, "deleted_membership", cobot_payload("deleted_membership__basic")).status_code == 200
    assert webhook_post(client, space, "deleted_booking", cobot_payload("deleted_booking__basic")).status_code == 200
    assert webhook_post(client, space, "deleted_booking", {"booking": {"title": "no id"}}).status_code == 400
    assert InboundDelivery.objects.count() == 2


def test_a_space_waiting_for_a_reconnect_still_accepts_deliveries(client, space, harbour):
    Space.objects.filter(pk=space.pk).update(status=Space.Status.RECONNECT_NEEDED)
    payload = cobot_payload("confirmed_membership__basic", harbour)
    assert webhook_post(client, space, "confirmed_membership", payload).status_code == 200


def test_the_webhook_url_is_the_one_we_subscribe(space):
    from spaces.services import subscription_callback_url

    assert subscription_callback_url(space=space, event="created_booking").endswith(
        reverse("cobot_webhook", args=[space.key, space.webhook_secret, "created_booking"])
    )


@pytest.mark.parametrize(
    "body, secret, status", [(b"{not json", None, 400), (b"{}", "a-wrong-secret-of-some-length", 404)]
)
def test_a_rejected_delivery_logs_its_path_without_the_secret(client, space, caplog, body, secret, status):
    caplog.set_level(logging.WARNING, logger="django.request")
    response = webhook_post(client, space, "confirmed_membership", body, secret=secret)
    assert response.status_code == status
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == (
        f"{'Bad Request' if status == 400 else 'Not Found'}: /hooks/cobot/{space.key}/[masked]/confirmed_membership/"
    )
    assert space.webhook_secret not in caplog.text and (secret or space.webhook_secret) not in caplog.text
