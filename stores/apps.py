from django.apps import AppConfig


class StoresConfig(AppConfig):
    """The store's side: its export formats (the project's own CSV layout, Shopify's order export) and its
    webhooks. It sits above ``returns`` and writes orders only through ``returns.orders``."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "stores"
    verbose_name = "Store"
