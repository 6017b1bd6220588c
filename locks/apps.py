from django.apps import AppConfig


class LocksConfig(AppConfig):
    name = "locks"
    verbose_name = "Locks"

    def ready(self):
        from locks import embedded, receivers  # noqa: F401  (connects the signal receivers)

        embedded.sections_register()
