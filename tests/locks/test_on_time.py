"""Doors on time (issue #10): a Cobot delivery reaches the vendor in one worker task."""

import pytest

from accessbridge import work
from accessbridge.work import WorkStatus, work_execute
from locks.models import AccessSyncJob
from spaces.models import InboundDelivery
from spaces.services import subscriptions_ensure
from tests.locks.conftest import rule_for, run_work


@pytest.fixture
def bridge(live_server, settings, cobot_space):
    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    subscriptions_ensure(space=cobot_space)
    return cobot_space


@pytest.mark.django_db(transaction=True)  # commits as in a worker: on_commit callbacks run
def test_a_members_delivery_reaches_the_vendor_in_one_task(bridge, cobot, smartlock, connection, front_door,
                                                            monkeypatch):
    rule_for(bridge, front_door)
    run_work()  # the sync of every member the new rule queued
    data = cobot.add_membership("space-a", name="Ada Lovelace", email="ada@example.org")
    sent = []
    monkeypatch.setattr(work, "_send", lambda label, pk: sent.append(label))
    assert [status for _, status in cobot.deliver("space-a", "confirmed_membership",
                                                  cobot.membership_url("space-a", data["id"]))] == [200]
    delivery = InboundDelivery.objects.get(event="confirmed_membership")
    assert sent == ["spaces.InboundDelivery"]

    assert work_execute("spaces.InboundDelivery", delivery.pk) == WorkStatus.DONE  # one task

    assert smartlock.user_by_email("ada@example.org")
    assert AccessSyncJob.objects.get(membership__cobot_id=data["id"]).status == WorkStatus.DONE
    assert sent == ["spaces.InboundDelivery"]  # the member's sync never went through the broker
