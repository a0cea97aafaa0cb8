"""The Celery app; its settings are the ``CELERY_*`` names in settings.py."""

import os

from celery import Celery, signals, states

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# --- Database connections: a task is treated like a request ----------------------------------------
# Celery's Django fixup closes every connection before and after each task (celery/celery#9824), so a
# worker opened a PostgreSQL connection per task whatever DATABASE_CONN_MAX_AGE said: a backend forked,
# authenticated and its catalogue caches warmed, for every refund. With CELERY_DB_REUSE_MAX set (settings)
# the fixup leaves them to these two handlers, which apply Django's own rule for a request: a connection
# older than CONN_MAX_AGE, or unusable after an error, is closed; one kept is checked before reuse
# (CONN_HEALTH_CHECKS). A task that did not succeed (an error, a retry) may have been interrupted in the
# middle of a query, which the health check cannot always see: its connections are closed outright. An
# eager task runs inside its caller (a request, a test) and leaves the caller's connection alone.


@signals.task_prerun.connect
def _connections_before_a_task(task=None, **kwargs):
    if not getattr(task.request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()


@signals.task_postrun.connect
def _connections_after_a_task(task=None, state=None, **kwargs):
    if getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections, connections

    if state == states.SUCCESS:
        close_old_connections()
    else:
        connections.close_all()
