"""KISI's 5 requests/s per key: a full sync of 2,000 members never goes over it (the stand-in counts on the
test's clock) and gets no 429; a second run writes nothing; 429s that do come are backed off; the limit is
one for every client of a key (accessbridge.ratelimit keeps it in the database)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from accessbridge import ratelimit
from locks.access.run import access_sync
from locks.models import Grant, VendorAccount
from locks.vendors import adapter_for
from locks.vendors.base import Deadline, VendorTransientError
from locks.vendors.kisi.client import KisiClient
from spaces.models import Membership
from tests.fakes.base import Response
from tests.locks.conftest import rule_for

from .conftest import API_KEY, group_door


def test_a_full_sync_of_2000_members_keeps_to_5_requests_a_second_and_a_second_run_writes_nothing(
    members, cobot, kisi, building, connection, clock
):
    adapter_for(connection).doors_sync()
    rule_for(members.space, group_door(connection, "Members"))
    rows = cobot.add_memberships("space-a", 2000)
    Membership.objects.bulk_create(
        [
            Membership(
                space=members.space,
                cobot_id=r["id"],
                name=r["name"],
                email=r["email"],
                cobot_user_id=r["user"]["id"],
                status=Membership.Status.CONFIRMED,
            )
            for r in rows
        ],
        batch_size=500,
    )
    started, before = clock(), len(kisi.seen_at)

    report = access_sync(space=members.space)
    assert not (report.failed or report.errors or report.transient), report.summary()
    assert len(kisi.users) == 2000 and len(kisi.role_assignments) == 2000
    assert VendorAccount.objects.filter(status="active").count() == Grant.objects.filter(status="active").count() == 2000
    assert kisi.too_many == []  # never asked KISI too fast
    assert kisi.busiest_second() == 5
    # 2,000 lookups, users and role assignments: at least 204 ms apart on the shared clock.
    assert clock() - started >= (len(kisi.seen_at) - before - 1) * 0.204 - 0.001

    writes = kisi.writes
    report = access_sync(space=members.space, refresh=True)  # reads KISI's users too
    assert kisi.writes == writes and report.applied == []
    assert kisi.too_many == [] and kisi.busiest_second() == 5


def test_a_429_is_backed_off_and_tried_again(db, kisi, clock):
    kisi.force(Response(429, {"code": "000429", "error": "Too many requests"}), times=2)
    assert KisiClient(api_key=API_KEY, base_url=kisi.url).places_list() == kisi.places
    assert [s for s in clock.slept if s >= 1] == [1.0, 2.0]  # backed off, longer each time
    assert len(kisi.requests) == 3


def test_a_429_that_lasts_is_a_transient_error_after_the_backoffs(db, kisi, clock):
    kisi.force(Response(503, {"code": "000503", "error": "Service unavailable"}), times=4)
    with pytest.raises(VendorTransientError) as caught:
        KisiClient(api_key=API_KEY, base_url=kisi.url).places_list()
    assert str(caught.value) == "KISI: HTTP 503: Service unavailable (code 000503)"
    assert [s for s in clock.slept if s >= 1] == [1.0, 2.0, 4.0] and len(kisi.requests) == 4


def test_someone_waiting_at_the_door_is_not_kept_past_the_deadline(db, kisi, clock, monkeypatch):
    client = KisiClient(api_key=API_KEY, base_url=kisi.url)
    monkeypatch.setattr(Deadline, "remaining", lambda self: 0.5)
    kisi.force(Response(429, {"code": "000429", "error": "Too many requests"}))
    with pytest.raises(VendorTransientError, match="HTTP 429"):
        client.lock_unlock(lock_id="1", deadline=Deadline.within(0.5))
    assert [s for s in clock.slept if s >= 1] == []  # no 1 s backoff inside a 0.5 s budget

    for _ in range(5):  # five more requests of this key are queued before it
        ratelimit.rate_slot_reserve(key=client.rate_key, per_second=5)
    with pytest.raises(VendorTransientError, match="busy with other requests of this key"):
        client.lock_unlock(lock_id="1", deadline=Deadline.within(0.5))


def test_every_client_of_a_key_shares_one_limit(kisi, clock, space_a):
    first, second = (KisiClient(api_key=API_KEY, base_url=kisi.url) for _ in range(2))
    for _ in range(10):
        first.places_list()
        second.places_list()
    assert kisi.busiest_second() == 5 and kisi.too_many == []
    assert KisiClient(api_key="another key").rate_key != first.rate_key


def test_slots_are_exact_and_idle_time_is_not_saved_up(db, clock):
    waits = [ratelimit.rate_slot_reserve(key="k", per_second=5) for _ in range(6)]
    assert waits == [0, 0.204, 0.408, 0.612, 0.816, 1.02]  # 1/5 s and a margin of 2 %
    clock.now += 60  # a quiet minute gives no burst afterwards
    assert [ratelimit.rate_slot_reserve(key="k", per_second=5) for _ in range(2)] == [0, 0.204]


@pytest.mark.postgres_only  # SQLite's in-memory test database locks whole tables between connections
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_get_the_same_slot(clock):
    """Two threads, each with its own database connection, as two workers are."""
    slots: dict[str, list[float]] = {"a": [], "b": []}

    def worker(name):
        try:
            for _ in range(40):
                slots[name].append(ratelimit.rate_slot_reserve(key="kisi:shared", per_second=5))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(name,)) for name in slots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    waits = sorted(slots["a"] + slots["b"])  # the clock stands still: a wait is the slot's time
    assert len(waits) == 80 and slots["a"] and slots["b"]
    assert waits == [n * 204_000 / 1_000_000 for n in range(80)]
