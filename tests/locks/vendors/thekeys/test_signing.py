"""Signing timestamps that never go backwards for a gateway, also with many workers at once."""

import threading

import pytest
from django.db import connections

from locks.models import Door, Gateway, LockConnection
from locks.vendors.thekeys.adapter import TheKeysAdapter
from locks.vendors.thekeys.signing import gateway_exclusive, signing_ts_claim
from tests.fakes.thekeys import TheKeysGatewayFake

from .conftest import CODE, IDENTIFIER


def test_it_claims_strictly_increasing_timestamps(gateway):
    # Same second, several calls: each one is unique (seed 003: "unique par requête").
    assert [signing_ts_claim(gateway_id=gateway.pk, now=1_700_000_000) for _ in range(3)] == [
        1_700_000_000,
        1_700_000_001,
        1_700_000_002,
    ]
    # The clock steps back (NTP): never older than the previous one.
    assert signing_ts_claim(gateway_id=gateway.pk, now=1_600_000_000) == 1_700_000_003
    # Once the clock is ahead again, it follows the clock.
    assert signing_ts_claim(gateway_id=gateway.pk, now=1_700_000_100) == 1_700_000_100
    gateway.refresh_from_db()
    assert gateway.last_signing_ts == 1_700_000_100


def test_it_keeps_one_sequence_per_gateway(connection, gateway):
    other = Gateway.objects.create(connection=connection, vendor_ref="9999", host="192.0.2.2")
    signing_ts_claim(gateway_id=gateway.pk, now=2_000_000_000)
    assert signing_ts_claim(gateway_id=other.pk, now=1_700_000_000) == 1_700_000_000


def test_it_claims_for_a_gateway_that_still_exists_only(gateway):
    from locks.vendors.base import VendorNotFound

    with pytest.raises(VendorNotFound):
        signing_ts_claim(gateway_id=gateway.pk + 1000)


def test_it_uses_the_database_sequence_for_every_open(adapter, door, gateway_fake):
    Gateway.objects.filter(pk=door.gateway_id).update(last_signing_ts=4_000_000_000)  # far ahead of the clock
    adapter.door_open(door=door)
    adapter.door_close(door=door)
    assert gateway_fake.accepted_ts == [4_000_000_001, 4_000_000_002]
    assert Gateway.objects.get(pk=door.gateway_id).last_signing_ts == 4_000_000_002


def test_it_lets_one_operation_at_a_time_hold_a_gateway(gateway):
    from locks.vendors.base import VendorTransientError

    errors = []
    with gateway_exclusive(gateway_id=gateway.pk):

        def other_thread():
            try:
                with gateway_exclusive(gateway_id=gateway.pk, wait=0.1):
                    pass
            except VendorTransientError as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert len(errors) == 1
    assert "did not finish in time" in str(errors[0])
    with gateway_exclusive(gateway_id=gateway.pk, wait=0.1):
        pass  # released


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_it_never_goes_backwards_under_20_concurrent_opens(space_a):
    connection = LockConnection.objects.create(
        space=space_a,
        vendor="thekeys",
        name="The Keys",
        credentials={"password": "x"},
        config={"username": "+33600000000"},
    )
    # A strict gateway (equal timestamps refused too) that takes a little time per request, so that
    # unserialized callers would overlap and be answered busy.
    with TheKeysGatewayFake(reject_equal_ts=True, processing_delay=0.005) as fake:
        fake.add_locker(IDENTIFIER, CODE)
        gateway = Gateway.objects.create(
            connection=connection, vendor_ref="5678", host=fake.url.removeprefix("http://")
        )
        door = Door.objects.create(
            connection=connection,
            gateway=gateway,
            vendor_ref="1234",
            name="Entrée",
            vendor_secrets={"share_code": CODE},
            extra={"identifier": IDENTIFIER},
        )
        start = threading.Barrier(20)
        errors: list[BaseException] = []

        def open_door():
            try:
                # Its own connection per thread, its own adapter and rows: like 20 workers.
                mine = Door.objects.select_related("gateway", "connection").get(pk=door.pk)
                adapter = TheKeysAdapter(mine.connection)
                start.wait()
                adapter.door_open(door=mine)
            except BaseException as exc:  # noqa: B036 - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=open_door) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

        assert errors == []
        assert fake.locker(IDENTIFIER).opens == 20
        assert fake.rejected_old_ts == 0
        assert fake.busy_answers == 0  # serialized: never two requests at the gateway at once
        assert len(fake.accepted_ts) == 20
        assert all(a < b for a, b in zip(fake.accepted_ts, fake.accepted_ts[1:], strict=False))
        gateway.refresh_from_db()
        assert gateway.last_signing_ts == fake.accepted_ts[-1]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_it_never_hands_out_a_timestamp_twice_to_concurrent_workers(space_a):
    # The claim on its own, without the gateway lock: 20 workers × 10 claims in the same second.
    connection = LockConnection.objects.create(space=space_a, vendor="thekeys", name="The Keys")
    gateway = Gateway.objects.create(connection=connection, vendor_ref="5678", host="192.0.2.1")
    start = threading.Barrier(20)
    claimed: list[list[int]] = []

    def worker():
        try:
            start.wait()
            claimed.append([signing_ts_claim(gateway_id=gateway.pk, now=1_700_000_000) for _ in range(10)])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    values = [ts for mine in claimed for ts in mine]
    assert sorted(values) == list(range(1_700_000_000, 1_700_000_200))
    assert all(mine == sorted(mine) for mine in claimed)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_lock_that_cannot_be_released_goes_with_its_connection(space_a):
    from django.db import DataError, transaction
    from django.db import connection as db

    from locks.advisory import advisory_key, advisory_try_lock, advisory_unlock
    from locks.vendors.thekeys.signing import ADVISORY_NAMESPACE

    connection = LockConnection.objects.create(space=space_a, vendor="thekeys", name="TK")
    gateway = Gateway.objects.create(connection=connection, vendor_ref="g", host="192.0.2.1")
    with transaction.atomic():
        with pytest.raises(DataError):
            with gateway_exclusive(gateway_id=gateway.pk):
                with db.cursor() as cursor:
                    cursor.execute("SELECT 1/0")  # aborts the transaction: the unlock cannot run in it
    # A session keeping the lock would block this gateway for as long as the connection lives.
    other = connections.create_connection("default")
    try:
        key = advisory_key(ADVISORY_NAMESPACE, gateway.pk)
        assert advisory_try_lock(other, key)
        advisory_unlock(other, key)
    finally:
        other.close()
