import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a task worker together (local use). Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr, **options):
        python = sys.executable
        # Own sessions: Ctrl-C reaches only us and we stop each child once, cleanly (a second signal
        # makes the task cluster abandon its worker processes).
        processes = [
            subprocess.Popen([python, "manage.py", "qcluster"], start_new_session=True),
            subprocess.Popen([python, "manage.py", "runserver", addr, "--noreload"], start_new_session=True),
        ]
        self.stdout.write(f"Web server on http://{addr}/ and a task worker are running. Ctrl-C stops both.")
        interrupted = False

        def on_signal(*_):
            nonlocal interrupted
            interrupted = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not interrupted and all(p.poll() is None for p in processes):
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
        if not interrupted:
            self.stderr.write("One process stopped on its own (see above), so the other was stopped too.")
            sys.exit(1)
        self.stdout.write("Stopped.")
