"""Issue 20: an admin removed at Cobot loses AccessBridge within minutes; local admins are removed by another.

Against the Cobot stand-in: Alice signed in with Cobot and connected harbour (her role is linked and
re-checked); Bob pasted a token (his role is local). Time moves by passing `now`, never by waiting.
"""

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_q.models import OrmQ, Schedule

from accessbridge.work import work_run_due
from spaces.admins import ADMIN_CHECK_INTERVAL, REMOVED_AT_COBOT, CobotIdentity, cobot_identity_check
from spaces.models import InboundDelivery, SpaceAdmin
from spaces.services import space_connect
from spaces.signals import space_admin_removed
from spaces.tasks import cobot_identity_check_task, space_admins_check_due
from tests.fakes.base import Response
from tests.spaces.conftest import ADMIN_TOKEN, webhook_post
from tests.spaces.test_connect import cobot_sign_in_of, messages_of

BOB_TOKEN = "token-bob-harbour"


@pytest.fixture
def removals():
    """Every space_admin_removed sent, as (space subdomain, username, actor username or None, detail)."""
    received = []

    def receiver(sender, *, space, user, actor, detail, **kwargs):
        received.append((space.subdomain, user.username, actor.username if actor else None, detail))

    space_admin_removed.connect(receiver, weak=False, dispatch_uid="test_removals")
    yield received
    space_admin_removed.disconnect(dispatch_uid="test_removals")


@pytest.fixture
def space(harbour, alice, base_url):
    """harbour, connected by Alice from her Cobot sign-in: her role follows Cobot."""
    cobot_sign_in_of(alice, harbour)
    return space_connect(subdomain="harbour", user_token=ADMIN_TOKEN, user=alice, source=SpaceAdmin.Source.COBOT_SIGN_IN)


@pytest.fixture
def bob_local(space, harbour, bob):
    """Bob, a local account, became an admin of harbour by pasting a Cobot token (no Cobot sign-in)."""
    harbour.add_user(BOB_TOKEN, admin_of=["harbour"], email="bob@example.com", name="Bob", user_id="user-bob")
    space_connect(subdomain="harbour", user_token=BOB_TOKEN, user=bob)
    return SpaceAdmin.objects.get(user=bob, space=space)


def alice_identity(alice) -> CobotIdentity:
    return CobotIdentity(alice.pk, "user-alice")


def next_check_time(alice) -> datetime:
    """When every role of hers is due again (connecting counts as a check)."""
    return max(SpaceAdmin.objects.filter(user=alice).values_list("cobot_checked_at", flat=True)) + ADMIN_CHECK_INTERVAL


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def front_door(space):
    from locks.models import Door, Gateway, LockConnection

    connection = LockConnection.objects.create(space=space, vendor="thekeys", name="Locks")
    gateway = Gateway.objects.create(connection=connection, vendor_ref="gw", host="192.0.2.1")
    return Door.objects.create(connection=connection, gateway=gateway, vendor_ref="front", name="Front door")


def assert_manages(browser, space) -> None:
    assert browser.get(reverse("space_detail", args=[space.subdomain])).status_code == 200
    assert browser.get(reverse("rules", args=[space.subdomain])).status_code == 200
    assert browser.get(reverse("doors", args=[space.subdomain])).status_code == 200


def assert_refused(browser, space, door) -> None:
    """The overview, a rule change and a door opening: each re-checks the role and answers 404."""
    assert browser.get(reverse("space_detail", args=[space.subdomain])).status_code == 404
    assert browser.post(reverse("rule_add", args=[space.subdomain]), {}).status_code == 404
    assert browser.post(reverse("door_open", args=[space.subdomain, door.pk])).status_code == 404


# --- the check at Cobot -------------------------------------------------------------------------------
def test_an_admin_cobot_stops_listing_loses_the_space_at_the_next_check(space, alice, harbour, removals, front_door):
    browser = signed_in(alice)
    assert_manages(browser, space)

    harbour.set_admin("user-alice", "harbour", admin=False)
    result = cobot_identity_check(identity=alice_identity(alice), now=next_check_time(alice))

    assert result == {"checked": 1, "kept": 0, "removed": 1}
    assert not SpaceAdmin.objects.filter(user=alice).exists()
    # The same signed-in session: no right is cached in it, the next request is refused.
    assert_refused(browser, space, front_door)
    assert removals == [("harbour", "alice", None, REMOVED_AT_COBOT)]


def test_a_token_cobot_rejects_removes_the_role(space, alice, harbour, removals):
    browser = signed_in(alice)
    harbour.revoke_token(ADMIN_TOKEN)
    result = cobot_identity_check(identity=alice_identity(alice), now=next_check_time(alice))

    assert result["removed"] == 1
    assert browser.get(reverse("space_detail", args=["harbour"])).status_code == 404
    assert removals == [("harbour", "alice", None, f"{REMOVED_AT_COBOT} (Cobot rejected their token: HTTP 401)")]


@pytest.mark.parametrize(
    "answer",
    [
        Response(503, {"error": "maintenance"}),
        Response(403, {"error": "insufficient_scope"}),
        Response(200, {"id": "user-alice", "email": "alice@example.com"}),
    ],
    ids=["5xx", "403-scope", "no-admin_of-list"],
)
def test_no_answer_about_the_role_keeps_it_shows_why_and_asks_again_later(space, alice, harbour, removals, answer):
    harbour.force(answer, path="/api/user")
    first = next_check_time(alice)
    result = cobot_identity_check(identity=alice_identity(alice), now=first)

    assert "removed" not in result and result["error"] in (
        "Asking Cobot failed: HTTP 503: maintenance",
        "Asking Cobot failed: HTTP 403: insufficient_scope",
        "Asking Cobot failed: the user's profile has no admin_of list",
    )
    role = SpaceAdmin.objects.get(user=alice)
    assert role.cobot_check_error == result["error"] and role.cobot_checked_at == first
    page = signed_in(alice).get(reverse("space_detail", args=["harbour"]))
    assert b"check failed" in page.content and escape(result["error"]).encode() in page.content
    assert removals == []

    # Not retried before the interval, then asked again: Cobot answers and the error goes.
    assert cobot_identity_check(identity=alice_identity(alice), now=first + ADMIN_CHECK_INTERVAL / 2) == {"checked": 0}
    later = first + ADMIN_CHECK_INTERVAL
    assert cobot_identity_check(identity=alice_identity(alice), now=later) == {"checked": 1, "kept": 1, "removed": 0}
    role.refresh_from_db()
    assert (role.cobot_check_error, role.cobot_confirmed_at) == ("", later)


def test_an_admin_still_listed_keeps_the_role_and_cobot_is_asked_at_most_once_per_interval(space, alice, harbour):
    asked = lambda: harbour.calls("GET", "/api/user")  # noqa: E731
    before = asked()
    connected_at = SpaceAdmin.objects.get(user=alice).cobot_checked_at  # connecting asked Cobot: a check
    identity = alice_identity(alice)

    for minutes in (1, 5, 9):
        assert cobot_identity_check(identity=identity, now=connected_at + timedelta(minutes=minutes)) == {"checked": 0}
    assert asked() == before

    due = connected_at + ADMIN_CHECK_INTERVAL
    assert cobot_identity_check(identity=identity, now=due) == {"checked": 1, "kept": 1, "removed": 0}
    assert cobot_identity_check(identity=identity, now=due + timedelta(minutes=9)) == {"checked": 0}
    assert asked() == before + 1
    role = SpaceAdmin.objects.get(user=alice)
    assert (role.cobot_confirmed_at, role.cobot_check_error) == (due, "")


def test_the_schedule_queues_one_check_per_identity_due_and_a_repeat_asks_nothing(space, alice, harbour, bob_local):
    assert Schedule.objects.filter(func="spaces.tasks.space_admins_check_due", minutes=5).exists()
    assert space_admins_check_due() == 0  # just connected: nothing due yet
    SpaceAdmin.objects.update(cobot_checked_at=timezone.now() - ADMIN_CHECK_INTERVAL)

    assert space_admins_check_due() == 1  # Alice only: Bob's role is local, Cobot cannot be asked about it
    assert space_admins_check_due() == 1  # a slow queue: queued twice
    queued = [task.task["args"] for task in OrmQ.objects.order_by("pk")]
    assert queued == [(alice.pk, "user-alice")] * 2

    before = harbour.calls("GET", "/api/user")
    assert [cobot_identity_check_task(*args)["checked"] for args in queued] == [1, 0]
    assert harbour.calls("GET", "/api/user") == before + 1


def test_one_request_answers_for_all_spaces_of_an_identity(space, alice, harbour, base_url, removals):
    harbour.set_admin("user-alice", "dock")
    space_connect(subdomain="dock", user_token=ADMIN_TOKEN, user=alice, source=SpaceAdmin.Source.COBOT_SIGN_IN)
    harbour.set_admin("user-alice", "harbour", admin=False)
    before = harbour.calls("GET", "/api/user")

    result = cobot_identity_check(identity=alice_identity(alice), now=next_check_time(alice))

    assert result == {"checked": 2, "kept": 1, "removed": 1}
    assert harbour.calls("GET", "/api/user") == before + 1
    assert list(SpaceAdmin.objects.filter(user=alice).values_list("space__subdomain", flat=True)) == ["dock"]
    assert [r[0] for r in removals] == ["harbour"]


def test_the_check_refreshes_the_dashboards_list_of_cobot_spaces(space, alice, harbour):
    from spaces.selectors import cobot_spaces_connectable

    harbour.set_admin("user-alice", "harbour", admin=False)
    cobot_identity_check(identity=alice_identity(alice), now=next_check_time(alice))
    assert cobot_spaces_connectable(user=alice) == []


# --- Cobot's admin webhooks ---------------------------------------------------------------------------
def test_connecting_subscribes_to_the_admin_events(space, harbour):
    events = {s["event"] for s in harbour.space("harbour").subscriptions.values()}
    assert {"created_admin", "deleted_admin"} <= events


def test_a_deleted_admin_webhook_checks_the_spaces_admins_at_once(
    client, space, alice, harbour, removals, django_capture_on_commit_callbacks
):
    harbour.set_admin("user-alice", "harbour", admin=False)
    # The payload's shape is a guess: it names no url on the space's host, and nothing it names is fetched.
    payload = {"url": f"{harbour.url}/api/users/user-alice", "admin": {"id": "user-alice"}}
    assert webhook_post(client, space, "deleted_admin", payload).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        work_run_due()

    delivery = InboundDelivery.objects.get(event="deleted_admin")
    assert delivery.status == "done", delivery.last_error
    assert not SpaceAdmin.objects.filter(user=alice).exists()  # just connected, yet checked at once
    assert removals == [("harbour", "alice", None, REMOVED_AT_COBOT)]
    assert harbour.calls("GET", "/api/users/.*") == 0


# --- the overview: every admin, and removing a local one ------------------------------------------------
def test_the_overview_lists_every_admin_and_how_each_got_the_role(space, alice, bob_local):
    page = signed_in(alice).get(reverse("space_detail", args=["harbour"])).content.decode()
    assert "Connected the space, signed in with Cobot" in page and "admin at Cobot" in page
    assert "Connected the space with a pasted Cobot token" in page and "not checked" in page
    assert page.count("added by themselves") == 2  # each added themselves by connecting
    remove_bob = reverse("space_admin_remove", args=["harbour", bob_local.pk])
    remove_alice = reverse("space_admin_remove", args=["harbour", SpaceAdmin.objects.get(user=alice).pk])
    assert remove_bob in page and remove_alice not in page  # not her own, and Bob's role is not Cobot's


def test_a_local_admin_removed_by_another_admin_loses_the_space_at_once(
    space, alice, bob, bob_local, removals, front_door
):
    bobs_browser = signed_in(bob)
    assert_manages(bobs_browser, space)
    alices_browser = Client(enforce_csrf_checks=True)
    alices_browser.force_login(alice)
    url = reverse("space_admin_remove", args=["harbour", bob_local.pk])

    confirm = alices_browser.get(url)
    assert confirm.status_code == 200 and b"Remove admin" in confirm.content
    assert alices_browser.post(url).status_code == 403  # no CSRF token
    assert SpaceAdmin.objects.filter(pk=bob_local.pk).exists()

    response = alices_browser.post(url, {"csrfmiddlewaretoken": confirm.context["csrf_token"]})
    assert response.status_code == 302
    assert not SpaceAdmin.objects.filter(pk=bob_local.pk).exists()
    assert_refused(bobs_browser, space, front_door)
    assert removals == [("harbour", "bob", "alice", "admin role removed by alice")]


def test_no_one_removes_their_own_role_or_one_that_follows_cobot(client, space, alice, bob, bob_local, removals):
    own = SpaceAdmin.objects.get(user=alice)
    client.force_login(alice)
    assert b"You cannot remove your own role" in client.get(reverse("space_admin_remove", args=["harbour", own.pk])).content
    client.post(reverse("space_admin_remove", args=["harbour", own.pk]))
    assert "You cannot remove your own role" in messages_of(client.get(reverse("space_detail", args=["harbour"])))[0]

    client.force_login(bob)
    client.post(reverse("space_admin_remove", args=["harbour", own.pk]))
    assert "an admin through Cobot" in messages_of(client.get(reverse("space_detail", args=["harbour"])))[0]
    assert SpaceAdmin.objects.filter(space=space).count() == 2 and removals == []


def test_an_admin_removed_meanwhile_cannot_remove_another(space, bob_local, charlie, removals):
    """Two admins removing each other at the same moment: the second finds their own role gone."""
    from spaces.admins import AdminRemoveRefused, space_admin_remove_by_admin

    with pytest.raises(AdminRemoveRefused, match="no longer an admin"):
        space_admin_remove_by_admin(space_admin=bob_local, actor=charlie)
    assert SpaceAdmin.objects.filter(pk=bob_local.pk).exists() and removals == []


def test_a_sign_in_that_no_longer_lists_the_space_is_audited_too(space, alice, removals):
    from spaces.admins import space_admins_prune

    assert space_admins_prune(user=alice, cobot_user_id="user-alice", administered={"dock"}) == 1
    assert removals == [("harbour", "alice", None, f"{REMOVED_AT_COBOT} (seen at their sign-in)")]


def test_roles_added_or_removed_in_the_django_admin_say_by_whom(client, space, alice, bob, removals, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.org", "password-root")
    client.force_login(root)
    added = client.post(reverse("admin:spaces_spaceadmin_add"), {"user": bob.pk, "space": space.pk, "cobot_user_id": ""})
    assert added.status_code == 302
    role = SpaceAdmin.objects.get(user=bob)
    assert (role.source, role.added_by) == (SpaceAdmin.Source.DJANGO_ADMIN, root)
    page = signed_in(alice).get(reverse("space_detail", args=["harbour"])).content.decode()
    assert "Added in the Django admin" in page and "added by root" in page

    client.post(reverse("admin:spaces_spaceadmin_delete", args=[role.pk]), {"post": "yes"})
    assert not SpaceAdmin.objects.filter(user=bob).exists()
    assert removals == [("harbour", "bob", "root", "admin role removed by root in the Django admin")]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_checking_the_same_identity_at_once_ask_cobot_once(harbour, alice, base_url):
    import threading

    from django.db import connections

    cobot_sign_in_of(alice, harbour)
    space_connect(subdomain="harbour", user_token=ADMIN_TOKEN, user=alice, source=SpaceAdmin.Source.COBOT_SIGN_IN)
    due, before = next_check_time(alice), harbour.calls("GET", "/api/user")
    start, results = threading.Barrier(6), []

    def worker():
        try:
            start.wait()
            results.append(cobot_identity_check(identity=alice_identity(alice), now=due)["checked"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 0, 0, 0, 0, 1]
    assert harbour.calls("GET", "/api/user") == before + 1


def test_end_to_end_cobot_posts_deleted_admin_and_the_session_loses_the_space(live_server, settings, harbour, alice):
    """Over real HTTP: the stand-in POSTs the webhook to our live server as Cobot would."""
    settings.ACCESSBRIDGE_BASE_URL = live_server.url
    cobot_sign_in_of(alice, harbour)
    space_connect(subdomain="harbour", user_token=ADMIN_TOKEN, user=alice, source=SpaceAdmin.Source.COBOT_SIGN_IN)
    browser = signed_in(alice)
    assert browser.get(reverse("space_detail", args=["harbour"])).status_code == 200

    harbour.set_admin("user-alice", "harbour", admin=False)
    assert [status for _, status in harbour.deliver("harbour", "deleted_admin", {"admin": {"id": "user-alice"}})] == [200]
    assert SpaceAdmin.objects.filter(user=alice).exists()  # the request only stored it
    work_run_due()
    assert browser.get(reverse("space_detail", args=["harbour"])).status_code == 404


def test_every_removal_is_in_the_spaces_audit_trail(space, alice, bob, bob_local, harbour):
    from locks.models import AuditEntry

    alices_browser = signed_in(alice)
    alices_browser.post(reverse("space_admin_remove", args=["harbour", bob_local.pk]))
    harbour.revoke_token(ADMIN_TOKEN)
    cobot_identity_check(identity=alice_identity(alice), now=next_check_time(alice))

    entries = list(AuditEntry.objects.filter(space=space, action="admin_remove").order_by("pk"))
    assert [(e.actor, e.actor_label) for e in entries] == [(alice, "admin: alice"), (None, "cobot check")]
    assert entries[0].detail == "bob: admin role removed by alice"
    assert entries[1].detail == f"alice: {REMOVED_AT_COBOT} (Cobot rejected their token: HTTP 401)"
    bob_local.pk = None
    bob_local.save()  # Bob, an admin again, reads the trail
    page = signed_in(bob).get(reverse("access_audit", args=["harbour"])).content.decode()
    assert escape(entries[0].detail) in page and escape(entries[1].detail) in page
