from django.apps import AppConfig


class StoresConfig(AppConfig):
    """The store's side: its export formats (the project's own CSV layout, Shopify's order export) and,
    later, its webhooks. It sits above ``returns`` and calls its one order-upsert service."""

    name = "stores"
    verbose_name = "Store"
