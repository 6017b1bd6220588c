"""The member page ("why"), linked from every member name (issue 14)."""

from django.urls import reverse

from locks.audit import audit_admin_action
from locks.models import AccessEvent
from tests.locks.conftest import rule_for


def test_the_member_page_says_what_the_rules_give_what_the_locks_have_and_what_is_out_of_step(
    signed_in, members, connection, front_door, alice
):
    rule_for(members.space, front_door)
    ada = members.add()
    AccessEvent.objects.create(connection=connection, door=front_door, membership=ada, vendor_event_id="e1",
                               kind="unlock", occurred_at=ada.confirmed_at, checkin_result="checked_in")  # fmt: skip
    audit_admin_action(space=members.space, actor=alice, action="x", detail="something about Ada", membership=ada)
    url = reverse("member_detail", args=[members.space.subdomain, ada.pk])
    for listing in ("access_members", "access_events", "access_audit"):
        page = signed_in.get(reverse(listing, args=[members.space.subdomain])).content.decode()
        assert f'href="{url}"' in page, listing
    page = signed_in.get(url).content.decode()
    assert "Should open:</strong> Front door" in page
    assert "Out of step, the next sync would:" in page and "create Ada Lovelace" in page
    assert "Checked in" in page and "something about Ada" in page


def test_another_spaces_member_is_a_404(signed_in, members, space_b):
    from spaces.models import Membership

    other = Membership.objects.create(space=space_b, cobot_id="m-x", name="Someone")
    assert signed_in.get(reverse("member_detail", args=[members.space.subdomain, other.pk])).status_code == 404
    assert signed_in.get(reverse("member_detail", args=[space_b.subdomain, other.pk])).status_code == 404
