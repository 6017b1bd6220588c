"""Benchmark: a full sync of one space's mirror at scale, against the local Cobot stand-in.

    .venv/bin/python bench/bench_cobot_sync.py [--members 10000]

Runs on a throw-away database (bench/benchsetup.py), starts the
Cobot stand-in in this process with Cobot's rate limits on (60 calls/min per user, 6/min for the
memberships list), connects a space and syncs it twice. Prints seconds, Cobot calls and database
queries per run. Fails (exit status 1) if the calls depend on the member count (more than 5 fixed
calls + the time-pass cap) or if the second run changes any row.
Timings include the stand-in, which runs in this process and shares its CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta

from benchsetup import QueryCounter, django_for_bench

DATABASE = django_for_bench()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from spaces.models import Space  # noqa: E402
from spaces.services import space_connect  # noqa: E402
from spaces.sync import space_sync  # noqa: E402
from spaces.sync_fetch import FIXED_CALLS, TIME_PASS_REFRESHES_PER_SYNC  # noqa: E402
from tests.fakes.cobot import CobotFake  # noqa: E402


def timed_sync(space, cobot) -> tuple[dict, float, int, int]:
    cobot.requests.clear()
    counter = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = space_sync(space=space)
    return result, time.perf_counter() - started, len(cobot.requests), counter.count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    print(f"database: {DATABASE}")
    subdomain = f"bench-{os.getpid()}"
    with CobotFake() as cobot:
        settings.COBOT_SITE_URL = cobot.url
        settings.COBOT_API2_URL = cobot.api2_url
        settings.COBOT_SPACE_URL_TEMPLATE = cobot.space_url_template
        settings.ACCESSBRIDGE_BASE_URL = "https://bridge.example"
        cobot.add_space(subdomain, space_id=subdomain)
        cobot.add_user("bench-admin", admin_of=[subdomain])
        flex = cobot.add_plan(subdomain, "Flex Desk")
        passes = cobot.add_plan(subdomain, "Ten Days", time_passes=["Day Pass"])
        on_passes = max(1, args.members // 100)
        members = cobot.add_memberships(subdomain, args.members - on_passes, plan_id=flex["id"])
        cobot.add_memberships(subdomain, on_passes, plan_id=passes["id"])
        soon = timezone.now() + timedelta(hours=1)
        for i, member in enumerate(members[:500]):
            cobot.add_booking(subdomain, from_=soon + timedelta(hours=i), to=soon + timedelta(hours=i + 1), membership_id=member["id"])
            cobot.add_check_in_token(subdomain, member["id"], f"card-{i:06d}")
        space = space_connect(subdomain=subdomain, user_token="bench-admin")
        cobot.rate_limit(60)
        cobot.memberships_limit(6)

        try:
            first, seconds, calls, queries = timed_sync(space, cobot)
            print(f"first sync:  {args.members} members in {seconds:.2f} s ({args.members / seconds:,.0f} members/s), "
                  f"{calls} Cobot calls, {queries} queries, {first['changed_rows']} rows changed, "
                  f"time passes {first['time_passes']}")  # fmt: skip
            second, seconds, calls2, queries = timed_sync(space, cobot)
            print(f"second sync: {seconds:.2f} s, {calls2} Cobot calls, {queries} queries, "
                  f"{second['changed_rows']} rows changed, time passes {second['time_passes']}")  # fmt: skip
        finally:
            Space.objects.filter(pk=space.pk).delete()
    failures = []
    if calls > FIXED_CALLS + TIME_PASS_REFRESHES_PER_SYNC or calls2 > FIXED_CALLS + TIME_PASS_REFRESHES_PER_SYNC:
        failures.append("Cobot calls grew with the member count")
    if second["changed_rows"] and on_passes <= TIME_PASS_REFRESHES_PER_SYNC:
        failures.append(f"the second run changed {second['changed_rows']} rows")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
