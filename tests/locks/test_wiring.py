"""How changes reach the engine: the mirror's signal and rule edits queue access syncs, coalesced."""

from locks.models import AccessRule, AccessSyncJob
from spaces.models import Space
from tests.locks.conftest import rule_for, run_work


def test_a_member_change_queues_one_job_per_member_and_joins_repeats(members, connection, front_door):
    rule_for(members.space, front_door)
    run_work()
    ada, bob = members.add(), members.add(name="Bob", email="bob@example.org")
    members.changed(ada, reason="confirmed_membership")
    members.changed(ada, bob, reason="membership_added_time_passes")
    jobs = {j.membership.name: j.reason for j in AccessSyncJob.objects.filter(status="pending")}
    assert jobs == {
        "Ada Lovelace": "confirmed_membership, membership_added_time_passes",
        "Bob": "membership_added_time_passes",
    }


def test_a_full_sync_of_the_mirror_queues_one_job_for_everyone(members, connection, front_door):
    rule_for(members.space, front_door)
    run_work()
    ada = members.add()
    members.changed(ada, reason="full sync", full=True)
    members.changed(ada, reason="confirmed_membership")  # covered by the job about to start
    job = AccessSyncJob.objects.get(status="pending")
    # Reading the vendors' own lists is the daily job's, not every 15-minute mirror sync's.
    assert (job.membership, job.refresh, job.reason) == (None, False, "full sync")


def test_a_space_without_locks_queues_nothing(members):
    members.changed(members.add())
    assert AccessSyncJob.objects.count() == 0


def test_rule_edits_anywhere_queue_a_sync_of_everyone(members, connection, front_door):
    run_work()
    rule = rule_for(members.space, front_door)
    assert AccessSyncJob.objects.filter(status="pending", membership=None).count() == 1
    run_work()
    rule.doors.remove(front_door)
    assert AccessSyncJob.objects.filter(status="pending").count() == 1
    run_work()
    rule.delete()
    assert AccessSyncJob.objects.filter(status="pending").get().reason == "access rule deleted"


def test_deleting_a_space_takes_its_rules_without_queueing_anything(members, connection, front_door):
    rule_for(members.space, front_door)
    Space.objects.filter(pk=members.space.pk).delete()
    assert AccessRule.objects.count() == AccessSyncJob.objects.count() == 0


def test_finished_syncs_are_pruned_after_two_weeks(members, connection, front_door):
    from datetime import timedelta

    from django.utils import timezone

    from locks.tasks import access_sync_daily

    rule_for(members.space, front_door)
    run_work()
    old = AccessSyncJob.objects.get()
    AccessSyncJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=15))
    access_sync_daily()
    assert not AccessSyncJob.objects.filter(pk=old.pk).exists()
    assert AccessSyncJob.objects.filter(status="pending").count() == 1
