from django.core.management.base import BaseCommand

from accessbridge.work import work_run_due


class Command(BaseCommand):
    help = "Run every due unit of work in this process now (no worker needed)."

    def handle(self, *args, **options):
        self.stdout.write(f"Ran {work_run_due()} item(s).")
