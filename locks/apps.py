from django.apps import AppConfig


class LocksConfig(AppConfig):
    name = "locks"
    verbose_name = "Locks"

    def ready(self):
        from locks import embedded, receivers  # noqa: F401  (connects the signal receivers)
        from locks.checkins import checkin_from_delivery
        from spaces.inbound import delivery_handler_register

        delivery_handler_register("vendor", checkin_from_delivery)
        embedded.sections_register()
