"""Encrypted model fields (MultiFernet): secrets at rest, rotation, and loud failure.

Values are encrypted with the first key of ACCESSBRIDGE_ENCRYPTION_KEYS and decrypted with any of
them, so a new key can be put in front and old rows re-encrypted later (`manage.py rotate_secrets`).
A value that no key decrypts raises DecryptionError: we never hand ciphertext or garbage onward
(unlike django-fernet-encrypted-fields, which silently returns the ciphertext).
"""

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

from accessbridge.env import fernet_keys_check


class DecryptionError(Exception):
    """Stored secret cannot be decrypted with the configured keys."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    # Settings checked the keys at start; tests and shells that change them are checked here.
    fernet_keys_check("ACCESSBRIDGE_ENCRYPTION_KEYS", list(keys))
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.ACCESSBRIDGE_ENCRYPTION_KEYS))


def encrypt_str(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt_str(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored secret could not be decrypted: ACCESSBRIDGE_ENCRYPTION_KEYS lacks the key it was "
            "encrypted with."
        ) from None


def mask_secret(value: str | None, shown: int = 4) -> str:
    """For display: never the whole secret."""
    if not value:
        return ""
    if len(value) <= shown * 2:
        return "•" * 8
    return f"{value[:shown]}…{'•' * 4}"


class EncryptedTextField(models.TextField):
    """A text secret. Empty string stays empty (not encrypted) so 'not set' is visible in queries."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(value)

    def get_db_prep_save(self, value, connection):
        return self.get_prep_value(value)

    def get_lookup(self, lookup_name):
        # Ciphertext differs each time: equality lookups could only ever find nothing.
        if lookup_name not in ("isnull",):
            raise TypeError(f"Encrypted fields cannot be filtered with __{lookup_name}.")
        return super().get_lookup(lookup_name)

    def value_to_string(self, obj):
        return ""  # dumpdata must not write secrets out in clear


class EncryptedJSONField(models.TextField):
    """A dict of secrets (vendor credentials), stored as one encrypted JSON document."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        return json.loads(decrypt_str(value))

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return json.loads(value)

    def get_prep_value(self, value):
        if value in (None, "", {}):
            return ""
        if not isinstance(value, dict):
            raise TypeError("EncryptedJSONField stores a dict.")
        return encrypt_str(json.dumps(value, sort_keys=True))

    def get_db_prep_save(self, value, connection):
        return self.get_prep_value(value)

    def get_lookup(self, lookup_name):
        raise TypeError(f"Encrypted fields cannot be filtered with __{lookup_name}.")

    def value_to_string(self, obj):
        return ""  # dumpdata must not write secrets out in clear


def reencrypt(token: str) -> str:
    """Re-encrypt a stored token with the newest key (for key rotation)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("A stored secret could not be decrypted for rotation.") from None


ENCRYPTED_FIELDS = (EncryptedTextField, EncryptedJSONField)


def stored_secrets_unreadable() -> list[str]:
    """The tables (model labels) where the current keys cannot read a stored secret.

    One row per table that has an encrypted field, whichever app it belongs to, so a new model is covered
    the day it is added. A wrong key breaks every row alike, so one row is enough to tell.
    """
    from django.apps import apps
    from django.db.models import Q
    from django.db.models.functions import Length

    unreadable = []
    for model in apps.get_models():
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, ENCRYPTED_FIELDS)]
        if not names:
            continue
        # Ciphertext takes no lookups but its length does: find a row that holds a secret.
        lengths = {f"_secret_{name}_length": Length(name) for name in names}
        holds_one = Q()
        for alias in lengths:
            holds_one |= Q(**{f"{alias}__gt": 0})
        try:
            model._base_manager.annotate(**lengths).filter(holds_one).values_list(*names).first()
        except DecryptionError:
            unreadable.append(model._meta.label)
    return unreadable
