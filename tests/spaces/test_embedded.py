"""Pages framed inside Cobot: framing headers, the Cobot-user check, content, and the section hook."""

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from spaces import embedded
from spaces.models import Membership, SpaceAdmin


@pytest.fixture
def space(space_a, settings):
    settings.COBOT_SITE_URL = "https://www.cobot.me"
    settings.COBOT_SPACE_URL_TEMPLATE = "https://{subdomain}.cobot.me"
    return space_a


@pytest.fixture
def ada(space, charlie):
    """Charlie is Ada at Cobot: a member of space A, signed in with Cobot."""
    SocialAccount.objects.create(user=charlie, provider="cobot", uid="user-ada")
    return Membership.objects.create(
        space=space, cobot_id="m-ada", cobot_user_id="user-ada", name="Ada", plan_name="Ten Days",
        status="canceled", canceled_to="2026-11-30", unused_time_passes=3,
    )  # fmt: skip


def member_page(space, **query):
    return reverse("embedded_member_page", args=[space.key]), {"cobot_embed": "true", "cobot_subdomain": space.subdomain, **query}


def admin_page(space, **query):
    return reverse("embedded_admin_page", args=[space.key]), {"cobot_embed": "true", **query}


def assert_framable_by_cobot_only(response):
    from tests.test_csp import csp_directives

    assert csp_directives(response)["frame-ancestors"] == ["https://space-a.cobot.me", "https://www.cobot.me"]
    assert "X-Frame-Options" not in response


def test_a_member_sees_their_membership(client, charlie, ada, space):
    client.force_login(charlie)
    url, query = member_page(space, cobot_user_id="user-ada")
    response = client.get(url, query)
    assert response.status_code == 200
    assert_framable_by_cobot_only(response)
    body = response.content.decode()
    assert "Ten Days" in body and "Canceled" in body and "Nov. 30, 2026" in body
    assert "Unused time passes" in body and "<dd>3</dd>" in body
    assert '<script src="/static/js/frame-height.js"></script>' in body  # a file: the CSP allows no inline script
    from django.contrib.staticfiles import finders

    script = Path(finders.find("js/frame-height.js")).read_text()
    assert "frameHeight" in script and "postMessage" in script


def test_a_visitor_is_asked_to_sign_in_with_cobot_at_their_space(client, space, cobot_app):
    url, query = member_page(space, cobot_user_id="user-ada")
    response = client.get(url, query)
    assert response.status_code == 200
    assert_framable_by_cobot_only(response)
    assert b"Sign in with Cobot" in response.content
    action = response.content.decode().split('<form method="post" action="', 1)[1].split('"', 1)[0]
    parts = urlsplit(action.replace("&amp;", "&"))
    params = dict(parse_qsl(parts.query))
    assert parts.path == reverse("cobot_login")
    assert params["cobot_subdomain"] == "space-a" and params["purpose"] == "member" and params["process"] == "login"
    assert params["next"] == f"{url}?cobot_embed=true&cobot_subdomain=space-a&cobot_user_id=user-ada"


def test_another_cobot_user_than_cobot_shows_must_sign_in_again(client, charlie, ada, space, cobot_app):
    client.force_login(charlie)
    url, query = member_page(space, cobot_user_id="user-mallory")
    response = client.get(url, query)
    assert response.status_code == 403
    assert_framable_by_cobot_only(response)
    assert b"Please sign in again" in response.content and b"Sign in with Cobot" in response.content
    assert b"Ten Days" not in response.content


def test_a_user_without_a_cobot_sign_in_is_never_taken_for_the_expected_member(client, alice, ada, space):
    client.force_login(alice)  # signed in with a password; Cobot says Ada is looking
    url, query = member_page(space, cobot_user_id="user-ada")
    assert client.get(url, query).status_code == 403


def test_no_membership_in_this_space_is_a_framed_404(client, charlie, ada, space_b):
    client.force_login(charlie)
    url, query = member_page(space_b, cobot_user_id="user-ada")
    response = client.get(url, query)
    assert response.status_code == 404
    assert b"No membership found" in response.content


def test_the_admin_page_shows_the_space_status_to_its_admins(client, alice, space):
    SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    client.force_login(alice)
    url, query = admin_page(space, cobot_user_id="user-alice")
    response = client.get(url, query)
    assert response.status_code == 200
    assert_framable_by_cobot_only(response)
    assert b"Space A" in response.content and b"Members mirrored" in response.content


def test_the_admin_page_is_not_for_members(client, charlie, ada, space):
    client.force_login(charlie)
    url, query = admin_page(space, cobot_user_id="user-ada")
    response = client.get(url, query)
    assert response.status_code == 404
    assert b"Not an AccessBridge admin" in response.content


def test_an_unknown_space_key_keeps_deny(client, charlie):
    client.force_login(charlie)
    response = client.get(reverse("embedded_member_page", args=["5a7d0e36-2c39-4a43-9a88-6b7f9f3c1c11"]))
    assert response.status_code == 404
    assert response["X-Frame-Options"] == "DENY"


def test_every_other_page_keeps_x_frame_options_deny(client, alice, space):
    from tests.test_csp import csp_directives

    client.force_login(alice)
    for url in (reverse("dashboard"), reverse("space_detail", args=[space.subdomain]), reverse("account_login")):
        response = client.get(url)
        assert response["X-Frame-Options"] == "DENY", url
        assert csp_directives(response)["frame-ancestors"] == ["'none'"], url


def test_other_apps_add_sections_to_both_pages_in_order(client, alice, charlie, ada, space, monkeypatch, settings):
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], Path(__file__).parent / "templates"]}]
    monkeypatch.setattr(embedded, "_sections", {page: [] for page in embedded._sections})
    seen = []

    def doors(request, space_, membership):
        seen.append((space_, membership))
        return "section_for_tests.html", {"title": "My doors"}

    def nothing(request, space_, membership):
        return None

    def open_door(request, space_, membership):
        return "section_for_tests.html", {"title": "Open door"}

    for section in (doors, nothing, open_door, doors):  # registering twice adds it once
        embedded.member_page_section_register(section)
    embedded.admin_page_section_register(open_door)

    client.force_login(charlie)
    url, query = member_page(space, cobot_user_id="user-ada")
    body = client.get(url, query).content.decode()
    assert body.index("<h2>My doors</h2>") < body.index("<h2>Open door</h2>")
    assert seen == [(space, ada)]

    SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    SpaceAdmin.objects.filter(user=alice).update(cobot_user_id="user-alice")
    client.force_login(alice)
    url, query = admin_page(space, cobot_user_id="user-alice")
    assert "<h2>Open door</h2>" in client.get(url, query).content.decode()
