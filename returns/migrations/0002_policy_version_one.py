"""The policy as published: 7-day DOA, 45/30-day no-reason return, 2/1-year warranty."""

from datetime import UTC, datetime

from django.db import migrations


def create_first_version(apps, schema_editor):
    PolicyVersion = apps.get_model("returns", "PolicyVersion")
    PolicyVersion.objects.get_or_create(
        effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        defaults={"note": "After-Sales Service Policy as published (policy/after-sales-service-policy.txt)"},
    )


class Migration(migrations.Migration):
    dependencies = [("returns", "0001_initial")]
    operations = [migrations.RunPython(create_first_version, migrations.RunPython.noop)]
