"""The webhook deliveries' search by our order number, built without blocking writes on PostgreSQL."""

from django.db import migrations, models

from core.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("stores", "0001_webhook_delivery"),
    ]

    operations = [
        AddIndexOnline(
            model_name="webhookdelivery",
            index=models.Index(fields=["order_number"], name="stores_delivery_order_number"),
        ),
    ]
