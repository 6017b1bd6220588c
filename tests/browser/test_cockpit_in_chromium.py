"""Issue 14 in Chromium, at 1280 and 390 px with a check for sideways scrolling: sign in, the
needs-attention list during a SmartLock outage (live list, red banner), a rule added through its change
preview, the members filter, and the admin and member pages inside a Cobot-like page.

Screenshots go to $ACCESSBRIDGE_SCREENSHOTS when it is set (looked at by hand; not asserted).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.utils import timezone

from locks.models import AccessEvent, AccessSyncJob, Door
from spaces.models import Membership, Plan, Space, SpaceAdmin
from tests.browser.test_framed_in_chromium import admin_frame_url, cobot_page, member_frame_url
from tests.fakes.base import Response
from tests.locks.conftest import rule_for, run_work, smartlock_connection

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1280, "phone": 390}
SHOTS = os.environ.get("ACCESSBRIDGE_SCREENSHOTS", "")
PASSWORD = "a long enough password 42"


@pytest.fixture
def harbour(cobot, smartlock, settings):
    """Harbour at the Cobot stand-in, a SmartLock connection with two doors, Ada (Flex) and Grace
    (canceled), Alice its admin with a password and a Cobot account; SmartLock is down (503)."""
    settings.SOCIALACCOUNT_PROVIDERS = {"cobot": {"APPS": [{"client_id": "accessbridge-test", "secret": "s"}]}}
    cobot.add_space("harbour", name="Harbour Works", space_id="space-harbour")
    cobot.add_user("tok-alice", admin_of=["harbour"], email="alice@example.org", name="Alice", user_id="user-alice")
    cobot.add_user("tok-ada", email="ada@example.org", name="Ada", user_id="user-ada")
    space = Space.objects.create(
        subdomain="harbour", name="Harbour Works", cobot_space_id="space-harbour", access_token="tok-alice"
    )
    flex = Plan.objects.create(space=space, cobot_id="plan-flex", name="Flex")
    for name, email, status, user_id in [
        ("Ada Lovelace", "ada@example.org", "confirmed", "user-ada"),
        ("Grace Hopper", "grace@example.org", "canceled", "user-grace"),
    ]:
        at_cobot = cobot.add_membership("harbour", name=name, email=email, user_id=user_id)
        Membership.objects.create(
            space=space, cobot_id=at_cobot["id"], cobot_user_id=user_id, name=name, email=email, plan=flex,
            plan_name="Flex", status=status, confirmed_at=timezone.now(), canceled_to=timezone.localdate(),
        )  # fmt: skip
    connection = smartlock_connection(space, smartlock, name="Main entrance")
    front = Door.objects.create(connection=connection, vendor_ref="lock_1", name="Front door")
    Door.objects.create(connection=connection, vendor_ref="lock_2", name="Side door")
    alice = get_user_model().objects.create_user("alice", "alice@example.org", PASSWORD)
    SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    SpaceAdmin.objects.create(user=alice, space=space, cobot_user_id="user-alice")
    for hours_ago in (1, 5, 30, 50):
        AccessEvent.objects.create(
            connection=connection, door=front, vendor_event_id=f"e{hours_ago}", kind="unlock",
            occurred_at=timezone.now() - timezone.timedelta(hours=hours_ago), checkin_result="checked_in",
        )  # fmt: skip
    smartlock.force(Response(503, {"error": "under maintenance"}), times=50, path="^/users$")
    rule_for(space, front, plan=flex)  # queues a sync of everyone: it fails against the outage
    run_work()
    assert AccessSyncJob.objects.filter(attempts__gt=0).exclude(last_error="").exists()
    return space


def looked_at(page, name: str, width: int, frame=None) -> None:
    """Resize, check nothing scrolls sideways (the page, and the frame's document), keep a screenshot."""
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(200)  # a relayout; not a timing assertion
    documents = [page] + ([frame] if frame is not None else [])
    for document in documents:
        overflow = document.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at {width}px scrolls sideways by {overflow}px"
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)


def sign_in(browser, app_url):
    page = browser.new_page()
    page.goto(f"{app_url}/accounts/login/")
    page.get_by_label("Email").fill("alice@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    return page


def test_an_outage_shows_in_the_needs_attention_list_on_the_overview(chromium, app_url, cobot, harbour, smartlock):
    from playwright.sync_api import expect

    with chromium(third_party_cookies=True) as browser:
        page = sign_in(browser, app_url)
        expect(page.get_by_role("heading", name="Your spaces")).to_be_visible()
        expect(page.get_by_role("alert").first).to_contain_text("Members' access is behind")
        for width in WIDTHS.values():
            looked_at(page, "dashboard", width)
        page.goto(f"{app_url}/spaces/harbour/")
        attention = page.locator("section.attention")
        expect(attention).to_contain_text("Failing: 1 call in a row")
        expect(attention).to_contain_text("503")
        expect(attention).to_contain_text("Retrying")
        expect(page.get_by_text("Last 30 days: 4 openings, 4 Cobot check-ins")).to_be_visible()
        for width in WIDTHS.values():
            looked_at(page, "overview-outage", width)

        # The list refreshes by itself (htmx): SmartLock is back, the retry runs, the banner goes.
        overview_url = page.url
        smartlock.clear_forced()
        AccessSyncJob.objects.update(next_attempt_at=timezone.now())
        run_work()
        expect(page.get_by_role("alert")).to_have_count(0, timeout=15_000)
        expect(attention).to_contain_text("Working")
        assert page.url == overview_url  # no reload


def test_a_rule_is_added_through_its_change_preview_and_members_filter(chromium, app_url, cobot, harbour):
    from playwright.sync_api import expect

    with chromium(third_party_cookies=True) as browser:
        page = sign_in(browser, app_url)
        page.goto(f"{app_url}/spaces/harbour/rules/add/")
        expect(page.get_by_text("has no per-door permissions")).to_be_visible()
        # Only the chosen kind's fields.
        expect(page.locator("#id_resource")).to_be_hidden()
        page.locator("#id_kind").select_option("booking")
        expect(page.locator("#id_resource")).to_be_visible()
        expect(page.locator("#id_plan")).to_be_hidden()
        page.locator("#id_kind").select_option("plan")
        page.locator("#id_plan").select_option(label="Flex")
        page.get_by_label(re.compile("Side door")).check()
        page.get_by_role("button", name="Preview the change").click()
        preview = page.locator("#change-preview")
        expect(preview).to_contain_text("Ada Lovelace")
        for width in WIDTHS.values():
            looked_at(page, "rule-preview", width)
        page.get_by_role("button", name="Apply this change").click()
        expect(page.get_by_text("Rule saved.")).to_be_visible()

        page.goto(f"{app_url}/spaces/harbour/members/")
        page.get_by_role("link", name="Canceled 1").click()
        expect(page.locator("table.list > tbody > tr")).to_have_count(1)
        expect(page.locator("table.list > tbody > tr")).to_contain_text("Grace Hopper")
        for width in WIDTHS.values():
            looked_at(page, "members", width)
        page.get_by_role("link", name="Grace Hopper").click()
        expect(page.get_by_text("Why: what the rules give")).to_be_visible()
        for width in WIDTHS.values():
            looked_at(page, "member-page", width)


def test_the_admin_and_member_pages_inside_cobot(chromium, app_url, cobot, harbour):
    from playwright.sync_api import expect

    with chromium(third_party_cookies=True) as browser:
        cobot.authorize_as("tok-alice")
        page = browser.new_page()
        page.goto(cobot_page(cobot, harbour, admin_frame_url(app_url, harbour)))
        frame = page.frame_locator("#accessbridge")
        frame.get_by_role("button", name="Sign in with Cobot").click()
        expect(frame.get_by_text("Failing: 1 call in a row")).to_be_visible()
        expect(frame.get_by_text("Today by hour")).to_be_visible()
        inner = page.frame(url=lambda url: "/embedded/" in url)
        for width in WIDTHS.values():
            looked_at(page, "embedded-admin", width, frame=inner)

    with chromium(third_party_cookies=True) as browser:  # Ada's own browser
        cobot.authorize_as("tok-ada")
        other = browser.new_page()
        other.goto(cobot_page(cobot, harbour, member_frame_url(app_url, harbour), page="accessbridge-member"))
        member = other.frame_locator("#accessbridge")
        member.get_by_role("button", name="Sign in with Cobot").click()
        expect(member.get_by_role("heading", name="Your membership")).to_be_visible()
        inner = other.frame(url=lambda url: "/embedded/" in url)
        for width in WIDTHS.values():
            looked_at(other, "embedded-member", width, frame=inner)
