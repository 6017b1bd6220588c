"""`make run`: migrate, make the local admin, then serve the web app and a task worker until Ctrl-C.

The screen stays quiet so that the last block (where to go, how to sign in) stays in view: each process
writes its whole log to a file under data/logs/ and only warnings and errors to the screen
(settings.LOG_FILE); the development server's banner and request lines go to the file too.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accessbridge.local_admin import local_admin_ensure, local_admin_sign_in_lines

SERVE_WAIT_SECONDS = 60


def _shown(path: Path) -> str:
    """A path as short as it can be said from where `make run` was typed."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


def database_migrate(*, log_path: Path) -> str:
    """Apply the pending migrations, their output to `log_path`; returns a one-line summary."""
    executor = MigrationExecutor(connection)
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    with log_path.open("a") as log:
        call_command("migrate", interactive=False, stdout=log, stderr=log)
    if not pending:
        return "Database: up to date."
    return f"Database: {pending} migrations applied (log: {_shown(log_path)})."


def _serving(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run the web server and a task worker together (local use). Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port for the web server")

    def handle(self, *args, addr, **options):
        host, _, port = addr.rpartition(":")
        host = host or "127.0.0.1"
        url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"
        logs = settings.DATA_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout.write(database_migrate(log_path=logs / "migrate.log"))
        admin = local_admin_ensure()
        self.stdout.write("Starting the web server and the task worker ...")

        self.interrupted = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        processes = [
            self._start(["qcluster"], log_path=logs / "worker.log", base_url=url),
            self._start(["runserver", f"{host}:{port}", "--noreload"], log_path=logs / "web.log", base_url=url),
        ]
        if self._wait_until_serving(host, int(port), processes):
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        f"AccessBridge is running at {url}",
                        *local_admin_sign_in_lines(admin),
                        f"Health:  {url}health/",
                        f"Logs:    {_shown(logs / 'web.log')} (web), {_shown(logs / 'worker.log')} (tasks);"
                        " warnings and errors show here as well",
                        "Ctrl-C stops the web server and the worker.",
                        "",
                    ]
                )
            )
        self._supervise(processes)

    def _on_signal(self, *_):
        self.interrupted = True

    def _start(self, command: list[str], *, log_path: Path, base_url: str) -> subprocess.Popen:
        env = {**os.environ, "LOG_FILE": str(log_path)}
        # Links the app builds for itself (webhook URLs, Cobot navigation) follow --addr unless set.
        env.setdefault("ACCESSBRIDGE_BASE_URL", base_url.rstrip("/"))
        with log_path.open("a") as log:
            # Own sessions: Ctrl-C reaches only us and we stop each child once, cleanly (a second signal
            # makes the task cluster abandon its worker processes). stderr stays on the screen.
            return subprocess.Popen(
                [sys.executable, "manage.py", *command], stdout=log, env=env, start_new_session=True
            )

    def _wait_until_serving(self, host: str, port: int, processes: list[subprocess.Popen]) -> bool:
        deadline = time.monotonic() + SERVE_WAIT_SECONDS
        while not self.interrupted and all(p.poll() is None for p in processes):
            if _serving(host, port):
                return True
            if time.monotonic() > deadline:
                self.stderr.write(f"The web server did not answer within {SERVE_WAIT_SECONDS} s; still waiting.")
                return False
            time.sleep(0.2)
        return False

    def _supervise(self, processes: list[subprocess.Popen]) -> None:
        while not self.interrupted and all(p.poll() is None for p in processes):
            time.sleep(0.3)
        for p in processes:
            if p.poll() is None:
                p.terminate()  # both stop cleanly on SIGTERM
        deadline = time.monotonic() + 20
        for p in processes:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if not self.interrupted:
            self.stderr.write(
                "One process stopped on its own (see above, and the logs), so the other was stopped too."
            )
            sys.exit(1)
        self.stdout.write("Stopped.")
