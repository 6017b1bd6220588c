from django.apps import AppConfig


class LocksConfig(AppConfig):
    name = "locks"
    verbose_name = "Locks"

    def ready(self):
        # Here, not at the top: these modules import models, which exist only once the registry is ready.
        from accessbridge.work import work_performer_register
        from locks import embedded, receivers  # noqa: F401  (connects the signal receivers)
        from locks.access.jobs import access_sync_job_perform
        from locks.checkins import checkin_from_delivery
        from locks.models import AccessSyncJob
        from spaces.inbound import delivery_handler_register

        work_performer_register(AccessSyncJob, lambda job: access_sync_job_perform(job=job))
        delivery_handler_register("vendor", checkin_from_delivery)
        embedded.sections_register()
