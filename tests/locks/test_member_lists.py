"""Honest semantics and lists (issue 14, items 4 and 5): SmartLock's one door set per connection is said
where rules are made and on members; members filter by status with counts; members, events and audit
export as CSV."""

import csv
import io

from django.urls import reverse

from locks.audit import audit_admin_action
from locks.models import Door


def url(name, space, *args):
    return reverse(name, args=[space.subdomain, *args])


def test_smartlocks_one_door_set_is_said_where_rules_are_made_and_on_members(signed_in, members, connection, front_door):
    space = members.space
    for name in ("rules", "rule_add", "access_members"):
        assert "no per-door permissions" not in signed_in.get(url(name, space)).content.decode(), name  # one door
    Door.objects.create(connection=connection, vendor_ref="lock_2", name="Side door")
    for name in ("rules", "rule_add", "access_members"):
        page = signed_in.get(url(name, space)).content.decode()
        assert "SmartLock (SmartLock) has no per-door permissions" in page, name
        assert "Front door, Side door" in page, name


def test_members_filter_by_status_with_counts(signed_in, members, connection):
    members.add(name="Ada Lovelace")
    members.add(name="Grace Hopper", email="grace@example.org", status="canceled")
    members.add(name="Alan Turing", email="alan@example.org", status="canceled")
    page = signed_in.get(url("access_members", members.space)).content.decode()
    assert 'status=confirmed">Confirmed <span class="status">1</span>' in page
    assert 'status=canceled">Canceled <span class="status">2</span>' in page
    page = signed_in.get(url("access_members", members.space), {"status": "canceled"}).content.decode()
    assert "Grace Hopper" in page and "Alan Turing" in page and "Ada Lovelace" not in page


def test_members_events_and_audit_export_as_csv_and_formulas_stay_text(signed_in, members, connection, alice):
    members.add(name="=HYPERLINK(\"http://evil\")")
    members.add(name="Grace Hopper", email="grace@example.org", status="canceled")
    audit_admin_action(space=members.space, actor=alice, action="rule_add", detail="rule added: Plan Flex")
    response = signed_in.get(url("access_members", members.space), {"status": "canceled", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:2] == ["name", "email"] and [r[0] for r in rows[1:]] == ["Grace Hopper"]
    rows = list(csv.reader(io.StringIO(signed_in.get(url("access_members", members.space), {"format": "csv"}).content.decode())))
    assert "'=HYPERLINK(\"http://evil\")" in [r[0] for r in rows]
    audit = list(csv.reader(io.StringIO(signed_in.get(url("access_audit", members.space), {"format": "csv"}).content.decode())))
    assert audit[1][2:3] == ["rule_add"] and audit[1][-1] == "rule added: Plan Flex"
    events = signed_in.get(url("access_events", members.space), {"format": "csv"})
    assert events.content.decode().splitlines()[0].startswith("when,what,door")
