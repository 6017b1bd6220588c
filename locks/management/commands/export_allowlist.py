"""Write a reader's offline allow-list (JSON or CSV), e.g. from cron for a device that reads a file."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from locks.models import Reader
from locks.readers.allowlist import allowlist_csv, allowlist_json, reader_allowlist


class Command(BaseCommand):
    help = "Print (or write to --output) the tokens that open a reader's door right now."

    def add_arguments(self, parser):
        parser.add_argument("reader_id", type=int)
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--output", help="A file to write instead of standard output.")

    def handle(self, *args, reader_id, format, output=None, **options):
        reader = Reader.objects.select_related("space", "door").filter(pk=reader_id).first()
        if reader is None:
            raise CommandError(f"No reader with id {reader_id}.")
        now = timezone.now()
        entries = reader_allowlist(reader=reader, now=now)
        if format == "csv":
            text = allowlist_csv(entries)
        else:
            text = json.dumps(allowlist_json(reader=reader, entries=entries, now=now), indent=2) + "\n"
        if output:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
            self.stderr.write(f"{len(entries)} tokens written to {output}.")
        else:
            self.stdout.write(text, ending="")
