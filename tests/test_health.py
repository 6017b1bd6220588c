"""/health/: the database, and the task worker as "ok", "starting" (just started, no task finished yet)
or "not running"."""

from datetime import timedelta

from django.utils import timezone
from django_q.models import Success
from django_q.signals import post_spawn

from accessbridge.models import WorkerStart


def finished_task(*, ago: timedelta) -> None:
    stopped = timezone.now() - ago
    Success.objects.create(
        id=f"{len(Success.objects.all()):032d}", name="dispatch", func="accessbridge.work.work_dispatch_due",
        started=stopped - timedelta(seconds=1), stopped=stopped, success=True,
    )


def worker_started(*, ago: timedelta, host: str = "worker-1") -> None:
    WorkerStart.objects.create(host=host, started_at=timezone.now() - ago)


def health(client) -> dict:
    response = client.get("/health/")
    assert response.status_code == 200
    return response.json()


def test_it_reports_the_database_and_no_worker_on_a_fresh_database(client, db):
    data = health(client)
    assert data["database"] == "ok"
    assert data["worker"] == "not running"
    assert "qcluster" in data["worker_detail"]
    assert data["worker_started_at"] is None and data["last_task_finished_at"] is None


def test_it_reports_a_working_worker(client, db):
    worker_started(ago=timedelta(hours=2))
    finished_task(ago=timedelta(seconds=20))
    assert health(client)["worker"] == "ok"


def test_a_worker_that_just_started_is_starting_not_broken(client, db):
    finished_task(ago=timedelta(days=1))  # yesterday's run
    worker_started(ago=timedelta(seconds=15))
    data = health(client)
    assert data["worker"] == "starting"
    assert data["worker_detail"].startswith("a worker started ")


def test_a_worker_that_started_long_ago_and_finishes_nothing_is_not_running(client, db):
    worker_started(ago=timedelta(minutes=10))
    finished_task(ago=timedelta(minutes=4))
    data = health(client)
    assert data["worker"] == "not running"
    assert data["last_task_finished_at"] is not None


def test_the_latest_start_of_any_host_counts(client, db):
    worker_started(ago=timedelta(hours=1), host="worker-1")
    worker_started(ago=timedelta(minutes=1), host="worker-2")
    assert health(client)["worker"] == "starting"


def test_a_worker_process_records_its_start_when_it_spawns(client, db, settings):
    settings.WORK_DUE_POLL_SECONDS = 0  # no due-work clock thread left running in the test process
    worker_started(ago=timedelta(hours=1), host="other-host")
    worker_started(ago=timedelta(days=3), host="container-of-last-week")
    post_spawn.send(sender="django_q", proc_name="Worker-1")
    post_spawn.send(sender="django_q", proc_name="Worker-2")
    # One row per host however many processes; starts older than a day are gone.
    assert WorkerStart.objects.count() == 2
    assert not WorkerStart.objects.filter(host="container-of-last-week").exists()
    assert health(client)["worker"] == "starting"


def test_the_favicon_is_a_static_file(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"
    page = client.get("/accounts/login/")
    assert b'rel="icon" href="/static/favicon.ico"' in page.content


def test_the_sign_in_page_is_served_at_the_root(client, db):
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert b"Sign In" in response.content or b"Sign in" in response.content
