"""The start every benchmark shares: Django on a throw-away database, and a query counter.

Without DATABASE_URL: a temporary SQLite file with fsync off (measure our code, not the disk).
With DATABASE_URL=postgresql://…: a test database created next to the named one and dropped at exit;
the named database itself is never touched.
"""

import atexit
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_for_bench() -> str:
    """Set Django up on a throw-away, migrated database; return a one-line description of it."""
    sys.path.insert(0, str(ROOT))
    tmp = tempfile.TemporaryDirectory(prefix="accessbridge-bench-")
    atexit.register(tmp.cleanup)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp.name}/bench.sqlite3")
    os.environ.setdefault("ACCESSBRIDGE_DATA_DIR", tmp.name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessbridge.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    logging.disable(logging.INFO)
    from django.core.management import call_command
    from django.db import connection, connections
    from django.db.backends.signals import connection_created

    if connection.vendor == "postgresql":
        name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)

        def drop():
            connections.close_all()
            connection.creation.destroy_test_db(name, verbosity=0)

        atexit.register(drop)
        return f"postgresql (throw-away database {name})"

    def no_fsync(sender, connection, **kwargs):
        if connection.vendor == "sqlite":
            connection.cursor().execute("PRAGMA synchronous = OFF")

    connection_created.connect(no_fsync)
    connection.close()
    call_command("migrate", verbosity=0, interactive=False)
    return "sqlite (temporary file, synchronous=OFF)"


class QueryCounter:
    """Use with `connection.execute_wrapper(counter)`; `count` is the number of queries run."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)
