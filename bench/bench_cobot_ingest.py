"""Benchmark: Cobot webhook intake — deliveries per second and database queries per delivery.

    .venv/bin/python bench/bench_cobot_ingest.py [--deliveries 1000]

Runs on a throw-away database (bench/benchsetup.py), and posts
deliveries to the Cobot webhook view in-process (Django's test client: no network, no Cobot needed —
the intake never calls Cobot). Each delivery is stored and queued (django-q ORM broker). Then the same
deliveries again, as Cobot's retries would be. Fails (exit status 1) if a delivery is not answered 200,
if a duplicate creates a row, or if the queries per delivery exceed QUERY_BUDGET.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchsetup import QueryCounter, django_for_bench

DATABASE = django_for_bench()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from spaces.cobot.client import space_api_url  # noqa: E402
from spaces.models import InboundDelivery, Space  # noqa: E402

QUERY_BUDGET = 12  # per delivery: space lookup, insert, broker enqueue, transaction statements


def post_all(client, url_for, payloads) -> tuple[float, int, list[int]]:
    counter = QueryCounter()
    statuses = []
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        for event, payload in payloads:
            statuses.append(client.post(url_for(event), data=json.dumps(payload), content_type="application/json").status_code)
    return time.perf_counter() - started, counter.count, statuses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1000)
    args = parser.parse_args()
    print(f"database: {DATABASE}")
    space = Space.objects.create(subdomain=f"bench-{os.getpid()}", name="Bench", access_token="unused")
    client = Client()

    def url_for(event):
        return reverse("cobot_webhook", kwargs={"space_key": space.key, "secret": space.webhook_secret, "event": event})

    payloads = [("confirmed_membership", {"url": space_api_url(space, f"memberships/m{i:06d}")}) for i in range(args.deliveries)]
    failures = []
    try:
        seconds, queries, statuses = post_all(client, url_for, payloads)
        print(f"new deliveries:       {args.deliveries / seconds:,.0f}/s, {queries / args.deliveries:.1f} queries each")
        if set(statuses) != {200}:
            failures.append(f"answers {sorted(set(statuses))}")
        if queries / args.deliveries > QUERY_BUDGET:
            failures.append(f"{queries / args.deliveries:.1f} queries per delivery (budget {QUERY_BUDGET})")
        seconds, queries, statuses = post_all(client, url_for, payloads)
        print(f"repeated deliveries:  {args.deliveries / seconds:,.0f}/s, {queries / args.deliveries:.1f} queries each")
        if set(statuses) != {200}:
            failures.append(f"answers to repeats {sorted(set(statuses))}")
        if InboundDelivery.objects.filter(space=space).count() != args.deliveries:
            failures.append("a repeated delivery created a row")
    finally:
        Space.objects.filter(pk=space.pk).delete()
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
