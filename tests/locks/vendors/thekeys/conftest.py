"""The Keys' shared fixtures: its stand-ins (gateway, cloud), a connection with a gateway and a shared door."""

import json
import socket
import uuid
from pathlib import Path

import pytest

from locks.models import Door, Gateway, LockConnection
from locks.vendors.thekeys.adapter import TheKeysAdapter
from locks.vendors.thekeys.cloud import token_cache_clear
from tests.fakes.thekeys import TheKeysCloudFake, TheKeysGatewayFake

PHONE = "+33600000000"
PASSWORD = "secret"
IDENTIFIER = "45961123"  # seed 003's example locker
CODE = "Zmo1sps2OVyCFtl1"  # seed 003's example share code
CLOUD = "https://api.the-keys.test"
CONNECTION_KEY = uuid.UUID("6f1c2b3a-0000-4000-8000-000000000001")  # the one in the share fixtures
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "thekeys"


def closed_port_host() -> str:
    """An address where nothing listens: connecting fails at once (nothing to wait for)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def fixture(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(autouse=True)
def fresh_tokens():
    token_cache_clear()
    yield
    token_cache_clear()


@pytest.fixture
def gateway_fake():
    with TheKeysGatewayFake() as fake:
        fake.add_locker(IDENTIFIER, CODE, battery=4065)
        yield fake


@pytest.fixture
def cloud_fake():
    with TheKeysCloudFake(username=PHONE, password=PASSWORD) as fake:
        yield fake


@pytest.fixture
def connection(space_a):
    return LockConnection.objects.create(
        space=space_a,
        key=CONNECTION_KEY,
        vendor="thekeys",
        name="The Keys",
        credentials={"password": PASSWORD},
        config={"username": PHONE, "api_base_url": CLOUD},
    )


@pytest.fixture
def gateway(connection, gateway_fake):
    return Gateway.objects.create(
        connection=connection,
        vendor_ref="5678",
        name="TK Gateway",
        host=gateway_fake.url.removeprefix("http://"),
    )


@pytest.fixture
def door(connection, gateway):
    return Door.objects.create(
        connection=connection,
        gateway=gateway,
        vendor_ref="1234",
        name="Porte d'entrée",
        vendor_secrets={"share_code": CODE, "share_id": "4321"},
        extra={"identifier": IDENTIFIER, "gateway_accessory_id": 5678},
    )


@pytest.fixture
def adapter(connection):
    return TheKeysAdapter(connection)
