"""The Keys' gateway share moves from its own Door columns into Door.vendor_secrets (encrypted JSON), where
every vendor keeps its per-door secrets without a migration of the shared model."""

from django.db import migrations

import accessbridge.fields


def share_to_vendor_secrets(apps, schema_editor):
    Door = apps.get_model("locks", "Door")
    for door in Door.objects.iterator():  # encrypted fields cannot be filtered on
        secrets = {}
        if door.share_code:
            secrets["share_code"] = door.share_code
        if door.vendor_share_id:
            secrets["share_id"] = door.vendor_share_id
        if not secrets:
            continue
        door.vendor_secrets = {**(door.vendor_secrets or {}), **secrets}
        door.save(update_fields=["vendor_secrets"])


def vendor_secrets_to_share(apps, schema_editor):
    Door = apps.get_model("locks", "Door")
    for door in Door.objects.iterator():
        secrets = door.vendor_secrets or {}
        if secrets:
            door.share_code = secrets.get("share_code", "")
            door.vendor_share_id = secrets.get("share_id", "")
            door.save(update_fields=["share_code", "vendor_share_id"])


class Migration(migrations.Migration):
    dependencies = [("locks", "0003_integrity_intents")]

    operations = [
        migrations.AddField(
            model_name="door",
            name="vendor_secrets",
            field=accessbridge.fields.EncryptedJSONField(
                blank=True, default=dict, help_text="The vendor's per-door secrets (encrypted)."
            ),
        ),
        migrations.RunPython(share_to_vendor_secrets, vendor_secrets_to_share),
        migrations.RemoveField(model_name="door", name="share_code"),
        migrations.RemoveField(model_name="door", name="vendor_share_id"),
    ]
