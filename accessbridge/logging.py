"""Keeping secrets that travel in URL paths out of the logs.

Two kinds of URL carry a secret in their path: our webhook callbacks (`/hooks/<source>/<key>/<secret>/…`,
because Cobot's and some vendors' webhooks are unsigned) and Cobot's access-token endpoints
(`/api/access_tokens/<token>`). `mask_secrets` replaces those segments; `SecretMaskingFilter` applies it
to log records of loggers that print request paths (installed in settings.LOGGING).
"""

import logging
import re

MASK = "[masked]"

_SECRET_SEGMENTS = (
    re.compile(r"(/hooks/[^/\s]+/[^/\s]+/)[^/\s?#\"']+"),  # /hooks/<source>/<key>/<secret>
    re.compile(r"(/access_tokens/)[^/\s?#\"']+"),  # /api/access_tokens/<token>[/space]
)


def mask_secrets(text: str) -> str:
    for pattern in _SECRET_SEGMENTS:
        text = pattern.sub(rf"\g<1>{MASK}", text)
    return text


def _masked(value):
    # Only strings: formatting other objects here could run arbitrary code (lazy querysets, requests).
    return mask_secrets(value) if isinstance(value, str) else value


class SecretMaskingFilter(logging.Filter):
    """Mask secret path segments in a record's message and arguments (the record is changed in place,
    so every handler, and every formatter, sees the masked text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _masked(arg) for key, arg in record.args.items()}
        return True
