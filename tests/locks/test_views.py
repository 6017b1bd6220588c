"""The dashboard pages of the door side, as space A's admin (alice) sees them."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from accessbridge.work import WorkStatus
from locks.models import AccessRule, AccessSyncJob, Door, LockConnection
from locks.selectors import connection_webhook_url
from tests.locks.conftest import rule_for, run_work


@pytest.fixture
def signed_in(signed_in, space_a):
    return signed_in


def url(name, *args):
    return reverse(name, args=["space-a", *args])


@pytest.mark.parametrize(
    "name",
    [
        "connections",
        "doors",
        "rules",
        "rule_add",
        "access_members",
        "access_events",
        "access_audit",
        "access_work",
        "sync_preview",
    ],
)
def test_every_page_loads_and_shows_the_tabs(signed_in, connection, front_door, name):
    response = signed_in.get(url(name))
    assert response.status_code == 200
    assert b"Connections &amp; doors" in response.content
    assert b"sl-token-123" not in response.content
    assert connection.webhook_secret.encode() not in response.content


def test_pages_need_a_sign_in_and_the_space(client, charlie, connection):
    assert client.get(url("connections")).status_code == 302
    client.force_login(charlie)
    assert client.get(url("connections")).status_code == 404


def settings_data(smartlock, token="sl-token-123", name="Front locks"):
    return {
        "vendor": "smartlock",
        "name": name,
        "settings-base_url": smartlock.url,
        "settings-api_token": token,
    }


def test_adding_a_connection_tests_it_first_and_keeps_the_token_secret(signed_in, smartlock, space_a):
    assert signed_in.get(url("connection_add") + "?vendor=smartlock").status_code == 200
    response = signed_in.post(url("connection_add"), settings_data(smartlock, token="wrong"))
    assert response.status_code == 200
    # The status only: the answer of a host the admin chose is never echoed back to them.
    assert b"Test connection failed: SmartLock: HTTP 401 Unauthorized" in response.content
    assert LockConnection.objects.count() == 0

    response = signed_in.post(url("connection_add"), settings_data(smartlock), follow=True)
    connection = LockConnection.objects.get()
    assert (connection.name, connection.status, connection.config) == (
        "Front locks",
        "ok",
        {"base_url": smartlock.url},
    )
    assert connection.credentials == {"api_token": "sl-token-123"}
    assert connection.webhook_secret in response.content.decode()  # shown once, on creation
    assert b"0 people registered at SmartLock" in response.content

    page = signed_in.get(url("connection_edit", connection.pk))
    assert b"sl-token-123" not in page.content and connection.webhook_secret.encode() not in page.content
    data = settings_data(smartlock, token="", name="Renamed")
    assert signed_in.post(url("connection_edit", connection.pk), data).status_code == 302
    connection.refresh_from_db()
    assert (connection.name, connection.credentials["api_token"]) == ("Renamed", "sl-token-123")


def test_an_unknown_vendor_is_sent_back(signed_in):
    response = signed_in.get(url("connection_add") + "?vendor=nope")
    assert response.status_code == 302


def test_test_connection_shows_what_the_vendor_said(signed_in, connection, smartlock):
    response = signed_in.post(url("connection_test", connection.pk), follow=True)
    assert b"0 people registered at SmartLock" in response.content
    connection.credentials = {"api_token": "revoked"}
    connection.save()
    response = signed_in.post(url("connection_test", connection.pk), follow=True)
    assert b"Credentials rejected" in response.content
    connection.refresh_from_db()
    assert connection.status == "credentials_rejected"


def test_a_new_webhook_url_is_shown_once(signed_in, connection):
    old = connection.webhook_secret
    response = signed_in.post(url("connection_webhook_rotate", connection.pk), follow=True)
    connection.refresh_from_db()
    assert connection.webhook_secret != old
    assert connection.webhook_secret in response.content.decode()
    assert (
        connection.webhook_secret not in signed_in.get(url("connection_edit", connection.pk)).content.decode()
    )


def test_doors_are_added_by_their_vendor_id(signed_in, connection):
    data = {"connection": connection.pk, "name": "Front door", "vendor_ref": "lock_1", "enabled": "on"}
    assert signed_in.post(url("doors"), data).status_code == 302
    response = signed_in.post(url("doors"), data)
    assert b"already has a door with this id" in response.content
    door = Door.objects.get()
    data["name"] = "Main door"
    assert signed_in.post(url("door_edit", door.pk), data).status_code == 302
    door.refresh_from_db()
    assert door.name == "Main door"
    response = signed_in.post(url("connection_doors_refresh", connection.pk), follow=True)
    assert b"has no list of locks" in response.content


def test_a_door_of_another_space_cannot_be_picked(signed_in, connection, space_b):
    other = LockConnection.objects.create(space=space_b, vendor="smartlock", name="B")
    response = signed_in.post(url("doors"), {"connection": other.pk, "name": "x", "vendor_ref": "y"})
    assert b"Select a valid choice" in response.content
    assert Door.objects.count() == 0


def test_rules_are_edited_and_every_member_is_synced_again(signed_in, members, front_door):
    flex = members.plan("Flex")
    AccessSyncJob.objects.all().delete()
    data = {
        "kind": "plan",
        "plan": flex.pk,
        "doors": [front_door.pk],
        "buffer_before_minutes": 15,
        "buffer_after_minutes": 15,
        "enabled": "on",
        "confirm": "1",
    }
    assert signed_in.post(url("rule_add"), data).status_code == 302
    rule = AccessRule.objects.get()
    assert (rule.plan, list(rule.doors.all())) == (flex, [front_door])
    job = AccessSyncJob.objects.get()
    assert (job.membership, job.reason) == (None, "access rules changed")

    data.update(kind="booking", plan="")
    response = signed_in.post(url("rule_edit", rule.pk), data)
    assert b"A booking rule needs the resource" in response.content
    page = signed_in.get(url("rules"))
    assert b"Plan: Flex" in page.content and b"Front door" in page.content
    assert signed_in.post(url("rule_delete", rule.pk), {"confirm": "1"}).status_code == 302
    assert AccessRule.objects.count() == 0


def test_a_booking_rule_picks_a_resource_cobot_has_bookings_of(signed_in, members, front_door):
    from django.utils import timezone

    ada = members.add()
    members.book(ada, starts_at=timezone.now(), ends_at=timezone.now(), resource="r-9", name="Loft")
    data = {
        "kind": "booking",
        "resource": "r-9",
        "doors": [front_door.pk],
        "buffer_before_minutes": 5,
        "buffer_after_minutes": 0,
        "confirm": "1",
    }
    assert signed_in.post(url("rule_add"), data).status_code == 302
    rule = AccessRule.objects.get()
    assert (rule.plan, rule.resource_cobot_id, rule.resource_name) == (None, "r-9", "Loft")


def test_members_show_desired_and_actual_access(signed_in, members, front_door, smartlock):
    rule_for(members.space, front_door)
    ada = members.add()
    page = signed_in.get(url("access_members")).content.decode()
    assert "Front door" in page and f"create {ada} at SmartLock" in page
    members.changed(ada)
    run_work()
    page = signed_in.get(url("access_members")).content.decode()
    person = next(iter(smartlock.users))
    assert f"SmartLock: person {person} (active)" in page and "in step" in page
    assert "Ada" in signed_in.get(url("access_members") + "?q=ada").content.decode()
    assert "Ada" not in signed_in.get(url("access_members") + "?q=zed").content.decode()


def test_preview_and_sync_now(signed_in, members, front_door, smartlock):
    rule_for(members.space, front_door)
    ada = members.add()
    AccessSyncJob.objects.all().delete()
    page = signed_in.get(url("sync_preview")).content.decode()
    assert f"create {ada} at SmartLock" in page
    assert smartlock.requests == []
    response = signed_in.post(url("sync_now"), follow=True)
    assert b"Sync of every member queued" in response.content
    job = AccessSyncJob.objects.get()
    assert (job.membership, job.refresh) == (None, True)
    run_work()
    assert len(smartlock.users) == 1
    assert b"Everything is in step" in signed_in.get(url("sync_preview")).content


def test_events_and_audit_show_what_happened(signed_in, members, front_door, smartlock):
    from django.utils import timezone

    from locks.models import AccessEvent

    rule_for(members.space, front_door)
    ada = members.add()
    members.changed(ada)
    run_work()
    AccessEvent.objects.create(
        connection=front_door.connection,
        vendor_event_id="e1",
        door=front_door,
        membership=ada,
        occurred_at=timezone.now(),
        checkin_result="refused",
        checkin_message="No time passes left.",
    )
    events = signed_in.get(url("access_events")).content.decode()
    assert "Refused by Cobot" in events and "No time passes left." in events
    audit = signed_in.get(url("access_audit")).content.decode()
    assert "person_create" in audit and "checkin_token_register" in audit


def test_failed_work_is_listed_with_a_retry(signed_in, members, front_door, smartlock):
    rule_for(members.space, front_door)
    AccessSyncJob.objects.all().delete()
    ada = members.add(email="")
    members.changed(ada)
    run_work()
    job = AccessSyncJob.objects.get()
    assert job.status == WorkStatus.FAILED
    page = signed_in.get(url("access_work")).content.decode()
    assert "no email address" in page
    response = signed_in.post(url("access_work_retry"), {"kind": "sync", "pk": job.pk})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == WorkStatus.PENDING
    assert signed_in.post(url("access_work_retry"), {"kind": "nope"}).status_code == 404
    assert signed_in.post(url("access_work_retry"), {"kind": "sync", "pk": 999999}).status_code == 404


def test_sync_access_command(members, front_door, smartlock, capsys):
    rule_for(members.space, front_door)
    ada = members.add()
    call_command("sync_access", "space-a", "--dry-run")
    assert f"would create {ada} at SmartLock" in capsys.readouterr().out
    assert smartlock.users == {}
    call_command("sync_access", "space-a")
    assert "1 member(s), 2 operation(s), 2 applied, 0 skipped" in capsys.readouterr().out
    assert len(smartlock.users) == 1


def test_the_webhook_secret_is_shown_once_and_never_put_in_a_message(signed_in, smartlock, space_a):
    from django.contrib.messages import get_messages

    def said(response) -> str:  # every message of the request (they may travel in a cookie)
        return " ".join(str(m) for m in get_messages(response.wsgi_request))

    response = signed_in.post(url("connection_add"), settings_data(smartlock))
    connection = LockConnection.objects.get()
    assert "0 people registered" in said(response) and connection.webhook_secret not in said(response)
    page = signed_in.get(url("connections")).content.decode()
    assert connection_webhook_url(connection=connection, reveal=True) in page
    assert connection.webhook_secret not in signed_in.get(url("connections")).content.decode()

    response = signed_in.post(url("connection_webhook_rotate", connection.pk))
    connection.refresh_from_db()
    assert "new webhook URL" in said(response) and connection.webhook_secret not in said(response)
    assert connection.webhook_secret in signed_in.get(url("connection_edit", connection.pk)).content.decode()
    assert (
        connection.webhook_secret not in signed_in.get(url("connection_edit", connection.pk)).content.decode()
    )


def test_test_and_save_refuses_a_private_host_and_never_echoes_a_body(
    signed_in, smartlock, space_a, settings
):
    from tests.fakes.base import Response

    smartlock.force(Response(500, "<html>intranet: db password hunter2</html>"))
    response = signed_in.post(url("connection_add"), settings_data(smartlock))
    assert b"Test connection failed: SmartLock: HTTP 500 Internal Server Error" in response.content
    assert b"hunter2" not in response.content

    settings.LOCKS_ALLOW_PRIVATE_HOSTS = False
    data = {**settings_data(smartlock), "settings-base_url": smartlock.url.replace("http://", "https://")}
    response = signed_in.post(url("connection_add"), data)
    assert b"127.0.0.1 is not a public internet address" in response.content
    assert LockConnection.objects.count() == 0
    assert len(smartlock.requests) == 1  # only the first try reached the stand-in


def test_a_retry_with_a_pk_that_is_not_a_number_is_a_400(signed_in, space_a):
    assert signed_in.post(url("access_work_retry"), {"kind": "sync", "pk": "1 OR 1=1"}).status_code == 400


def test_booking_buffers_stay_within_a_day(signed_in, members, front_door):
    data = {
        "kind": "plan",
        "doors": [front_door.pk],
        "buffer_before_minutes": 24 * 60 + 1,
        "buffer_after_minutes": 15,
        "enabled": "on",
    }
    response = signed_in.post(url("rule_add"), data)
    assert b"Ensure this value is less than or equal to 1440" in response.content
    assert AccessRule.objects.count() == 0
