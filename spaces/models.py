"""The Cobot side: connected spaces, their admins, and the local mirror of Cobot's data."""

import secrets
import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accessbridge.fields import EncryptedTextField
from accessbridge.work import RetryableWork


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def time_zone_is_valid(name) -> bool:
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate_time_zone(name) -> None:
    if not time_zone_is_valid(name):
        raise ValidationError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin).")


class Space(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Connected"
        RECONNECT_NEEDED = "reconnect_needed", "Reconnect needed"
        DISCONNECTED = "disconnected", "Disconnected"

    # Public, unguessable id used in URLs that Cobot calls (with the secret next to it).
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subdomain = models.SlugField(max_length=100, unique=True, help_text="The space's Cobot subdomain.")
    cobot_space_id = models.CharField(max_length=100, blank=True, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    access_token = EncryptedTextField(blank=True, help_text="Space-bound Cobot token (encrypted).")
    token_scopes = models.CharField(max_length=500, blank=True)
    # Counts token changes: a 401 marks the space only if the token that got it is still the stored one.
    token_generation = models.PositiveIntegerField(default=0, editable=False)
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], help_text="The space's time zone, from Cobot."
    )
    webhook_secret = EncryptedTextField(default=new_secret)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync_result = models.JSONField(default=dict, blank=True)
    opens_count_as_checkins = models.BooleanField(
        default=True, help_text="Check the member in at Cobot when they open a door from AccessBridge."
    )
    connected_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "subdomain"]

    def __str__(self):
        return self.name or self.subdomain

    @property
    def cobot_url(self) -> str:
        return settings.COBOT_SPACE_URL_TEMPLATE.format(subdomain=self.subdomain)

    def mark_reconnect_needed(self, *, error: str, token_generation: int | None = None) -> bool:
        """Cobot refused the space's token: "reconnect needed", unless the token was replaced meanwhile.

        `token_generation`: that of the refused token (default: the one this row holds). Returns False
        (nothing marked) when the stored token is another one by now, e.g. a reconnect revoked the old one.
        """
        generation = self.token_generation if token_generation is None else token_generation
        current = Space.objects.filter(pk=self.pk, token_generation=generation).exclude(
            status=Space.Status.DISCONNECTED
        )
        marked = current.update(status=Space.Status.RECONNECT_NEEDED, last_error=error[:1000])
        if marked:
            self.status, self.last_error = Space.Status.RECONNECT_NEEDED, error[:1000]
        return bool(marked)


class SpaceAdmin(models.Model):
    """An AccessBridge user's right to manage a space. Checked on every request (accessbridge.tenancy).

    A role whose `cobot_user_id` is that of the user's "Sign in with Cobot" account follows Cobot:
    spaces.admins re-checks it at Cobot and removes it once Cobot no longer lists the space.
    """

    class Source(models.TextChoices):
        COBOT_SIGN_IN = "cobot_sign_in", "Connected the space, signed in with Cobot"
        PASTED_TOKEN = "pasted_token", "Connected the space with a pasted Cobot token"
        DJANGO_ADMIN = "django_admin", "Added in the Django admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_roles")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="admins")
    cobot_user_id = models.CharField(max_length=100, blank=True)
    source = models.CharField(
        max_length=20, choices=Source.choices, blank=True, help_text="How the role was given (empty: not recorded)."
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cobot_checked_at = models.DateTimeField(null=True, blank=True, help_text="When Cobot was last asked.")
    cobot_confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When Cobot last listed the space.")
    cobot_check_error = models.TextField(blank=True, help_text="Why the last check at Cobot failed (kept the role).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "space"], name="unique_space_admin")]

    def __str__(self):
        return f"{self.user} → {self.space}"


class Plan(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="plans")
    cobot_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    has_time_passes = models.BooleanField(default=False)
    active = models.BooleanField(default=True, help_text="False once Cobot no longer lists it.")
    raw = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["space", "cobot_id"], name="unique_plan_per_space")]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Not yet confirmed"
        CONFIRMED = "confirmed", "Confirmed"
        CANCELED = "canceled", "Canceled"
        ENDED = "ended", "Ended"
        DELETED = "deleted", "Deleted at Cobot"

    class Kind(models.TextChoices):
        MEMBER = "member", "Member"
        VISITOR = "visitor", "Day visitor (drop-in pass)"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="memberships")
    cobot_id = models.CharField(max_length=100)
    # A visitor is our row for the holder of Cobot drop-in passes (spaces.drop_in_passes), so that the door
    # side treats them like a short membership; its cobot_id is ours ("visitor:..."), not a Cobot id.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MEMBER, db_index=True)
    cobot_user_id = models.CharField(max_length=100, blank=True, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships")
    plan_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    starts_at = models.DateField(null=True, blank=True)
    canceled_to = models.DateField(null=True, blank=True, help_text="Last day of the membership, if canceled.")
    unused_time_passes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Unknown (empty) until fetched from Cobot."
    )
    time_passes_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When unused_time_passes was last fetched from Cobot."
    )
    raw = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True, help_text="When Cobot's data last changed this row.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["space", "cobot_id"], name="unique_membership_per_space")]

    def __str__(self):
        return self.name or self.email or self.cobot_id


class Booking(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DELETED = "deleted", "Deleted"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="bookings")
    cobot_id = models.CharField(max_length=100)
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="bookings"
    )
    membership_cobot_id = models.CharField(max_length=100, blank=True, db_index=True)
    resource_cobot_id = models.CharField(max_length=100, db_index=True)
    resource_name = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=300, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    raw = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [models.UniqueConstraint(fields=["space", "cobot_id"], name="unique_booking_per_space")]

    def __str__(self):
        return f"{self.resource_name or self.resource_cobot_id} {self.starts_at:%Y-%m-%d %H:%M}"


class DropInPass(models.Model):
    """A Cobot drop-in (day) pass: its holder (a visitor, no membership) opens the doors on its day.

    Shapes are unverified (cobot-api.md): spaces.cobot.records reads them; `raw` keeps what Cobot sent.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELED = "canceled", "Canceled at Cobot"
        GONE = "gone", "No longer listed by Cobot"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="drop_in_passes")
    cobot_id = models.CharField(max_length=100)
    visitor = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="drop_in_passes"
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    day = models.DateField(help_text="The day at the space the pass is for.")
    valid_from = models.DateTimeField(null=True, blank=True, help_text="The pass's own start, if Cobot names one.")
    valid_until = models.DateTimeField(null=True, blank=True, help_text="The pass's own end, if Cobot names one.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    raw = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["day", "pk"]
        constraints = [models.UniqueConstraint(fields=["space", "cobot_id"], name="unique_drop_in_pass_per_space")]

    def __str__(self):
        return f"{self.name or self.email or self.cobot_id} {self.day}"


class CheckInToken(models.Model):
    """A token Cobot accepts for checking a member in (we register vendor user ids / card ids)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="checkin_tokens")
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkin_tokens"
    )
    membership_cobot_id = models.CharField(max_length=100, blank=True)
    token = models.CharField(max_length=255)
    raw = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "token"], name="unique_checkin_token_per_space")]

    def __str__(self):
        return f"{self.membership_cobot_id}: {self.token[:4]}…"


class CobotSubscription(models.Model):
    """A webhook subscription we created at Cobot (the callback URL holds the secret: not stored)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="subscriptions")
    event = models.CharField(max_length=100)
    cobot_id = models.CharField(max_length=100, blank=True)
    api_url = models.URLField(max_length=500, blank=True, help_text="Cobot's URL of the subscription.")
    active = models.BooleanField(default=True)
    refusal = models.CharField(
        max_length=500, blank=True, help_text="Cobot's answer when it refused the event: not offered by this Cobot."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "event"], name="unique_subscription_per_event")]

    def __str__(self):
        return f"{self.space}: {self.event}"


class NavigationLink(models.Model):
    """A page of ours that Cobot shows in its navigation (iframe)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="navigation_links")
    section = models.CharField(max_length=50)
    label = models.CharField(max_length=100)
    iframe_url = models.URLField(max_length=500)
    cobot_id = models.CharField(max_length=100, blank=True)
    api_url = models.URLField(max_length=500, blank=True)
    user_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "section"], name="unique_navigation_link_per_section")]

    def __str__(self):
        return f"{self.space}: {self.section} {self.label}"


class FeatureProblem(models.Model):
    """A feature of the space's Cobot connection that does not work right now (spaces.cobot.features).

    Written where a part of the work fails on its own (a sync part, setting up at Cobot, disconnect)
    and cleared when that part works again; the space overview lists them.
    """

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="feature_problems")
    feature = models.CharField(max_length=50)
    missing_scope = models.CharField(max_length=100, blank=True, help_text="The scope the token lacks, if that is why.")
    error = models.TextField(help_text="What went wrong, in words (Cobot's answer).")
    action_url = models.URLField(max_length=500, blank=True, help_text="Where to act on it, e.g. a page at Cobot.")
    since = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["feature"]
        constraints = [models.UniqueConstraint(fields=["space", "feature"], name="unique_feature_problem_per_space")]

    def __str__(self):
        return f"{self.space}: {self.feature}"


class InboundDelivery(RetryableWork):
    """A Cobot webhook as received: stored first, processed by a worker, never lost.

    `dedupe_key` is unique: Cobot's deliveries carry no id, so it is a hash of space, event and body. A
    repeated delivery re-arms the same row, since processing re-fetches the current state and is
    idempotent. (Lock vendors' events are the door side's own rows: locks.VendorDelivery.)
    """

    class Source(models.TextChoices):
        COBOT = "cobot", "Cobot webhook"

    source = models.CharField(max_length=16, choices=Source.choices, db_index=True)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=100, db_index=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict, blank=True)
    times_received = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "inbound deliveries"

    def __str__(self):
        return f"{self.source}:{self.event} #{self.pk}"
