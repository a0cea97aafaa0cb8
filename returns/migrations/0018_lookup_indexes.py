"""The lookups' indexes (docs/console.md, "Every list's search … reads indexes"): the orders' and emails'
case-insensitive lookups get expression indexes; the claim's text columns keep one plain index each instead
of ``db_index``'s pair (plain and ``varchar_pattern_ops``), its reply token a unique constraint without the
``LIKE`` index. New indexes first, built without blocking writes on PostgreSQL; the old ones dropped after."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models

import returns.models
from core.migration_operations import AddIndexOnline, AddUniqueConstraintOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("returns", "0017_claimevent_action_claim_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="claim",
            index=models.Index(fields=["order_number"], name="claim_order_number"),
        ),
        AddIndexOnline(
            model_name="claim",
            index=models.Index(fields=["customer_email"], name="claim_customer_email"),
        ),
        AddIndexOnline(
            model_name="order",
            index=models.Index(django.db.models.functions.text.Upper("number"), name="order_number_any_case"),
        ),
        AddIndexOnline(
            model_name="order",
            index=models.Index(django.db.models.functions.text.Upper("customer_email"), name="order_email_any_case"),
        ),
        AddIndexOnline(
            model_name="outboundemail",
            index=models.Index(django.db.models.functions.text.Upper("to"), name="email_to_any_case"),
        ),
        AddUniqueConstraintOnline(
            model_name="claim",
            constraint=models.UniqueConstraint(fields=("reply_token",), name="claim_unique_reply_token"),
        ),
        migrations.AlterField(
            model_name="claim",
            name="customer_email",
            field=models.EmailField(max_length=254),
        ),
        migrations.AlterField(
            model_name="claim",
            name="order_number",
            field=models.CharField(max_length=64, verbose_name="order number"),
        ),
        migrations.AlterField(
            model_name="claim",
            name="reply_token",
            field=models.CharField(default=returns.models.new_reply_token, editable=False, max_length=24),
        ),
        migrations.AlterField(
            model_name="order",
            name="customer_email",
            field=models.EmailField(max_length=254),
        ),
    ]
