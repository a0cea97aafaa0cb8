"""A GIN index on ``OrderLine.serial_numbers`` for the warranty lookup by serial (``serial_numbers @> '["SN"]'``).

PostgreSQL only (``jsonb_path_ops`` serves containment); SQLite, the embedded run, has no such index
and no JSON containment (``warranty/selectors.py`` narrows by text there).
"""

from django.db import migrations

INDEX = "orderline_serials_gin"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON returns_orderline USING gin (serial_numbers jsonb_path_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("returns", "0014_evidence_thumbnail_attempts"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
