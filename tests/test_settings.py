"""Production settings fail at start, by variable name, when something required is missing or wrong."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-for-tests-0123456789",
    "ALLOWED_HOSTS": "accessbridge.example.com",
    "ACCESSBRIDGE_BASE_URL": "https://accessbridge.example.com",
    "ACCESSBRIDGE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DATABASE_URL": "sqlite:///:memory:",
}


def manage(*args, env=None):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **(env or {})}, capture_output=True, text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "ALLOWED_HOSTS", "ACCESSBRIDGE_BASE_URL", "ACCESSBRIDGE_ENCRYPTION_KEYS"]
)
def test_it_names_a_missing_production_variable(name):
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.parametrize(
    "name, value",
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://x/y"),
        ("ACCESSBRIDGE_BASE_URL", "http://accessbridge.example.com"),
        ("SECRET_KEY", "short"),
        ("Q_WORKERS", "two"),
        ("COBOT_SITE_URL", "www.cobot.me"),
    ],
)
def test_it_names_a_malformed_variable(name, value):
    result = manage("check", env={**PRODUCTION, name: value})
    assert result.returncode != 0
    assert name in result.stderr


def test_it_names_a_malformed_encryption_key():
    result = manage("shell", "-c", "from spaces.models import Space; Space(access_token='x').save()",
                    env={**PRODUCTION, "ACCESSBRIDGE_ENCRYPTION_KEYS": "not-a-fernet-key"})
    assert result.returncode != 0
    assert "ACCESSBRIDGE_ENCRYPTION_KEYS" in result.stderr


def test_check_deploy_is_clean_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_runs_locally_with_nothing_set():
    result = manage("check", env={"ACCESSBRIDGE_DATA_DIR": "/tmp/accessbridge-settings-test"})
    assert result.returncode == 0, result.stderr


def test_cobot_scopes_without_read_user_stop_the_start():
    result = manage("check", env={"COBOT_SCOPES": "read_memberships read_plans"})
    assert result.returncode != 0 and "COBOT_SCOPES must include read_user" in result.stderr
    assert manage("check", env={"COBOT_SCOPES": "read_user read_memberships"}).returncode == 0
