"""Benchmark: doors on time (issue #10), each figure printed beside its target.

    .venv/bin/python bench/bench_on_time.py [--burst 1000] [--deliveries 20] [--brokers orm,redis]

For each broker (the ORM broker of the embedded default, then Redis) this starts, on loopback: the Cobot
and SmartLock stand-ins (tests/fakes, in this process; SmartLock answers a create in 20 ms), gunicorn
serving AccessBridge on port 8200, a real task worker (`manage.py qcluster`) and, for Redis, a
redis-server on port 8201. Cobot's webhooks reach AccessBridge over HTTP; nothing is stubbed. It
measures: webhook → person at SmartLock (p50/p95, one delivery at a time); the worker's idle CPU; how
late a retry runs after its due time (SmartLock answers 500 three times); how late a booking's door is
granted and revoked at a vendor without windows; a burst of deliveries from 16 concurrent senders
(intake deliveries/s and p99, members at the vendor per second).

The database is a temporary SQLite file, or with DATABASE_URL=postgresql://… a throw-away database
next to the named one (bench/benchsetup.py). Exit status 1 if a delivery is lost or answered 5xx.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.base import Response  # noqa: E402
from tests.fakes.cobot import CobotFake  # noqa: E402
from tests.fakes.smartlock import SmartLockFake  # noqa: E402

WEB_PORT, REDIS_PORT = 8200, 8201
SUBDOMAIN, ADMIN_TOKEN, SMARTLOCK_TOKEN = "bench", "bench-admin-token", "bench-smartlock-token"
VENDOR_SECONDS = 0.02
TARGETS = {
    "orm": {"p95": 0.5},
    "redis": {"p95": 0.15},
}


class SlowSmartLock(SmartLockFake):
    """The SmartLock stand-in, answering a create in VENDOR_SECONDS as a real vendor would take a while."""

    def _create_user(self, request, match):
        response = super()._create_user(request, match)
        response.delay = VENDOR_SECONDS
        return response


def wait_until(condition, *, timeout: float, step: float = 0.002) -> float | None:
    """time.time() when `condition()` first held, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.time()
        time.sleep(step)
    return None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# --- one broker's run (a child process: settings are read once, at Django's start) --------------------
def environment_set(cobot: CobotFake, *, broker: str, data_dir: Path) -> None:
    os.environ.pop("REDIS_URL", None)
    if broker == "redis":
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
    os.environ.update(
        {
            "ACCESSBRIDGE_DATA_DIR": str(data_dir),
            "ACCESSBRIDGE_BASE_URL": f"http://127.0.0.1:{WEB_PORT}",
            "COBOT_SITE_URL": cobot.url,
            "COBOT_API2_URL": cobot.api2_url,
            "COBOT_SPACE_URL_TEMPLATE": cobot.space_url_template,
            "LOCKS_ALLOW_PRIVATE_HOSTS": "true",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WORK_BACKOFF_BASE_SECONDS": "1",
            "WORK_BACKOFF_MAX_SECONDS": "4",
            "LOG_LEVEL": "WARNING",
        }
    )


def space_setup(cobot: CobotFake, smartlock: SmartLockFake, *, full_time: dict) -> None:
    """Connect the space, add SmartLock, a door, a rule for the "Full-time" plan and a booking rule."""
    import io

    from django.core.management import call_command

    from accessbridge.local_admin import local_admin_ensure
    from locks.models import AccessRule, Door
    from locks.services import connection_save
    from spaces.models import Plan, Space

    admin = local_admin_ensure()
    call_command("connect_space", subdomain=SUBDOMAIN, token=ADMIN_TOKEN, admin=admin.email, stdout=io.StringIO())
    space = Space.objects.get(subdomain=SUBDOMAIN)
    connection, message = connection_save(
        space=space, vendor="smartlock", name="SmartLock",
        values={"base_url": smartlock.url, "api_token": SMARTLOCK_TOKEN, "webhook_shared_secret": ""},
    )  # fmt: skip
    if connection is None:
        raise RuntimeError(f"SmartLock connection failed: {message}")
    door = Door.objects.create(connection=connection, vendor_ref="front", name="Front door")
    plan, _ = Plan.objects.get_or_create(space=space, cobot_id=full_time["id"], defaults={"name": "Full-time"})
    rule = AccessRule.objects.create(space=space, plan=plan)
    rule.doors.add(door)
    room = cobot.space(SUBDOMAIN).resources.setdefault("Meeting Room", {"id": "room-1", "name": "Meeting Room"})
    booking_rule = AccessRule.objects.create(
        space=space, kind=AccessRule.Kind.BOOKING, resource_cobot_id=room["id"],
        buffer_before_minutes=0, buffer_after_minutes=0,
    )  # fmt: skip
    booking_rule.doors.add(door)


def redis_start(data_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=(data_dir / "redis.log").open("w"), start_new_session=True,
    )  # fmt: skip
    time.sleep(0.5)
    return process


def processes_start(data_dir: Path, database_url: str) -> list[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": database_url}
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    started = []
    started.append(subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "accessbridge.wsgi", "--bind", f"127.0.0.1:{WEB_PORT}",
         "--workers", "2", "--threads", "8", "--worker-class", "gthread"],
        cwd=ROOT, env=env, stdout=(logs / "web.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    ))  # fmt: skip
    started.append(subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env={**env, "LOG_FILE": str(logs / "worker.log")},
        stdout=(logs / "worker.out").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    ))  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{WEB_PORT}/health/", timeout=2):
                break
        except OSError:
            time.sleep(0.3)
    time.sleep(3)  # the worker's processes start
    return started


def processes_stop(started: list[subprocess.Popen]) -> None:
    for process in reversed(started):
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process group, from /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid:  # process group id
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def deliver_timed(cobot: CobotFake, event: str, url: str) -> tuple[float, int | None]:
    started = time.perf_counter()
    statuses = [status for _, status in cobot.deliver(SUBDOMAIN, event, url)]
    return time.perf_counter() - started, statuses[0] if statuses else None


def measure_latency(cobot, smartlock, plan_id: str, n: int) -> list[float]:
    latencies = []
    for i in range(n):
        member = cobot.add_membership(SUBDOMAIN, name=f"Latency {i}", email=f"lat{i}@bench.example", plan_id=plan_id)
        started = time.time()
        cobot.deliver(SUBDOMAIN, "confirmed_membership", cobot.membership_url(SUBDOMAIN, member["id"]))
        found = wait_until(lambda email=f"lat{i}@bench.example": smartlock.user_by_email(email), timeout=30)
        latencies.append((found or float("nan")) - started)
        time.sleep(0.2)
    return latencies


def measure_retry(cobot, smartlock, plan_id: str) -> dict:
    """SmartLock answers 500 three times: how late after each due time does the member's job run again?"""
    from locks.models import AccessSyncJob

    smartlock.force(Response(500, {"error": "try later"}), times=3, path="^/users$")
    member = cobot.add_membership(SUBDOMAIN, name="Retry", email="retry@bench.example", plan_id=plan_id)
    started = time.time()
    cobot.deliver(SUBDOMAIN, "confirmed_membership", cobot.membership_url(SUBDOMAIN, member["id"]))
    late, last = [], None  # last: (attempts, due time) as last seen
    deadline = time.monotonic() + 120
    while not smartlock.user_by_email("retry@bench.example") and time.monotonic() < deadline:
        row = AccessSyncJob.objects.filter(membership__cobot_id=member["id"]).values_list(
            "attempts", "next_attempt_at", "status").order_by("-pk").first()  # fmt: skip
        if row and last and row[0] > last[0] and last[1] is not None:
            late.append(time.time() - last[1])  # it ran again: how long after it was due
        if row:
            last = (row[0], row[1].timestamp() if row[2] == "pending" else None)
        time.sleep(0.01)
    found = smartlock.user_by_email("retry@bench.example")
    return {"lateness": max(late) if late else float("nan"), "total": time.time() - started if found else float("nan"),
            "retries": len(late)}


def measure_booking(cobot, smartlock, other_plan_id: str) -> dict:
    from django.utils import timezone

    member = cobot.add_membership(SUBDOMAIN, name="Booker", email="booker@bench.example", plan_id=other_plan_id)
    cobot.deliver(SUBDOMAIN, "confirmed_membership", cobot.membership_url(SUBDOMAIN, member["id"]))
    start = timezone.now().replace(microsecond=0) + timedelta(seconds=12)
    end = start + timedelta(seconds=10)
    booking = cobot.add_booking(SUBDOMAIN, from_=start, to=end, membership_id=member["id"], resource="Meeting Room")
    cobot.deliver(SUBDOMAIN, "created_booking", cobot.booking_url(SUBDOMAIN, booking["id"]))
    granted = wait_until(lambda: smartlock.user_by_email("booker@bench.example"), timeout=60, step=0.01)
    revoked = granted and wait_until(lambda: not smartlock.user_by_email("booker@bench.example"), timeout=60, step=0.01)
    nan = float("nan")
    return {
        "grant": (granted - start.timestamp()) if granted else nan,
        "revoke": (revoked - end.timestamp()) if revoked else nan,
    }


def measure_burst(cobot, smartlock, plan_id: str, n: int) -> dict:
    members = cobot.add_memberships(SUBDOMAIN, n, plan_id=plan_id)
    emails = [m["email"] for m in members]
    urls = [cobot.membership_url(SUBDOMAIN, m["id"]) for m in members]
    started = time.time()
    with ThreadPoolExecutor(16) as senders:
        results = list(senders.map(lambda url: deliver_timed(cobot, "confirmed_membership", url), urls))
    sent = time.time()
    done = wait_until(lambda: all(smartlock.user_by_email(e) for e in emails), timeout=600, step=0.2)
    times = [seconds for seconds, _ in results]
    statuses = [status for _, status in results]
    at_vendor = sum(1 for e in emails if smartlock.user_by_email(e))
    return {
        "intake_per_s": n / (sent - started),
        "intake_p99": percentile(times, 0.99),
        "non_200": sum(1 for s in statuses if s != 200),
        "members_per_s": at_vendor / ((done or time.time()) - started),
        "at_vendor": at_vendor,
    }


def broker_run(broker: str, args) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix=f"accessbridge-ontime-{broker}-"))
    cobot, smartlock = CobotFake().start(), SlowSmartLock(api_token=SMARTLOCK_TOKEN).start()
    cobot.add_space(SUBDOMAIN, name="Bench Coworking")
    cobot.add_user(ADMIN_TOKEN, admin_of=[SUBDOMAIN], email="owner@bench.example", name="Olivia Owner")
    full_time, part_time = cobot.add_plan(SUBDOMAIN, "Full-time"), cobot.add_plan(SUBDOMAIN, "Part-time")
    environment_set(cobot, broker=broker, data_dir=data_dir)
    redis = redis_start(data_dir) if broker == "redis" else None
    sys.path.insert(0, str(ROOT / "bench"))
    from benchsetup import django_for_bench

    database = django_for_bench()
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        database_url = (
            f"postgresql://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST']}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
        )
    else:
        database_url = os.environ["DATABASE_URL"]
    space_setup(cobot, smartlock, full_time=full_time)
    started = ([redis] if redis else []) + processes_start(data_dir, database_url)
    try:
        worker = started[-1]
        time.sleep(2)
        before = process_tree_cpu_seconds(worker.pid)
        time.sleep(10)
        idle_cpu = (process_tree_cpu_seconds(worker.pid) - before) / 10
        result = {"broker": broker, "database": database, "idle_cpu": idle_cpu}
        latencies = measure_latency(cobot, smartlock, full_time["id"], args.deliveries)
        reached = [seconds for seconds in latencies if seconds == seconds]  # NaN: not within 30 s
        result.update(p50=statistics.median(reached), p95=percentile(reached, 0.95), lost=len(latencies) - len(reached))
        result["retry"] = measure_retry(cobot, smartlock, full_time["id"])
        result["booking"] = measure_booking(cobot, smartlock, part_time["id"])
        result["burst"] = measure_burst(cobot, smartlock, full_time["id"], args.burst)
        return result
    finally:
        processes_stop(started)
        cobot.stop()
        smartlock.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# --- the report ------------------------------------------------------------------------------------
def report(results: list[dict]) -> int:
    print(f"machine: {os.cpu_count()} cores; SmartLock stand-in answers a create in {VENDOR_SECONDS * 1000:.0f} ms")
    failures = 0
    for r in results:
        b, retry, booking = r["burst"], r["retry"], r["booking"]
        target = TARGETS[r["broker"]]
        print(f"== broker: {r['broker']} (database: {r['database']})")
        print(f"  webhook → SmartLock     p50 {r['p50']:.3f} s, p95 {r['p95']:.3f} s, {r['lost']} not within 30 s"
              f"   (target p95 ≤ {target['p95']} s)")
        print(f"  worker idle CPU         {r['idle_cpu'] * 100:.1f}% of a core         (target < 2%)")
        print(f"  retry after due time    {retry['lateness']:.2f} s late at most ({retry['retries']} retries,"
              f" {retry['total']:.1f} s in all)   (target ≤ 5 s)")
        print(f"  booking door granted    {booking['grant']:.2f} s after from − buffer   (target ≤ 30 s)")
        print(f"  booking door revoked    {booking['revoke']:.2f} s after to + buffer    (target ≤ 30 s)")
        print(f"  burst intake (16 senders) {b['intake_per_s']:.0f} deliveries/s, p99 {b['intake_p99'] * 1000:.0f} ms,"
              f" {b['non_200']} not 200   (target ≥ 300/s, p99 ≤ 50 ms on PostgreSQL + Redis)")
        print(f"  burst → SmartLock       {b['members_per_s']:.1f} members/s ({b['at_vendor']} at the vendor)"
              f"   (target ≥ 20/s)")
        failures += b["non_200"] + r["lost"]
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--deliveries", type=int, default=20)
    parser.add_argument("--brokers", default="orm,redis")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process for one broker
    args = parser.parse_args()
    if args.one:
        print(json.dumps(broker_run(args.one, args)))
        return 0
    results = []
    for broker in args.brokers.split(","):
        if broker == "redis" and not shutil.which("redis-server"):
            print("redis: skipped (no redis-server on the PATH)")
            continue
        child = subprocess.run(
            [sys.executable, __file__, "--one", broker, "--burst", str(args.burst), "--deliveries", str(args.deliveries)],
            capture_output=True, text=True,
        )  # fmt: skip
        lines = child.stdout.strip().splitlines()
        if child.returncode != 0 or not lines:
            print(f"{broker}: the run failed:\n{child.stderr[-3000:]}")
            return 1
        results.append(json.loads(lines[-1]))
    return report(results)


if __name__ == "__main__":
    threading.excepthook = lambda hook_args: None  # stand-in threads ending at exit
    sys.exit(main())
