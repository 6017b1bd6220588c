from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessBridgeConfig(AppConfig):
    name = "accessbridge"
    verbose_name = "AccessBridge"

    def ready(self):
        from accessbridge.framed_cookies import partitioned_attribute_register

        partitioned_attribute_register()
        # post_migrate is sent per app with models; django_q's tells us its tables exist.
        post_migrate.connect(_ensure_schedules, dispatch_uid="accessbridge_schedules")
        # Sent in each task worker process as it starts: /health/ then says "starting", not "not running".
        from django_q.signals import post_spawn

        from accessbridge.health import worker_start_record
        from accessbridge.work_clock import work_clock_start

        post_spawn.connect(worker_start_record, dispatch_uid="accessbridge_worker_start")
        # Retries and rows due at a set time are sent within seconds of their time, not on the minute.
        post_spawn.connect(work_clock_start, dispatch_uid="accessbridge_work_clock")


# Periodic jobs, kept in step with the code after each migrate. Apps add theirs to SCHEDULES.
SCHEDULES: list[dict] = [
    {"name": "work: dispatch due and stuck rows", "func": "accessbridge.work.work_dispatch_due", "minutes": 1},
    {"name": "locks: access sync (dates, bookings)", "func": "locks.tasks.access_sync_due", "minutes": 15},
    {"name": "locks: access sync with vendor check", "func": "locks.tasks.access_sync_daily", "minutes": 24 * 60},
    {"name": "locks: door and gateway status", "func": "locks.tasks.status_refresh_due", "minutes": 5},
    {"name": "locks: poll vendors' door events", "func": "locks.tasks.events_poll_due", "minutes": 1},
    {"name": "spaces: full sync of every connected space", "func": "spaces.tasks.spaces_sync_all", "minutes": 15},
    # spaces.admins.ADMIN_CHECK_SCHEDULE_MINUTES: with its interval, every linked admin within 15 minutes.
    {"name": "spaces: re-check admins at Cobot", "func": "spaces.tasks.space_admins_check_due", "minutes": 5},
]


def _ensure_schedules(app_config, using="default", **kwargs):
    if app_config.label != "django_q":
        return
    from django_q.models import Schedule

    for entry in SCHEDULES:
        Schedule.objects.using(using).update_or_create(
            name=entry["name"],
            defaults={
                "func": entry["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": entry["minutes"],
                "repeats": -1,
            },
        )
