"""Health endpoints on real parts: PostgreSQL, Redis as cache and broker, moto's S3 server as storage, a real
Celery worker in a thread of this process, and beat's heartbeat recorded by that worker.

The checks run in threads of their own (django-health-check's executor), on their own database connections:
the tests commit for real (``transaction=True``) so that those threads see the rows.
"""

import datetime
import re
import socket
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from backoffice import health
from backoffice.celery import app
from backoffice.models import Heartbeat
from backoffice.tasks import beat_heartbeat


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_cache(settings):
    """The cache on the suite's Redis, as production's CACHE_URL puts it."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.CELERY_BROKER_URL,
        }
    }


@pytest.fixture
def celery_worker(transactional_db):
    assert app.conf.broker_url.startswith("redis://"), "run through scripts/test.sh: the broker must be Redis"
    saved = app.conf.task_always_eager, app.conf.worker_hijack_root_logger
    app.conf.task_always_eager = app.conf.worker_hijack_root_logger = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        app.conf.task_always_eager, app.conf.worker_hijack_root_logger = saved


def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    return condition()


def statuses(response) -> dict[str, str]:
    """{check's name: "OK" or its error}, from the JSON answer."""
    return {name.split("(")[0]: outcome for name, outcome in response.json().items()}


@pytest.mark.django_db
def test_live_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live/")

    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_ready_checks_the_database_cache_and_broker(client, redis_cache):
    response = client.get("/health/ready/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200, response.content
    assert statuses(response) == {"Database": "OK", "Cache": "OK", "Redis": "OK"}


@pytest.mark.django_db(transaction=True)
def test_ready_fails_when_the_broker_is_unreachable(client, redis_cache, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = client.get("/health/ready/", HTTP_ACCEPT="application/json")

    assert response.status_code == 500
    outcome = statuses(response)
    assert outcome["Database"] == outcome["Cache"] == "OK"
    assert outcome["Redis"] == "Unavailable: Unable to connect to Redis: Connection Error"


@pytest.mark.django_db(transaction=True)
def test_ready_fails_when_the_cache_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }

    response = client.get("/health/ready/?format=json")

    assert response.status_code == 500
    assert statuses(response)["Cache"] != "OK"
    assert statuses(response)["Database"] == "OK"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_full_check_passes_with_a_worker_and_beats_heartbeat(client, redis_cache, celery_worker):
    beat_heartbeat.delay()
    assert wait_for(lambda: Heartbeat.objects.filter(name=health.BEAT).exists()), "the worker ran no heartbeat"

    response = client.get("/health/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200, response.content
    assert statuses(response) == {
        "Database": "OK",
        "Cache": "OK",
        "Redis": "OK",
        "Storage": "OK",
        "BeatHeartbeat": "OK",
        "Ping": "OK",
    }


@pytest.mark.django_db(transaction=True)
def test_full_check_fails_without_a_worker(client, redis_cache):
    Heartbeat.objects.create(name=health.BEAT, at=timezone.now())

    response = client.get("/health/", HTTP_ACCEPT="application/json")

    assert response.status_code == 500
    outcome = statuses(response)
    assert outcome["Ping"] == "Unavailable: Celery workers unavailable"
    assert outcome["BeatHeartbeat"] == outcome["Storage"] == outcome["Database"] == "OK"


@pytest.mark.django_db(transaction=True)
def test_full_check_fails_when_beats_heartbeat_is_old(client, redis_cache, settings):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 300
    Heartbeat.objects.create(name=health.BEAT, at=timezone.now() - datetime.timedelta(seconds=400))

    response = client.get("/health/", HTTP_ACCEPT="application/json")

    assert response.status_code == 500
    assert re.fullmatch(r"Unavailable: Beat's last heartbeat is 4\d\d s old", statuses(response)["BeatHeartbeat"])


@pytest.mark.django_db(transaction=True)
def test_full_check_fails_before_any_heartbeat(client, redis_cache):
    response = client.get("/health/?format=text")

    assert response.status_code == 500
    assert "BeatHeartbeat(): Unavailable: No heartbeat from beat yet" in response.content.decode()


@pytest.mark.django_db
def test_probes_by_address_over_plain_http_reach_the_health_urls(client, settings):
    """A load balancer probes each instance by its address, over HTTP, behind an HTTPS-only site."""
    settings.ALLOWED_HOSTS = ["rma.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    live = client.get("/health/live/", HTTP_HOST="10.0.3.7:8000")
    page = client.get("/admin/login/", HTTP_HOST="10.0.3.7:8000")
    site = client.get("/admin/login/", HTTP_HOST="rma.example.com")

    assert live.status_code == 200
    assert live.content == b"ok\n"
    assert page.status_code == 400  # every other URL still checks the host
    assert site.status_code == 301  # and redirects to HTTPS
    assert site["Location"] == "https://rma.example.com/admin/login/"


@pytest.mark.django_db(transaction=True)
def test_readiness_probe_by_address_renders_its_page(client, settings, redis_cache):
    settings.ALLOWED_HOSTS = ["rma.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/health/ready/", HTTP_HOST="10.0.3.7:8000")

    assert response.status_code == 200
    assert b"Database" in response.content
    assert response["Content-Type"].startswith("text/html")
