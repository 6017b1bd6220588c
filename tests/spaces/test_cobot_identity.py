"""A Cobot admin of a connected space who signs in with Cobot is its admin here (issue 14, Broken 1)."""

import pytest
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from locks.models import AuditEntry
from spaces.models import Space, SpaceAdmin
from tests.spaces.test_provider import oauth, sign_in  # noqa: F401 (oauth: a fixture)

pytestmark = pytest.mark.usefixtures("oauth")


@pytest.fixture
def harbour_space(db):
    return Space.objects.create(subdomain="harbour", name="Harbour Works", status=Space.Status.ACTIVE)


def roles(user) -> set[str]:
    return set(SpaceAdmin.objects.filter(user=user).values_list("space__subdomain", flat=True))


def test_a_cobot_admin_signing_in_with_cobot_administers_the_connected_space(client, harbour_space, bob):
    SpaceAdmin.objects.create(user=bob, space=harbour_space, cobot_user_id="user-bob")  # bob connected it
    sign_in(client, token="admin-token")
    user = SocialAccount.objects.get(provider="cobot", uid="user-alice").user
    assert roles(user) == {"harbour"}
    role = SpaceAdmin.objects.get(user=user)
    assert (role.cobot_user_id, role.source) == ("user-alice", SpaceAdmin.Source.COBOT_SIGN_IN)
    page = client.get(reverse("dashboard"))
    assert b"You don't administer any space yet" not in page.content
    assert reverse("space_detail", args=["harbour"]).encode() in page.content
    entry = AuditEntry.objects.get(space=harbour_space, action="admin_add")
    assert "signed in with Cobot" in entry.detail


def test_inside_cobot_the_admin_page_opens_after_signing_in_with_cobot(client, harbour_space):
    url = reverse("embedded_admin_page", args=[harbour_space.key]) + "?cobot_user_id=user-alice"
    sign_in(client, token="admin-token", process="login", next=url, cobot_subdomain="harbour")
    page = client.get(url)
    assert page.status_code == 200
    assert b"Not an AccessBridge admin" not in page.content


def test_the_token_pasting_account_is_linked_to_the_cobot_sign_in(client, harbour_space, alice):
    SpaceAdmin.objects.create(
        user=alice, space=harbour_space, cobot_user_id="user-alice", source=SpaceAdmin.Source.PASTED_TOKEN
    )
    sign_in(client, token="admin-token")
    assert SocialAccount.objects.get(provider="cobot", uid="user-alice").user == alice
    assert client.get(reverse("dashboard")).context["user"] == alice
    assert SpaceAdmin.objects.count() == 1  # no second account, no second role


@pytest.mark.parametrize("other", ["role_from_another_identity", "staff"])
def test_an_account_holding_more_than_that_identity_earned_is_not_linked(client, harbour_space, alice, other):
    SpaceAdmin.objects.create(user=alice, space=harbour_space, cobot_user_id="user-alice")
    if other == "staff":
        alice.is_staff = True
        alice.save()
    else:
        dock = Space.objects.create(subdomain="dock", status=Space.Status.ACTIVE)
        SpaceAdmin.objects.create(user=alice, space=dock, cobot_user_id="user-someone-else")
    sign_in(client, token="admin-token")
    user = SocialAccount.objects.get(provider="cobot", uid="user-alice").user
    assert user != alice
    assert roles(user) == {"harbour"}  # still the admin, as a Cobot admin of the space


def test_a_member_sign_in_or_a_space_not_connected_grants_nothing(client, harbour_space):
    harbour_space.status = Space.Status.DISCONNECTED
    harbour_space.save()
    sign_in(client, token="admin-token")
    assert not SpaceAdmin.objects.exists()
    client.logout()
    harbour_space.status = Space.Status.ACTIVE
    harbour_space.save()
    sign_in(client, token="member-token", purpose="member", cobot_subdomain="harbour")
    assert not SpaceAdmin.objects.exists()


def test_sign_in_with_cobot_is_the_sign_in_pages_first_action_when_configured(client):
    page = client.get(reverse("account_login") + "?next=/dashboard/").content.decode()
    assert 'id="sign-in-with-cobot"' in page
    assert page.index("Sign in with Cobot") < page.index('name="password"')
    assert "third-party" not in page
