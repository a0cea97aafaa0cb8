from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back-office"

    def ready(self):
        from backoffice import checks  # noqa: F401  (registers the deploy checks)
        from backoffice.unfold_lists import install_unfold_list_fixes

        install_unfold_list_fixes()

        post_migrate.connect(_sync_roles, sender=self)


def _sync_roles(**kwargs):
    """Runs after the other apps' permissions exist (backoffice is listed last)."""
    from backoffice.roles import sync_roles

    sync_roles()
