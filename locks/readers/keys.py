"""A reader's API key: shown once when made, stored as a SHA-256 digest with a short public prefix.

The key is 32 random bytes, so a fast digest is enough (no password stretching: nothing to guess), and a
live request stays within its few milliseconds. Rotating replaces the digest; revoking clears it: either
stops the old key on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from locks.models import Reader

KEY_PREFIX = "rdr_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def reader_key_issue(*, reader: Reader) -> str:
    """Give the reader a new key (the old one stops at once) and return it: the only time it is readable."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    reader.api_key_prefix, reader.api_key_hash = prefix, _digest(key)
    reader.save(update_fields=["api_key_prefix", "api_key_hash"])
    return key


def reader_create(*, door, name: str, answer_seconds: float = 3.0) -> tuple[Reader, str]:
    """A new reader at `door` and its key (shown once)."""
    reader = Reader.objects.create(
        space=door.connection.space, door=door, name=name, answer_seconds=answer_seconds, api_key_hash=""
    )
    return reader, reader_key_issue(reader=reader)


def reader_key_revoke(*, reader: Reader) -> None:
    reader.api_key_prefix, reader.api_key_hash = "", ""
    reader.save(update_fields=["api_key_prefix", "api_key_hash"])


def reader_key_matches(*, reader: Reader | None, key: str) -> bool:
    """True only for the reader's current key; compared in constant time, also when there is no reader."""
    expected = reader.api_key_hash if reader is not None and reader.enabled else ""
    matches = hmac.compare_digest(_digest(key), expected or "-")
    return bool(expected) and matches


def bearer_key(authorization: str) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""
