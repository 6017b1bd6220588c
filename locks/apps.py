from django.apps import AppConfig


class LocksConfig(AppConfig):
    name = "locks"
    verbose_name = "Locks"

    def ready(self):
        # Here, not at the top: these modules import models, which exist only once the registry is ready.
        from accessbridge.work import work_performer_register
        from locks import embedded, receivers, sections  # noqa: F401  (connects the signal receivers)
        from locks.access.boundaries import access_boundary_perform
        from locks.access.jobs import access_sync_job_perform
        from locks.checkins import checkin_from_delivery
        from locks.models import AccessBoundary, AccessSyncJob, VendorDelivery

        work_performer_register(AccessSyncJob, lambda job: access_sync_job_perform(job=job))
        work_performer_register(AccessBoundary, lambda boundary: access_boundary_perform(boundary=boundary))
        work_performer_register(VendorDelivery, lambda delivery: checkin_from_delivery(delivery=delivery))
        embedded.sections_register()
        sections.sections_register()
