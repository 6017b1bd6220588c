"""Vendor deliveries become the door side's own rows (VendorDelivery, a real foreign key to the connection),
copied from spaces.InboundDelivery's "vendor" and "poll" rows before spaces drops those sources; door events
know more kinds (ignored ones included); connections get their polling state."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

VENDOR_SOURCES = ("vendor", "poll")


def vendor_deliveries_move(apps, schema_editor):
    """Each vendor InboundDelivery (its connection's id in `source_ref`) → a VendorDelivery of that connection,
    with its status, attempts and errors; rows of a connection deleted since (no cascade then) are dropped."""
    InboundDelivery = apps.get_model("spaces", "InboundDelivery")
    LockConnection = apps.get_model("locks", "LockConnection")
    VendorDelivery = apps.get_model("locks", "VendorDelivery")
    connections = set(LockConnection.objects.values_list("pk", flat=True))
    old = InboundDelivery.objects.filter(source__in=VENDOR_SOURCES)
    for row in old.iterator():
        connection_id = int(row.source_ref) if row.source_ref.isdigit() else None
        if connection_id not in connections:
            continue
        event_key = row.dedupe_key.removeprefix(f"vendor:{connection_id}:")[:200]
        VendorDelivery.objects.get_or_create(
            connection_id=connection_id,
            event_key=event_key,
            defaults={
                "source": "poll" if row.source == "poll" else "webhook",
                "kind": str((row.payload or {}).get("kind") or row.event)[:16],
                "payload": row.payload,
                "times_received": row.times_received,
                "received_at": row.received_at,
                "status": row.status,
                "attempts": row.attempts,
                "next_attempt_at": row.next_attempt_at,
                "last_error": row.last_error,
                "finished_at": row.finished_at,
            },
        )
    old.delete()


def vendor_deliveries_move_back(apps, schema_editor):
    InboundDelivery = apps.get_model("spaces", "InboundDelivery")
    VendorDelivery = apps.get_model("locks", "VendorDelivery")
    for row in VendorDelivery.objects.select_related("connection").iterator():
        InboundDelivery.objects.get_or_create(
            dedupe_key=f"vendor:{row.connection_id}:{row.event_key}",
            defaults={
                "source": "poll" if row.source == "poll" else "vendor",
                "space_id": row.connection.space_id,
                "source_ref": str(row.connection_id),
                "event": row.kind,
                "payload": row.payload,
                "times_received": row.times_received,
                "received_at": row.received_at,
                "status": row.status,
                "attempts": row.attempts,
                "next_attempt_at": row.next_attempt_at,
                "last_error": row.last_error,
                "finished_at": row.finished_at,
            },
        )


class Migration(migrations.Migration):

    dependencies = [
        ('locks', '0004_door_vendor_secrets'),
        ('spaces', '0004_space_token_generation_time_zone'),
    ]
    # The copy reads InboundDelivery.source_ref, which spaces drops next.
    run_before = [('spaces', '0007_inbound_delivery_cobot_only')]

    operations = [
        migrations.AddField(
            model_name='lockconnection',
            name='poll_due_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='lockconnection',
            name='poll_error',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='lockconnection',
            name='poll_lease_token',
            field=models.CharField(blank=True, max_length=36),
        ),
        migrations.AddField(
            model_name='lockconnection',
            name='poll_lease_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='lockconnection',
            name='polled_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='accessevent',
            name='checkin_result',
            field=models.CharField(choices=[('pending', 'Pending'), ('checked_in', 'Checked in'), ('already', 'Already checked in'), ('refused', 'Refused by Cobot'), ('not_member', 'Not a member'), ('unmatched', 'Unknown person or door'), ('ambiguous', 'Several members match'), ('n/a', 'No check-in'), ('ignored', 'Ignored (not an opening)'), ('error', 'Error')], default='pending', max_length=16),
        ),
        migrations.AlterField(
            model_name='accessevent',
            name='kind',
            field=models.CharField(choices=[('unlock', 'Unlocked'), ('denied', 'Refused'), ('locked', 'Locked'), ('held_open', 'Held open'), ('forced_open', 'Forced open'), ('unknown', 'Unknown kind'), ('remote_open', 'Opened from AccessBridge'), ('remote_close', 'Closed from AccessBridge'), ('open_failed', 'Open from AccessBridge failed'), ('close_failed', 'Close from AccessBridge failed'), ('live_request', 'Reader request')], default='unlock', max_length=16),
        ),
        migrations.CreateModel(
            name='VendorDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('done', 'Done'), ('ignored', 'Ignored'), ('waiting', 'Waiting for an admin'), ('failed', 'Failed')], db_index=True, default='pending', max_length=16)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('last_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('source', models.CharField(choices=[('webhook', 'Webhook'), ('poll', 'Poll')], default='webhook', max_length=8)),
                ('event_key', models.CharField(help_text="The vendor's event id (hashed when long).", max_length=200)),
                ('kind', models.CharField(choices=[('unlock', 'Unlocked'), ('denied', 'Refused'), ('locked', 'Locked'), ('held_open', 'Held open'), ('forced_open', 'Forced open'), ('unknown', 'Unknown kind'), ('remote_open', 'Opened from AccessBridge'), ('remote_close', 'Closed from AccessBridge'), ('open_failed', 'Open from AccessBridge failed'), ('close_failed', 'Close from AccessBridge failed'), ('live_request', 'Reader request')], max_length=16)),
                ('payload', models.JSONField(blank=True, default=dict)),
                ('times_received', models.PositiveIntegerField(default=1)),
                ('received_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='locks.lockconnection')),
            ],
            options={
                'verbose_name_plural': 'vendor deliveries',
                'ordering': ['-received_at'],
                'constraints': [models.UniqueConstraint(fields=('connection', 'event_key'), name='unique_delivery_per_connection')],
            },
        ),
        migrations.RunPython(vendor_deliveries_move, vendor_deliveries_move_back),
    ]
