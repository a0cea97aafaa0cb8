"""Structured logs: one JSON object a line, each carrying the id of the request (or task) it belongs to.

A request's id comes from its ``X-Request-ID`` header (the load balancer's) or is made here, is
answered in the same header, and is held in a context variable that a logging filter copies onto
every record. A task queued while a request runs carries that id in its message headers; the
worker puts it back (and the task's own id) for the task's lines. See docs/operations.md.
"""

import contextvars
import logging
import re
import uuid

import sentry_sdk
from celery import signals
from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver

current_request_id = contextvars.ContextVar("request_id", default="")
current_task_id = contextvars.ContextVar("task_id", default="")

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
# A caller's id is kept when it is short and plain; anything else (a log-forging newline, 10 kB) is replaced.
VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets the request's id for its log lines and answers it in ``X-Request-ID``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(HEADER, "")
        request.request_id = given if VALID_ID.fullmatch(given) else new_id()
        # Kept past this middleware: Django logs a 4xx/5xx after the whole chain has returned. Cleared
        # when the response is closed (request_finished).
        current_request_id.set(request.request_id)
        if settings.SENTRY_DSN:
            sentry_sdk.set_tag("request_id", request.request_id)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs):
    current_request_id.set("")


class ContextFilter(logging.Filter):
    """Copies the current request and task ids onto each record (on the handler: every logger's lines pass)."""

    def filter(self, record):
        record.request_id = current_request_id.get()
        record.task_id = current_task_id.get()
        return True


@signals.before_task_publish.connect
def _pass_request_id(headers=None, **kwargs):
    """A task queued during a request (or another task) carries its id to the worker."""
    if headers is not None and (current := current_request_id.get()):
        headers.setdefault(TASK_HEADER, current)


# The context to restore when a task ends, by task id (an eager task runs inside its caller's request).
_tokens: dict[str, tuple[contextvars.Token, contextvars.Token]] = {}


@signals.task_prerun.connect
def _enter_task(task_id=None, task=None, **kwargs):
    """A task's lines carry its id, and the id of the request that queued it (its own id for beat's tasks)."""
    given = getattr(task.request, TASK_HEADER, None) or current_request_id.get()
    _tokens[task_id] = (
        current_request_id.set(given if VALID_ID.fullmatch(given) else task_id),
        current_task_id.set(task_id),
    )


@signals.task_postrun.connect
def _leave_task(task_id=None, **kwargs):
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        current_request_id.reset(tokens[0])
        current_task_id.reset(tokens[1])


def logging_config(*, level: str, fmt: str) -> dict:
    """``LOGGING`` for settings: JSON lines (``fmt="json"``) or plain text, both with the ids."""
    formatters = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "request_id", "task_id", "process"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601 in UTC, whatever the process's zone
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task_id)s] %(message)s"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "backoffice.logs.ContextFilter"}},
        "formatters": {fmt: formatters[fmt]},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        # Celery's own loggers propagate to the root's handler (the worker does not hijack the root).
        "loggers": {"celery": {"level": level}},
    }


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    """Error reporting, only when a DSN is set; no personal data leaves (send_default_pii off)."""
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
    )
