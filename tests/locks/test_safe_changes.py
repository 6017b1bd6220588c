"""Safe changes (issue 14, Broken 3): a rule change shows who gains or loses which doors (the engine's own
reads and dry run) and applies only on confirmation; admin actions are in the audit trail with who."""

from django.urls import reverse

from locks.models import AccessRule, AccessSyncJob, AuditEntry, Door
from tests.locks.conftest import rule_for


def url(name, space, *args):
    return reverse(name, args=[space.subdomain, *args])


def test_saving_a_rule_previews_who_gains_which_door_and_applies_only_when_confirmed(
    signed_in, members, connection, front_door, alice
):
    flex = members.plan("Flex")
    members.add(name="Ada Lovelace", plan=flex)
    members.add(name="Grace Hopper", email="grace@example.org")  # another plan: unaffected
    AccessSyncJob.objects.all().delete()
    data = {"kind": "plan", "plan": flex.pk, "doors": [front_door.pk], "buffer_before_minutes": 0,
            "buffer_after_minutes": 0, "enabled": "on"}  # fmt: skip

    page = signed_in.post(url("rule_add", members.space), data)
    body = page.content.decode()
    assert page.status_code == 200
    assert "Ada Lovelace" in body and "+ Front door" in body and "Grace Hopper" not in body
    assert "call to the locks" in body or "calls to the locks" in body  # the dry run's operations
    assert not AccessRule.objects.exists() and not AccessSyncJob.objects.exists()  # nothing kept or queued
    assert 'name="confirm" value="1"' in body

    assert signed_in.post(url("rule_add", members.space), {**data, "confirm": "1"}).status_code == 302
    assert AccessRule.objects.count() == 1
    entry = AuditEntry.objects.get(action="rule_add")
    assert entry.actor == alice and "Plan Flex" in entry.detail


def test_deleting_a_rule_asks_first_and_says_who_loses_which_door(signed_in, members, connection, front_door, alice):
    side = Door.objects.create(connection=connection, vendor_ref="lock_2", name="Side door")
    rule = rule_for(members.space, front_door, side)
    members.add(name="Ada Lovelace")
    page = signed_in.post(url("rule_delete", members.space, rule.pk)).content.decode()
    assert "Ada Lovelace" in page and "− Front door" in page and "− Side door" in page
    assert AccessRule.objects.filter(pk=rule.pk).exists()

    signed_in.post(url("rule_delete", members.space, rule.pk), {"confirm": "1"})
    assert not AccessRule.objects.exists()
    entry = AuditEntry.objects.get(action="rule_delete")
    assert entry.actor == alice and "Plan any" in entry.detail


def test_door_and_connection_changes_and_sync_now_are_audited_with_who(signed_in, members, connection, alice):
    space = members.space
    signed_in.post(url("doors", space), {"connection": connection.pk, "vendor_ref": "lock_9", "name": "Back door"})
    door = Door.objects.get(vendor_ref="lock_9")
    signed_in.post(url("door_edit", space, door.pk), {"connection": connection.pk, "vendor_ref": "lock_9", "name": "Yard door", "enabled": "on"})
    signed_in.post(url("connection_test", space, connection.pk))
    signed_in.post(url("sync_now", space))
    actions = list(AuditEntry.objects.filter(actor=alice).order_by("created_at", "pk").values_list("action", flat=True))
    assert actions == ["door_add", "door_change", "connection_test", "sync_now"]
