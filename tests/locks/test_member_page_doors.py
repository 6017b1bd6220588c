"""The member page inside Cobot (issue 14, item 5 of Confusing): every door the member opens, not only
those AccessBridge opens remotely; their booking windows; and why access is paused."""

from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse
from django.utils import timezone

from locks.models import Door
from tests.locks.conftest import rule_for


@pytest.fixture
def ada_signed_in(client, charlie, members):
    """Charlie is Ada at Cobot, signed in with Cobot; her page inside Cobot."""
    ada = members.add()
    SocialAccount.objects.create(user=charlie, provider="cobot", uid=ada.cobot_user_id)
    client.force_login(charlie)

    def page() -> str:
        url = reverse("embedded_member_page", args=[members.space.key])
        return client.get(url, {"cobot_user_id": ada.cobot_user_id}).content.decode()

    return ada, page


def test_doors_her_card_or_app_opens_are_listed_without_an_open_button(ada_signed_in, members, connection, front_door):
    rule_for(members.space, front_door)
    ada, page = ada_signed_in
    body = page()
    assert "My doors" in body and "Front door" in body and "with your card or app" in body
    assert "member_door_open" not in body and ">Open</button>" not in body


def test_booking_windows_are_shown(ada_signed_in, members, connection, front_door):
    room = Door.objects.create(connection=connection, vendor_ref="lock_9", name="Loft door")
    rule_for(members.space, room, kind="booking", resource_cobot_id="room-1", resource_name="Loft")
    ada, page = ada_signed_in
    start = timezone.now() + timedelta(days=1)
    members.book(ada, starts_at=start, ends_at=start + timedelta(hours=2), resource="room-1")
    body = page()
    assert "Loft door" in body and "booking:" in body


def test_a_pause_says_why_and_what_to_do(ada_signed_in, members, connection, front_door):
    rule_for(members.space, front_door, requires_time_pass=True)
    ada, page = ada_signed_in
    members.update(ada, unused_time_passes=0)
    body = page()
    assert "Your access is paused: you have no time passes left." in body
    assert "Buy one in Cobot" in body and "Front door opens again" in body


def test_smartlocks_other_doors_are_listed_too_as_they_open_for_her(ada_signed_in, members, connection, front_door):
    Door.objects.create(connection=connection, vendor_ref="lock_2", name="Side door")
    rule_for(members.space, front_door)
    ada, page = ada_signed_in
    body = page()
    assert "Side door" in body and "gives every door of SmartLock together" in body
