from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DermgmtConfig(AppConfig):
    name = "dermgmt"
    verbose_name = "Operations"

    def ready(self) -> None:
        from dermgmt import checks  # noqa: F401 (registers the system checks)
        from dermgmt.roles import sync_after_migrate

        # After migrate: by then every app's permissions exist.
        post_migrate.connect(sync_after_migrate, sender=self)
