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


def test_events_and_audit_filter_by_door_member_kind_and_date_and_export_what_is_shown(
    signed_in, members, connection, front_door, alice
):
    from datetime import timedelta

    from django.utils import timezone

    from locks.models import AccessEvent

    side = Door.objects.create(connection=connection, vendor_ref="lock_2", name="Side door")
    ada, grace = members.add(), members.add(name="Grace Hopper", email="grace@example.org")
    now = timezone.now()
    for n, (door, who, kind, at) in enumerate([
        (front_door, ada, "unlock", now), (side, grace, "unlock", now), (front_door, grace, "denied", now),
        (front_door, ada, "unlock", now - timedelta(days=10)),
    ]):  # fmt: skip
        AccessEvent.objects.create(connection=connection, door=door, membership=who, kind=kind, occurred_at=at,
                                   vendor_event_id=f"e{n}")  # fmt: skip
    events = url("access_events", members.space)
    query = {"door": front_door.pk, "member": ada.pk, "kind": "unlock", "since": f"{now - timedelta(days=1):%Y-%m-%d}"}
    rows = signed_in.get(events, query).context["page"].object_list
    assert [(e.door, e.membership, e.kind) for e in rows] == [(front_door, ada, "unlock")]
    exported = signed_in.get(events, {**query, "format": "csv"}).content.decode().splitlines()
    assert len(exported) == 2
    assert signed_in.get(events, {"door": "nonsense", "since": "yesterday"}).status_code == 200  # errors shown

    audit_admin_action(space=members.space, actor=alice, action="rule_add", detail="a")
    audit_admin_action(space=members.space, actor=alice, action="sync_now", detail="b")
    page = signed_in.get(url("access_audit", members.space), {"kind": "sync_now"})
    assert [e.detail for e in page.context["page"].object_list] == ["b"]
