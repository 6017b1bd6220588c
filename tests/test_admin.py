"""Every model has an admin, and its pages load (list, add, change) without showing secrets."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from locks.models import (
    AccessBoundary,
    AccessEvent,
    AccessRule,
    AccessSyncJob,
    AuditEntry,
    Door,
    Gateway,
    Grant,
    LockConnection,
    Reader,
    VendorAccount,
    VendorDelivery,
)
from spaces.models import (
    Booking,
    CheckInToken,
    CobotSubscription,
    DropInPass,
    FeatureProblem,
    InboundDelivery,
    Membership,
    NavigationLink,
    Plan,
)


@pytest.fixture
def one_of_each(space_a, alice):
    now = timezone.now()
    plan = Plan.objects.create(space=space_a, cobot_id="p1", name="Full time")
    member = Membership.objects.create(space=space_a, cobot_id="m1", name="Mia", email="mia@example.org", plan=plan)
    booking = Booking.objects.create(
        space=space_a, cobot_id="b1", membership=member, resource_cobot_id="r1", starts_at=now, ends_at=now
    )
    CheckInToken.objects.create(space=space_a, membership=member, membership_cobot_id="m1", token="usr_123456789",
                                raw={"id": "t1", "token": "usr_123456789"})
    CobotSubscription.objects.create(space=space_a, event="confirmed_membership")
    visitor = Membership.objects.create(space=space_a, cobot_id="visitor:v1", kind="visitor", name="Vera")
    DropInPass.objects.create(space=space_a, cobot_id="dp1", visitor=visitor, day=now.date(), raw={"id": "dp1"})
    NavigationLink.objects.create(space=space_a, section="members", label="Doors", iframe_url="https://x.example/")
    FeatureProblem.objects.create(space=space_a, feature="bookings", missing_scope="read_bookings", error="HTTP 403")
    InboundDelivery.objects.create(source="cobot", space=space_a, event="confirmed_membership", dedupe_key="d1")
    connection = LockConnection.objects.create(
        space=space_a, vendor="smartlock", name="Locks", credentials={"api_token": "sl-secret-token-123"}
    )
    gateway = Gateway.objects.create(connection=connection, vendor_ref="g1", host="192.0.2.10")
    door = Door.objects.create(connection=connection, gateway=gateway, vendor_ref="d1", name="Front", vendor_secrets={"share_code": "share-code-secret"})
    rule = AccessRule.objects.create(space=space_a, plan=plan)
    rule.doors.add(door)
    VendorAccount.objects.create(connection=connection, membership=member, vendor_person_id="usr_1")
    Grant.objects.create(connection=connection, membership=member, door=door, booking=booking)
    AccessEvent.objects.create(connection=connection, vendor_event_id="e1", door=door, occurred_at=now)
    Reader.objects.create(space=space_a, door=door, name="Reader", api_key_prefix="abc", api_key_hash="x")
    AuditEntry.objects.create(space=space_a, action="person_created", membership=member)
    AccessSyncJob.objects.create(space=space_a, membership=member, reason="test")
    AccessBoundary.objects.create(space=space_a, membership=member, reason="booking starts", next_attempt_at=now)
    VendorDelivery.objects.create(connection=connection, event_key="e1", kind="unlock", payload={"event_id": "e1"})


def test_every_model_of_ours_is_in_the_admin():
    ours = [m for m in apps.get_models() if m._meta.app_label in ("spaces", "locks")]
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert missing == []


def test_every_admin_page_loads(admin_client, one_of_each):
    for model in admin.site._registry:
        if model._meta.app_label not in ("spaces", "locks"):
            continue
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert admin_client.get(reverse(f"{info}_changelist")).status_code == 200, info
        assert admin_client.get(reverse(f"{info}_changelist"), {"q": "x"}).status_code == 200, info
        obj = model.objects.first()
        response = admin_client.get(reverse(f"{info}_change", args=[obj.pk]))
        assert response.status_code == 200, info
        for secret in (b"sl-secret-token-123", b"share-code-secret", b"tok-a", b"usr_123456789"):
            assert secret not in response.content, (info, secret)
        if admin.site._registry[model].has_add_permission(_request(admin_client)):
            assert admin_client.get(reverse(f"{info}_add")).status_code == 200, info


def _request(client):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = get_user_model().objects.get(username="admin")
    return request


def test_a_cobot_social_app_is_refused_and_no_app_secret_is_shown(admin_client):
    from allauth.socialaccount.models import SocialApp

    add = reverse("admin:socialaccount_socialapp_add")
    form = {"provider": "cobot", "name": "Cobot", "client_id": "cid", "secret": "cobot-client-secret", "key": ""}
    response = admin_client.post(add, form)
    assert response.status_code == 200
    assert b"configured from COBOT_CLIENT_ID and COBOT_CLIENT_SECRET" in response.content
    assert b"cobot-client-secret" not in response.content
    assert not SocialApp.objects.exists()

    legacy = SocialApp.objects.create(provider="cobot", name="Cobot", client_id="cid", secret="cobot-client-secret")
    change = reverse("admin:socialaccount_socialapp_change", args=[legacy.pk])
    assert b"cobot-client-secret" not in admin_client.get(change).content


def test_another_providers_secret_is_kept_when_its_field_is_left_empty(db):
    from allauth.socialaccount.models import SocialApp

    from spaces.cobot.admin import SocialAppForm

    app = SocialApp.objects.create(provider="other", name="Other", client_id="oid", secret="other-client-secret")
    form = SocialAppForm({"provider": "other", "name": "Other", "client_id": "oid", "secret": "", "key": ""}, instance=app)
    form.fields["provider"].choices = [("other", "Other")]  # only Cobot's provider is installed here
    assert "other-client-secret" not in str(form["secret"])
    assert form.is_valid(), form.errors
    assert form.save().secret == "other-client-secret"
