import base64
import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from tests.fakes.base import FakeServer, Response
from tests.fakes.cobot import CobotFake

ALICE = "token-alice"  # admin of "harbour"
BOB = "token-bob"  # admin of "harbour" with a narrow scope
CHARLIE = "token-charlie"  # admin of nothing
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def cobot():
    with CobotFake() as fake:
        fake.set_now(NOW)
        fake.add_space("harbour", name="Harbour Works", space_id="space-harbour")
        fake.add_space("dock", name="Dock Office", space_id="space-dock")
        fake.add_user(
            ALICE, admin_of=["harbour"], email="alice@example.com", name="Alice", user_id="user-alice"
        )
        fake.add_user(BOB, admin_of=["harbour"], scopes=["read_user", "read_memberships"], user_id="user-bob")
        fake.add_user(CHARLIE, email="charlie@example.com", user_id="user-charlie")
        yield fake


@pytest.fixture
def receiver():
    """Plays AccessBridge's webhook endpoint."""
    server = FakeServer()
    server.route("POST", "/hooks/ok", lambda request, match: Response(200, {"ok": True}))
    server.route("POST", "/hooks/gone", lambda request, match: Response(410))
    server.route(
        "POST", "/hooks/moved", lambda request, match: Response(302, None, {"Location": "/hooks/ok"})
    )
    with server:
        yield server


def api(fake: CobotFake, method: str, path: str, token: str | None = ALICE, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{fake.url}{path}", headers=headers, timeout=5, **kwargs)


def test_it_rejects_missing_unknown_and_revoked_tokens(cobot):
    cobot.revoke_token(CHARLIE)
    for token in (None, "nope", CHARLIE):
        r = api(cobot, "GET", "/api/user", token)
        assert r.status_code == 401
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"error": "invalid_token"}


def test_it_keeps_users_out_of_spaces_they_do_not_administer(cobot):
    assert api(cobot, "GET", "/spaces/harbour/api/memberships", CHARLIE).status_code == 403
    assert api(cobot, "GET", "/spaces/dock/api/memberships").status_code == 403
    assert api(cobot, "GET", "/spaces/nowhere/api/memberships").status_code == 404
    assert api(cobot, "GET", "/spaces/harbour/api/memberships").status_code == 200


def test_it_enforces_scopes(cobot):
    assert api(cobot, "GET", "/spaces/harbour/api/memberships", BOB).status_code == 200
    r = api(cobot, "GET", "/spaces/harbour/api/subscriptions", BOB)
    assert r.status_code == 403
    assert r.json()["error"] == "insufficient_scope"


def test_it_describes_the_user_and_the_spaces_they_administer(cobot):
    r = api(cobot, "GET", "/api/user")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "user-alice"
    assert body["email"] == "alice@example.com"
    assert body["admin_of"] == [
        {
            "space_subdomain": "harbour",
            "space_name": "Harbour Works",
            "space_link": f"{cobot.url}/api/spaces/harbour",
            "name": "Alice",
        }
    ]
    assert body["memberships"] == []
    # admin_of carries no space id: it comes from the space_link.
    space = requests.get(body["admin_of"][0]["space_link"], timeout=5).json()
    assert space["id"] == "space-harbour"
    assert space["url"] == cobot.space_url("harbour")

    member = cobot.add_membership("dock", user_id="user-charlie")
    (entry,) = api(cobot, "GET", "/api/user", CHARLIE).json()["memberships"]
    assert entry["space_subdomain"] == "dock"
    assert entry["link"] == cobot.membership_url("dock", member["id"])


def test_it_creates_lists_and_deletes_subscriptions(cobot):
    path = "/spaces/harbour/api/subscriptions"
    hook = {"event": "confirmed_membership", "callback_url": "https://bridge.example/hooks/s3cret"}

    r = api(cobot, "POST", path, json=hook)
    assert r.status_code == 201
    created = r.json()
    assert created == {
        "id": created["id"],
        "event": "confirmed_membership",
        "url": f"{cobot.space_api_url('harbour')}/subscriptions/{created['id']}",
        "active": True,
        "callback_url": "https://bridge.example/hooks/s3cret",
    }
    assert api(cobot, "POST", path, json=hook).status_code == 409
    assert api(cobot, "POST", path, data=hook).status_code == 409  # form bodies work too
    assert api(cobot, "POST", path, json={**hook, "event": "membership_confirmed"}).status_code == 422
    assert api(cobot, "POST", path, json={"event": "canceled_membership"}).status_code == 422
    assert api(cobot, "GET", path).json() == [created]

    assert api(cobot, "DELETE", f"{path}/{created['id']}").status_code == 204
    assert api(cobot, "GET", path).json() == []
    assert api(cobot, "DELETE", f"{path}/{created['id']}").status_code == 404


def test_it_creates_lists_and_deletes_navigation_links(cobot):
    path = "/spaces/harbour/api/navigation_links"
    link = {"section": "admin/manage", "label": "Doors", "iframe_url": "https://bridge.example/embed/admin"}

    r = api(cobot, "POST", path, json=link)
    assert r.status_code == 201
    created = r.json()
    assert created["section"] == "admin/manage"
    assert created["url"].startswith(f"{cobot.space_api_url('harbour')}/navigation_links/")
    assert created["user_url"].startswith(f"{cobot.space_url('harbour')}/navigation_links/")
    assert api(cobot, "GET", path).json() == [created]

    r = api(cobot, "POST", path, json={**link, "section": "admin/everything"})
    assert r.status_code == 422
    assert "section" in r.json()["errors"]

    r = requests.delete(created["url"], headers={"Authorization": f"Bearer {ALICE}"}, timeout=5)
    assert r.status_code == 204
    assert api(cobot, "GET", path).json() == []


def test_it_can_differ_from_our_cobot_in_small_ways(cobot):
    """The switches end-to-end tests use: an event not offered, an endpoint missing, a leaner listing."""
    cobot.webhook_events.discard("membership_added_time_passes")
    hook = {"event": "membership_added_time_passes", "callback_url": "https://bridge.example/hooks/x"}
    r = api(cobot, "POST", "/spaces/harbour/api/subscriptions", json=hook)
    assert r.status_code == 422 and r.json()["errors"] == {"event": ["is not included in the list"]}

    cobot.endpoint_remove("GET", r"/api/work_sessions$")
    cobot.endpoint_remove("GET", r"^/api/access_tokens/[^/]+$")
    assert api(cobot, "GET", "/spaces/harbour/api/work_sessions", params={"from": "2026/11/01", "to": "2026/11/02"}).status_code == 404
    assert api(cobot, "GET", f"/api/access_tokens/{ALICE}").status_code == 404
    assert api(cobot, "DELETE", f"/api/access_tokens/{CHARLIE}", token=CHARLIE).status_code == 204  # DELETE is still there

    link = {"section": "members", "label": "Doors", "iframe_url": "https://bridge.example/embed/member"}
    created = api(cobot, "POST", "/spaces/harbour/api/navigation_links", json=link).json()
    cobot.navigation_links_listed_without = ("url",)
    (listed,) = api(cobot, "GET", "/spaces/harbour/api/navigation_links").json()
    assert "url" not in listed and listed["user_url"] == created["user_url"]


def test_it_exchanges_a_code_once(cobot):
    code = cobot.issue_code(ALICE)
    form = {"grant_type": "authorization_code", "code": code, "client_id": "ab", "client_secret": "shh"}

    r = requests.post(f"{cobot.url}/oauth/access_token", data=form, timeout=5)
    assert r.status_code == 200
    assert r.json()["access_token"] == ALICE
    assert r.json()["token_type"] == "bearer"
    assert "read_memberships" in r.json()["scope"].split()

    r = requests.post(f"{cobot.url}/oauth/access_token", data=form, timeout=5)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant"}


def test_it_checks_the_pkce_verifier_and_client_secret(cobot):
    cobot.add_client("ab", "shh")
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    form = {"grant_type": "authorization_code", "client_id": "ab", "client_secret": "shh"}

    code = cobot.issue_code(ALICE, code_challenge=challenge)
    r = requests.post(
        f"{cobot.url}/oauth/access_token", data={**form, "code": code, "code_verifier": "x"}, timeout=5
    )
    assert r.status_code == 400

    code = cobot.issue_code(ALICE, code_challenge=challenge)
    r = requests.post(
        f"{cobot.url}/oauth/access_token", data={**form, "code": code, "client_secret": "wrong"}, timeout=5
    )
    assert r.status_code == 401

    code = cobot.issue_code(ALICE, code_challenge=challenge)
    r = requests.post(
        f"{cobot.url}/oauth/access_token", data={**form, "code": code, "code_verifier": verifier}, timeout=5
    )
    assert r.status_code == 200


def test_it_redirects_from_authorize_with_a_code_when_told_to(cobot):
    query = {
        "response_type": "code",
        "client_id": "ab",
        "redirect_uri": "https://bridge.example/cb",
        "state": "xyz",
    }
    r = requests.get(f"{cobot.url}/oauth/authorize", params=query, allow_redirects=False, timeout=5)
    assert r.status_code == 200

    cobot.authorize_as(ALICE)
    r = requests.get(f"{cobot.url}/oauth/authorize", params=query, allow_redirects=False, timeout=5)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("https://bridge.example/cb?code=")
    assert r.headers["Location"].endswith("&state=xyz")


def test_it_binds_a_token_to_a_space_and_revokes_it(cobot):
    r = api(cobot, "POST", f"/api/access_tokens/{ALICE}/space", json={"space_id": "space-harbour"})
    assert r.status_code == 201
    bound = r.json()
    assert bound["token"] != ALICE
    assert set(bound["scope"]) == set(cobot.tokens[ALICE].scopes)

    # Survives its creator leaving the space's admins; still confined to that one space.
    cobot.set_admin("user-alice", "harbour", admin=False)
    assert api(cobot, "GET", "/spaces/harbour/api/memberships", bound["token"]).status_code == 200
    assert api(cobot, "GET", "/spaces/harbour/api/memberships").status_code == 403
    cobot.set_admin("user-alice", "dock")
    assert api(cobot, "GET", "/spaces/dock/api/memberships", bound["token"]).status_code == 403

    r = api(cobot, "GET", f"/api/access_tokens/{bound['token']}", bound["token"])
    assert r.json() == {"scope": bound["scope"]}
    assert api(cobot, "DELETE", f"/api/access_tokens/{bound['token']}", bound["token"]).status_code == 204
    assert api(cobot, "GET", "/spaces/harbour/api/memberships", bound["token"]).status_code == 401


def test_it_refuses_to_bind_a_token_to_a_space_the_user_does_not_administer(cobot):
    assert (
        api(cobot, "POST", f"/api/access_tokens/{ALICE}/space", json={"space_id": "space-dock"}).status_code
        == 403
    )
    assert (
        api(cobot, "POST", f"/api/access_tokens/{ALICE}/space", json={"space_id": "harbour"}).status_code
        == 422
    )


def test_it_lists_2000_memberships(cobot):
    # How fast is bench's business (bench/bench_cobot_sync.py runs the sync against 2,000 of them).
    members = cobot.add_memberships("harbour", 2000)
    r = api(cobot, "GET", "/spaces/harbour/api/memberships")
    assert r.status_code == 200
    assert len(r.json()) == 2000
    assert len({m["id"] for m in r.json()}) == 2000

    cobot.cancel_membership("harbour", members[0]["id"], date(2026, 11, 1))  # ended yesterday
    cobot.cancel_membership("harbour", members[1]["id"], date(2026, 11, 30))  # still current
    assert len(api(cobot, "GET", "/spaces/harbour/api/memberships").json()) == 1999
    assert len(api(cobot, "GET", "/spaces/harbour/api/memberships", params={"all": "true"}).json()) == 2000


def test_it_serves_a_membership_in_cobot_shape_at_its_webhook_url(cobot):
    plan = cobot.add_plan("harbour", "Day Pass Plan", time_passes=["Day Pass"])
    member = cobot.add_membership("harbour", name="Ada", email="ada@example.com", plan_id=plan["id"])

    r = requests.get(
        cobot.membership_url("harbour", member["id"]), headers={"Authorization": f"Bearer {ALICE}"}, timeout=5
    )
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "Ada"
    assert body["user"]["email"] == "ada@example.com"
    assert body["plan"]["parent_plan"] == {"id": plan["id"]}
    assert body["plan"]["time_passes"][0]["name"] == "Day Pass"
    assert body["confirmed_at"] == "2026/11/02 09:30:00 +0000"
    assert body["starts_at"] == "2026/11/02"
    assert body["canceled_to"] is None

    cobot.delete_membership("harbour", member["id"])
    assert api(cobot, "GET", f"/spaces/harbour/api/memberships/{member['id']}").status_code == 404


def test_it_lists_plans_unused_time_passes_and_custom_fields(cobot):
    plan = cobot.add_plan("harbour", "Ten Days", time_passes=["Day Pass"])
    member = cobot.add_membership("harbour", plan_id=plan["id"])
    cobot.set_unused_time_passes("harbour", member["id"], 3)
    cobot.set_custom_fields("harbour", member["id"], {"Card number": "04A1B2"})
    base = f"/spaces/harbour/api/memberships/{member['id']}"

    assert [p["name"] for p in api(cobot, "GET", "/spaces/harbour/api/plans").json()] == ["Ten Days"]
    passes = api(cobot, "GET", f"{base}/time_passes/unused").json()
    assert len(passes) == 3
    assert passes[0]["used_at"] is None
    fields = api(cobot, "GET", f"{base}/custom_fields").json()
    assert fields["membership_id"] == member["id"]
    assert [(f["label"], f["value"]) for f in fields["fields"]] == [("Card number", "04A1B2")]


def test_it_filters_bookings_by_overlap(cobot):
    member = cobot.add_membership("harbour", name="Ada")
    inside = cobot.add_booking("harbour", from_=NOW, to=NOW + timedelta(hours=1), membership_id=member["id"])
    cobot.add_booking("harbour", from_=NOW + timedelta(days=2), to=NOW + timedelta(days=2, hours=1))

    r = api(
        cobot,
        "GET",
        "/spaces/harbour/api/bookings",
        params={"from": "2026/11/02 00:00:00 +0000", "to": "2026-11-02T23:59:59Z"},
    )
    assert r.status_code == 200
    assert r.json() == [inside]
    assert inside["membership"] == {"id": member["id"], "name": "Ada"}
    assert inside["from"] == "2026/11/02 09:30:00 +0000"
    assert api(cobot, "GET", "/spaces/harbour/api/bookings").status_code == 422

    cobot.delete_booking("harbour", inside["id"])
    assert api(cobot, "GET", f"/spaces/harbour/api/bookings/{inside['id']}").status_code == 404


def test_it_registers_a_check_in_token_once(cobot):
    member = cobot.add_membership("harbour")
    path = "/spaces/harbour/api/check_in_tokens"

    r = api(cobot, "POST", path, json={"membership_id": member["id"], "token": "04A1B2"})
    assert r.status_code == 201
    assert r.json() == {"token": "04A1B2", "membership": {"id": member["id"]}}
    r = api(cobot, "POST", path, json={"membership_id": member["id"], "token": "04A1B2"})
    assert r.status_code == 422
    assert r.json() == {"errors": {"token": ["has already been taken"]}}
    assert api(cobot, "GET", path).json() == [{"token": "04A1B2", "membership": {"id": member["id"]}}]


def check_in(cobot: CobotFake, token: str, space_id: str = "space-harbour") -> requests.Response:
    body = {
        "data": {
            "type": "checkIns",
            "attributes": {"checkInToken": token},
            "relationships": {"space": {"data": {"id": space_id, "type": "spaces"}}},
        }
    }
    return requests.post(
        f"{cobot.api2_url}/check_ins", json=body, headers={"Authorization": f"Bearer {ALICE}"}, timeout=5
    )


def test_it_checks_in_by_token_and_uses_a_time_pass(cobot):
    plan = cobot.add_plan("harbour", "Ten Days", time_passes=["Day Pass"])
    member = cobot.add_membership("harbour", plan_id=plan["id"])
    cobot.set_unused_time_passes("harbour", member["id"], 1)
    cobot.add_check_in_token("harbour", member["id"], "04A1B2")

    r = check_in(cobot, "04A1B2")
    assert r.status_code == 201
    data = r.json()["data"]
    assert data["type"] == "checkIns"
    assert data["attributes"] == {
        "validFrom": "2026-11-02T09:30:00+00:00",
        "validUntil": "2026-11-02T23:59:59+00:00",
    }
    assert cobot.space("harbour").unused_time_passes[member["id"]] == []
    assert cobot.check_ins("harbour")[0]["membership"]["id"] == member["id"]

    r = check_in(cobot, "04A1B2")
    assert r.status_code == 422
    assert r.json() == {"errors": [{"detail": "Member is already checked in."}]}

    cobot.advance(24 * 3600)  # next day, no passes left
    r = check_in(cobot, "04A1B2")
    assert r.status_code == 422
    assert r.json() == {"errors": [{"detail": "No time passes left."}]}


def test_it_refuses_unknown_tokens_and_answers_ended_memberships_as_configured(cobot):
    member = cobot.add_membership("harbour")
    cobot.add_check_in_token("harbour", member["id"], "04A1B2")
    cobot.cancel_membership("harbour", member["id"], date(2026, 10, 31))

    r = check_in(cobot, "unknown")
    assert r.status_code == 422
    assert r.json() == {"errors": [{"detail": "Check-in token not found."}]}

    r = check_in(cobot, "04A1B2")
    assert r.status_code == 204
    assert r.content == b""

    cobot.inactive_check_in_response = Response(422, {"errors": [{"detail": "Membership has ended."}]})
    assert check_in(cobot, "04A1B2").status_code == 422
    assert check_in(cobot, "04A1B2", space_id="space-dock").status_code == 403


def test_it_checks_a_member_in_and_out_by_membership(cobot):
    member = cobot.add_membership("harbour", name="Ada")
    base = f"/spaces/harbour/api/memberships/{member['id']}"

    r = api(cobot, "POST", f"{base}/work_sessions")
    assert r.status_code == 201
    assert r.json()["membership"] == {"id": member["id"], "name": "Ada"}
    assert r.json()["valid_from"] == "2026/11/02 09:30:00 +0000"
    assert len(api(cobot, "GET", "/spaces/harbour/api/check_ins").json()) == 1

    cobot.advance(3600)
    assert api(cobot, "DELETE", f"{base}/check_ins/current").status_code == 204
    assert (
        api(cobot, "GET", "/spaces/harbour/api/check_ins").json()[0]["valid_until"]
        == "2026/11/02 10:30:00 +0000"
    )
    assert api(cobot, "DELETE", f"{base}/check_ins/current").status_code == 404


def test_it_answers_429_with_retry_after_when_rate_limited(cobot):
    cobot.rate_limit(per_minute=3)
    for _ in range(3):
        assert api(cobot, "GET", "/api/user").status_code == 200
    r = api(cobot, "GET", "/api/user")
    assert r.status_code == 429
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Retry-After"]) == 60
    assert api(cobot, "GET", "/api/user", CHARLIE).status_code == 200  # limits are per user

    cobot.advance(60)
    assert api(cobot, "GET", "/api/user").status_code == 200


def test_it_limits_membership_listing_further_and_counts_calls(cobot):
    cobot.memberships_limit(per_minute=2)
    statuses = [api(cobot, "GET", "/spaces/harbour/api/memberships").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api(cobot, "GET", "/spaces/harbour/api/plans").status_code == 200
    assert cobot.calls("GET", r"/spaces/[^/]+/api/memberships") == 3

    cobot.memberships_limit(None)
    assert api(cobot, "GET", "/spaces/harbour/api/memberships").status_code == 200


def test_it_delivers_webhooks_to_the_active_subscriptions_of_the_event(cobot, receiver):
    member = cobot.add_membership("harbour")
    fetched = []

    def fetch_back(request, match):
        # Like AccessBridge, fetch the resource from Cobot while handling the delivery.
        url = request.json()["url"]
        fetched.append(requests.get(url, headers={"Authorization": f"Bearer {ALICE}"}, timeout=5).json())
        return Response(202)

    receiver.route("POST", "/hooks/fetch", fetch_back)
    for path, event in [("fetch", "confirmed_membership"), ("ok", "canceled_membership")]:
        r = api(
            cobot,
            "POST",
            "/spaces/harbour/api/subscriptions",
            json={"event": event, "callback_url": f"{receiver.url}/hooks/{path}"},
        )
        assert r.status_code == 201

    url = cobot.membership_url("harbour", member["id"])
    assert cobot.deliver("harbour", "confirmed_membership", url) == [(f"{receiver.url}/hooks/fetch", 202)]
    assert [r.json() for r in receiver.requests_to("POST", "/hooks/fetch")] == [{"url": url}]
    assert receiver.requests_to("POST", "/hooks/fetch")[0].headers["content-type"] == "application/json"
    assert fetched[0]["id"] == member["id"]
    assert receiver.requests_to("POST", "/hooks/ok") == []
    assert cobot.deliver("dock", "confirmed_membership", url) == []


def test_it_deactivates_on_410_and_does_not_follow_redirects(cobot, receiver):
    for path in ("gone", "moved"):
        api(
            cobot,
            "POST",
            "/spaces/harbour/api/subscriptions",
            json={"event": "deleted_booking", "callback_url": f"{receiver.url}/hooks/{path}"},
        )
    booking = cobot.delete_booking(
        "harbour", cobot.add_booking("harbour", from_=NOW, to=NOW + timedelta(hours=1))["id"]
    )

    results = cobot.deliver("harbour", "deleted_booking", {"booking": booking})
    assert sorted(status for _, status in results) == [302, 410]
    assert receiver.requests_to("POST", "/hooks/ok") == []
    assert receiver.requests_to("POST", "/hooks/gone")[0].json() == {"booking": booking}

    assert [s["active"] for s in api(cobot, "GET", "/spaces/harbour/api/subscriptions").json()] == [
        False,
        True,
    ]
    assert [status for _, status in cobot.deliver("harbour", "deleted_booking", {"booking": booking})] == [
        302
    ]


def test_it_reports_a_callback_that_cannot_be_reached(cobot):
    api(
        cobot,
        "POST",
        "/spaces/harbour/api/subscriptions",
        json={"event": "created_booking", "callback_url": "http://127.0.0.1:9/x"},
    )
    assert cobot.deliver("harbour", "created_booking", "http://irrelevant", timeout=2) == [
        ("http://127.0.0.1:9/x", None)
    ]
