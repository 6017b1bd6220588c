"""The first five minutes: which Python the Makefile picks, the local admin, and a quiet screen
(each process's log in its file, only warnings and errors on the screen)."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from accessbridge.local_admin import LOCAL_ADMIN_EMAIL, local_admin_ensure, local_admin_sign_in_lines

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")

FAKE_PYTHON = """#!/bin/sh
# A stand-in interpreter: answers the Makefile's probes as Python {version} would.
case "$1" in
  --version) echo "Python {version}" ;;
  -c) exit {too_old} ;;
  -m) /bin/mkdir -p "$3/bin" && /bin/ln -s "$0" "$3/bin/python" ;;
esac
"""
PYENV_SHIM = """#!/bin/sh
echo "pyenv: $(basename "$0"): command not found" >&2
exit 127
"""


def fake_bin(tmp_path: Path, **pythons: str) -> Path:
    """A PATH directory holding only `rm` and the given pythons ("shim" = an unselected pyenv version)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rm").symlink_to(shutil.which("rm"))
    for name, version in pythons.items():
        script = (
            PYENV_SHIM
            if version == "shim"
            else FAKE_PYTHON.format(version=version, too_old=int(version < "3.11"))
        )
        path = bin_dir / name.replace("_", ".")
        path.write_text(script)
        path.chmod(0o755)
    return bin_dir


def make_venv(tmp_path: Path, bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    venv = tmp_path / "venv"
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(ROOT), f"{venv}/bin/python", f"VENV={venv}", *args],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )


needs_make = pytest.mark.skipif(MAKE is None, reason="needs make")


@needs_make
def test_it_picks_the_newest_python_that_runs_and_says_which(tmp_path):
    bin_dir = fake_bin(tmp_path, python3_13="shim", python3_12="3.12.9", python3_11="3.11.7")
    result = make_venv(tmp_path, bin_dir)
    assert result.returncode == 0, result.stderr
    assert "Using python3.12 (Python 3.12.9)" in result.stdout
    assert (tmp_path / "venv/bin/python").resolve() == (bin_dir / "python3.12").resolve()


@needs_make
def test_it_says_when_no_python_is_found(tmp_path):
    result = make_venv(tmp_path, fake_bin(tmp_path, python3_13="shim"))
    assert result.returncode != 0
    assert "No Python found" in result.stderr
    assert "PYTHON=" in result.stderr
    assert not (tmp_path / "venv").exists()


@needs_make
def test_a_python_named_by_hand_is_used_if_new_enough(tmp_path):
    bin_dir = fake_bin(tmp_path, python3_13="3.13.1", old="3.10.4")
    result = make_venv(tmp_path, bin_dir, "PYTHON=old")
    assert result.returncode != 0
    assert "old is Python 3.10.4; AccessBridge needs Python 3.11 or newer." in result.stderr

    result = make_venv(tmp_path, bin_dir, "PYTHON=python3.13")
    assert "Using python3.13 (Python 3.13.1)" in result.stdout


def test_the_local_admin_is_made_once_and_its_password_shown_once(db):
    first = local_admin_ensure()
    assert first.email == LOCAL_ADMIN_EMAIL and first.password
    user = get_user_model().objects.get(email=LOCAL_ADMIN_EMAIL)
    assert user.is_superuser and user.check_password(first.password)
    assert any(first.password in line for line in local_admin_sign_in_lines(first))

    again = local_admin_ensure()
    assert again.email == LOCAL_ADMIN_EMAIL and again.password is None
    assert "changepassword admin" in "\n".join(local_admin_sign_in_lines(again))


def test_no_local_admin_is_made_beside_existing_users(alice):
    admin = local_admin_ensure()
    assert admin.email is None and admin.password is None
    assert get_user_model().objects.count() == 1
    assert "createsuperuser" in local_admin_sign_in_lines(admin)[0]


def test_with_a_log_file_only_warnings_and_errors_reach_the_screen(tmp_path):
    log_file = tmp_path / "worker.log"
    code = (
        "import logging\n"
        "logging.getLogger('accessbridge.work').info('work info line')\n"
        "logging.getLogger('django-q').info('cluster info line')\n"
        "logging.getLogger('django.server').info('GET /dashboard/ 200')\n"
        "logging.getLogger('django.request').warning('Not Found: /nope')\n"
        "logging.getLogger('accessbridge.work').warning('work warning line')\n"
        "logging.getLogger('django.request').error('Internal Server Error: /boom')\n"
    )
    env = {**os.environ, "LOG_FILE": str(log_file), "ACCESSBRIDGE_DATA_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    logged = log_file.read_text()
    for line in ("work info line", "cluster info line", "GET /dashboard/ 200", "Not Found: /nope",
                 "work warning line", "Internal Server Error: /boom"):  # fmt: skip
        assert line in logged
    screen = result.stderr + result.stdout
    assert "work warning line" in screen and "Internal Server Error: /boom" in screen
    for line in ("work info line", "cluster info line", "GET /dashboard/", "Not Found: /nope"):
        assert line not in screen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_demo_runs_accessbridge_quietly_and_every_step_works(tmp_path):
    """`make demo` end to end: run_local (as `make run`) against the Cobot and SmartLock stand-ins."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "LOG_FILE")
    }
    env["ACCESSBRIDGE_DEMO_DIR"] = str(tmp_path / "demo")
    result = subprocess.run(
        [sys.executable, "-m", "tests.fakes.demo", "--once", "--addr", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    screen = result.stdout + result.stderr
    assert result.returncode == 0, screen
    assert "migrations applied" in screen and "password: " in screen and "Ctrl-C stops" in screen
    assert screen.count("  ✓ ") == 7 and "✗" not in screen
    for noise in ("Applying ", "development server", "django-q", '"GET ', "INFO", "Traceback"):
        assert noise not in screen
    worker_log = (tmp_path / "demo/logs/worker.log").read_text()
    assert "INFO" in worker_log
