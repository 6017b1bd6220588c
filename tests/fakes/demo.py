"""`make demo`: AccessBridge at work in a minute, without a Cobot account or a lock.

The Cobot and SmartLock stand-ins (the ones the end-to-end tests use) run in this process; AccessBridge
runs as with `make run` (web server and task worker) on its own database in data/demo/, made afresh each
time. The space is connected with `connect_space`, the lock connection, door and rule are saved through
the dashboard's own services and forms, and then members join and leave at "Cobot", whose webhooks reach
AccessBridge over HTTP, and doors open at "SmartLock". Nothing in AccessBridge is stubbed.

Run: `make demo` (or `python -m tests.fakes.demo --addr 127.0.0.1:8000 [--once]`).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tests.fakes.cobot import CobotFake
from tests.fakes.smartlock import SmartLockFake

ROOT = Path(__file__).resolve().parents[2]
SUBDOMAIN = "demo"
ADMIN_TOKEN = "demo-admin-token"
SMARTLOCK_TOKEN = "demo-smartlock-token"
STEP_TIMEOUT = 60.0


def say(line: str) -> None:
    print(line, flush=True)


def wait_for(what: str, condition: Callable[[], object], *, log_hint: str) -> bool:
    """Poll until `condition()` is truthy; say how long it took, or that it did not happen."""
    started = time.monotonic()
    while time.monotonic() - started < STEP_TIMEOUT:
        if condition():
            say(f"  ✓ {what} ({time.monotonic() - started:.1f} s)")
            return True
        time.sleep(0.2)
    say(f"  ✗ {what}: not within {STEP_TIMEOUT:.0f} s. The worker's log says why: {log_hint}")
    return False


def stand_ins_start() -> tuple[CobotFake, SmartLockFake]:
    cobot, smartlock = CobotFake().start(), SmartLockFake(api_token=SMARTLOCK_TOKEN).start()
    cobot.add_space(SUBDOMAIN, name="Demo Coworking")
    cobot.add_user(ADMIN_TOKEN, admin_of=[SUBDOMAIN], email="owner@demo.example", name="Olivia Owner")
    plan = cobot.add_plan(SUBDOMAIN, "Full-time")
    cobot.add_plan(SUBDOMAIN, "Part-time")
    for name in ("Ada Lovelace", "Grace Hopper"):
        email = f"{name.split()[0].lower()}@demo.example"
        cobot.add_membership(SUBDOMAIN, name=name, email=email, plan_id=plan["id"])
    return cobot, smartlock


def environment_point_at(cobot: CobotFake, *, addr: str, data_dir: Path) -> None:
    """AccessBridge's settings for this process and its children: Cobot is the stand-in."""
    os.environ.pop("REDIS_URL", None)  # the database is the task broker, as in `make run`
    os.environ.update(
        {
            "ACCESSBRIDGE_DATA_DIR": str(data_dir),
            # Its own database, never one DATABASE_URL names: the demo starts from nothing each time.
            "DATABASE_URL": f"sqlite:///{data_dir / 'accessbridge.sqlite3'}",
            "ACCESSBRIDGE_BASE_URL": f"http://{addr}",
            "COBOT_SITE_URL": cobot.url,
            "COBOT_API2_URL": cobot.api2_url,
            "COBOT_SPACE_URL_TEMPLATE": cobot.space_url_template,
            "LOCKS_ALLOW_PRIVATE_HOSTS": "true",  # the SmartLock stand-in listens on 127.0.0.1
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessbridge.settings")


def accessbridge_start(addr: str) -> subprocess.Popen:
    """`make run`'s command: migrates, makes the local admin, serves web and worker until stopped."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_local", "--addr", addr], cwd=ROOT, start_new_session=True
    )


def accessbridge_serving(addr: str, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{addr}/health/", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def space_setup(smartlock: SmartLockFake):
    """What an admin does on the dashboard: connect the space, add the lock, a door and a rule."""
    from django.core.management import call_command

    from accessbridge.local_admin import LOCAL_ADMIN_EMAIL
    from locks.forms import AccessRuleForm, DoorForm
    from locks.models import AccessRule
    from locks.selectors import connection_webhook_url
    from locks.services import access_sync_enqueue, connection_save
    from spaces.models import Space

    output = io.StringIO()
    call_command(
        "connect_space", subdomain=SUBDOMAIN, token=ADMIN_TOKEN, admin=LOCAL_ADMIN_EMAIL, stdout=output
    )
    say(f"  ✓ {output.getvalue().strip()}")
    space = Space.objects.get(subdomain=SUBDOMAIN)
    connection, message = connection_save(
        space=space, vendor="smartlock", name="SmartLock",
        values={"base_url": smartlock.url, "api_token": SMARTLOCK_TOKEN, "webhook_shared_secret": ""},
    )  # fmt: skip
    if connection is None:
        raise RuntimeError(f"The SmartLock connection failed its test call: {message}")
    say(f"  ✓ SmartLock connection tested and saved ({message})")
    door = DoorForm(space=space, data={"connection": connection.pk, "name": "Front door", "vendor_ref": "front",
                                       "enabled": "on"})  # fmt: skip
    door = door.save()
    access_sync_enqueue(space=space, reason="door added")
    rule = AccessRuleForm(space=space, instance=AccessRule(space=space), data={"kind": "plan", "plan": "", "doors": [door.pk], "enabled": "on",
                                             "buffer_before_minutes": 15, "buffer_after_minutes": 15})  # fmt: skip
    if not rule.is_valid():
        raise RuntimeError(f"The demo's rule is not valid: {rule.errors.as_text()}")
    rule.save()
    say("  ✓ Door “Front door” added; rule: every plan opens it")
    return space, connection_webhook_url(connection=connection, reveal=True)


def story_tell(cobot: CobotFake, smartlock: SmartLockFake, webhook_url: str, *, log_hint: str) -> bool:
    from django.utils import timezone

    def has_account(email):
        return lambda: smartlock.user_by_email(email)

    ok = wait_for("Ada and Grace have SmartLock accounts; their ids are their check-in tokens at Cobot",
                  lambda: has_account("ada@demo.example")() and has_account("grace@demo.example")()
                  and len(cobot.space(SUBDOMAIN).check_in_tokens) == 2, log_hint=log_hint)  # fmt: skip

    say("Linus joins at Cobot; Cobot sends its webhook to AccessBridge:")
    linus = cobot.add_membership(SUBDOMAIN, name="Linus Torvalds", email="linus@demo.example")
    cobot.deliver(SUBDOMAIN, "confirmed_membership", cobot.membership_url(SUBDOMAIN, linus["id"]))
    ok &= wait_for("Linus has a SmartLock account", has_account("linus@demo.example"), log_hint=log_hint)

    say("Ada opens the front door; SmartLock sends its lock-opened webhook to AccessBridge:")
    ada = smartlock.user_by_email("ada@demo.example")
    if ada:
        smartlock.lock_opened(webhook_url, ada["id"], door_id="front")
        ok &= wait_for("Ada is checked in at Cobot", lambda: cobot.check_ins(SUBDOMAIN), log_hint=log_hint)

    say("Grace's membership ends (canceled to yesterday); Cobot sends its webhook:")
    grace = next(m for m in cobot.space(SUBDOMAIN).memberships.values() if m["email"] == "grace@demo.example")
    cobot.cancel_membership(SUBDOMAIN, grace["id"], timezone.localdate() - timedelta(days=1))
    cobot.deliver(SUBDOMAIN, "canceled_membership", cobot.membership_url(SUBDOMAIN, grace["id"]))
    ok &= wait_for("Grace's SmartLock account is removed",
                   lambda: not smartlock.user_by_email("grace@demo.example"), log_hint=log_hint)  # fmt: skip
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:8000")
    parser.add_argument("--once", action="store_true", help="stop after the story (exit 1 if a step failed)")
    args = parser.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, even if started with SIGINT ignored
        signal.signal(signum, signal.default_int_handler)

    data_dir = Path(os.environ.get("ACCESSBRIDGE_DEMO_DIR", ROOT / "data" / "demo"))
    shutil.rmtree(data_dir, ignore_errors=True)  # the stand-ins keep nothing: neither does the demo
    cobot, smartlock = stand_ins_start()
    environment_point_at(cobot, addr=args.addr, data_dir=data_dir)
    say(
        f"Demo: Cobot and SmartLock stand-ins on this machine; AccessBridge's data in {os.path.relpath(data_dir)}/"
    )
    process = accessbridge_start(args.addr)
    try:
        if not accessbridge_serving(args.addr, process):
            say("AccessBridge did not start (see above).")
            return 1
        import django

        django.setup()
        say("\nThe space admin connects “Demo Coworking” (Ada and Grace are members there):")
        _, webhook_url = space_setup(smartlock)
        ok = story_tell(
            cobot, smartlock, webhook_url, log_hint=os.path.relpath(data_dir / "logs" / "worker.log")
        )
        if args.once:
            return 0 if ok else 1
        say(f"\nLook around: sign in at http://{args.addr}/ with the password above, then open Demo Coworking")
        say("(members and their doors, door events and check-ins, the audit trail).")
        say("Ctrl-C stops the demo.")
        while process.poll() is None:
            time.sleep(0.5)
        return 1  # AccessBridge stopped on its own (it said why above)
    except KeyboardInterrupt:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not leave AccessBridge running
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        cobot.stop()
        smartlock.stop()


if __name__ == "__main__":
    sys.exit(main())
