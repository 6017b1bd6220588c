"""Issue 17 acceptance in Chromium: the member and admin pages inside a Cobot-like page on another site,
over TLS with production cookie settings, with third-party cookies blocked and allowed.

Member: signs in with Cobot inside the frame, opens a door (The Keys gateway stand-in), reloads and is
still signed in. Admin: signs in inside the frame, reloads, still signed in. Without partitioned
cookies (as in a browser that keeps none in a frame) the frame offers a new tab, where it all works.
"""

from __future__ import annotations

import html
import re

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.utils import timezone

from locks.models import AccessEvent
from spaces.models import Membership, Space, SpaceAdmin
from tests.fakes.base import Response
from tests.locks.conftest import rule_for
from tests.locks.vendors.thekeys.conftest import IDENTIFIER, gateway_fake  # noqa: F401 (a fixture)
from tests.locks.vendors.thekeys.test_member_open import thekeys_door

pytestmark = pytest.mark.browser

DOOR = "Porte d'entrée"


@pytest.fixture
def harbour(cobot, gateway_fake, settings):  # noqa: F811
    """Harbour connected to the Cobot stand-in, Ada a member allowed through The Keys door, Alice its admin."""
    settings.SOCIALACCOUNT_PROVIDERS = {"cobot": {"APPS": [{"client_id": "accessbridge-test", "secret": "s"}]}}
    cobot.add_space("harbour", name="Harbour Works", space_id="space-harbour")
    cobot.add_user("tok-alice", admin_of=["harbour"], email="alice@example.org", name="Alice", user_id="user-alice")
    cobot.add_user("tok-ada", email="ada@example.org", name="Ada", user_id="user-ada")
    at_cobot = cobot.add_membership("harbour", name="Ada Lovelace", email="ada@example.org", user_id="user-ada")
    space = Space.objects.create(
        subdomain="harbour", name="Harbour Works", cobot_space_id="space-harbour", access_token="tok-alice"
    )
    Membership.objects.create(
        space=space, cobot_id=at_cobot["id"], cobot_user_id="user-ada", name="Ada Lovelace", email="ada@example.org",
        status=Membership.Status.CONFIRMED, confirmed_at=timezone.now(),
    )  # fmt: skip
    rule_for(space, thekeys_door(space, gateway_fake.url.removeprefix("http://"), name=DOOR))
    alice = get_user_model().objects.create_user("alice", "alice@example.org")
    SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    SpaceAdmin.objects.create(user=alice, space=space, cobot_user_id="user-alice")
    return space


def cobot_page(cobot, space, frame_url: str, *, page: str = "accessbridge") -> str:
    """A page of the space at the Cobot stand-in that frames `frame_url`, as Cobot's navigation links do
    (another `page` name for a second framing page: the stand-in keeps the first route of a path)."""
    path = f"/spaces/{space.subdomain}/{page}"
    body = (
        f"<!doctype html><title>{space.name} on Cobot</title><h1>{space.name} on Cobot</h1>"
        f'<iframe id="accessbridge" src="{html.escape(frame_url)}" style="width:100%;height:700px"></iframe>'
    )
    cobot.route("GET", path, lambda request, match: Response(200, body, {"Content-Type": "text/html; charset=utf-8"}))
    return f"{cobot.url}{path}"


def member_frame_url(app_url, space) -> str:
    return f"{app_url}/embedded/{space.key}/member/?cobot_embed=true&cobot_subdomain={space.subdomain}&cobot_user_id=user-ada"


def admin_frame_url(app_url, space) -> str:
    return f"{app_url}/embedded/{space.key}/admin/?cobot_embed=true&cobot_subdomain={space.subdomain}&cobot_user_id=user-alice"


def signed_in_inside_cobot(browser, cobot, space, frame_url: str, cobot_token: str):
    """Open the Cobot page framing `frame_url` and press "Sign in with Cobot" in the frame; Cobot approves
    as the user of `cobot_token`. Returns the page and the frame."""
    cobot.authorize_as(cobot_token)
    page = browser.new_page()
    page.goto(cobot_page(cobot, space, frame_url))
    frame = page.frame_locator("#accessbridge")
    frame.get_by_role("button", name="Sign in with Cobot").click()
    return page, frame


@pytest.mark.parametrize("third_party_cookies", [False, True], ids=["blocked", "allowed"])
def test_a_member_signs_in_inside_cobot_opens_a_door_and_stays_signed_in(
    chromium, app_url, cobot, harbour, gateway_fake, third_party_cookies  # noqa: F811
):
    from playwright.sync_api import expect

    with chromium(third_party_cookies=third_party_cookies) as browser:
        page, frame = signed_in_inside_cobot(browser, cobot, harbour, member_frame_url(app_url, harbour), "tok-ada")
        expect(frame.get_by_role("heading", name="Your membership")).to_be_visible()

        frame.get_by_role("button", name="Open").click()
        expect(frame.get_by_text(f"{DOOR} opened.")).to_be_visible()

        page.reload()
        expect(frame.get_by_role("heading", name="Your membership")).to_be_visible()
        expect(frame.get_by_role("button", name="Open")).to_be_visible()
        expect(frame.locator("#cookie-fallback")).to_have_count(0)

    assert gateway_fake.locker(IDENTIFIER).opens == 1
    assert AccessEvent.objects.get().membership.cobot_user_id == "user-ada"
    assert [c["membership"]["id"] for c in cobot.check_ins("harbour")] == [Membership.objects.get().cobot_id]


@pytest.mark.parametrize("third_party_cookies", [False, True], ids=["blocked", "allowed"])
def test_an_admin_signs_in_inside_cobot_and_stays_signed_in(chromium, app_url, cobot, harbour, third_party_cookies):
    from playwright.sync_api import expect

    with chromium(third_party_cookies=third_party_cookies) as browser:
        page, frame = signed_in_inside_cobot(browser, cobot, harbour, admin_frame_url(app_url, harbour), "tok-alice")
        expect(frame.get_by_text("Members mirrored")).to_be_visible()
        page.reload()
        expect(frame.get_by_text("Members mirrored")).to_be_visible()
        expect(frame.get_by_role("heading", name=re.compile("Harbour Works"))).to_be_visible()


def member_page_without_cookies(browser, cobot, space, app_url, settings):
    """The member page inside Cobot where the browser keeps no cookie for the frame (Chromium blocking
    third-party cookies, the app not marking them Partitioned): it says so. Cobot approves as Ada."""
    from playwright.sync_api import expect

    settings.FRAMED_COOKIES_PARTITIONED = False
    cobot.authorize_as("tok-ada")
    page = browser.new_page()
    page.goto(cobot_page(cobot, space, member_frame_url(app_url, space)))
    frame = page.frame_locator("#accessbridge")
    expect(frame.get_by_text("Your browser keeps no cookies for AccessBridge inside Cobot")).to_be_visible()
    return page, frame


def test_without_partitioned_cookies_the_frame_says_so_and_a_new_tab_works(
    chromium, app_url, cobot, harbour, gateway_fake, settings  # noqa: F811
):
    """A browser that keeps no cookie in the frame at all: the frame offers a new tab, where sign-in and
    Open work, with a way back to Cobot."""
    from playwright.sync_api import expect

    with chromium(third_party_cookies=False) as browser:
        page, frame = member_page_without_cookies(browser, cobot, harbour, app_url, settings)

        # Signing in anyway: a readable, framed page with the same ways on, not a refused frame.
        frame.get_by_role("button", name="Sign in with Cobot").click()
        expect(frame.get_by_text("Reason: CSRF cookie not set.")).to_be_visible()
        with page.expect_popup() as popup:
            frame.get_by_role("link", name="Open in a new tab").click()
        tab = popup.value
        expect(tab.get_by_text(f"Back to {harbour.name} on Cobot")).to_be_visible()
        expect(tab.locator("#cookie-fallback")).to_be_hidden()
        tab.get_by_role("button", name="Sign in with Cobot").click()
        tab.get_by_role("button", name="Open").click()
        expect(tab.get_by_text(f"{DOOR} opened.")).to_be_visible()
        assert tab.get_by_role("link", name=f"← Back to {harbour.name} on Cobot").get_attribute("href") == harbour.cobot_url

    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_without_partitioned_cookies_allow_cookies_lets_the_member_sign_in_inside_cobot(
    chromium, app_url, cobot, harbour, gateway_fake, settings  # noqa: F811
):
    """"Allow cookies for AccessBridge" (document.requestStorageAccess()), then the sign-in round trip through
    Cobot, the Open and a reload keep the cookies (Storage Access Headers). Chromium's prompt is answered
    "Allow" through DevTools, as the member would."""
    from playwright.sync_api import expect

    with chromium(third_party_cookies=False) as browser:
        page, frame = member_page_without_cookies(browser, cobot, harbour, app_url, settings)

        permission = {"name": "storage-access"}
        browser.new_cdp_session(page).send(
            "Browser.setPermission",
            {"permission": permission, "setting": "granted", "origin": cobot.url, "embeddedOrigin": app_url},
        )
        frame.get_by_role("button", name="Allow cookies for AccessBridge").click()
        expect(frame.locator("#cookie-fallback")).to_be_hidden()

        frame.get_by_role("button", name="Sign in with Cobot").click()
        frame.get_by_role("button", name="Open").click()
        expect(frame.get_by_text(f"{DOOR} opened.")).to_be_visible()
        page.reload()
        expect(frame.get_by_role("heading", name="Your membership")).to_be_visible()

    assert gateway_fake.locker(IDENTIFIER).opens == 1
