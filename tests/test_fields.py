import pytest
from cryptography.fernet import Fernet
from django.db import connection

from accessbridge.fields import DecryptionError, mask_secret
from spaces.models import Space

KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


def raw_column(space, column="access_token"):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM spaces_space WHERE id = %s", [space.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def old_key(settings):
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [KEY_OLD]


def test_it_round_trips_and_stores_ciphertext(db, old_key):
    space = Space.objects.create(subdomain="s", access_token="cobot-secret-token")
    stored = raw_column(space)
    assert "cobot-secret-token" not in stored
    assert Fernet(KEY_OLD.encode()).decrypt(stored.encode()) == b"cobot-secret-token"
    assert Space.objects.get(pk=space.pk).access_token == "cobot-secret-token"


def test_it_reads_old_rows_after_a_new_key_is_put_first(db, settings, old_key):
    space = Space.objects.create(subdomain="s", access_token="cobot-secret-token")
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [KEY_NEW, KEY_OLD]
    again = Space.objects.get(pk=space.pk)
    assert again.access_token == "cobot-secret-token"
    again.save()  # re-saving encrypts with the newest key
    assert Fernet(KEY_NEW.encode()).decrypt(raw_column(space).encode()) == b"cobot-secret-token"


def test_it_rotates_every_secret_with_the_command(db, settings, old_key):
    from django.core.management import call_command

    space = Space.objects.create(subdomain="s", access_token="cobot-secret-token")
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [KEY_NEW, KEY_OLD]
    call_command("rotate_secrets")
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [KEY_NEW]  # the old key can now be retired
    again = Space.objects.get(pk=space.pk)
    assert again.access_token == "cobot-secret-token"
    assert again.webhook_secret


def test_it_raises_on_a_wrong_key_instead_of_passing_anything_on(db, settings, old_key):
    space = Space.objects.create(subdomain="s", access_token="cobot-secret-token")
    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = [KEY_NEW]
    with pytest.raises(DecryptionError) as excinfo:
        Space.objects.get(pk=space.pk)
    assert "cobot-secret-token" not in str(excinfo.value)


def test_it_refuses_equality_lookups_on_secrets(db):
    with pytest.raises(TypeError):
        list(Space.objects.filter(access_token="x"))


def test_it_reports_a_malformed_key_by_setting_name(db, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.ACCESSBRIDGE_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="ACCESSBRIDGE_ENCRYPTION_KEYS"):
        Space.objects.create(subdomain="s", access_token="x")


def test_it_never_shows_a_secret_in_full():
    assert mask_secret("abcdefghijklmnop") == "abcd…••••"
    assert "short" not in mask_secret("short")
    assert mask_secret("") == ""
