"""Parakey's shared fixtures: its stand-in with three keys ("accesses"), a connection and its doors."""

from __future__ import annotations

import pytest

from locks.models import Door, LockConnection, VendorAccount
from tests.fakes.parakey import TOKEN, ParakeyFake

WEBHOOK_PASSWORD = "pw-made-by-accessbridge"


@pytest.fixture
def parakey():
    with ParakeyFake() as fake:
        fake.add_access("acc-front", "Front door")
        fake.add_access("acc-studio", "Studio")
        fake.add_access("acc-room", "Meeting room")
        yield fake


def parakey_connection(space, fake, *, name: str = "Parakey", **config) -> LockConnection:
    return LockConnection.objects.create(
        space=space,
        vendor="parakey",
        name=name,
        credentials={
            "api_token": TOKEN,
            "webhook_username": "accessbridge",
            "webhook_password": WEBHOOK_PASSWORD,
        },
        config={"base_url": fake.url, "token_header": "access-token", **config},
        status=LockConnection.Status.OK,
    )


@pytest.fixture
def connection(space_a, parakey):
    return parakey_connection(space_a, parakey)


@pytest.fixture
def doors(connection) -> dict[str, Door]:
    return {
        key: Door.objects.create(connection=connection, vendor_ref=f"acc-{key}", name=name)
        for key, name in (("front", "Front door"), ("studio", "Studio"), ("room", "Meeting room"))
    }


@pytest.fixture
def ada(members, cobot, connection, doors):
    """A member whose Parakey user (her email) is known: her unlocks can check her in."""
    ada = members.add(email="ada@example.org")
    VendorAccount.objects.create(
        connection=connection, membership=ada, vendor_person_id="ada@example.org", status="active"
    )
    return ada
