from datetime import timedelta

from django.utils import timezone
from django_q.models import Success


def test_it_reports_the_database_and_a_silent_worker(client, db):
    data = client.get("/health/").json()
    assert data["database"] == "ok"
    assert data["worker"].startswith("no task finished")


def test_it_reports_a_working_worker(client, db):
    now = timezone.now()
    Success.objects.create(
        id="a" * 32, name="dispatch", func="accessbridge.work.work_dispatch_due", started=now - timedelta(seconds=1),
        stopped=now, success=True,
    )
    assert client.get("/health/").json()["worker"] == "ok"


def test_the_sign_in_page_is_served_at_the_root(client, db):
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert b"Sign In" in response.content or b"Sign in" in response.content
