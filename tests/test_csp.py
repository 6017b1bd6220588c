"""A Content-Security-Policy on every page, and no inline script or style that it would block (issue #9, 6).

Walks every app URL (like tests/test_bad_input.py), the sign-in page and the admin, so a new page or
template is covered the day it is added.
"""

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.test_bad_input import own_space, urls_of  # noqa: F401 (own_space is a fixture)

COBOT_ORIGINS = ["https://space-a.cobot.me", "https://www.cobot.me"]


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


class InlineCode(HTMLParser):
    """What a policy without 'unsafe-inline' blocks: scripts and <style> without a nonce, style and on* attributes."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        is_data = names.get("type") in ("application/json", "application/ld+json")  # not run, so not blocked
        if tag == "script" and not is_data and "src" not in names and "nonce" not in names:
            self.found.append("<script> without src or nonce")
        if tag == "style" and "nonce" not in names:
            self.found.append("<style> without nonce")
        self.found += [f"<{tag} {name}=…>" for name in names if name == "style" or name.startswith("on")]


def inline_code(response) -> list[str]:
    if not response.get("Content-Type", "").startswith("text/html"):
        return []
    finder = InlineCode()
    finder.feed(response.content.decode())
    return finder.found


@pytest.fixture
def pages(client, admin_client, alice, own_space, settings):  # noqa: F811
    """(name, response) for every page: app pages as their space's admin, sign-in, the admin's pages."""
    settings.COBOT_SITE_URL = "https://www.cobot.me"
    settings.COBOT_SPACE_URL_TEMPLATE = "https://{subdomain}.cobot.me"
    anonymous = ["account_login", "account_signup", "account_reset_password"]
    responses = [(name, client.get(reverse(name))) for name in anonymous]
    client.force_login(alice)
    signed_in = ["account_email", "account_change_password", "socialaccount_connections", "account_logout"]
    responses += [(name, client.get(reverse(name))) for name in signed_in]
    responses += [(name, client.get(url)) for name, url in urls_of(own_space)]
    responses.append(("admin:index", admin_client.get(reverse("admin:index"))))
    for model in admin.site._registry:
        if model._meta.app_label in ("spaces", "locks") and (obj := model.objects.first()):
            info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
            responses.append((info, admin_client.get(reverse(f"{info}_change", args=[obj.pk]))))
    return responses


def test_every_page_has_a_policy_that_allows_no_inline_code_and_no_framing(pages):
    assert len(pages) > 20  # the walk is real
    weak = {}
    for name, response in pages:
        directives = csp_directives(response)
        framed = getattr(response, "xframe_options_exempt", False)
        expected_ancestors = COBOT_ORIGINS if framed else ["'none'"]
        if (
            directives.get("default-src") != ["'self'"]
            or "'unsafe-inline'" in directives.get("script-src", ["missing"])
            or directives.get("style-src") != ["'self'"]
            or directives.get("object-src") != ["'none'"]
            or directives.get("frame-ancestors") != expected_ancestors
        ):
            weak[name] = directives
    assert weak == {}


def test_the_framed_pages_are_among_them(pages):
    framed = {name for name, response in pages if getattr(response, "xframe_options_exempt", False)}
    assert {"embedded_member_page", "embedded_admin_page"} <= framed


def test_no_page_has_inline_script_or_style_the_policy_would_block(pages):
    found = {name: problems for name, response in pages if (problems := inline_code(response))}
    assert found == {}


def test_an_inline_script_with_the_nonce_is_what_the_policy_allows(rf):
    """The way to add one: nonce="{{ request.csp_nonce }}" (django-csp puts the same nonce in the header)."""
    from csp.middleware import CSPMiddleware
    from django.http import HttpResponse
    from django.template import engines

    template = engines["django"].from_string('<script nonce="{{ request.csp_nonce }}">go()</script>')
    request = rf.get("/")
    middleware = CSPMiddleware(lambda request: HttpResponse(template.render({}, request)))
    response = middleware(request)
    nonce = response.content.decode().split('nonce="')[1].split('"')[0]
    assert f"'nonce-{nonce}'" in csp_directives(response)["script-src"]
    assert inline_code(response) == []


def test_forms_may_post_on_to_cobot_only(settings):
    from accessbridge import settings as project_settings

    form_action = project_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"]
    assert form_action == ["'self'", "https://www.cobot.me", "https://*.cobot.me"]
