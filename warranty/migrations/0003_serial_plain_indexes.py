"""A replacement's serials: one plain index each (built without blocking writes on PostgreSQL) instead of
``db_index``'s pair, whose ``varchar_pattern_ops`` half no lookup used."""

from django.conf import settings
from django.db import migrations, models

from core.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("returns", "0018_lookup_indexes"),
        ("shipments", "0002_outbound_tracking_search_index"),
        ("warranty", "0002_replacement_events_actor_kind"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="replacement",
            index=models.Index(fields=["faulty_serial"], name="replacement_faulty_serial"),
        ),
        AddIndexOnline(
            model_name="replacement",
            index=models.Index(fields=["replacement_serial"], name="replacement_serial"),
        ),
        migrations.AlterField(
            model_name="replacement",
            name="faulty_serial",
            field=models.CharField(blank=True, max_length=64, verbose_name="faulty serial"),
        ),
        migrations.AlterField(
            model_name="replacement",
            name="replacement_serial",
            field=models.CharField(blank=True, max_length=64, verbose_name="replacement serial"),
        ),
    ]
