"""The mailbox's search by sender in any case: an expression index (built without blocking writes on
PostgreSQL) instead of ``db_index``'s pair, which ``sender_email__iexact`` could not use."""

import django.db.models.functions.text
from django.db import migrations, models

from core.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("inbox", "0001_initial"),
        ("returns", "0018_lookup_indexes"),
    ]

    operations = [
        AddIndexOnline(
            model_name="inboundmessage",
            index=models.Index(django.db.models.functions.text.Upper("sender_email"), name="inbound_sender_any_case"),
        ),
        migrations.AlterField(
            model_name="inboundmessage",
            name="sender_email",
            field=models.CharField(blank=True, max_length=254, verbose_name="from (address)"),
        ),
    ]
