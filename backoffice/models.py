"""The project's own small table; the module also makes Django send post_migrate for this app (see apps.py)."""

from django.db import models


class Heartbeat(models.Model):
    """When a periodic process last proved alive: beat's ``beat_heartbeat`` task writes ``beat`` every minute,
    and the full health check fails when it is older than ``HEALTH_BEAT_MAX_AGE_SECONDS`` (backoffice/health.py)."""

    name = models.CharField(primary_key=True, max_length=40)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at.isoformat()}"
