"""The Keys remote open: opens per second through one gateway stand-in, and what AccessBridge adds.

    .venv/bin/python bench/bench_thekeys.py [--opens 300] [--threads 8] [--gateway-ms 0]

Runs on a throw-away database (bench/benchsetup.py): a temporary SQLite file, or with
DATABASE_URL=postgresql://… a test database next to the named one, dropped at the end.

Measured:
- opens/s, one caller, then several threads at once (each with its own database connection, like
  workers): every open claims a timestamp in the database and holds the gateway while it calls it;
- the latency AccessBridge adds over the gateway's own time: end-to-end `adapter.door_open` minus the time
  the stand-in spent serving that request (from its request handler), p50/p95 — and, for comparison,
  minus a bare signed HTTP call to the same stand-in. Target: < 20 ms p95 added.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opens", type=int, default=300, help="opens per measurement (default 300)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent callers for the contention run")
    parser.add_argument("--gateway-ms", type=float, default=0.0, help="time the stand-in takes per request")
    args = parser.parse_args()

    from benchsetup import django_for_bench

    print(f"database: {django_for_bench()}")
    return run(args)


def run(args) -> int:
    import requests
    from django.db import connection, connections

    from locks.models import Door, Gateway, LockConnection
    from locks.vendors.thekeys.adapter import TheKeysAdapter
    from locks.vendors.thekeys.client import signature
    from spaces.models import Space
    from tests.fakes.thekeys import TheKeysGatewayFake

    code, identifier = "Zmo1sps2OVyCFtl1", "45961123"

    class TimedGateway(TheKeysGatewayFake):
        """Records how long the stand-in itself spends on each request."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.served_ms: list[float] = []

        def _dispatch(self, request):
            started = time.perf_counter()
            try:
                return super()._dispatch(request)
            finally:
                self.served_ms.append((time.perf_counter() - started) * 1000)

    print(f"database: {connection.vendor}; gateway stand-in time per request: {args.gateway_ms:g} ms")
    space = Space.objects.create(subdomain="bench", name="Bench", cobot_space_id="bench", access_token="x")
    lock_connection = LockConnection.objects.create(
        space=space, vendor="thekeys", name="Bench", credentials={"password": "x"}, config={"username": "+33600000000"}
    )
    with TimedGateway(processing_delay=args.gateway_ms / 1000) as fake:
        fake.add_locker(identifier, code)
        gateway = Gateway.objects.create(
            connection=lock_connection, vendor_ref="1", host=fake.url.removeprefix("http://")
        )
        door = Door.objects.create(
            connection=lock_connection,
            gateway=gateway,
            vendor_ref="1",
            name="Entrée",
            vendor_secrets={"share_code": code},
            extra={"identifier": identifier},
        )
        adapter = TheKeysAdapter(lock_connection)
        door = Door.objects.select_related("gateway").get(pk=door.pk)
        for _ in range(10):  # warm up connections and caches
            adapter.door_open(door=door)

        # 1. one caller: end-to-end vs the stand-in's own time, paired per open
        fake.served_ms.clear()
        end_to_end = []
        started = time.perf_counter()
        for _ in range(args.opens):
            t0 = time.perf_counter()
            adapter.door_open(door=door)
            end_to_end.append((time.perf_counter() - t0) * 1000)
        sequential_rate = args.opens / (time.perf_counter() - started)
        served = list(fake.served_ms)
        assert len(served) == len(end_to_end), "every open must be exactly one gateway request"
        added = [e - s for e, s in zip(end_to_end, served, strict=True)]

        # A bare signed HTTP call to the same stand-in, for comparison (what any client pays).
        bare = []
        session = requests.Session()
        ts = gateway_ts = Gateway.objects.get(pk=gateway.pk).last_signing_ts
        for _ in range(args.opens):
            ts += 1
            form = {"identifier": identifier, "ts": str(ts), "hash": signature(code, ts)}
            t0 = time.perf_counter()
            assert session.post(f"{fake.url}/open", data=form, timeout=5).json()["status"] == "0"
            bare.append((time.perf_counter() - t0) * 1000)
        Gateway.objects.filter(pk=gateway.pk).update(last_signing_ts=max(gateway_ts, ts))

        # 2. contention: several callers, each with its own database connection
        busy_before, rejected_before = fake.busy_answers, fake.rejected_old_ts
        errors: list[BaseException] = []
        barrier = threading.Barrier(args.threads)
        per_thread = max(1, args.opens // args.threads)

        def caller():
            try:
                mine = Door.objects.select_related("gateway", "connection").get(pk=door.pk)
                own = TheKeysAdapter(mine.connection)
                barrier.wait()
                for _ in range(per_thread):
                    own.door_open(door=mine)
            except BaseException as exc:  # noqa: B036 - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=caller) for _ in range(args.threads)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        contended_rate = (per_thread * args.threads) / (time.perf_counter() - started)
        accepted = fake.accepted_ts
        in_order = all(a < b for a, b in zip(accepted, accepted[1:], strict=False))

    p = _percentiles
    print(f"opens/s, 1 caller:               {sequential_rate:8.1f}")
    print(f"opens/s, {args.threads} callers at once:       {contended_rate:8.1f}")
    print(
        f"  contention: {len(errors)} errors, {fake.busy_answers - busy_before} busy answers, "
        f"{fake.rejected_old_ts - rejected_before} timestamps refused, timestamps strictly increasing: {in_order}"
    )
    print(f"end-to-end door_open ms          p50 {p(end_to_end, 50):6.2f}  p95 {p(end_to_end, 95):6.2f}")
    print(f"stand-in's own time ms           p50 {p(served, 50):6.2f}  p95 {p(served, 95):6.2f}")
    print(f"bare signed HTTP call ms         p50 {p(bare, 50):6.2f}  p95 {p(bare, 95):6.2f}")
    print(f"added by AccessBridge ms         p50 {p(added, 50):6.2f}  p95 {p(added, 95):6.2f}  (target p95 < 20)")
    print(
        f"added over a bare HTTP client ms p50 {p(end_to_end, 50) - p(bare, 50):6.2f}  "
        f"p95 {p(end_to_end, 95) - p(bare, 95):6.2f}"
    )
    if errors:
        print(f"errors: {errors[:3]!r}")
    met = p(added, 95) < 20 and not errors and in_order
    print(f"target met: {'yes' if met else 'NO'}")
    return 0 if not errors and in_order else 1


def _percentiles(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


if __name__ == "__main__":
    sys.exit(main())
