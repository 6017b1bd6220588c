"""All the way: Cobot (stand-in) POSTs its webhooks to AccessBridge on the live server, the mirror fetches
and stores, its signal queues an access sync, the engine drives SmartLock (stand-in) and registers the
check-in token at Cobot; SmartLock's lock-opened webhook then checks the member in at Cobot."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from locks.models import AccessEvent, AccessSyncJob, VendorAccount
from locks.selectors import connection_webhook_url
from spaces.models import Membership
from spaces.services import subscriptions_ensure
from tests.locks.conftest import rule_for, run_work


@pytest.fixture
def bridge(live_server, settings, cobot_space):
    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    subscriptions_ensure(space=cobot_space)
    return cobot_space


def deliver(cobot, event, url):
    assert [status for _, status in cobot.deliver("space-a", event, url)] == [200], event


def vendor_state(smartlock, cobot):
    return (
        sorted(u["email"] for u in smartlock.users.values()),
        sorted(cobot.space("space-a").check_in_tokens.values()),
        sorted(VendorAccount.objects.values_list("membership__cobot_id", "status")),
    )


def test_from_cobots_webhooks_to_smartlock_and_back(bridge, cobot, smartlock, connection, front_door):
    rule_for(bridge, front_door)
    data = cobot.add_membership("space-a", name="Ada Lovelace", email="ada@example.org")
    membership_url = cobot.membership_url("space-a", data["id"])

    deliver(cobot, "confirmed_membership", membership_url)
    run_work()
    ada = Membership.objects.get(cobot_id=data["id"])
    user = smartlock.user_by_email("ada@example.org")
    assert cobot.space("space-a").check_in_tokens == {user["id"]: data["id"]}
    assert VendorAccount.objects.get(membership=ada).vendor_person_id == user["id"]

    webhook = connection_webhook_url(connection=connection, reveal=True)
    assert smartlock.lock_opened(webhook, user["id"], door_id="lock_1") == 200
    run_work()
    assert AccessEvent.objects.get().checkin_result == "checked_in"
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [data["id"]]

    cobot.cancel_membership("space-a", data["id"], timezone.localdate() - timedelta(days=1))
    deliver(cobot, "canceled_membership", membership_url)
    run_work()
    assert smartlock.users == {}
    assert VendorAccount.objects.get(membership=ada).status == "removed"


def test_replaying_every_delivery_twice_in_any_order_ends_the_same(
    bridge, cobot, smartlock, connection, front_door
):
    rule_for(bridge, front_door)
    studio = cobot.add_plan("space-a", "Studio")
    deliveries = []
    for name in ("Ada", "Bob", "Cy"):
        data = cobot.add_membership("space-a", name=name, email=f"{name.lower()}@example.org")
        url = cobot.membership_url("space-a", data["id"])
        deliveries += [("confirmed_membership", url), ("membership_added_time_passes", url)]
    for event, url in deliveries:
        deliver(cobot, event, url)
    run_work()
    assert len(smartlock.users) == 3

    cobot.change_plan("space-a", data["id"], studio["id"])
    cobot.cancel_membership("space-a", data["id"], timezone.localdate() - timedelta(days=1))
    deliveries += [("changed_membership_plan", url), ("canceled_membership", url)]
    for event, url in deliveries[-2:]:
        deliver(cobot, event, url)
    run_work()
    expected = vendor_state(smartlock, cobot)
    assert expected[0] == ["ada@example.org", "bob@example.org"]

    replay = deliveries * 2
    random.Random(4).shuffle(replay)
    for event, url in replay:
        deliver(cobot, event, url)
    run_work()
    assert vendor_state(smartlock, cobot) == expected
    assert len(smartlock.requests_to("POST", "/users")) == 3  # Cy was created once, then removed, no more
    assert len(cobot.space("space-a").check_in_tokens) == 3  # one per person ever created, never twice
    assert not AccessSyncJob.objects.exclude(status="done").exists()
