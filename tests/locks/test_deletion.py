"""Deleting a connection or a door never leaves people or door grants we created at the vendor behind:
while there are some, the delete is refused with what to do; afterwards our history of them goes too."""

import pytest
from django.urls import reverse

from locks.access.run import access_sync
from locks.models import AccessSyncJob, AuditEntry, Door, Grant, LockConnection, VendorAccount
from locks.services import DeletionRefused, connection_delete, door_delete
from tests.locks.conftest import rule_for, run_work
from tests.locks.vendors_for_tests import grants_of


@pytest.fixture
def ada_at_smartlock(members, connection, front_door, smartlock):
    rule_for(members.space, front_door)
    ada = members.add()
    members.changed(ada)
    run_work()
    assert len(smartlock.users) == 1
    return ada


def test_a_connection_with_people_at_the_vendor_is_not_deleted(
    ada_at_smartlock, connection, front_door, smartlock, alice
):
    with pytest.raises(DeletionRefused) as refused:
        connection_delete(connection=connection)
    assert str(refused.value) == (
        "SmartLock cannot be deleted yet: 1 person that AccessBridge created at SmartLock would be left there. "
        "Take its doors out of the access rules (or disable them): the next sync removes them at SmartLock. "
        "Then delete the connection."
    )
    assert LockConnection.objects.filter(pk=connection.pk).exists() and len(smartlock.users) == 1

    Door.objects.filter(pk=front_door.pk).update(enabled=False)  # as the message says
    access_sync(space=connection.space)
    assert smartlock.users == {}
    connection_delete(connection=connection, actor=alice)
    assert not LockConnection.objects.exists() and not VendorAccount.objects.exists()
    entry = AuditEntry.objects.get(action="connection_delete")
    assert (entry.actor, entry.detail) == (alice, "deleted connection SmartLock (SmartLock)")


def test_a_disabled_connection_says_to_enable_it_first(ada_at_smartlock, connection):
    LockConnection.objects.filter(pk=connection.pk).update(enabled=False)
    connection.refresh_from_db()
    with pytest.raises(DeletionRefused, match="Enable the connection, then take its doors out"):
        connection_delete(connection=connection)


def test_a_door_with_grants_at_the_vendor_is_not_deleted(members, space_a, test_vendors, cobot):
    connection = LockConnection.objects.create(space=space_a, vendor="recording", name="Rec", status="ok")
    door = Door.objects.create(connection=connection, vendor_ref="front", name="Front")
    rule_for(space_a, door)
    members.add()
    access_sync(space=space_a)
    assert len(grants_of(connection)) == 1
    with pytest.raises(DeletionRefused, match="Front cannot be deleted yet: 1 door grant that AccessBridge"):
        door_delete(door=door)

    Door.objects.filter(pk=door.pk).update(enabled=False)
    access_sync(space=space_a)
    assert grants_of(connection) == set()
    door.refresh_from_db()
    door_delete(door=door)
    assert not Door.objects.exists() and not Grant.objects.exists()


def test_a_smartlock_door_goes_at_once_and_the_people_follow_the_rules(
    ada_at_smartlock, front_door, smartlock
):
    AccessSyncJob.objects.all().delete()
    door_delete(door=front_door)
    assert not Door.objects.exists()
    assert AccessSyncJob.objects.get().reason == "door deleted"
    run_work()
    assert smartlock.users == {}  # no door of the connection is left to open


def test_the_admin_shows_why_instead_of_deleting(admin_client, ada_at_smartlock, connection, front_door):
    page = reverse("admin:locks_lockconnection_delete", args=[connection.pk])
    response = admin_client.get(page)
    assert response.status_code == 200
    assert "1 person that AccessBridge created at SmartLock would be left there" in response.content.decode()
    assert admin_client.post(page, {"post": "yes"}).status_code == 200
    assert LockConnection.objects.filter(pk=connection.pk).exists()

    door_page = reverse("admin:locks_door_delete", args=[front_door.pk])
    Door.objects.filter(pk=front_door.pk).update(enabled=False)
    access_sync(space=connection.space)
    response = admin_client.post(page, {"post": "yes"})
    assert response.status_code == 302 and not LockConnection.objects.exists()
    assert admin_client.get(door_page).status_code == 302  # gone with its connection
