"""Faults: SmartLock down for a while, too slow, rejecting our token, answering nonsense; nothing is lost,
nothing is removed because something could not be read."""

import pytest
from django.utils import timezone

from accessbridge.work import work_execute
from locks.engine import access_sync
from locks.models import AccessSyncJob, LockConnection, VendorAccount
from locks.services import connection_test
from tests.fakes.base import Response
from tests.locks.conftest import make_due, rule_for, run_work


@pytest.fixture
def ada(members, connection, front_door):
    rule_for(members.space, front_door)
    AccessSyncJob.objects.all().delete()
    return members.add()


def job_for(membership):
    return AccessSyncJob.objects.get(membership=membership)


def test_it_retries_with_backoff_until_smartlock_recovers(ada, members, smartlock, settings):
    settings.WORK_BACKOFF_BASE_SECONDS = 10
    smartlock.force(Response(500, {"error": "boom"}), times=3, path="^/users$")
    members.changed(ada)
    delays = []
    for _ in range(3):
        before = timezone.now()
        run_work()
        job = job_for(ada)
        assert job.status == "pending"
        delays.append((job.next_attempt_at - before).total_seconds())
        make_due()
    assert 5 - 1 <= delays[0] <= 10 + 1 and 20 - 1 <= delays[2] <= 40 + 1
    run_work()
    job = job_for(ada)
    assert (job.status, job.attempts) == ("done", 4)
    assert len(smartlock.users) == 1
    assert VendorAccount.objects.get(membership=ada).status == "active"


def test_it_retries_a_timeout_and_honours_retry_after(ada, members, smartlock, settings):
    settings.HTTP_READ_TIMEOUT = 0.2
    smartlock.force(Response(201, {"id": "usr_late"}, delay=0.6), path="^/users$")
    smartlock.force(Response(503, {"error": "busy"}, headers={"Retry-After": "120"}), path="^/users$")
    members.changed(ada)
    run_work()
    assert "no answer within" in job_for(ada).last_error
    make_due()
    before = timezone.now()
    run_work()
    assert (job_for(ada).next_attempt_at - before).total_seconds() >= 119
    make_due()
    run_work()
    assert job_for(ada).status == "done"
    assert len(smartlock.users) == 1


def test_rejected_credentials_make_the_work_wait_until_they_are_fixed(ada, members, smartlock, connection):
    connection.credentials = {"api_token": "wrong"}
    connection.save()
    members.changed(ada)
    run_work()
    job = job_for(ada)
    assert job.status == "waiting"
    assert "credentials rejected" in job.last_error
    connection.refresh_from_db()
    assert connection.status == LockConnection.Status.CREDENTIALS_REJECTED

    # Further work does not knock on SmartLock's door with the rejected token.
    calls = len(smartlock.requests)
    bob = members.add(name="Bob", email="bob@example.org")
    members.changed(bob)
    run_work()
    assert len(smartlock.requests) == calls
    assert job_for(bob).status == "waiting"

    connection.credentials = {"api_token": smartlock.api_token}
    connection.save()
    assert connection_test(connection=connection)[0] is True  # puts the waiting work back in the queue
    run_work()
    assert (job_for(ada).status, job_for(bob).status) == ("done", "done")
    assert {u["email"] for u in smartlock.users.values()} == {"ada@example.org", "bob@example.org"}


def test_a_failed_read_of_the_vendors_people_never_removes_anyone(ada, members, smartlock, cobot):
    members.changed(ada)
    run_work()
    members.cancel(ada, timezone.localdate() - timezone.timedelta(days=1))  # should be removed now
    smartlock.force(Response(500, {"error": "boom"}), path="^/users$")
    report = access_sync(space=members.space, refresh=True)
    assert report.applied == [] and report.transient is not None
    assert not smartlock.requests_to("DELETE", "/users/.*")
    assert VendorAccount.objects.get(membership=ada).status == "active"

    smartlock.force(Response(200, b"<html>maintenance</html>"), path="^/users$")
    report = access_sync(space=members.space, refresh=True)
    assert report.applied == [] and "answer is not JSON" in report.errors[0]
    assert not smartlock.requests_to("DELETE", "/users/.*")


def test_a_person_deleted_at_smartlock_is_registered_again(ada, members, smartlock, cobot):
    members.changed(ada)
    run_work()
    smartlock.users.clear()
    report = access_sync(space=members.space, refresh=True)
    assert [op.action for op in report.applied] == ["person_create", "checkin_token_register"]
    assert report.applied[0].reason == "missing at the vendor"
    assert len(smartlock.users) == 1


def test_a_crash_between_smartlocks_answer_and_our_row_adopts_the_person(ada, members, smartlock):
    smartlock.add_user("ada@example.org")  # created by a run whose answer we never stored
    members.changed(ada)
    run_work()
    assert len(smartlock.users) == 1
    assert VendorAccount.objects.get(membership=ada).vendor_person_id == next(iter(smartlock.users))


def test_cobot_down_while_registering_the_token_retries_only_that(ada, members, smartlock, cobot):
    cobot.force(Response(502), path="check_in_tokens")
    members.changed(ada)
    run_work()
    job = job_for(ada)
    assert job.status == "pending"
    assert len(smartlock.users) == 1
    make_due()
    run_work()
    assert job_for(ada).status == "done"
    assert len(smartlock.users) == 1
    assert len(cobot.space("space-a").check_in_tokens) == 1


def test_a_stuck_job_is_not_run_twice(ada, members, smartlock):
    members.changed(ada)
    job = job_for(ada)
    assert work_execute("locks.AccessSyncJob", job.pk) == "done"
    assert work_execute("locks.AccessSyncJob", job.pk) == "skipped"
