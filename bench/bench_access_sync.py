"""Benchmark: the full access sync at 10,000 members against the local SmartLock and Cobot stand-ins.

    .venv/bin/python bench/bench_access_sync.py [--members 10000]

Runs on a throw-away database (bench/benchsetup.py), starts both stand-ins in this process, and prints members/s,
the vendor calls made and the database queries (total and per member) for:
  1. a first sync of a small space (a tenth of the members) and of the full space: the queries per
     member must be the same (no N+1), or the benchmark fails;
  2. a second sync of the full space with nothing changed: it must make zero vendor writes, or the
     benchmark fails (exit status 1).
Timings include the stand-ins, which run in this process and share its CPU.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time

from benchsetup import QueryCounter, django_for_bench

DATABASE = django_for_bench()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from locks.access.run import access_sync  # noqa: E402
from locks.models import AccessRule, Door, LockConnection, VendorAccount  # noqa: E402
from spaces.models import Membership, Space  # noqa: E402
from tests.fakes.cobot import CobotFake  # noqa: E402
from tests.fakes.smartlock import SmartLockFake  # noqa: E402

# Per-member query counts of the two first syncs may differ by this much (chunk boundaries).
QUERY_TOLERANCE = 0.05


def space_make(*, cobot: CobotFake, smartlock: SmartLockFake, members: int) -> Space:
    subdomain = f"bench-{secrets.token_hex(4)}"
    at_cobot = cobot.add_space(subdomain)
    token = cobot.add_user(admin_of=[subdomain]).token
    space = Space.objects.create(
        subdomain=subdomain, name=subdomain, cobot_space_id=at_cobot.id, access_token=token
    )
    rows = cobot.add_memberships(subdomain, members)
    Membership.objects.bulk_create(
        [
            Membership(
                space=space,
                cobot_id=r["id"],
                name=r["name"],
                email=r["email"],
                cobot_user_id=r["user"]["id"],
                status=Membership.Status.CONFIRMED,
            )
            for r in rows
        ],
        batch_size=1000,
    )
    lock = LockConnection.objects.create(
        space=space,
        vendor="smartlock",
        name="SmartLock",
        status=LockConnection.Status.OK,
        credentials={"api_token": smartlock.api_token},
        config={"base_url": smartlock.url},
    )
    door = Door.objects.create(connection=lock, vendor_ref="lock_1", name="Front door")
    AccessRule.objects.create(space=space).doors.add(door)
    return space


def measured_sync(space: Space, *, smartlock: SmartLockFake, cobot: CobotFake) -> dict:
    sl_before, cobot_before = len(smartlock.requests), len(cobot.requests)
    counter = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        report = access_sync(space=space, actor_label="bench")
    seconds = time.perf_counter() - started
    sl_calls = smartlock.requests[sl_before:]
    cobot_calls = cobot.requests[cobot_before:]
    writes = [r for r in sl_calls + cobot_calls if r.method in ("POST", "PUT", "PATCH", "DELETE")]
    problems = report.failed or report.errors or report.waiting or report.transient
    if problems:
        raise SystemExit(f"the sync did not go through: {report.summary()}")
    members = report.member_count
    return {
        "members": members,
        "seconds": seconds,
        "members_per_s": members / seconds if seconds else float("inf"),
        "vendor_calls": len(sl_calls),
        "cobot_calls": len(cobot_calls),
        "writes": len(writes),
        "applied": len(report.applied),
        "queries": counter.count,
        "queries_per_member": counter.count / members if members else 0.0,
    }


def show(title: str, result: dict) -> None:
    print(
        f"{title}: {result['members']} members in {result['seconds']:.1f} s = {result['members_per_s']:.0f} members/s; "
        f"SmartLock calls {result['vendor_calls']}, Cobot calls {result['cobot_calls']} "
        f"(writes {result['writes']}, changes applied {result['applied']}); "
        f"DB queries {result['queries']} = {result['queries_per_member']:.2f} per member"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()

    print(f"database: {DATABASE}")
    failures = []
    with CobotFake() as cobot, SmartLockFake() as smartlock:
        settings.COBOT_SITE_URL = cobot.url
        settings.COBOT_API2_URL = cobot.api2_url
        settings.COBOT_SPACE_URL_TEMPLATE = cobot.space_url_template
        settings.LOCKS_ALLOW_PRIVATE_HOSTS = True  # the stand-ins listen on 127.0.0.1 over http
        small = space_make(cobot=cobot, smartlock=smartlock, members=max(1, args.members // 10))
        large = space_make(cobot=cobot, smartlock=smartlock, members=args.members)
        try:
            first_small = measured_sync(small, smartlock=smartlock, cobot=cobot)
            show("first sync, small space", first_small)
            first = measured_sync(large, smartlock=smartlock, cobot=cobot)
            show("first sync, full space ", first)
            again = measured_sync(large, smartlock=smartlock, cobot=cobot)
            show("second sync, no change ", again)
        finally:
            # Our record of the people at the vendor is PROTECTed; the stand-in is going away with them.
            VendorAccount.objects.filter(connection__space__in=[small, large]).delete()
            Space.objects.filter(pk__in=[small.pk, large.pk]).delete()

    grown = first["queries_per_member"] - first_small["queries_per_member"]
    print(
        f"queries per member, small → full space: {first_small['queries_per_member']:.2f} → {first['queries_per_member']:.2f}"
    )
    if grown > QUERY_TOLERANCE * max(first_small["queries_per_member"], 1):
        failures.append("queries per member grow with the number of members (N+1)")
    print(f"vendor writes in the second sync: {again['writes']}")
    if again["writes"]:
        failures.append("the second sync wrote to a vendor although nothing changed")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
