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
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """Stored secret cannot be decrypted with the configured keys."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("ACCESSBRIDGE_ENCRYPTION_KEYS is empty.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"ACCESSBRIDGE_ENCRYPTION_KEYS: key {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
            ) from None
    return MultiFernet(fernets)


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
