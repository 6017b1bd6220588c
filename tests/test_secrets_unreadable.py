"""Keys that cannot read the stored secrets are caught at start or reported, never a silent 200 or a bare 500
(issue #9, finding 4)."""

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from tests.test_settings import PRODUCTION, manage

OTHER_KEY = Fernet.generate_key().decode()


@pytest.mark.parametrize("keys,position", [("garbage", "key 1 of 1"), (f"{OTHER_KEY},garbage", "key 2 of 2")])
def test_a_malformed_key_stops_the_start_naming_the_variable_and_the_position(keys, position):
    result = manage("check", env={**PRODUCTION, "ACCESSBRIDGE_ENCRYPTION_KEYS": keys})
    assert result.returncode != 0
    assert f"ACCESSBRIDGE_ENCRYPTION_KEYS: {position} is not a valid Fernet key" in result.stderr


@pytest.fixture
def wrong_key(space_a, settings):
    """space_a's tokens were written with the configured key; now only another, valid key is configured."""
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [OTHER_KEY]


def test_health_reports_secrets_it_cannot_decrypt(client, wrong_key):
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["secrets"] == "cannot decrypt"
    assert "spaces.Space" in response.json()["tables"]


def test_health_finds_the_unreadable_table_whichever_app_it_is_in(client, space_a, settings):
    from locks.models import LockConnection

    LockConnection.objects.create(space=space_a, vendor="smartlock", name="S", credentials={"api_token": "t"})
    space_a.access_token = ""
    space_a.save()
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [OTHER_KEY]
    tables = client.get("/health/").json()["tables"]
    assert "locks.LockConnection" in tables


def test_health_is_fine_with_the_right_keys_rotation_included(client, space_a, settings):
    assert client.get("/health/").json()["secrets"] == "ok"
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [OTHER_KEY, *settings.ACCESSBRIDGE_ENCRYPTION_KEYS]  # rotation
    assert client.get("/health/").status_code == 200


def test_a_space_page_that_cannot_decrypt_says_so(client, alice, wrong_key, space_a):
    client.force_login(alice)
    for url in (reverse("dashboard"), reverse("space_detail", args=[space_a.subdomain])):
        response = client.get(url)
        assert response.status_code == 503, url
        assert b"secrets: cannot decrypt" in response.content
        assert b"ACCESSBRIDGE_ENCRYPTION_KEYS" in response.content
