from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accessbridge.fields import EncryptedJSONField, EncryptedTextField, reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of ACCESSBRIDGE_ENCRYPTION_KEYS, so older keys "
        "can be removed afterwards."
    )

    def handle(self, *args, **options):
        quote = connection.ops.quote_name
        rows = 0
        with transaction.atomic():
            for model in apps.get_models():
                columns = [
                    f.column
                    for f in model._meta.concrete_fields
                    if isinstance(f, EncryptedTextField | EncryptedJSONField)
                ]
                if not columns:
                    continue
                table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
                # Work on the stored ciphertext directly: rotation never needs the plaintext in Python.
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {pk}, {', '.join(map(quote, columns))} FROM {table}")
                    stored = cursor.fetchall()
                for pk_value, *tokens in stored:
                    updates = {col: reencrypt(tok) for col, tok in zip(columns, tokens, strict=True) if tok}
                    if not updates:
                        continue
                    assignments = ", ".join(f"{quote(col)} = %s" for col in updates)
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*updates.values(), pk_value]
                        )
                    rows += 1
        self.stdout.write(f"Re-encrypted the secrets of {rows} row(s).")
