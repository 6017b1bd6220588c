from django.core.management.base import BaseCommand, CommandError

from accessbridge.work import WorkStatus, retryable_models, work_retry


class Command(BaseCommand):
    help = "Put failed (and waiting) work back in the queue, with a fresh attempt budget."

    def add_arguments(self, parser):
        parser.add_argument("--space", help="Only this space (Cobot subdomain).")
        parser.add_argument("--id", type=int, help="Only this row (with --model).")
        parser.add_argument("--model", help="Only this kind of work, e.g. spaces.InboundDelivery.")

    def handle(self, *args, space=None, id=None, model=None, **options):
        models = retryable_models()
        if model:
            models = [m for m in models if m._meta.label_lower == model.lower()]
            if not models:
                raise CommandError(f"No kind of work called {model!r}. Known: {', '.join(m._meta.label for m in retryable_models())}.")
        if id is not None and not model:
            raise CommandError("--id needs --model.")
        total = 0
        for m in models:
            queryset = m.objects.filter(status__in=[WorkStatus.FAILED, WorkStatus.WAITING])
            if space:
                if not any(f.name == "space" for f in m._meta.fields):
                    continue
                queryset = queryset.filter(space__subdomain=space)
            if id is not None:
                queryset = queryset.filter(pk=id)
            count = work_retry(queryset)
            if count:
                self.stdout.write(f"{m._meta.label}: {count} queued again.")
            total += count
        self.stdout.write(f"{total} item(s) queued again." if total else "Nothing failed or waiting.")
