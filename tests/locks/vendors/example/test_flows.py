"""The example vendor end to end, through the dashboard and the workers: it proves that a vendor with
people, door groups, polling, a device action and a per-door secret needs nothing outside its package
and one registry line (CONTRIBUTING.md, "Adding a lock vendor")."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.db import connection as db_connection
from django.urls import reverse

from locks.models import AccessEvent, AuditEntry, Door, Grant, LockConnection, VendorAccount
from locks.polling import connection_poll
from tests.locks.conftest import rule_for, run_work

from .adapter import SITES
from .conftest import API_KEY


def url(name, *args):
    return reverse(name, args=["space-a", *args])


def page(response) -> str:
    return response.content.decode()


def test_a_vendor_registered_at_test_time_needs_no_migration(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # exits non-zero on a change
    assert "No changes detected" in out.getvalue()
    assert ("example", "Example (tests)") in LockConnection._meta.get_field("vendor").choices


def test_from_connecting_to_a_checkin(signed_in, members, cobot, site, space_a):
    # The admin connects it: the settings form is the adapter's, the key is kept encrypted.
    form = {"vendor": "example", "name": "HQ locks", "settings-site": "hq", "settings-api_key": API_KEY}
    response = signed_in.post(url("connection_add"), form, follow=True)
    assert "HQ locks: 2 locks" in page(response)
    connection = LockConnection.objects.get()
    assert (connection.vendor, connection.config, connection.credentials) == (
        "example",
        {"site": "hq"},
        {"api_key": API_KEY},
    )
    assert "door events not polled yet" in page(signed_in.get(url("connections")))

    # Its doors, each with a pairing key the adapter keeps in Door.vendor_secrets (encrypted at rest).
    signed_in.post(url("connection_doors_refresh", connection.pk))
    front = Door.objects.get(vendor_ref="lock-1")
    pairing_key = front.vendor_secrets["pairing_key"]
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT vendor_secrets FROM locks_door WHERE id = %s", [front.pk])
        assert pairing_key not in cursor.fetchone()[0]

    # A member of a plan that opens the front door: a person and a door group at the vendor.
    staff = members.plan("Staff")
    rule_for(space_a, front, plan=staff)
    ada = members.add(email="ada@example.org", plan=staff)
    members.changed(ada)
    run_work()
    person = VendorAccount.objects.get(membership=ada).vendor_person_id
    assert site.people == {person: "ada@example.org"}
    assert list(site.grants.values()) == [(person, "lock-1")]
    assert Grant.objects.get(membership=ada).status == "active"
    assert cobot.space("space-a").check_in_tokens == {person: ada.cobot_id}

    # She opens the door; the next poll brings the event, and a worker checks her in at Cobot.
    site.event_add("door.unlocked", person=person, door="lock-1")
    assert connection_poll(connection_id=connection.pk).new == 1
    run_work()
    event = AccessEvent.objects.get()
    assert (event.membership, event.door, event.checkin_result) == (ada, front, "checked_in")
    assert [c["membership"]["id"] for c in cobot.check_ins("space-a")] == [ada.cobot_id]
    assert "Ada Lovelace" in page(signed_in.get(url("access_events")))


def test_its_device_action_is_served_by_the_one_route(signed_in, connection, site, alice):
    signed_in.post(url("connection_doors_refresh", connection.pk))
    front = Door.objects.get(vendor_ref="lock-1")
    action = url("device_action", "door", front.pk, "lock_calibrate")

    assert f'href="{action}"' in page(signed_in.get(url("doors")))  # asks first: a link, not a form
    confirm = page(signed_in.get(action))
    assert "Calibrate the lock “Front door” now?" in confirm and "about ten seconds" in confirm
    assert site.calibrated == []

    assert "Front door: calibrated." in page(signed_in.post(action, follow=True))
    assert site.calibrated == ["lock-1"]
    entry = AuditEntry.objects.get(action="lock_calibrate")
    assert (entry.result, entry.actor, entry.door) == ("ok", alice, front)

    # Only what the adapter declares, at its level.
    assert signed_in.post(url("device_action", "door", front.pk, "gateway_synchronize")).status_code == 404
    assert signed_in.post(url("device_action", "gateway", front.pk, "lock_calibrate")).status_code == 404


def test_a_failing_device_action_is_shown_and_audited(signed_in, connection, site):
    front = Door.objects.create(connection=connection, vendor_ref="lock-1", name="Front door")  # never paired
    body = page(signed_in.post(url("device_action", "door", front.pk, "lock_calibrate"), follow=True))
    assert "Front door: calibrate lock failed: Front door is not paired yet: sync the doors." in body
    assert AuditEntry.objects.get().result == "failed" and SITES["hq"].calibrated == []
