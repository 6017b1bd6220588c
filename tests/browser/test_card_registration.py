"""Issue 13 acceptance in Chromium: inside Cobot's admin area, an admin picks a member and a keyboard-wedge
card reader "types" the card number and Enter; the card becomes the member's check-in token at Cobot."""

from __future__ import annotations

import pytest

from spaces.models import CheckInToken, Membership
from tests.browser.test_framed_in_chromium import admin_frame_url, harbour, signed_in_inside_cobot  # noqa: F401
from tests.locks.vendors.thekeys.conftest import gateway_fake  # noqa: F401 (a fixture harbour needs)

pytestmark = pytest.mark.browser


def test_an_admin_registers_a_card_by_scanning_it_inside_cobot(chromium, app_url, cobot, harbour):  # noqa: F811
    from playwright.sync_api import expect

    ada = Membership.objects.get()
    with chromium(third_party_cookies=False) as browser:
        page, frame = signed_in_inside_cobot(browser, cobot, harbour, admin_frame_url(app_url, harbour), "tok-alice")
        frame.get_by_role("link", name="Register cards").click()
        frame.get_by_label("Find a member (name or email)").fill("lovelace")
        frame.get_by_role("button", name="Search").click()
        frame.get_by_role("link", name="Ada Lovelace").click()
        card_field = frame.get_by_label("Scan the card (or type its number and press Enter)")
        expect(card_field).to_be_focused()
        # What a USB reader does: keystrokes into whatever has the focus, then Enter.
        page.keyboard.type("04A1B2C3")
        page.keyboard.press("Enter")
        expect(frame.get_by_text("Card 04A1B2C3 registered for Ada Lovelace.")).to_be_visible()
        expect(card_field).to_be_focused()  # ready for the next card
        page.keyboard.type("04A1B2C4")
        page.keyboard.press("Enter")
        expect(frame.get_by_text("Card 04A1B2C4 registered for Ada Lovelace.")).to_be_visible()

    assert cobot.space("harbour").check_in_tokens == {"04A1B2C3": ada.cobot_id, "04A1B2C4": ada.cobot_id}
    assert sorted(CheckInToken.objects.filter(membership=ada).values_list("token", flat=True)) == [
        "04A1B2C3",
        "04A1B2C4",
    ]
