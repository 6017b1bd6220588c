"""Drift at a vendor: the daily check repairs what AccessBridge owns and lists everyone else as "unknown at
AccessBridge", untouched until an admin adopts or removes them."""

from __future__ import annotations

import pytest
from django.utils import timezone

from locks.access.run import access_sync
from locks.models import AccessSyncJob, AuditEntry, VendorAccount
from tests.fakes.base import Response
from tests.locks.conftest import rule_for, run_work

URL = "/spaces/space-a/access-sync/unknown/"


@pytest.fixture
def ada(members, connection, front_door):
    rule_for(members.space, front_door)
    AccessSyncJob.objects.all().delete()
    ada = members.add()
    members.changed(ada)
    run_work()
    return ada


def page(response) -> str:
    return response.content.decode()


def test_injected_drift_is_reported_owned_drift_repaired_and_foreign_people_left_alone(
    signed_in, ada, members, smartlock, connection
):
    staff = smartlock.add_user("cleaner@example.org")  # a staff key made on SmartLock's own site
    ours = VendorAccount.objects.get(membership=ada).vendor_person_id
    del smartlock.users[ours]  # ours, deleted at the vendor
    body = page(signed_in.get(URL))
    assert staff["id"] in body and "Ada Lovelace at SmartLock" in body
    preview = page(signed_in.get("/spaces/space-a/access-sync/preview/"))
    assert URL in preview

    report = access_sync(space=members.space, refresh=True)  # the daily check
    assert [op.action for op in report.applied] == ["person_create", "checkin_token_register"]
    assert {u["email"] for u in smartlock.users.values()} == {"ada@example.org", "cleaner@example.org"}
    assert smartlock.requests_to("DELETE", "/users/.*") == []
    body = page(signed_in.get(URL))
    assert staff["id"] in body and "Ours, missing at the vendor" not in body


def test_remove_takes_an_unknown_person_away_and_audits_it(signed_in, ada, smartlock, connection, alice):
    staff = smartlock.add_user("cleaner@example.org")
    response = signed_in.post(f"{URL}{connection.pk}/", {"person": staff["id"], "action": "remove"}, follow=True)
    assert f"{staff['id']} removed from SmartLock." in page(response)
    assert staff["id"] not in smartlock.users
    entry = AuditEntry.objects.get(action="unknown_person_remove")
    assert (entry.result, entry.actor) == ("ok", alice)


def test_adopt_makes_an_unknown_person_a_members_which_the_sync_keeps(signed_in, members, ada, smartlock, connection):
    grace = members.add(name="Grace Hopper", email="grace@example.org")
    hers = smartlock.add_user("grace.h@example.org")
    data = {"person": hers["id"], "action": "adopt", "member": grace.pk}
    response = signed_in.post(f"{URL}{connection.pk}/", data, follow=True)
    assert "is now Grace Hopper&#x27;s" in page(response)
    assert VendorAccount.objects.get(membership=grace).vendor_person_id == hers["id"]
    assert hers["id"] not in page(signed_in.get(URL))
    members.cancel(grace, timezone.localdate() - timezone.timedelta(days=1))
    access_sync(space=members.space)
    assert hers["id"] not in smartlock.users  # adopted: now removed with the member, like any of ours


def test_a_person_we_manage_cannot_be_removed_or_adopted_from_here(signed_in, ada, smartlock, connection):
    ours = VendorAccount.objects.get(membership=ada).vendor_person_id
    response = signed_in.post(f"{URL}{connection.pk}/", {"person": ours, "action": "remove"}, follow=True)
    assert "is a person AccessBridge manages" in page(response)
    assert ours in smartlock.users


def test_a_vendor_that_cannot_be_read_is_said_and_nothing_changes(signed_in, ada, smartlock):
    smartlock.force(Response(502, {"error": "bad gateway"}), path="^/users$")
    body = page(signed_in.get(URL))
    assert "Could not read the people at SmartLock: SmartLock: HTTP 502" in body


def test_another_spaces_connection_is_404(client, bob, space_b, ada, connection, smartlock):
    staff = smartlock.add_user("cleaner@example.org")
    client.force_login(bob)
    response = client.post(f"/spaces/space-b/access-sync/unknown/{connection.pk}/", {"person": staff["id"], "action": "remove"})
    assert response.status_code == 404 and staff["id"] in smartlock.users
