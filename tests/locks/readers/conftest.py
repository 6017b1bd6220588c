"""A card reader at a remote-open door (like The Keys), its key, and members with cards at the Cobot
stand-in and in the mirror."""

from __future__ import annotations

import json

import pytest

from locks.models import Door, LockConnection
from locks.readers.keys import reader_create
from spaces.models import CheckInToken


@pytest.fixture
def door(space_a, test_vendors):
    connection = LockConnection.objects.create(space=space_a, vendor="remote", name="Gateway", status="ok")
    return Door.objects.create(connection=connection, vendor_ref="45961123", name="Back door")


@pytest.fixture
def reader_and_key(door):
    return reader_create(door=door, name="Front reader")


@pytest.fixture
def reader(reader_and_key):
    return reader_and_key[0]


def card_for(members, membership, token: str) -> str:
    """`token` registered as the member's check-in token at the Cobot stand-in and in the mirror."""
    members.cobot.add_check_in_token(members.space.subdomain, membership.cobot_id, token)
    CheckInToken.objects.create(
        space=members.space, membership=membership, membership_cobot_id=membership.cobot_id, token=token
    )
    return token


def scan(client, reader, key: str, token, **extra):
    body = extra.pop("body", None)
    return client.post(
        f"/api/readers/{reader.pk}/check-in",
        data=body if body is not None else json.dumps({"token": token}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **extra,
    )
