from datetime import UTC, datetime

from django.apps import AppConfig
from django.db.models.signals import post_migrate

# The policy as published: 7-day DOA, 45/30-day no-reason return, 2/1-year warranty.
FIRST_POLICY_FROM = datetime(2000, 1, 1, tzinfo=UTC)


class ReturnsConfig(AppConfig):
    name = "returns"
    verbose_name = "Claims"

    def ready(self):
        post_migrate.connect(_ensure_published_policy, sender=self)


def _ensure_published_policy(**kwargs):
    """Reference data, put back after every migrate or flush: the published policy's numbers."""
    from returns.models import PolicyVersion

    PolicyVersion.objects.get_or_create(
        effective_from=FIRST_POLICY_FROM,
        defaults={"note": "After-Sales Service Policy as published"},
    )
