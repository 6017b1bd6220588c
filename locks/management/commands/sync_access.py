from django.core.management.base import BaseCommand, CommandError

from locks.access.run import SyncInProgress, access_sync
from spaces.management.space_argument import space_from_argument


class Command(BaseCommand):
    help = "Bring every member's door access in step with Cobot for one space (or show what that would do)."

    def add_arguments(self, parser):
        parser.add_argument("space", help="The space's Cobot subdomain.")
        parser.add_argument("--dry-run", action="store_true", help="Only list the operations.")
        parser.add_argument(
            "--refresh", action="store_true", help="First read each vendor's own list of people."
        )

    def handle(self, *args, space, dry_run=False, refresh=False, **options):
        found = space_from_argument(space)
        try:
            report = access_sync(
                space=found, dry_run=dry_run, refresh=refresh, actor_label="manage.py sync_access"
            )
        except SyncInProgress:
            raise CommandError(
                "Another access sync of this space is running; try again in a minute."
            ) from None
        for op in report.operations:
            self.stdout.write(f"{'would ' if dry_run else ''}{op.describe()}")
        summary = report.summary()
        self.stdout.write(
            f"{summary['members']} member(s), {summary['operations']} operation(s)"
            + ("" if dry_run else f", {summary['applied']} applied, {summary['skipped']} skipped")
        )
        for line in summary["failed"] + summary["errors"] + summary["waiting"]:
            self.stderr.write(line)
        if summary["transient"]:
            self.stderr.write(f"try again later: {summary['transient']}")
        if not dry_run and (report.failed or report.errors or report.waiting or report.transient):
            raise CommandError("Not everything could be applied (see above).")
