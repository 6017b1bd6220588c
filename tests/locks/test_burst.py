"""Bursts drain (issue #10): a running access sync takes every member queued for its space instead of
each job deferring on its own."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accessbridge.work import WorkStatus, work_execute
from locks.access import jobs
from locks.access.run import SyncInProgress
from locks.models import AccessSyncJob
from tests.locks.conftest import rule_for


@pytest.fixture
def runs(monkeypatch):
    """Every access_sync call the jobs make, as the sorted member ids it was asked for."""
    calls = []
    real = jobs.access_sync

    def recording(**kwargs):
        ids = kwargs.get("membership_ids")
        calls.append(None if ids is None else sorted(ids))
        return real(**kwargs)

    monkeypatch.setattr(jobs, "access_sync", recording)
    return calls


@pytest.fixture
def queued(members, front_door):
    """Five members, each with a single-member job waiting to start (as after a burst of webhooks)."""
    rule_for(members.space, front_door)
    AccessSyncJob.objects.all().delete()  # the new rule's sync of everyone
    people = [members.add(name=f"M{i}", email=f"m{i}@example.org") for i in range(5)]
    return [AccessSyncJob.objects.create(space=members.space, membership=m, reason="webhook") for m in people]


def test_one_sync_takes_every_member_queued_for_the_space(queued, runs, smartlock):
    assert work_execute("locks.AccessSyncJob", queued[0].pk) == WorkStatus.DONE
    assert runs == [sorted(j.membership_id for j in queued)]  # one run for all five
    assert set(AccessSyncJob.objects.values_list("status", flat=True)) == {WorkStatus.DONE}
    assert len(smartlock.users) == 5
    taken = AccessSyncJob.objects.get(pk=queued[3].pk)
    assert (taken.attempts, taken.result["taken_by"]) == (1, queued[0].pk)
    # Their own messages find nothing left to do.
    assert work_execute("locks.AccessSyncJob", queued[3].pk) == "skipped"


def test_jobs_in_backoff_keep_their_time(queued, runs, smartlock):
    later = timezone.now() + timedelta(minutes=5)
    AccessSyncJob.objects.filter(pk=queued[4].pk).update(attempts=2, next_attempt_at=later)
    work_execute("locks.AccessSyncJob", queued[0].pk)
    assert runs == [sorted(j.membership_id for j in queued[:4])]
    assert AccessSyncJob.objects.get(pk=queued[4].pk).status == WorkStatus.PENDING


def test_members_queued_while_it_ran_are_taken_when_it_finishes(queued, runs, smartlock, members, monkeypatch):
    late = members.add(name="Late", email="late@example.org")
    real = jobs.access_sync

    def queue_one_during_the_first_run(**kwargs):
        if not AccessSyncJob.objects.filter(membership=late).exists():
            AccessSyncJob.objects.create(space=members.space, membership=late, reason="webhook")
        return real(**kwargs)

    monkeypatch.setattr(jobs, "access_sync", queue_one_during_the_first_run)
    work_execute("locks.AccessSyncJob", queued[0].pk)
    assert AccessSyncJob.objects.get(membership=late).status == WorkStatus.DONE
    assert smartlock.user_by_email("late@example.org")


def test_a_failure_of_one_member_fails_only_their_job(queued, smartlock, members):
    members.update(queued[2].membership, email="")  # SmartLock needs an email: cannot succeed as it is
    assert work_execute("locks.AccessSyncJob", queued[0].pk) == WorkStatus.DONE
    statuses = dict(AccessSyncJob.objects.values_list("pk", "status"))
    assert statuses.pop(queued[2].pk) == WorkStatus.FAILED
    assert set(statuses.values()) == {WorkStatus.DONE}


def test_when_another_sync_holds_the_space_the_taken_jobs_go_back_untouched(queued, monkeypatch):
    def busy(**kwargs):
        raise SyncInProgress("busy")

    monkeypatch.setattr(jobs, "access_sync", busy)
    assert work_execute("locks.AccessSyncJob", queued[0].pk) == WorkStatus.PENDING
    rows = {j.pk: j for j in AccessSyncJob.objects.all()}
    assert rows[queued[0].pk].last_error.startswith("deferred")
    assert all((rows[j.pk].status, rows[j.pk].attempts) == (WorkStatus.PENDING, 0) for j in queued)
