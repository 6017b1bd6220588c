"""Token registration: pick a member, scan a card (Enter submits), it becomes their check-in token at Cobot;
a card someone else has is refused with who has it."""

from __future__ import annotations

from locks.models import AuditEntry
from spaces.embedded import cobot_frame_origins
from spaces.models import CheckInToken
from tests.locks.readers.conftest import card_for


def page(response) -> str:
    return response.content.decode()


def test_it_finds_members_by_name_or_email(signed_in, members):
    members.add(name="Ada Lovelace")
    members.add(name="Grace Hopper", email="grace@navy.example")
    assert "Grace Hopper" in page(signed_in.get("/spaces/space-a/readers/cards/", {"q": "navy"}))
    found = page(signed_in.get("/spaces/space-a/readers/cards/", {"q": "ada"}))
    assert "Ada Lovelace" in found and "Grace Hopper" not in found


def test_a_scanned_card_becomes_the_members_checkin_token_at_cobot(signed_in, members, alice):
    ada = members.add()
    form = page(signed_in.get("/spaces/space-a/readers/cards/", {"member": ada.pk}))
    assert 'name="token" autofocus' in form
    response = signed_in.post("/spaces/space-a/readers/cards/", {"member": ada.pk, "token": " 04A1B2C3 "}, follow=True)
    assert "Card 04A1B2C3 registered for Ada Lovelace." in page(response)
    assert "<code>04A1B2C3</code>" in page(response)  # listed under the member
    assert members.cobot.space("space-a").check_in_tokens == {"04A1B2C3": ada.cobot_id}
    assert CheckInToken.objects.get().membership == ada
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.result, entry.actor, entry.membership) == ("checkin_token_register", "ok", alice, ada)


def test_a_card_another_member_has_is_refused_with_who_has_it(signed_in, members):
    ada, grace = members.add(), members.add(name="Grace Hopper", email="g@example.org")
    card_for(members, grace, "04A1")
    response = signed_in.post("/spaces/space-a/readers/cards/", {"member": ada.pk, "token": "04A1"}, follow=True)
    assert "Card 04A1 is already registered to Grace Hopper: nothing changed." in page(response)
    assert members.cobot.calls("POST", "/check_in_tokens") == 0


def test_a_card_cobot_has_for_someone_the_mirror_does_not_know_of_yet_is_refused_with_who(signed_in, members):
    ada, grace = members.add(), members.add(name="Grace Hopper", email="g@example.org")
    members.cobot.add_check_in_token("space-a", grace.cobot_id, "04A1")  # not mirrored yet
    response = signed_in.post("/spaces/space-a/readers/cards/", {"member": ada.pk, "token": "04A1"}, follow=True)
    assert "Card 04A1 is already registered to Grace Hopper: nothing changed." in page(response)
    assert not CheckInToken.objects.filter(membership=ada).exists()


def test_a_card_the_member_already_has_is_fine(signed_in, members):
    ada = members.add()
    card_for(members, ada, "04A1")
    response = signed_in.post("/spaces/space-a/readers/cards/", {"member": ada.pk, "token": "04A1"}, follow=True)
    assert "Card 04A1 registered for Ada Lovelace." in page(response)


def test_an_empty_or_bad_card_is_refused_with_the_reason(signed_in, members):
    ada = members.add()
    response = signed_in.post("/spaces/space-a/readers/cards/", {"member": ada.pk, "token": "  "}, follow=True)
    assert "Nothing registered: token must be a non-empty string." in page(response)
    assert members.cobot.calls("POST", "/check_in_tokens") == 0


def test_cobot_failing_is_said_in_words(signed_in, members):
    from tests.fakes.base import Response

    ada = members.add()
    members.cobot.force(Response(503, {"error": "maintenance"}), path="/check_in_tokens$")
    response = signed_in.post("/spaces/space-a/readers/cards/", {"member": ada.pk, "token": "04A1"}, follow=True)
    assert "Cobot did not register card 04A1: Cobot: HTTP 503: maintenance" in page(response)
    assert AuditEntry.objects.get().result == "failed"


def test_another_spaces_member_is_404(client, bob, space_b, members):
    ada = members.add()
    client.force_login(bob)
    assert client.get("/spaces/space-b/readers/cards/", {"member": ada.pk}).status_code == 404
    assert client.post("/spaces/space-b/readers/cards/", {"member": ada.pk, "token": "x"}).status_code == 404
    assert members.cobot.calls("POST", "/check_in_tokens") == 0


def test_the_framed_page_may_be_framed_by_the_spaces_cobot_only(signed_in, members):
    ada = members.add()
    response = signed_in.get(f"/embedded/{members.space.key}/admin/cards/", {"member": ada.pk})
    assert response.status_code == 200
    policy = dict(p.strip().split(" ", 1) for p in response["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"].split() == cobot_frame_origins(members.space)
    assert 'name="token" autofocus' in page(response)
    posted = signed_in.post(f"/embedded/{members.space.key}/admin/cards/", {"member": ada.pk, "token": "04A9"})
    assert posted.status_code == 302 and posted["Location"].startswith(f"/embedded/{members.space.key}/admin/cards/")


def test_the_framed_page_sends_a_stranger_to_the_admin_page_to_sign_in(client, members):
    response = client.get(f"/embedded/{members.space.key}/admin/cards/")
    assert response.status_code == 302 and response["Location"] == f"/embedded/{members.space.key}/admin/"


def test_the_framed_admin_page_links_to_it(signed_in, members):
    body = page(signed_in.get(f"/embedded/{members.space.key}/admin/"))
    assert f"/embedded/{members.space.key}/admin/cards/" in body
