"""The door side: vendor connections, doors, rules, and what we created at each vendor."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accessbridge.fields import EncryptedJSONField, EncryptedTextField
from accessbridge.work import RetryableWork
from locks.vendors import vendor_choices
from spaces.models import Booking, Membership, Plan, Space, new_secret


class LockConnection(models.Model):
    class Status(models.TextChoices):
        UNTESTED = "untested", "Not tested yet"
        OK = "ok", "Working"
        CREDENTIALS_REJECTED = "credentials_rejected", "Credentials rejected"
        ERROR = "error", "Error"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="lock_connections")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    vendor = models.CharField(max_length=50, choices=vendor_choices)
    name = models.CharField(max_length=200)
    credentials = EncryptedJSONField(blank=True, help_text="API keys, passwords (encrypted).")
    config = models.JSONField(default=dict, blank=True, help_text="Non-secret settings (base URL, …).")
    webhook_secret = EncryptedTextField(default=new_secret)
    # Polling vendors (locks.polling): where the next poll continues, when it is due, and the lease of the
    # worker polling now (one poll per connection at a time; a dead worker's lease runs out).
    poll_cursor = models.JSONField(default=dict, blank=True)
    poll_due_at = models.DateTimeField(null=True, blank=True)
    poll_lease_until = models.DateTimeField(null=True, blank=True)
    poll_lease_token = models.CharField(max_length=36, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    poll_error = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.UNTESTED)
    last_error = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.get_vendor_display()})"


class Gateway(models.Model):
    """A LAN gateway that drives locks (The Keys). Signing timestamps must never go backwards."""

    connection = models.ForeignKey(LockConnection, on_delete=models.CASCADE, related_name="gateways")
    vendor_ref = models.CharField(max_length=100, help_text="The vendor's id of the gateway.")
    name = models.CharField(max_length=200, blank=True)
    host = models.CharField(max_length=255, help_text="LAN address (IP or host[:port]).")
    last_signing_ts = models.BigIntegerField(default=0)
    version = models.CharField(max_length=50, blank=True)
    status = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "vendor_ref"], name="unique_gateway_per_connection")
        ]

    def __str__(self):
        return self.name or self.vendor_ref


class Door(models.Model):
    class State(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"

    connection = models.ForeignKey(LockConnection, on_delete=models.CASCADE, related_name="doors")
    gateway = models.ForeignKey(Gateway, null=True, blank=True, on_delete=models.SET_NULL, related_name="doors")
    vendor_ref = models.CharField(max_length=100, help_text="The vendor's id of this lock/door/group.")
    name = models.CharField(max_length=200)
    # Whatever the vendor's adapter needs to keep per door and must not be readable (The Keys: the gateway
    # share), so that a vendor never needs a migration of this model.
    vendor_secrets = EncryptedJSONField(
        default=dict, blank=True, help_text="The vendor's per-door secrets (encrypted)."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    battery = models.IntegerField(null=True, blank=True)
    last_status_at = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["connection", "vendor_ref"], name="unique_door_per_connection")]

    def __str__(self):
        return self.name

    @property
    def space(self):
        return self.connection.space


MAX_BUFFER_MINUTES = 24 * 60


class AccessRule(models.Model):
    """Which members open which doors: by plan (or all plans), by booking of a resource, or (day visitors)
    by a drop-in pass on its day."""

    class Kind(models.TextChoices):
        PLAN = "plan", "Membership plan"
        BOOKING = "booking", "Booking of a resource"
        DAY_PASS = "day_pass", "Drop-in (day) pass"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="access_rules")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PLAN)
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.CASCADE, related_name="access_rules",
        help_text="Empty: every plan.",
    )
    resource_cobot_id = models.CharField(max_length=100, blank=True, help_text="Bookable resource (room).")
    resource_name = models.CharField(max_length=200, blank=True)
    doors = models.ManyToManyField(Door, related_name="access_rules")
    requires_time_pass = models.BooleanField(
        default=False, help_text="Pause access while the member has no unused time pass."
    )
    buffer_before_minutes = models.PositiveIntegerField(
        default=15, validators=[MaxValueValidator(MAX_BUFFER_MINUTES)]
    )
    buffer_after_minutes = models.PositiveIntegerField(
        default=15, validators=[MaxValueValidator(MAX_BUFFER_MINUTES)]
    )
    # Day passes: from/until what local time of the pass's day (locks.access.day_passes for the defaults).
    day_from = models.TimeField(
        null=True, blank=True, help_text="Day passes: from this time of the day (empty: the pass's own start, else 00:00)."
    )
    day_until = models.TimeField(
        null=True, blank=True, help_text="Day passes: until this time (empty: the pass's own end, else the day's end)."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "pk"]

    def __str__(self):
        if self.kind == self.Kind.BOOKING:
            return f"Booking of {self.resource_name or self.resource_cobot_id}"
        if self.kind == self.Kind.DAY_PASS:
            return "Drop-in (day) pass"
        return f"Plan {self.plan or 'any'}"


class VendorAccount(models.Model):
    """A person we created at a vendor for a member (vendors with person accounts).

    PENDING is written (and committed) before the vendor is asked to create the person: if the answer is
    lost, the row still says a person may exist there, and the engine looks them up by email.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Being created (or not created yet)"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        REMOVED = "removed", "Removed"

    # PROTECT: deleting a connection goes through locks.services.connection_delete, which refuses
    # while people we created are still at the vendor.
    connection = models.ForeignKey(LockConnection, on_delete=models.PROTECT, related_name="accounts")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="vendor_accounts")
    vendor_person_id = models.CharField(max_length=200, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    checkin_token_owner = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cobot membership that holds this person's id as its check-in token (another member): "
        "not registered for this member while that stays so.",
    )
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True, help_text="Last time the engine checked it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "membership"], name="unique_account_per_member"),
        ]

    def __str__(self):
        return f"{self.membership} @ {self.connection}"


class Grant(models.Model):
    """A door (optionally for a window) we granted a member at the vendor.

    PENDING is written before the vendor is asked, so that a grant whose answer was lost is still ours
    to finish or to revoke.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Being granted"
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"

    connection = models.ForeignKey(LockConnection, on_delete=models.PROTECT, related_name="grants")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="grants")
    door = models.ForeignKey(Door, on_delete=models.PROTECT, related_name="grants")
    booking = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="grants")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    vendor_ref = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.membership} → {self.door}"


class AccessEvent(models.Model):
    """A door opening (or refusal) as the vendor reported it, and what Cobot said about it."""

    class Kind(models.TextChoices):
        # What vendors report (every locks.vendors.base.EventKind), then what AccessBridge itself does.
        UNLOCK = "unlock", "Unlocked"
        DENIED = "denied", "Refused"
        LOCKED = "locked", "Locked"
        HELD_OPEN = "held_open", "Held open"
        FORCED_OPEN = "forced_open", "Forced open"
        UNKNOWN = "unknown", "Unknown kind"
        REMOTE_OPEN = "remote_open", "Opened from AccessBridge"
        REMOTE_CLOSE = "remote_close", "Closed from AccessBridge"
        OPEN_FAILED = "open_failed", "Open from AccessBridge failed"
        CLOSE_FAILED = "close_failed", "Close from AccessBridge failed"
        LIVE_REQUEST = "live_request", "Reader request"

    class CheckIn(models.TextChoices):
        PENDING = "pending", "Pending"
        CHECKED_IN = "checked_in", "Checked in"
        ALREADY = "already", "Already checked in"
        REFUSED = "refused", "Refused by Cobot"
        NOT_MEMBER = "not_member", "Not a member"
        UNMATCHED = "unmatched", "Unknown person or door"
        AMBIGUOUS = "ambiguous", "Several members match"
        NOT_APPLICABLE = "n/a", "No check-in"
        IGNORED = "ignored", "Ignored (not an opening)"
        ERROR = "error", "Error"

    connection = models.ForeignKey(LockConnection, on_delete=models.CASCADE, related_name="events")
    vendor_event_id = models.CharField(max_length=200)
    door = models.ForeignKey(Door, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="access_events"
    )
    vendor_person_id = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.UNLOCK)
    occurred_at = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField(default=timezone.now)
    checkin_result = models.CharField(max_length=16, choices=CheckIn.choices, default=CheckIn.PENDING)
    checkin_message = models.TextField(blank=True)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "vendor_event_id"], name="unique_event_per_connection")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.door or '?'} {self.occurred_at:%Y-%m-%d %H:%M}"


class VendorDelivery(RetryableWork):
    """A vendor's door event as received (webhook or poll): stored first, processed by a worker, never lost.

    Unique per connection and the vendor's event id, so a resent or re-polled event is the same row. An
    event of a kind AccessBridge does not act on is stored IGNORED and never processed.
    """

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        POLL = "poll", "Poll"

    connection = models.ForeignKey(LockConnection, on_delete=models.CASCADE, related_name="deliveries")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEBHOOK)
    event_key = models.CharField(max_length=200, help_text="The vendor's event id (hashed when long).")
    kind = models.CharField(max_length=16, choices=AccessEvent.Kind.choices)
    payload = models.JSONField(default=dict, blank=True)
    times_received = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "vendor deliveries"
        constraints = [
            models.UniqueConstraint(fields=["connection", "event_key"], name="unique_delivery_per_connection")
        ]

    def __str__(self):
        return f"{self.connection}: {self.kind} #{self.pk}"


class Reader(models.Model):
    """A card reader/keypad that asks us live whether to open (API key stored hashed)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="readers")
    door = models.ForeignKey(Door, on_delete=models.CASCADE, related_name="readers")
    name = models.CharField(max_length=200)
    api_key_prefix = models.CharField(max_length=12, db_index=True)
    api_key_hash = models.CharField(max_length=128)
    enabled = models.BooleanField(default=True)
    answer_seconds = models.FloatField(
        default=3.0,
        validators=[MinValueValidator(2.0), MaxValueValidator(10.0)],
        help_text="The reader gets its answer within this many seconds, whatever Cobot or the lock do.",
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class AuditEntry(models.Model):
    """Who changed what access, when: one row for every change we make or try at a vendor."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=100, default="system", help_text="system, webhook, sync, …")
    action = models.CharField(max_length=50, db_index=True)
    membership = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL)
    door = models.ForeignKey(Door, null=True, blank=True, on_delete=models.SET_NULL)
    connection = models.ForeignKey(LockConnection, null=True, blank=True, on_delete=models.SET_NULL)
    result = models.CharField(max_length=20, default="ok")
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"


class AccessSyncJob(RetryableWork):
    """Bring one member's access (or, without a member, every member's) in step with the mirror.

    Queued by the mirror's signal, rule edits, the schedule and "Sync now"; a change that arrives while
    a job for the same member is still waiting to start joins that job instead of adding a row.
    """

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="access_sync_jobs")
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="access_sync_jobs",
        help_text="Empty: every member of the space.",
    )
    reason = models.CharField(max_length=300, blank=True)
    refresh = models.BooleanField(default=False, help_text="Also compare with the vendors' own lists first.")
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["space", "membership", "status"], name="locks_sync_job_lookup")]

    def __str__(self):
        return f"access sync {self.membership or 'all members'} ({self.space})"


class AccessBoundary(RetryableWork):
    """An instant a member's access changes without any webhook: a booking's door opens (start − buffer) or
    closes (end + buffer) at a vendor without time windows, a membership starts or ends at the space's local
    midnight. Due at that instant (`next_attempt_at`), it queues the member's access sync
    (locks.access.boundaries keeps the rows in step with bookings, memberships and rules)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="access_boundaries")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="access_boundaries")
    reason = models.CharField(max_length=100)

    class Meta:
        indexes = [models.Index(fields=["space", "status"], name="locks_boundary_lookup")]

    def __str__(self):
        return f"{self.reason} for {self.membership} at {self.next_attempt_at:%Y-%m-%d %H:%M}"
