"""Faults: SmartLock down for a while, too slow, rejecting our token, answering nonsense; nothing is lost,
nothing is removed because something could not be read."""

import pytest
from django.utils import timezone

from accessbridge.work import work_execute
from locks.access.run import access_sync
from locks.models import AccessSyncJob, AuditEntry, Door, LockConnection, VendorAccount
from locks.services import connection_test
from tests.fakes.base import Response
from tests.fakes.smartlock import SmartLockFake
from tests.locks.conftest import make_due, rule_for, run_work, smartlock_connection


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


def test_a_failed_read_of_the_vendors_people_holds_nothing_back_and_removes_nobody(
    ada, members, smartlock, cobot
):
    bob = members.add(name="Bob", email="bob@example.org")
    members.changed(ada, bob)
    run_work()
    ada_id = VendorAccount.objects.get(membership=ada).vendor_person_id
    members.cancel(ada, timezone.localdate() - timezone.timedelta(days=1))  # should be removed now
    smartlock.force(Response(502, {"error": "bad gateway"}), path="^/users$")
    report = access_sync(space=members.space, refresh=True)
    # Who is at SmartLock stays unknown for this run; Ada's removal needs no list and goes out anyway.
    assert [op.action for op in report.applied] == ["person_remove"]
    assert smartlock.requests_to("DELETE", f"/users/{ada_id}")
    assert report.unread == ["SmartLock: SmartLock: HTTP 502 Bad Gateway"]
    assert report.transient is None and report.errors == []
    # Bob is neither removed nor registered again because his id could not be seen in the list.
    assert VendorAccount.objects.get(membership=bob).status == "active"
    assert len(smartlock.requests_to("POST", "/users")) == 2

    smartlock.force(Response(200, b"<html>maintenance</html>"), path="^/users$")
    report = access_sync(space=members.space, refresh=True)
    assert report.applied == [] and "answer is not JSON" in report.unread[0]
    assert len(smartlock.requests_to("DELETE", "/users/.*")) == 1
    assert VendorAccount.objects.get(membership=bob).status == "active"


def test_the_vendors_list_is_read_by_the_daily_job_only(ada, members, smartlock, cobot):
    from locks.tasks import access_sync_daily, access_sync_due

    members.changed(ada, reason="full_sync", full=True)  # the mirror's 15-minute sync
    access_sync_due()
    run_work()
    assert smartlock.requests_to("GET", "/users") == []
    access_sync_daily()
    run_work()
    assert len(smartlock.requests_to("GET", "/users")) == 1


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


def test_an_email_smartlock_knows_is_looked_up_whatever_its_409_says(ada, members, smartlock):
    existing = smartlock.add_user("ada@example.org")
    smartlock.force(Response(409, {"error": "exists"}), path="^/users$")  # no id in the answer
    members.changed(ada)
    run_work()
    assert VendorAccount.objects.get(membership=ada).vendor_person_id == existing["id"]
    assert smartlock.requests_to("GET", "/users")[0].query == {"email": ["ada@example.org"]}


class SmartLockLosingAnswers(SmartLockFake):
    """Creates the person, then the answer is lost (the worker died, the connection dropped): 500."""

    lose_answers = 0

    def _create_user(self, request, match):
        created = super()._create_user(request, match)
        if self.lose_answers:
            self.lose_answers -= 1
            return Response(500, {"error": "connection reset"})
        return created


@pytest.fixture
def forgetful_lock(space_a, members):
    with SmartLockLosingAnswers() as fake:
        connection = smartlock_connection(members.space, fake, name="Forgetful")
        rule_for(members.space, Door.objects.create(connection=connection, vendor_ref="lock_9", name="Side"))
        AccessSyncJob.objects.all().delete()
        yield fake


def test_a_person_created_unseen_for_a_member_who_then_leaves_is_removed(members, forgetful_lock):
    ada = members.add()
    forgetful_lock.lose_answers = 1
    members.changed(ada)
    run_work()
    assert len(forgetful_lock.users) == 1  # created, but we never heard the id
    account = VendorAccount.objects.get(membership=ada)
    assert (account.status, account.vendor_person_id) == ("pending", "")

    members.cancel(ada, timezone.localdate() - timezone.timedelta(days=1))
    members.changed(ada)
    make_due()
    run_work()
    assert forgetful_lock.users == {}
    assert VendorAccount.objects.get(membership=ada).status == "removed"
    entry = AuditEntry.objects.get(membership=ada, action="person_forget")
    assert "removed person usr_" in entry.detail


def test_a_person_created_unseen_is_adopted_not_created_twice(members, forgetful_lock, cobot):
    ada = members.add()
    forgetful_lock.lose_answers = 1
    members.changed(ada)
    run_work()
    make_due()
    run_work()
    (person_id,) = forgetful_lock.users
    account = VendorAccount.objects.get(membership=ada)
    assert (account.status, account.vendor_person_id) == ("active", person_id)
    assert len(forgetful_lock.requests_to("POST", "/users")) == 1  # looked up, not posted again
    assert cobot.space("space-a").check_in_tokens == {person_id: ada.cobot_id}


def test_a_space_that_needs_a_cobot_reconnect_still_loses_its_former_members(ada, members, smartlock, cobot):
    from locks.tasks import access_sync_due

    members.changed(ada)
    run_work()
    person_id = VendorAccount.objects.get(membership=ada).vendor_person_id
    cobot.revoke_token("tok-a")
    members.space.mark_reconnect_needed(error="HTTP 401")
    members.cancel(ada, timezone.localdate() - timezone.timedelta(days=1))
    AccessSyncJob.objects.all().delete()
    cobot_calls = len(cobot.requests)

    assert access_sync_due() == 1
    run_work()

    assert smartlock.requests_to("DELETE", f"/users/{person_id}")
    assert smartlock.users == {}
    assert AccessSyncJob.objects.get().status == "done"  # nothing for Cobot: nothing waits for it
    assert len(cobot.requests) == cobot_calls


def test_without_cobot_only_the_token_registration_waits_and_waiting_jobs_do_not_pile_up(
    ada, members, smartlock, cobot
):
    from locks.tasks import access_sync_due

    members.space.mark_reconnect_needed(error="HTTP 401")
    for _ in range(3):  # three scheduled runs, 15 minutes apart
        access_sync_due()
        run_work()
    assert smartlock.user_by_email("ada@example.org") is not None  # the door does not need Cobot
    jobs = list(AccessSyncJob.objects.order_by("pk").values_list("status", "last_error"))
    assert [status for status, _ in jobs] == ["ignored", "ignored", "waiting"]
    assert jobs[-1][1] == "Cobot: reconnect needed"
    assert cobot.space("space-a").check_in_tokens == {}


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


@pytest.mark.postgres_only
def test_a_second_sync_of_a_space_gives_way_and_runs_a_little_later(ada, members, smartlock):
    import threading

    from django.core.management import CommandError, call_command
    from django.db import connections

    from locks.access.jobs import SYNC_BUSY_DELAY_SECONDS
    from locks.access.run import space_sync_exclusive

    held, release = threading.Event(), threading.Event()

    def another_worker_syncing():
        try:
            with space_sync_exclusive(space_id=members.space.pk):
                held.set()
                release.wait(30)
        finally:
            connections.close_all()

    worker = threading.Thread(target=another_worker_syncing)
    worker.start()
    assert held.wait(5)
    try:
        members.changed(ada)
        before = timezone.now()
        run_work()
        job = job_for(ada)
        # Back in the queue, no attempt spent, nothing sent: the other sync may be changing the same rows.
        assert (job.status, job.attempts) == ("pending", 0)
        # A little later: the running sync takes queued members when it finishes (locks.access.jobs).
        low, high = SYNC_BUSY_DELAY_SECONDS
        assert low <= (job.next_attempt_at - before).total_seconds() <= high + 1
        assert smartlock.requests == []
        with pytest.raises(CommandError, match="Another access sync of this space is running"):
            call_command("sync_access", "space-a")
    finally:
        release.set()
        worker.join()
    make_due()
    run_work()
    assert (job_for(ada).status, job_for(ada).attempts) == ("done", 1)
    assert len(smartlock.users) == 1
