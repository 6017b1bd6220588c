"""The KISI adapter against the stand-in: test connection, doors and groups, users found or created, role
assignments idempotent, lost answers, and remote unlock with its refusals in words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from locks.door_commands import door_open
from locks.models import AccessEvent, AuditEntry, Door, Grant, VendorAccount
from locks.vendors import adapter_for
from locks.vendors.base import VendorPermanentError
from tests.fakes.base import Response
from tests.locks.conftest import rule_for, run_work

from .conftest import group_door, kisi_connection


def test_test_connection_names_places_and_groups(kisi, building, connection):
    assert adapter_for(connection).test_connection() == "places HQ Berlin; 2 groups"


def test_a_key_of_the_standard_account_model_is_told_so(kisi, connection):
    kisi.force(Response(403, {"code": "000403", "error": "Forbidden"}), path="^/groups$")
    with pytest.raises(VendorPermanentError) as caught:
        adapter_for(connection).test_connection()
    assert "Standard model" in str(caught.value) and "Organizations model" in str(caught.value)


def test_the_settings_form_says_which_key_to_use(signed_in, space_a):
    page = signed_in.get(reverse("connection_add", args=["space-a"]) + "?vendor=kisi").content.decode()
    assert "organization&#x27;s owner" in page or "organization's owner" in page
    assert "signature key" in page


def test_locks_and_groups_become_doors(kisi, connection):
    front = kisi.add_lock("Front door", reader_restriction_enabled=True)
    kisi.add_group("Members", locks=(front["id"],))
    adapter_for(connection).doors_sync()
    lock = Door.objects.get(vendor_ref=str(front["id"]))
    assert lock.extra["kind"] == "lock" and lock.extra["reader_restriction_enabled"] is True
    group = group_door(connection, "Members")
    assert (group.name, group.extra["opens"]) == ("Group: Members", [str(front["id"])])


def test_an_existing_user_is_adopted_and_managed_users_get_no_emails(members, kisi, space_a):
    connection = kisi_connection(space_a, kisi, managed_users=True)
    known = kisi.add_user("ADA@example.org")
    adapter = adapter_for(connection)
    assert adapter.person_ensure(membership=members.add(email="ada@example.org")) == str(known["id"])
    new_id = adapter.person_ensure(membership=members.add(name="Bob", email="bob@example.org"))
    assert kisi.users[int(new_id)] | {} == {
        "id": int(new_id), "email": "bob@example.org", "name": "Bob", "confirmed": True, "send_emails": False
    }


def test_a_user_created_unseen_is_found_again_not_created_twice(members, kisi, building, connection):
    adapter_for(connection).doors_sync()
    rule_for(members.space, group_door(connection, "Members"))
    run_work()
    ada = members.add()
    # The engine asked KISI to create her, and the answer was lost: the row stayed PENDING.
    VendorAccount.objects.create(connection=connection, membership=ada, status="pending")
    kisi.add_user("ada@example.org")
    members.changed(ada)
    run_work()
    assert len(kisi.users) == 1
    account = VendorAccount.objects.get(membership=ada)
    assert (account.status, account.vendor_person_id) == ("active", str(kisi.user_of("ada@example.org")["id"]))


def test_a_grant_repeated_after_a_lost_answer_is_the_same_role_assignment(members, kisi, building, connection):
    adapter_for(connection).doors_sync()
    studio = group_door(connection, "Studio")
    user = kisi.add_user("ada@example.org")
    window = {"valid_from": datetime(2026, 12, 1, 9, tzinfo=UTC), "valid_until": datetime(2026, 12, 1, 11, tzinfo=UTC)}
    first = adapter_for(connection).access_grant(vendor_person_id=str(user["id"]), door=studio, **window)
    again = adapter_for(connection).access_grant(vendor_person_id=str(user["id"]), door=studio, **window)
    other = adapter_for(connection).access_grant(vendor_person_id=str(user["id"]), door=studio)
    assert first == again != other and len(kisi.role_assignments) == 2

    # Revoking a grant whose create answer was lost removes what she holds for that group and window.
    ada = members.add()
    VendorAccount.objects.create(connection=connection, membership=ada, vendor_person_id=str(user["id"]))
    grant = Grant.objects.create(connection=connection, membership=ada, door=studio, status="pending", **window)
    adapter_for(connection).access_revoke(grant=grant)
    assert list(kisi.role_assignments) == [int(other)]


def test_a_lock_cannot_be_granted_only_its_groups(members, kisi, building, connection):
    adapter_for(connection).doors_sync()
    front = Door.objects.get(name="Front door")
    with pytest.raises(VendorPermanentError, match="KISI gives access through groups"):
        adapter_for(connection).access_grant(vendor_person_id="1", door=front)


def test_the_dashboard_unlocks_a_lock(kisi, building, connection, alice, signed_in):
    adapter_for(connection).doors_sync()
    page = signed_in.get(reverse("doors", args=["space-a"])).content.decode()
    front, group = Door.objects.get(name="Front door"), group_door(connection, "Members")
    assert reverse("door_open", args=["space-a", front.pk]) in page
    assert reverse("door_open", args=["space-a", group.pk]) not in page  # a group is granted, not opened
    result = door_open(door=Door.objects.get(name="Front door"), actor=alice)
    assert (result.ok, result.message) == (True, "Front door opened.")
    assert kisi.unlocked == [building["front"]["id"]]
    assert AuditEntry.objects.get().result == "ok"


def test_a_restricted_lock_refusing_the_api_says_so_in_words(kisi, connection, alice):
    kisi.add_lock("Vault", primary_device_restriction_enabled=True)
    adapter_for(connection).doors_sync()
    result = door_open(door=Door.objects.get(name="Vault"), actor=alice)
    assert not result.ok and kisi.unlocked == []
    assert "the lock has primary device restriction" in result.message
    assert "Turn the restriction off in KISI" in result.message
    assert AccessEvent.objects.get().kind == "open_failed"


def test_a_group_is_not_opened_and_there_is_no_remote_lock(kisi, building, connection, alice):
    adapter_for(connection).doors_sync()
    result = door_open(door=group_door(connection, "Studio"), actor=alice)
    assert not result.ok and "is a KISI group: open one of its locks" in result.message
    with pytest.raises(VendorPermanentError, match="no remote lock"):
        adapter_for(connection).door_close(door=Door.objects.get(name="Front door"))


def test_the_webhook_setup_says_where_to_paste_the_url_and_the_key(kisi, connection):
    lines = adapter_for(connection).webhook_setup()
    assert lines[0] == "In KISI: Integrations → Event Webhook, paste this URL."
    assert lines[1].startswith("Recommended: set a signature key")
    connection.credentials = {**connection.credentials, "webhook_signature_key": "s"}
    assert "events without its X-Signature are refused" in adapter_for(connection).webhook_setup()[1]
