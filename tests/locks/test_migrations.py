"""The door side's data migrations carry existing rows over: The Keys' share code into Door.vendor_secrets,
vendor deliveries from spaces.InboundDelivery into locks.VendorDelivery."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def ours(app: str, name_ends: str) -> tuple[str, str]:
    """One of this change's migrations, by name (their numbers may change when branches merge)."""
    loader = MigrationExecutor(connection).loader
    return next(key for key in loader.disk_migrations if key[0] == app and key[1].endswith(name_ends))


def parent(key: tuple[str, str]) -> tuple[str, str]:
    node = MigrationExecutor(connection).loader.graph.node_map[key]
    return next(p.key for p in node.parents if p.key[0] == key[0])


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps(transactional_db):
    apps = migrate(
        [parent(ours("locks", "door_vendor_secrets")), parent(ours("spaces", "inbound_delivery_cobot_only"))]
    )
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_shares_and_vendor_deliveries_are_carried_over(old_apps):
    Space = old_apps.get_model("spaces", "Space")
    InboundDelivery = old_apps.get_model("spaces", "InboundDelivery")
    LockConnection = old_apps.get_model("locks", "LockConnection")
    Door = old_apps.get_model("locks", "Door")
    space = Space.objects.create(subdomain="old", name="Old")
    thekeys = LockConnection.objects.create(space=space, vendor="thekeys", name="TK")
    smartlock = LockConnection.objects.create(space=space, vendor="smartlock", name="SL")
    Door.objects.create(connection=thekeys, vendor_ref="1", name="Shared", share_code="Zmo1", vendor_share_id="43")
    Door.objects.create(connection=smartlock, vendor_ref="2", name="Plain")
    common = {"space": space, "payload": {"event_id": "evt_1", "kind": "unlock"}}
    InboundDelivery.objects.create(
        source="vendor", source_ref=str(smartlock.pk), event="unlock", dedupe_key=f"vendor:{smartlock.pk}:evt_1",
        status="failed", attempts=8, last_error="Cobot said no", times_received=3, **common,
    )
    InboundDelivery.objects.create(  # its connection was deleted (no cascade then): dropped
        source="vendor", source_ref="999", event="unlock", dedupe_key="vendor:999:evt_1", **common
    )
    InboundDelivery.objects.create(source="cobot", event="confirmed_membership", dedupe_key="c1", space=space)

    new_apps = migrate(
        [ours("locks", "vendor_deliveries_event_kinds_polling"), ours("spaces", "inbound_delivery_cobot_only")]
    )

    Door = new_apps.get_model("locks", "Door")
    assert Door.objects.get(name="Shared").vendor_secrets == {"share_code": "Zmo1", "share_id": "43"}
    assert Door.objects.get(name="Plain").vendor_secrets == {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT vendor_secrets FROM locks_door WHERE name = 'Shared'")
        assert "Zmo1" not in cursor.fetchone()[0]  # encrypted at rest

    delivery = new_apps.get_model("locks", "VendorDelivery").objects.get()
    assert (delivery.connection_id, delivery.event_key, delivery.source, delivery.kind) == (
        smartlock.pk, "evt_1", "webhook", "unlock"
    )
    assert (delivery.status, delivery.attempts, delivery.last_error, delivery.times_received) == (
        "failed", 8, "Cobot said no", 3
    )
    remaining = new_apps.get_model("spaces", "InboundDelivery").objects.values_list("source", flat=True)
    assert list(remaining) == ["cobot"]
