"""Card reader live requests: the latency AccessBridge adds over the stand-ins' own time, and requests/s.

    .venv/bin/python bench/bench_readers.py [--requests 300] [--workers 2] [--threads 4] [--clients 8]

Runs on a throw-away database (bench/benchsetup.py). AccessBridge is served by gunicorn (as in production)
on 127.0.0.1; Cobot is the stand-in (tests/fakes/cobot.py) and each reader's door is a The Keys lock behind
its own gateway stand-in (tests/fakes/thekeys.py). Every request is a first check-in of a different member
(one Cobot check-in, one signed gateway open), so no request takes the "already checked in" shortcut.

Measured:
- added latency: end-to-end HTTP request minus the time the Cobot and gateway stand-ins spent serving it
  (from their handlers), one client at a time, p50/p95. Target: p95 < 20 ms.
- requests/s with --clients concurrent clients against --workers gunicorn workers (2 cores: 2 workers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_READERS_PORT", "8241"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement (default 300)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2: 2 cores)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the throughput run")
    args = parser.parse_args()

    from benchsetup import django_for_bench

    print(f"database: {django_for_bench()}")
    return run(args)


def _timed(server_class):
    """The stand-in, recording how long its handler spends on each request."""

    class Timed(server_class):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.served_ms: list[float] = []

        def _dispatch(self, request):
            started = time.perf_counter()
            try:
                return super()._dispatch(request)
            finally:
                self.served_ms.append((time.perf_counter() - started) * 1000)

    return Timed


def _setup(cobot, gateways, members_needed: int):
    from django.utils import timezone

    from locks.models import Door, Gateway, LockConnection
    from locks.readers.keys import reader_create
    from spaces.models import CheckInToken, Membership, Space

    cobot.add_space("bench", name="Bench", space_id="space-bench")
    cobot.add_user("tok-bench", admin_of=["bench"])
    space = Space.objects.create(
        subdomain="bench", name="Bench", cobot_space_id="space-bench", access_token="tok-bench"
    )
    readers = []
    for n, gateway_fake in enumerate(gateways):
        identifier, code = f"{45961120 + n}", "Zmo1sps2OVyCFtl1"
        gateway_fake.add_locker(identifier, code)
        connection = LockConnection.objects.create(
            space=space, vendor="thekeys", name=f"TK {n}", credentials={"password": "x"},
            config={"username": "+33600000000"}, status="ok",
        )  # fmt: skip
        gateway = Gateway.objects.create(
            connection=connection, vendor_ref=str(n), host=gateway_fake.url.removeprefix("http://")
        )
        door = Door.objects.create(
            connection=connection, gateway=gateway, vendor_ref=str(n), name=f"Door {n}",
            vendor_secrets={"share_code": code}, extra={"identifier": identifier},
        )  # fmt: skip
        readers.append(reader_create(door=door, name=f"Reader {n}"))
    tokens = []
    for n in range(members_needed):
        data = cobot.add_membership("bench", name=f"Member {n}", email=f"m{n}@example.org")
        membership = Membership.objects.create(
            space=space, cobot_id=data["id"], name=f"Member {n}", email=f"m{n}@example.org",
            status=Membership.Status.CONFIRMED, confirmed_at=timezone.now(),
        )  # fmt: skip
        token = f"card-{n:06d}"
        cobot.add_check_in_token("bench", membership.cobot_id, token)
        CheckInToken.objects.create(
            space=space, membership=membership, membership_cobot_id=membership.cobot_id, token=token
        )
        tokens.append(token)
    return readers, tokens


def _gunicorn(args, cobot) -> subprocess.Popen:
    env = {
        **os.environ,
        "COBOT_SITE_URL": cobot.url,
        "COBOT_API2_URL": cobot.api2_url,
        "COBOT_SPACE_URL_TEMPLATE": cobot.space_url_template,
        "LOCKS_ALLOW_PRIVATE_HOSTS": "true",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": _database_url_in_use(),
    }
    command = [
        sys.executable, "-m", "gunicorn", "accessbridge.wsgi", "--bind", f"127.0.0.1:{PORT}",
        "--workers", str(args.workers), "--threads", str(args.threads), "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _database_url_in_use() -> str:
    """The throw-away database benchsetup made (for PostgreSQL a test database next to the named one)."""
    from urllib.parse import urlsplit, urlunsplit

    from django.db import connection

    url = os.environ["DATABASE_URL"]
    if connection.vendor != "postgresql":
        return url
    return urlunsplit(urlsplit(url)._replace(path=f"/{connection.settings_dict['NAME']}"))


def _wait_up(session, url: str) -> None:
    for _ in range(100):
        try:
            session.get(url, timeout=1)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def run(args) -> int:
    import requests
    from django.db import connections

    from tests.fakes.cobot import CobotFake
    from tests.fakes.thekeys import TheKeysGatewayFake

    base = f"http://127.0.0.1:{PORT}"
    gateways_needed = max(1, args.clients)
    with _timed(CobotFake)() as cobot:
        gateway_fakes = [_timed(TheKeysGatewayFake)() for _ in range(gateways_needed)]
        for fake in gateway_fakes:
            fake.start()
        try:
            readers, tokens = _setup(cobot, gateway_fakes, members_needed=2 * args.requests + 20)
            connections.close_all()
            server = _gunicorn(args, cobot)
            try:
                session = requests.Session()
                _wait_up(session, f"{base}/health/")
                results = _measure(args, session, base, readers, tokens, cobot, gateway_fakes[0])
            finally:
                server.terminate()
                server.wait(timeout=10)
        finally:
            for fake in gateway_fakes:
                fake.stop()
    return _report(args, **results)


def _scan(session, base, reader, key, token) -> dict:
    response = session.post(
        f"{base}/api/readers/{reader.pk}/check-in", json={"token": token},
        headers={"Authorization": f"Bearer {key}"}, timeout=10,
    )  # fmt: skip
    return response.json()


def _measure(args, session, base, readers, tokens, cobot, gateway) -> dict:
    (reader, key), cards = readers[0], iter(tokens)
    for _ in range(10):  # warm up the workers' connections and caches
        _scan(session, base, reader, key, next(cards))
    cobot.served_ms.clear()
    gateway.served_ms.clear()
    end_to_end, answers = [], []
    for _ in range(args.requests):
        t0 = time.perf_counter()
        answers.append(_scan(session, base, reader, key, next(cards)))
        end_to_end.append((time.perf_counter() - t0) * 1000)
    cobot_ms, gateway_ms = list(cobot.served_ms), list(gateway.served_ms)
    if not (len(cobot_ms) == len(gateway_ms) == len(end_to_end)):
        raise RuntimeError(f"expected one Cobot and one gateway request per scan: {len(cobot_ms)}, {len(gateway_ms)}")
    added = [e - c - g for e, c, g in zip(end_to_end, cobot_ms, gateway_ms, strict=True)]
    refused = [a for a in answers if not a.get("open")]

    remaining = list(cards)
    per_client = max(1, min(args.requests, len(remaining)) // args.clients)
    errors: list[object] = []
    barrier = threading.Barrier(args.clients)

    def client(n: int):
        own = __import__("requests").Session()
        reader_n, key_n = readers[n % len(readers)]
        mine = remaining[n * per_client : (n + 1) * per_client]
        barrier.wait()
        for token in mine:
            answer = _scan(own, base, reader_n, key_n, token)
            if not answer.get("open"):
                errors.append(answer)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = per_client * args.clients / (time.perf_counter() - started)
    return {
        "end_to_end": end_to_end, "cobot_ms": cobot_ms, "gateway_ms": gateway_ms, "added": added,
        "refused": refused, "rate": rate, "errors": errors,
    }  # fmt: skip


def _report(args, *, end_to_end, cobot_ms, gateway_ms, added, refused, rate, errors) -> int:
    p = _percentiles
    print(f"gunicorn: {args.workers} workers × {args.threads} threads; {args.clients} clients for the rate")
    print(f"end-to-end live request ms       p50 {p(end_to_end, 50):6.2f}  p95 {p(end_to_end, 95):6.2f}")
    print(f"Cobot stand-in's own time ms     p50 {p(cobot_ms, 50):6.2f}  p95 {p(cobot_ms, 95):6.2f}")
    print(f"gateway stand-in's own time ms   p50 {p(gateway_ms, 50):6.2f}  p95 {p(gateway_ms, 95):6.2f}")
    print(f"added by AccessBridge ms         p50 {p(added, 50):6.2f}  p95 {p(added, 95):6.2f}  (target p95 < 20)")
    print(f"live requests/s, {args.clients} clients:      {rate:8.1f}")
    if refused or errors:
        print(f"not opened: {len(refused)} sequential, {len(errors)} concurrent; e.g. {(refused or errors)[:2]!r}")
    print(f"target met: {'yes' if p(added, 95) < 20 and not refused and not errors else 'NO'}")
    return 0 if not refused and not errors else 1


def _percentiles(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


if __name__ == "__main__":
    sys.exit(main())
