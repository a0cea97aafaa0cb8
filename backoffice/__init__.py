"""The Django project: settings, URLs, the Celery app, roles, demo data."""

from .celery import app as celery_app

__all__ = ("celery_app",)
