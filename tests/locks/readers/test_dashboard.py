"""The readers page: a reader's key is shown once and stored hashed; rotate and revoke; other spaces' readers
are 404."""

from __future__ import annotations

import re

from locks.models import Reader
from locks.readers.keys import reader_create
from tests.locks.readers.conftest import scan


def test_it_adds_a_reader_and_shows_its_key_once(signed_in, door):
    response = signed_in.post(
        "/spaces/space-a/readers/", {"name": "Front reader", "door": door.pk, "answer_seconds": "3"}
    )
    page = response.content.decode()
    key = re.search(r"rdr_[0-9a-f]{8}_[\w-]{20,}", page).group()
    reader = Reader.objects.get()
    assert key not in (reader.api_key_hash, reader.api_key_prefix) and len(reader.api_key_hash) == 64
    assert key not in signed_in.get("/spaces/space-a/readers/").content.decode()
    assert scan(signed_in, reader, key, "card").status_code == 200


def test_a_bound_outside_2_to_10_seconds_is_refused(signed_in, door):
    response = signed_in.post("/spaces/space-a/readers/", {"name": "R", "door": door.pk, "answer_seconds": "30"})
    assert "Ensure this value is less than or equal to 10.0." in response.content.decode()
    assert not Reader.objects.exists()


def test_rotate_replaces_the_key_and_revoke_stops_it(signed_in, reader_and_key):
    reader, key = reader_and_key
    page = signed_in.post(f"/spaces/space-a/readers/{reader.pk}/rotate/").content.decode()
    new_key = re.search(r"rdr_[0-9a-f]{8}_[\w-]{20,}", page).group()
    assert scan(signed_in, reader, key, "card").status_code == 401
    assert scan(signed_in, reader, new_key, "card").status_code == 200
    response = signed_in.post(f"/spaces/space-a/readers/{reader.pk}/revoke/", follow=True)
    assert "is refused from now on" in response.content.decode() and "revoked" in response.content.decode()
    assert scan(signed_in, reader, new_key, "card").status_code == 401


def test_another_spaces_reader_is_404(client, bob, space_b, space_a, test_vendors, door):
    reader, key = reader_create(door=door, name="A's reader")
    client.force_login(bob)
    assert client.get("/spaces/space-a/readers/").status_code == 404
    assert client.post(f"/spaces/space-b/readers/{reader.pk}/rotate/").status_code == 404
    assert client.post(f"/spaces/space-b/readers/{reader.pk}/revoke/").status_code == 404
    reader.refresh_from_db()
    assert reader.api_key_hash


def test_a_door_of_another_space_cannot_be_chosen(client, bob, space_b, door):
    client.force_login(bob)
    response = client.post("/spaces/space-b/readers/", {"name": "R", "door": door.pk, "answer_seconds": "3"})
    assert "Select a valid choice" in response.content.decode()
    assert not Reader.objects.exists()


def test_only_doors_accessbridge_can_open_are_offered(signed_in, door, front_door):
    form = signed_in.get("/spaces/space-a/readers/").content.decode()
    assert ">Back door</option>" in form and ">Front door</option>" not in form  # SmartLock: people only
    response = signed_in.post("/spaces/space-a/readers/", {"name": "R", "door": front_door.pk, "answer_seconds": "3"})
    assert "Select a valid choice" in response.content.decode()
