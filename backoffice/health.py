"""Health endpoints (django-health-check 4.x), for the load balancer and for monitoring.

- ``/health/live/``: the process answers; no I/O, so a slow database never gets web processes restarted.
- ``/health/ready/``: what every request needs: the database, the cache, the broker. The load balancer
  sends traffic only to processes that pass it.
- ``/health/``: all of ready, plus file storage (a write, read and delete), Celery workers answering a ping,
  and beat's heartbeat (recorded by a worker every minute). For monitoring and alerts, not the load balancer:
  a dead worker must page someone, not take every web process out of rotation.

Each answers 200 or 500, as HTML, JSON (``Accept: application/json`` or ``?format=json``) or text.
"""

import asyncio
import contextvars
import dataclasses
import datetime
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Cache, Database, Storage
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

BEAT = "beat"


@never_cache
def live(request):
    return HttpResponse("ok\n", content_type="text/plain")


def heartbeat_record(name: str) -> None:
    from backoffice.models import Heartbeat

    Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})


@dataclasses.dataclass
class BeatHeartbeat(HealthCheck):
    """Fails when beat's last heartbeat is missing or older than ``HEALTH_BEAT_MAX_AGE_SECONDS``."""

    def run(self):
        from backoffice.models import Heartbeat

        try:
            at = Heartbeat.objects.filter(name=BEAT).values_list("at", flat=True).first()
        finally:
            # Checks run in an executor thread that no request cycle cleans up after.
            connection.close()
        if at is None:
            raise ServiceUnavailable("No heartbeat from beat yet")
        age = (timezone.now() - at).total_seconds()
        if age > settings.HEALTH_BEAT_MAX_AGE_SECONDS:
            raise ServiceUnavailable(f"Beat's last heartbeat is {age:.0f} s old")


def _broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def broker_client() -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=3, socket_connect_timeout=3)


def ready_checks() -> list:
    checks = [Database, Cache]
    if _broker_is_redis():
        checks.append((Redis, {"client_factory": broker_client}))
    return checks


def full_checks() -> list:
    """Workers are pinged through the broker's broadcast, which kombu's filesystem transport (the embedded
    run) lacks: there the check is left out."""
    from backoffice.celery import app

    checks = [*ready_checks(), Storage, BeatHeartbeat]
    if _broker_is_redis():
        # limit=1: answered as soon as one worker replies (without it the ping always waits the whole timeout,
        # and the queue inspection after it then overruns the check's budget of timeout + 1 s).
        checks.append((Ping, {"app": app, "timeout": datetime.timedelta(seconds=3), "limit": 1}))
    return checks


class ChecksView(HealthCheckView):
    """HealthCheckView with its checks chosen per request (``select``), so they follow the settings in force."""

    select = None

    @property
    def checks(self):
        return self.select()


def _run(coroutine):
    """Runs the checks' async view on an event loop of its own, in a helper thread: this thread may already run
    one (Playwright's, in the test suite), where asgiref's async_to_sync refuses. The context (the request id)
    goes along."""
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


class ProbeMiddleware:
    """Answers the health URLs ahead of the host check and the HTTPS redirect: load balancers and container
    runtimes probe each instance over plain HTTP, with its address as Host (not in ALLOWED_HOSTS)."""

    URL_NAMES = frozenset({"health-live", "health-ready", "health"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith("/health/"):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.url_name not in self.URL_NAMES:
            return self.get_response(request)
        response = match.func(request, *match.args, **match.kwargs)
        if asyncio.iscoroutine(response):  # the checks' view is async
            response = _run(response)
        if hasattr(response, "render"):
            response.render()
        return response
