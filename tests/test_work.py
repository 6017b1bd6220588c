from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accessbridge.http import AUTH, PERMANENT, TRANSIENT, ServiceError
from accessbridge.work import (
    WorkStatus,
    backoff_seconds,
    work_dispatch_due,
    work_execute,
    work_retry,
    work_run_due,
)
from spaces import inbound
from spaces.models import InboundDelivery


class Script:
    """A delivery handler that plays a script of outcomes, one per attempt."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self, *, delivery):
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def script(monkeypatch):
    def install(*outcomes):
        handler = Script(*outcomes)
        monkeypatch.setitem(inbound._handlers, "cobot", handler)
        return handler

    return install


@pytest.fixture
def delivery(space_a):
    return InboundDelivery.objects.create(source="cobot", space=space_a, event="confirmed_membership", dedupe_key="k1")


def run(delivery):
    return work_execute("spaces.InboundDelivery", delivery.pk)


def make_due(delivery):
    InboundDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_it_marks_work_done(script, delivery):
    handler = script(None)
    assert run(delivery) == WorkStatus.DONE
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, handler.calls) == ("done", 1, 1)
    assert delivery.finished_at is not None


def test_it_runs_a_row_only_once(script, delivery):
    handler = script(None)
    run(delivery)
    assert run(delivery) == "skipped"
    assert handler.calls == 1


def test_it_backs_off_more_after_each_transient_failure(script, delivery, settings):
    settings.WORK_BACKOFF_BASE_SECONDS = 10
    settings.WORK_BACKOFF_MAX_SECONDS = 10_000
    script(*[ServiceError("HTTP 503", kind=TRANSIENT) for _ in range(5)])
    delays = []
    for _ in range(5):
        before = timezone.now()
        assert run(delivery) == WorkStatus.PENDING
        delivery.refresh_from_db()
        delays.append((delivery.next_attempt_at - before).total_seconds())
        make_due(delivery)
    # Equal jitter: attempt n waits between half and all of base * 2**(n-1).
    for n, delay in enumerate(delays, start=1):
        assert 10 * 2 ** (n - 1) / 2 - 1 <= delay <= 10 * 2 ** (n - 1) + 1
    assert delays == sorted(delays)
    assert delivery.last_error == "HTTP 503"


def test_it_spreads_retries_with_jitter():
    assert len({round(backoff_seconds(3), 6) for _ in range(20)}) > 1


def test_it_caps_the_backoff(settings):
    settings.WORK_BACKOFF_BASE_SECONDS = 30
    settings.WORK_BACKOFF_MAX_SECONDS = 600
    assert all(backoff_seconds(30) <= 600 for _ in range(20))


def test_it_waits_at_least_what_retry_after_asks(script, delivery, settings):
    settings.WORK_BACKOFF_BASE_SECONDS = 1
    script(ServiceError("HTTP 429", kind=TRANSIENT, retry_after=120))
    before = timezone.now()
    run(delivery)
    delivery.refresh_from_db()
    assert (delivery.next_attempt_at - before).total_seconds() >= 119


def test_it_gives_up_at_the_cap_and_shows_failed(script, delivery, settings):
    settings.WORK_MAX_ATTEMPTS = 3
    handler = script(*[ServiceError("HTTP 500", kind=TRANSIENT) for _ in range(10)])
    for _ in range(5):
        run(delivery)
        make_due(delivery)
    delivery.refresh_from_db()
    assert delivery.status == WorkStatus.FAILED
    assert delivery.attempts == 3
    assert handler.calls == 3
    assert "gave up after 3 attempts" in delivery.last_error


def test_it_fails_at_once_on_a_permanent_error(script, delivery):
    script(ServiceError("HTTP 422: bad", kind=PERMANENT))
    assert run(delivery) == WorkStatus.FAILED


def test_it_waits_for_an_admin_on_an_auth_error_without_using_up_attempts(script, delivery):
    script(ServiceError("HTTP 401", kind=AUTH))
    assert run(delivery) == WorkStatus.WAITING
    delivery.refresh_from_db()
    assert delivery.attempts == 0
    assert run(delivery) == "skipped"  # waiting rows are not picked up by themselves


def test_it_retries_a_crash_in_our_own_code(script, delivery):
    script(KeyError("boom"))
    assert run(delivery) == WorkStatus.PENDING
    delivery.refresh_from_db()
    assert "internal error: KeyError" in delivery.last_error


def test_it_puts_failed_work_back_with_the_command(script, delivery, settings, django_capture_on_commit_callbacks):
    settings.WORK_MAX_ATTEMPTS = 1
    script(ServiceError("HTTP 500", kind=TRANSIENT), None)
    run(delivery)
    delivery.refresh_from_db()
    assert delivery.status == WorkStatus.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        call_command("work_retry", "--space", "space-a")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WorkStatus.PENDING, 0)
    assert work_run_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == WorkStatus.DONE


def test_it_retries_only_failed_or_waiting_rows(script, delivery):
    script(None)
    run(delivery)
    assert work_retry(InboundDelivery.objects.all()) == 0


def test_it_frees_rows_a_dead_worker_left_running(delivery):
    long_ago = timezone.now() - timedelta(hours=1)
    InboundDelivery.objects.filter(pk=delivery.pk).update(status=WorkStatus.RUNNING, updated_at=long_ago)
    assert work_dispatch_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == WorkStatus.PENDING


def test_the_admin_action_retries_failed_work(admin_client, delivery):
    InboundDelivery.objects.filter(pk=delivery.pk).update(status=WorkStatus.FAILED, attempts=8)
    response = admin_client.post(
        "/admin/spaces/inbounddelivery/",
        {"action": "retry_work", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert b"1 item(s) queued again." in response.content
    delivery.refresh_from_db()
    assert delivery.status == WorkStatus.PENDING


def test_it_defers_without_using_up_an_attempt(script, delivery):
    from accessbridge.work import WorkDeferred

    handler = script(WorkDeferred("someone else holds it", seconds=30), None)
    before = timezone.now()
    assert run(delivery) == WorkStatus.PENDING
    delivery.refresh_from_db()
    assert delivery.attempts == 0
    assert delivery.last_error == "deferred: someone else holds it"
    assert 29 <= (delivery.next_attempt_at - before).total_seconds() <= 31
    assert run(delivery) == "skipped"  # not due yet
    make_due(delivery)
    assert run(delivery) == WorkStatus.DONE
    assert handler.calls == 2
