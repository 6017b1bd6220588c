"""The Keys on the dashboard (issue 5): door and gateway status, "Refresh status" and its schedule, gateway
and lock maintenance actions, admin Open/Close, and the connection settings, all against the gateway and
cloud stand-ins (tests/fakes/thekeys.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from accessbridge.apps import SCHEDULES
from locks.models import AccessEvent, AccessSyncJob, AuditEntry, Door, Gateway, LockConnection
from locks.tasks import connection_status_refresh_task, status_refresh_due
from tests.fakes.base import Response
from tests.fakes.thekeys import TheKeysCloudFake
from tests.locks.conftest import smartlock_connection
from tests.locks.vendors.thekeys.conftest import CODE, IDENTIFIER, PASSWORD, PHONE, closed_port_host


def thekeys(space, gateway_fake, *, name="The Keys", gateway_name="TK Gateway", **config):
    """A The Keys connection with one gateway (the stand-in) and one door shared with it."""
    connection = LockConnection.objects.create(
        space=space,
        vendor="thekeys",
        name=name,
        credentials={"password": PASSWORD},
        config={"username": PHONE, **config},
        status=LockConnection.Status.OK,
    )
    gateway = Gateway.objects.create(
        connection=connection,
        vendor_ref=f"gw-{connection.pk}",
        name=gateway_name,
        host=gateway_fake.url.removeprefix("http://") if gateway_fake else closed_port_host(),
    )
    door = Door.objects.create(
        connection=connection,
        gateway=gateway,
        vendor_ref=f"lock-{connection.pk}",
        name="Porte d'entrée",
        vendor_secrets={"share_code": CODE},
        extra={"identifier": IDENTIFIER, "battery_unit": "mV"},
    )
    return door


@pytest.fixture
def door(space_a, gateway_fake):
    return thekeys(space_a, gateway_fake)


def url(name, *args, subdomain="space-a"):
    return reverse(name, args=[subdomain, *args])


def action_url(name, device_id, subdomain="space-a"):
    """The one route of every device action; The Keys' actions are named <level>_<what>."""
    return url("device_action", name.split("_")[0], device_id, name, subdomain=subdomain)


def page(response) -> str:
    return response.content.decode()


def signed_correctly(request) -> bool:
    """Seed 003: hash = base64(HMAC-SHA256(share code, ts)), computed here independently of our client."""
    form = request.form()
    expected = base64.b64encode(
        hmac.new(CODE.encode(), form["ts"].encode(), hashlib.sha256).digest()
    ).decode()
    return form["identifier"] == IDENTIFIER and form["hash"] == expected


# --- status on the doors page -----------------------------------------------------------------------------
def test_the_doors_page_shows_door_state_battery_in_millivolts_and_the_gateway(signed_in, door):
    now = timezone.now()
    Door.objects.filter(pk=door.pk).update(
        state=Door.State.CLOSED, battery=4065, last_status_at=now - timedelta(minutes=3)
    )
    Gateway.objects.filter(pk=door.gateway_id).update(
        version="17",
        last_seen_at=now - timedelta(minutes=2),
        status={
            "reachable": True,
            "last_error": "",
            "current_status": "Scanning...",
            "checked_at": now.isoformat(),
        },
    )
    body = page(signed_in.get(url("doors")))
    assert "Closed" in body and "battery 4065 mV" in body and "4065%" not in body
    assert "as of 3\xa0minutes ago" in body
    assert "TK Gateway" in body and "firmware 17" in body and "gateway says “Scanning...”" in body
    assert "reachable" in body and "last answered 2\xa0minutes ago" in body
    for name, target in [
        ("connection_status_refresh", door.connection_id),
        ("connection_doors_refresh", door.connection_id),
        ("door_open", door.pk),
        ("door_close", door.pk),
    ]:
        assert url(name, target) in body, name
    for name, target in [
        ("gateway_synchronize", door.gateway_id),
        ("gateway_update_firmware", door.gateway_id),
        ("door_synchronize", door.pk),
        ("door_update_firmware", door.pk),
    ]:
        assert action_url(name, target) in body, name


def test_the_doors_page_shows_what_went_wrong(signed_in, door, space_a):
    Door.objects.filter(pk=door.pk).update(
        extra={**door.extra, "status_error": "The gateway does not see this lock.", "sync_error": ""}
    )
    Door.objects.create(
        connection=door.connection,
        vendor_ref="888",
        name="Voisin",
        extra={"sync_error": "The Keys: HTTP 403: Access denied.", "battery_unit": "mV"},
    )
    Gateway.objects.filter(pk=door.gateway_id).update(
        status={
            "reachable": False,
            "last_error": "The gateway at 10.0.0.9 is unreachable (could not connect)",
        }
    )
    body = page(signed_in.get(url("doors")))
    assert "Status: The gateway does not see this lock." in body
    assert "Sync: The Keys: HTTP 403: Access denied." in body
    assert "unreachable" in body and "The gateway at 10.0.0.9 is unreachable (could not connect)" in body
    assert "Its gateway did not answer at the last check." in body
    assert "Unknown" in body and "never answered yet" in body


def test_the_doors_page_makes_as_many_queries_for_many_doors_as_for_one(signed_in, door, gateway_fake):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as one:
        signed_in.get(url("doors"))
    for n in range(10):
        Door.objects.create(
            connection=door.connection, gateway=door.gateway, vendor_ref=f"x{n}", name=f"D{n}"
        )
        Gateway.objects.create(connection=door.connection, vendor_ref=f"g{n}", host=f"10.0.0.{n}")
    with CaptureQueriesContext(db) as many:
        assert "D9" in page(signed_in.get(url("doors")))
    assert len(many) == len(one)


def test_a_door_without_a_battery_unit_shows_percent(signed_in, space_a, smartlock):
    Door.objects.create(
        connection=smartlock_connection(space_a, smartlock), vendor_ref="l1", name="Side", battery=80
    )
    assert "battery 80%" in page(signed_in.get(url("doors")))


# --- refresh status -----------------------------------------------------------------------------------------
def test_refresh_status_reads_the_gateway_and_says_what_it_found(signed_in, door, gateway_fake):
    gateway_fake.add_locker(IDENTIFIER, CODE, battery=3950, state="open")
    response = signed_in.post(url("connection_status_refresh", door.connection_id), follow=True)
    body = page(response)
    assert "The Keys: status refreshed (Porte d&#x27;entrée open)." in body
    assert "battery 3950 mV" in body and "firmware 17" in body and "gateway says “Scanning...”" in body
    door.refresh_from_db()
    assert (door.state, door.battery) == (Door.State.OPEN, 3950)
    assert [r.path for r in gateway_fake.requests] == ["/status", "/lockers", "/locker_status"]
    assert signed_correctly(gateway_fake.requests[-1])
    assert signed_in.get(url("connection_status_refresh", door.connection_id)).status_code == 405


def test_refresh_status_of_an_unreachable_gateway_is_a_message_not_a_500(signed_in, door):
    Gateway.objects.filter(pk=door.gateway_id).update(host=closed_port_host())
    started = time.monotonic()
    response = signed_in.post(url("connection_status_refresh", door.connection_id))
    assert response.status_code == 302 and time.monotonic() - started < 5
    body = page(signed_in.get(response["Location"]))
    assert "The Keys: status refreshed" in body and "is unreachable" in body
    assert '<li class="error">' in body
    assert Gateway.objects.get(pk=door.gateway_id).status["reachable"] is False


def test_refresh_status_of_a_lock_error_is_shown_on_the_door(signed_in, door, gateway_fake):
    gateway_fake.fail_next(37)
    body = page(signed_in.post(url("connection_status_refresh", door.connection_id), follow=True))
    assert "Status: The gateway could not talk to the lock" in body


def test_status_is_refreshed_every_5_minutes_one_task_per_connection(
    space_a, space_b, gateway_fake, smartlock
):
    entry = next(e for e in SCHEDULES if e["func"] == "locks.tasks.status_refresh_due")
    assert entry["minutes"] == 5
    assert Schedule.objects.filter(func="locks.tasks.status_refresh_due", minutes=5).exists()

    offline = thekeys(space_b, None, name="Offline")  # first in line, and its gateway is gone
    online = thekeys(space_a, gateway_fake, name="Online")
    disabled = thekeys(space_a, gateway_fake, name="Disabled")
    LockConnection.objects.filter(pk=disabled.connection_id).update(enabled=False)
    smartlock_connection(space_a, smartlock)  # SmartLock reports no status: nothing to queue
    gateway_fake.add_locker(IDENTIFIER, CODE, state="open")

    assert status_refresh_due() == 2
    queued = [q.task for q in OrmQ.objects.order_by("pk")]
    assert [(t["func"], t["args"]) for t in queued] == [
        ("locks.tasks.connection_status_refresh_task", (offline.connection_id,)),
        ("locks.tasks.connection_status_refresh_task", (online.connection_id,)),
    ]
    results = [connection_status_refresh_task(*t["args"]) for t in queued]

    assert results[0]["ok"] is False and "is unreachable" in results[0]["message"]
    assert results[1] == {"ok": True, "message": "status refreshed (Porte d'entrée open)."}
    assert Door.objects.get(pk=online.pk).state == Door.State.OPEN
    assert Door.objects.get(pk=disabled.pk).state == Door.State.UNKNOWN
    assert connection_status_refresh_task(disabled.connection_id) == {"skipped": "no such enabled connection"}


# --- gateway and lock maintenance ---------------------------------------------------------------------------
def test_synchronizing_the_gateway_and_a_lock_is_post_only_and_audited(signed_in, door, gateway_fake, alice):
    assert signed_in.get(action_url("gateway_synchronize", door.gateway_id)).status_code == 405
    assert signed_in.get(action_url("door_synchronize", door.pk)).status_code == 405
    assert gateway_fake.requests == []

    body = page(signed_in.post(action_url("gateway_synchronize", door.gateway_id), follow=True))
    assert "TK Gateway: synchronized with the vendor&#x27;s cloud." in body
    body = page(signed_in.post(action_url("door_synchronize", door.pk), follow=True))
    assert "Porte d&#x27;entrée: lock synchronized." in body

    assert gateway_fake.synchronizations == 1 and gateway_fake.locker(IDENTIFIER).synchronizations == 1
    audit = list(AuditEntry.objects.order_by("pk").values_list("action", "result", "actor", "door", "detail"))
    host = door.gateway.host
    assert audit == [
        ("gateway_synchronize", "ok", alice.pk, None, f"Synchronize gateway: TK Gateway (gateway at {host})"),
        ("door_synchronize", "ok", alice.pk, door.pk, "Synchronize lock: Porte d'entrée"),
    ]


@pytest.mark.parametrize(
    "name,target,what,counter",
    [
        ("gateway_update_firmware", "gateway", "the gateway “TK Gateway”", lambda fake: fake.updates),
        (
            "door_update_firmware",
            "door",
            "the lock “Porte d&#x27;entrée”",
            lambda fake: fake.locker(IDENTIFIER).updates,
        ),
    ],
)
def test_a_firmware_update_asks_first(signed_in, door, gateway_fake, alice, name, target, what, counter):
    target_id = door.gateway_id if target == "gateway" else door.pk
    confirm = signed_in.get(action_url(name, target_id))
    assert confirm.status_code == 200
    body = page(confirm)
    assert f"Are you sure you want to update the firmware of {what} now?" in body
    assert "This can take" in body and "Cancel" in body
    assert gateway_fake.requests == [] and AuditEntry.objects.count() == 0

    body = page(signed_in.post(action_url(name, target_id), follow=True))
    assert "firmware update" in body
    assert counter(gateway_fake) == 1
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.result, entry.actor) == (name, "ok", alice)


def test_a_failing_action_is_shown_and_audited(signed_in, door, gateway_fake):
    gateway_fake.force(Response(200, {"status": "4", "code": "sync error"}), path="^/locker/synchronize$")
    body = page(signed_in.post(action_url("door_synchronize", door.pk), follow=True))
    assert (
        "Porte d&#x27;entrée: synchronize lock failed: The Keys gateway: The gateway lost the connection"
        in body
    )
    entry = AuditEntry.objects.get()
    assert entry.result == "failed" and "lost the connection to the lock" in entry.detail


def test_an_unreachable_gateway_action_answers_within_the_timeout(signed_in, door):
    Gateway.objects.filter(pk=door.gateway_id).update(host=closed_port_host())
    started = time.monotonic()
    body = page(signed_in.post(action_url("gateway_synchronize", door.gateway_id), follow=True))
    assert time.monotonic() - started < 5
    assert "TK Gateway: synchronize gateway failed" in body and "is unreachable" in body
    assert AuditEntry.objects.get().result == "failed"


def test_vendors_without_these_methods_show_no_buttons_and_404(signed_in, space_a, smartlock):
    connection = smartlock_connection(space_a, smartlock)
    front_door = Door.objects.create(connection=connection, vendor_ref="lock_1", name="Front door")
    body = page(signed_in.get(url("doors")))
    assert "Refresh status" not in body and "Lock maintenance" not in body and "Synchronize" not in body
    assert signed_in.post(url("connection_status_refresh", connection.pk)).status_code == 404
    assert signed_in.post(action_url("door_synchronize", front_door.pk)).status_code == 404
    assert signed_in.get(action_url("door_update_firmware", front_door.pk)).status_code == 404
    assert AuditEntry.objects.count() == 0


def test_another_spaces_gateway_and_door_are_404_and_never_called(signed_in, space_b, gateway_fake):
    foreign = thekeys(space_b, gateway_fake)
    for subdomain in ("space-a", "space-b"):
        for name, target in [
            ("gateway_synchronize", foreign.gateway_id),
            ("gateway_update_firmware", foreign.gateway_id),
            ("door_synchronize", foreign.pk),
            ("door_update_firmware", foreign.pk),
        ]:
            assert signed_in.post(action_url(name, target, subdomain=subdomain)).status_code == 404, name
        for name, target in [
            ("door_open", foreign.pk),
            ("door_close", foreign.pk),
            ("connection_status_refresh", foreign.connection_id),
        ]:
            assert signed_in.post(url(name, target, subdomain=subdomain)).status_code == 404, name
    assert (
        signed_in.get(action_url("gateway_update_firmware", foreign.gateway_id, subdomain="space-b")).status_code
        == 404
    )
    assert gateway_fake.requests == [] and AuditEntry.objects.count() == 0


# --- admin Open / Close -------------------------------------------------------------------------------------
def test_an_admin_opens_and_closes_through_the_gateway(signed_in, door, gateway_fake, alice):
    body = page(signed_in.post(url("door_open", door.pk), follow=True))
    assert "Porte d&#x27;entrée opened." in body
    body = page(signed_in.post(url("door_close", door.pk), follow=True))
    assert "Porte d&#x27;entrée closed." in body

    (open_request,) = gateway_fake.requests_to("POST", "^/open$")
    (close_request,) = gateway_fake.requests_to("POST", "^/close$")
    assert signed_correctly(open_request) and signed_correctly(close_request)
    assert int(close_request.form()["ts"]) > int(open_request.form()["ts"])
    locker = gateway_fake.locker(IDENTIFIER)
    assert (locker.opens, locker.closes) == (1, 1)
    events = list(AccessEvent.objects.order_by("pk").values_list("kind", "actor", "door", "membership"))
    assert events == [("remote_open", alice.pk, door.pk, None), ("remote_close", alice.pk, door.pk, None)]
    audit = list(AuditEntry.objects.order_by("pk").values_list("action", "result", "actor"))
    assert audit == [("door_open", "ok", alice.pk), ("door_close", "ok", alice.pk)]


def test_an_unreachable_gateway_is_a_clear_message_within_the_timeout(signed_in, door):
    Gateway.objects.filter(pk=door.gateway_id).update(host=closed_port_host())
    started = time.monotonic()
    response = signed_in.post(url("door_open", door.pk), follow=True)
    assert time.monotonic() - started < 5
    body = page(response)
    assert "The door did not open: The gateway at 127.0.0.1:" in body and "is unreachable" in body
    event = AccessEvent.objects.get()
    assert event.kind == "open_failed" and "is unreachable" in event.raw["error"]
    assert AuditEntry.objects.get().result == "failed"
    # Answered once: an open is never queued to be tried again later (it could open for nobody).
    assert OrmQ.objects.count() == 0 and AccessSyncJob.objects.count() == 0


def test_a_silent_gateway_does_not_hang_the_request(signed_in, door, gateway_fake):
    LockConnection.objects.filter(pk=door.connection_id).update(
        config={**door.connection.config, "gateway_read_timeout": 0.3}
    )
    gateway_fake.force(Response(200, {"status": "0", "code": "ok"}, delay=3), path="^/open$")
    started = time.monotonic()
    body = page(signed_in.post(url("door_open", door.pk), follow=True))
    assert time.monotonic() - started < 2
    assert "The door did not open: The gateway at" in body and "no answer within 0.3 s" in body
    assert OrmQ.objects.count() == 0 and AccessSyncJob.objects.count() == 0


# --- connection settings ------------------------------------------------------------------------------------
@pytest.fixture
def cloud_account(gateway_fake):
    """A The Keys account at the cloud stand-in: one lock behind one gateway (the gateway stand-in)."""
    with TheKeysCloudFake(username=PHONE, password=PASSWORD) as cloud:
        lock = cloud.add_lock(IDENTIFIER, nom="Porte d'entrée", battery=4065)
        cloud.add_accessory(lock["id"], id_accessoire="GW01", nom="TK Gateway", gateway=gateway_fake)
        yield cloud


def test_saving_the_settings_keeps_config_the_form_does_not_edit(signed_in, space_a, cloud_account):
    config = {
        "username": "+33611111111",
        "gateway_host": "",
        "api_base_url": cloud_account.url,
        "lock_ids": [],
        "gateway_read_timeout": 5,
    }
    connection = LockConnection.objects.create(
        space=space_a, vendor="thekeys", name="TK", credentials={"password": PASSWORD}, config=config
    )
    form = signed_in.get(url("connection_edit", connection.pk))
    assert PASSWORD not in page(form)
    data = {
        "vendor": "thekeys",
        "name": "Front locks",
        "settings-username": PHONE,
        "settings-password": "",  # empty: keep the stored one
        "settings-gateway_host": "",
    }
    response = signed_in.post(url("connection_edit", connection.pk), data)
    assert response.status_code == 302, page(response)
    connection.refresh_from_db()
    assert connection.name == "Front locks"
    assert connection.config == {**config, "username": PHONE}
    assert connection.credentials == {"password": PASSWORD}


def test_sync_doors_after_saving_makes_gateways_doors_and_shares(
    signed_in, space_a, cloud_account, gateway_fake
):
    connection = LockConnection.objects.create(
        space=space_a,
        vendor="thekeys",
        name="TK",
        credentials={"password": PASSWORD},
        config={"username": PHONE, "gateway_host": "", "api_base_url": cloud_account.url},
    )
    data = {
        "vendor": "thekeys",
        "name": "TK",
        "settings-username": PHONE,
        "settings-password": "",
        "settings-gateway_host": "",
    }
    assert signed_in.post(url("connection_edit", connection.pk), data).status_code == 302
    assert url("connection_doors_refresh", connection.pk) in page(signed_in.get(url("connections")))

    body = page(signed_in.post(url("connection_doors_refresh", connection.pk), follow=True))

    assert "TK: 1 door(s)." in body
    door = Door.objects.get(connection=connection)
    assert door.name == "Porte d'entrée" and door.vendor_secrets["share_code"]
    assert "Porte d&#x27;entrée" in body and "TK Gateway" in body and "battery 4065 mV" in body
    # The share the sync made is the one the gateway checks: the admin can open right away.
    assert "Porte d&#x27;entrée opened." in page(signed_in.post(url("door_open", door.pk), follow=True))
    assert gateway_fake.locker(IDENTIFIER).opens == 1


def test_sync_doors_reports_a_rejected_password(signed_in, space_a, cloud_account):
    connection = LockConnection.objects.create(
        space=space_a,
        vendor="thekeys",
        name="TK",
        credentials={"password": "changed"},
        config={"username": PHONE, "api_base_url": cloud_account.url},
    )
    response = signed_in.post(url("connection_doors_refresh", connection.pk), follow=True)
    assert response.status_code == 200
    assert "rejected the account&#x27;s phone number or password" in page(response)
    assert Door.objects.count() == 0
