"""PostgreSQL session advisory locks: one call at a time per gateway (The Keys signing) and one access
sync at a time per space (locks.access.run). Keys are (namespace, id) pairs: pg_*_advisory_lock(int, int).

A session lock outlives transactions, so it is released explicitly; if that fails (a broken session, or
a transaction aborted by the caller's own error), the connection is closed: a pooled or persistent
connection would otherwise keep the lock for as long as it lives.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

logger = logging.getLogger(__name__)

INT4_MAX = 2_147_483_647


def advisory_key(namespace: int, object_id: int) -> tuple[int, int]:
    return (namespace, object_id % INT4_MAX)


def advisory_try_lock(connection, key: tuple[int, int]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        return bool(cursor.fetchone()[0])


def advisory_unlock(connection, key: tuple[int, int]) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    except DatabaseError:
        logger.warning(
            "could not release advisory lock %s; closing the connection to drop it", key, exc_info=True
        )
        connection.close()
