"""The back-office's own rows: exports stored for their owner until their lifetime ends, and heartbeats.

The module also makes Django send post_migrate for this app (see apps.py).
"""

from django.conf import settings
from django.db import models


class StoredExport(models.Model):
    """A large export's file, reached by its owner's emailed link until ``expires_at``; then deleted by beat.

    A failed export has no file and the reason in ``error`` (its owner was emailed it).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.file.name or f"failed export {self.pk}"


class Heartbeat(models.Model):
    """When a periodic process last proved alive: beat's ``beat_heartbeat`` task writes ``beat`` every minute,
    and the full health check fails when it is older than ``HEALTH_BEAT_MAX_AGE_SECONDS`` (backoffice/health.py)."""

    name = models.CharField(primary_key=True, max_length=40)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at.isoformat()}"
