"""Problems can't hide (issue 14, Broken 2): a vendor outage shows, with its error in words, since when
and what to do, on the overview, the dashboard, the work page and the admin page inside Cobot."""

import pytest
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from locks.models import AccessSyncJob, AuditEntry
from tests.fakes.base import Response
from tests.locks.conftest import make_due, rule_for, run_work


@pytest.fixture
def ada(members, connection, front_door):
    rule_for(members.space, front_door)
    AccessSyncJob.objects.all().delete()
    return members.add()


@pytest.fixture
def outage(ada, members, smartlock):
    """SmartLock answers 503 to every call creating a person; one attempt has failed."""
    smartlock.force(Response(503, {"error": "under maintenance"}), times=20, path="^/users$")
    members.changed(ada)
    run_work()
    return smartlock


def pages(space):
    return {
        "overview": reverse("space_detail", args=[space.subdomain]),
        "dashboard": reverse("dashboard"),
        "work": reverse("access_work", args=[space.subdomain]),
        "connections": reverse("connections", args=[space.subdomain]),
    }


def test_an_outage_is_visible_everywhere_with_its_error_and_never_reads_working(outage, signed_in, space_a):
    for name, url in pages(space_a).items():
        page = signed_in.get(url).content.decode()
        assert "Failing: 1 call in a row" in page, name
        assert "503" in page, name
        assert ">Working<" not in page, name
        if name != "connections":
            assert "Members&#x27; access is behind" in page, name
            assert "Retrying" in page and "attempt 1 of" in page, name
            assert "Access sync: Ada Lovelace" in page, name


def test_failures_in_a_row_count_until_a_call_succeeds(outage, members, ada, signed_in, space_a):
    make_due()
    run_work()
    attention = signed_in.get(reverse("space_attention", args=[space_a.subdomain]))
    assert "Failing: 2 calls in a row" in attention.content.decode()
    outage.clear_forced()
    make_due()
    run_work()
    page = signed_in.get(reverse("space_attention", args=[space_a.subdomain])).content.decode()
    assert "Working" in page and "Failing" not in page
    assert "access is behind" not in page
    assert "Nothing failed or retrying." in page


def test_a_failed_job_offers_retry_and_the_retry_is_audited_with_who(outage, signed_in, space_a, alice, settings):
    AccessSyncJob.objects.update(status="failed")
    page = signed_in.get(reverse("space_detail", args=[space_a.subdomain])).content.decode()
    assert "Retry now" in page
    job = AccessSyncJob.objects.get()
    signed_in.post(reverse("access_work_retry", args=[space_a.subdomain]), {"kind": "sync", "pk": job.pk})
    entry = AuditEntry.objects.get(action="work_retry")
    assert entry.actor == alice and f"sync #{job.pk}" in entry.detail


def test_the_list_polls_itself_while_work_is_in_flight(outage, signed_in, space_a):
    page = signed_in.get(reverse("space_detail", args=[space_a.subdomain])).content.decode()
    assert f'hx-get="{reverse("space_attention", args=[space_a.subdomain])}"' in page
    assert 'src="/static/js/htmx-2.0.4.min.js"' in page


def test_the_partial_is_for_the_spaces_admins_only(outage, client, bob):
    client.force_login(bob)
    assert client.get(reverse("space_attention", args=["space-a"])).status_code == 404


def test_the_admin_page_inside_cobot_shows_the_outage(outage, client, alice, space_a, settings):
    settings.COBOT_SITE_URL = "https://www.cobot.me"
    SocialAccount.objects.create(user=alice, provider="cobot", uid="user-alice")
    client.force_login(alice)
    url = reverse("embedded_admin_page", args=[space_a.key])
    page = client.get(url, {"cobot_user_id": "user-alice"}).content.decode()
    assert "Members&#x27; access is behind" in page
    assert "Failing: 1 call in a row" in page
    assert "?framed=1" in page
