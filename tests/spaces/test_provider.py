""""Sign in with Cobot" through allauth's real login flow, Cobot answered by `responses`."""

import base64
import hashlib
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
import responses
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.urls import reverse

from spaces.cobot.accounts import cobot_user_token
from spaces.cobot.features import DEFAULT_SCOPES
from spaces.models import Space, SpaceAdmin
from tests.test_csp import csp_directives

COBOT = "https://cobot.test"
PROFILE = {
    "id": "user-alice",
    "email": "alice@cobot.example",
    "memberships": [],
    "admin_of": [
        {"space_subdomain": "harbour", "space_name": "Harbour Works", "space_link": f"{COBOT}/api/spaces/harbour"}
    ],
}


@pytest.fixture
def oauth(settings, cobot_app, db):
    settings.COBOT_SITE_URL = COBOT
    settings.COBOT_SPACE_URL_TEMPLATE = "https://{subdomain}.cobot.test"
    return cobot_app


def start(client, **params):
    """Press "Sign in with Cobot" (allauth takes a POST); return where it sends the browser."""
    url = reverse("cobot_login") + (f"?{urlencode(params)}" if params else "")
    response = client.post(url)
    assert response.status_code == 302, response.content
    parts = urlsplit(response["Location"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


def callback(client, **params):
    return client.get(reverse("cobot_callback"), params)


def test_it_sends_the_browser_to_cobot_with_pkce(client, oauth):
    authorize, query = start(client)
    assert authorize == f"{COBOT}/oauth/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == oauth["client_id"]
    assert query["redirect_uri"] == "http://testserver/accounts/cobot/login/callback/"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) >= 43
    assert set(query["scope"].split()) == set(DEFAULT_SCOPES)
    assert query["state"]


def test_it_signs_a_cobot_user_in_and_keeps_the_token_encrypted(client, oauth):
    _, query = start(client)
    with responses.RequestsMock() as cobot:
        token_call = cobot.post(
            f"{COBOT}/oauth/access_token",
            json={"access_token": "user-token-1", "token_type": "bearer", "scope": " ".join(DEFAULT_SCOPES)},
        )
        profile_call = cobot.get(f"{COBOT}/api/user", json=PROFILE)
        response = callback(client, code="the-code", state=query["state"])
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")

    form = parse_qs(token_call.calls[0].request.body)
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
    assert (form["client_id"], form["client_secret"]) == ([oauth["client_id"]], [oauth["secret"]])
    verifier = form["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"]
    assert profile_call.calls[0].request.headers["Authorization"] == "Bearer user-token-1"

    account = SocialAccount.objects.get(provider="cobot")
    assert account.uid == "user-alice" and account.user.email == "alice@cobot.example"
    assert SocialToken.objects.get(account=account).token != "user-token-1"
    assert cobot_user_token(account.user) == "user-token-1"

    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200 and b"Harbour Works" in dashboard.content


def test_a_signed_in_user_connects_their_cobot_account(client, alice, oauth):
    client.force_login(alice)
    _, query = start(client, process="connect", next=reverse("dashboard"))
    with responses.RequestsMock() as cobot:
        cobot.post(f"{COBOT}/oauth/access_token", json={"access_token": "user-token-2", "token_type": "bearer"})
        cobot.get(f"{COBOT}/api/user", json=PROFILE)
        response = callback(client, code="c", state=query["state"])
    assert response.status_code == 302
    assert SocialAccount.objects.get(provider="cobot").user == alice
    assert cobot_user_token(alice) == "user-token-2"


def test_denying_access_at_cobot_cancels_the_sign_in(client, oauth):
    _, query = start(client)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as cobot:
        response = callback(client, error="access_denied", state=query["state"])
        assert len(cobot.calls) == 0
    assert response.status_code == 302
    assert response["Location"] == reverse("socialaccount_login_cancelled")
    assert not SocialAccount.objects.exists()


def test_a_bad_state_is_refused_before_any_token_request(client, oauth):
    start(client)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as cobot:
        response = callback(client, code="the-code", state="forged-state")
        assert len(cobot.calls) == 0
    assert response.status_code == 401
    assert b"Third-Party Login Failure" in response.content
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize(
    "status, body, shown",
    [
        (400, {"error": "invalid_grant", "error_description": "The authorization code has expired."}, b"has expired"),
        (401, {"error": "invalid_client"}, b"invalid_client"),
        (200, {"error": "invalid_request"}, b"invalid_request"),
        (200, {"token_type": "bearer"}, b"no access_token"),
        (502, "<html>Bad gateway</html>", b"HTTP 502"),
    ],
)
def test_cobot_error_answers_to_the_token_request_show_the_error_page(client, oauth, status, body, shown):
    _, query = start(client)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as cobot:
        kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
        cobot.post(f"{COBOT}/oauth/access_token", status=status, **kwargs)
        profile = cobot.get(f"{COBOT}/api/user", json=PROFILE)
        response = callback(client, code="the-code", state=query["state"])
    assert response.status_code == 401
    assert b"Third-Party Login Failure" in response.content and shown in response.content
    assert profile.call_count == 0
    assert not SocialAccount.objects.exists()


def test_a_profile_cobot_refuses_shows_the_error_page(client, oauth):
    _, query = start(client)
    with responses.RequestsMock() as cobot:
        cobot.post(f"{COBOT}/oauth/access_token", json={"access_token": "t", "token_type": "bearer"})
        cobot.get(f"{COBOT}/api/user", status=401, json={"error": "invalid_token"})
        response = callback(client, code="the-code", state=query["state"])
    assert response.status_code == 401 and b"invalid_token" in response.content
    assert not SocialAccount.objects.exists()


def test_members_of_a_framed_page_sign_in_at_their_space_with_read_user_only(client, oauth):
    Space.objects.create(subdomain="harbour", name="Harbour Works")
    authorize, query = start(client, purpose="member", cobot_subdomain="harbour")
    assert authorize == "https://harbour.cobot.test/oauth/authorize"
    assert query["scope"] == "read_user"
    # A subdomain we don't serve never picks the authorize host.
    authorize, _ = start(client, cobot_subdomain="evil.example/x")
    assert authorize == f"{COBOT}/oauth/authorize"
    authorize, _ = start(client, cobot_subdomain="unknown")
    assert authorize == f"{COBOT}/oauth/authorize"


def test_the_sign_in_page_offers_cobot_only_when_configured(client, db, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {"cobot": {"APPS": []}}
    assert b"Cobot" not in client.get(reverse("account_login")).content
    settings.SOCIALACCOUNT_PROVIDERS = {"cobot": {"APPS": [{"client_id": "x", "secret": "y"}]}}
    assert b"Cobot" in client.get(reverse("account_login")).content


def sign_in(client, *, token: str, profile=PROFILE, **params):
    """The whole "Sign in with Cobot" round trip, Cobot answering with `token` and `profile`."""
    _, query = start(client, **params)
    with responses.RequestsMock() as cobot:
        cobot.post(f"{COBOT}/oauth/access_token", json={"access_token": token, "token_type": "bearer"})
        cobot.get(f"{COBOT}/api/user", json=profile)
        response = callback(client, code="the-code", state=query["state"])
    assert response.status_code == 302, response.content
    return response


def test_a_member_sign_in_does_not_replace_the_admins_token(client, oauth):
    Space.objects.create(subdomain="harbour", name="Harbour Works")
    sign_in(client, token="admin-token")
    user = SocialAccount.objects.get(provider="cobot").user
    client.logout()

    sign_in(client, token="member-token", purpose="member", cobot_subdomain="harbour")
    assert SocialAccount.objects.get(provider="cobot").user == user
    assert cobot_user_token(user) == "admin-token"  # still the one spaces are connected with
    assert SocialToken.objects.count() == 1


def test_a_member_sign_in_stores_no_token(client, oauth):
    Space.objects.create(subdomain="harbour", name="Harbour Works")
    sign_in(client, token="member-token", purpose="member", cobot_subdomain="harbour")
    account = SocialAccount.objects.get(provider="cobot")
    assert account.uid == "user-alice"
    assert not SocialToken.objects.exists()


@pytest.mark.parametrize("process", ["login", "connect"])
def test_signing_in_drops_admin_roles_of_spaces_no_longer_administered_at_cobot(client, oauth, alice, process):
    harbour, dock, pier = (Space.objects.create(subdomain=s) for s in ("harbour", "dock", "pier"))
    SpaceAdmin.objects.create(user=alice, space=harbour, cobot_user_id="user-alice")
    SpaceAdmin.objects.create(user=alice, space=dock, cobot_user_id="user-alice")  # no longer admin at Cobot
    SpaceAdmin.objects.create(user=alice, space=pier, cobot_user_id="")  # given here, by hand
    if process == "login":
        SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice", extra_data={})
    else:
        client.force_login(alice)  # signed in with a password, linking her Cobot account now

    sign_in(client, token="admin-token", process=process)  # PROFILE: admin of harbour only
    assert set(SpaceAdmin.objects.filter(user=alice).values_list("space__subdomain", flat=True)) == {"harbour", "pier"}


def test_the_refresh_token_is_stored_encrypted_too(client, oauth):
    from accessbridge.fields import decrypt_str

    _, query = start(client)
    with responses.RequestsMock() as cobot:
        cobot.post(
            f"{COBOT}/oauth/access_token",
            json={"access_token": "t", "refresh_token": "refresh-1", "token_type": "bearer"},
        )
        cobot.get(f"{COBOT}/api/user", json=PROFILE)
        callback(client, code="the-code", state=query["state"])
    stored = SocialToken.objects.get().token_secret
    assert stored != "refresh-1" and decrypt_str(stored.removeprefix("fernet:")) == "refresh-1"


# --- the scopes asked for are a setting; Cobot refusing one is explained (issue 18) -------------------
def test_the_scopes_asked_for_come_from_the_cobot_scopes_setting(client, oauth, settings):
    settings.COBOT_SCOPES = ["read_user", "read_memberships", "write_subscriptions"]
    _, query = start(client)
    assert sorted(query["scope"].split()) == ["read_memberships", "read_user", "write_subscriptions"]


def assert_framable_by_cobot(response):
    assert csp_directives(response)["frame-ancestors"] == ["https://*.cobot.test", "https://cobot.test"]
    assert "X-Frame-Options" not in response


def test_a_scope_cobot_refuses_lands_on_a_page_naming_the_setting(client, oauth, settings):
    settings.COBOT_SCOPES = ["read_user", "read_bookings"]
    _, query = start(client)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as cobot:
        response = callback(
            client, error="invalid_scope", error_description="Unknown scope: read_bookings", state=query["state"]
        )
        assert len(cobot.calls) == 0
    assert response.status_code == 401
    body = response.content.decode()
    assert "Cobot did not let you sign in" in body and "<code>invalid_scope</code>" in body
    assert "Unknown scope: read_bookings" in body
    assert "<code>read_user</code> <code>read_bookings</code>" in body and "<code>COBOT_SCOPES</code>" in body
    assert_framable_by_cobot(response)  # a framed page's sign-in ends here too
    assert not SocialAccount.objects.exists()


def test_a_framed_member_sign_in_refused_by_cobot_is_readable_in_the_frame(client, oauth):
    Space.objects.create(subdomain="harbour", name="Harbour Works")
    _, query = start(client, purpose="member", cobot_subdomain="harbour")
    response = callback(client, error="invalid_scope", state=query["state"])
    assert response.status_code == 401
    body = response.content.decode()
    assert "<code>invalid_scope</code>" in body and "<code>read_user</code>" in body
    assert "COBOT_SCOPES" not in body  # the member sign-in asks for read_user only: no setting changes that
    assert '<script src="/static/js/frame-height.js"></script>' in body  # sizes Cobot's iframe like the framed pages
    assert_framable_by_cobot(response)


def test_any_other_oauth_error_is_named_without_the_scope_advice(client, oauth):
    _, query = start(client)
    response = callback(client, error="server_error", error_description="<b>down</b>", state=query["state"])
    body = response.content.decode()
    assert "<code>server_error</code>" in body and "&lt;b&gt;down&lt;/b&gt;" in body
    assert "COBOT_SCOPES" not in body


def test_an_oauth_error_with_a_forged_state_gets_the_plain_error_page(client, oauth):
    start(client)
    response = callback(client, error="invalid_scope", state="forged")
    assert response.status_code == 401
    assert b"Third-Party Login Failure" in response.content and b"invalid_scope" not in response.content


def test_the_readme_says_what_each_default_scope_enables():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("### Cobot scopes") :]
    for scope in DEFAULT_SCOPES:
        assert f"| `{scope}` |" in table, scope
