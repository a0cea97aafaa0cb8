from django.apps import AppConfig


class StoresConfig(AppConfig):
    """The store's side: its exports, its webhooks; orders reach ``returns`` through ``returns.orders``."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "stores"
    verbose_name = "Store"
