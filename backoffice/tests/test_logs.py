"""JSON log lines with the request's id in tasks (a real worker process on Redis), and Sentry only with a DSN.

The web process's lines are tested under gunicorn in test_production_server.py.
"""

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory

from backoffice.celery import app
from backoffice.logs import RequestIdMiddleware
from backoffice.tasks import beat_heartbeat
from backoffice.tests.test_production_server import database_url

BASE_DIR = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


@pytest.fixture
def worker_log(transactional_db, tmp_path):
    """``celery -A backoffice worker`` in its own process, on the suite's test database and Redis broker,
    with JSON logs; yields its log file. Eager mode is off in this process while it runs."""
    log = tmp_path / "worker.log"
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SECRET_KEY": "worker-test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOG_FORMAT": "json",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(CELERY), "-A", "backoffice", "worker", "--pool=solo", "-l", "info", "--without-mingle"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        wait_for_text(log, "ready.", process=process)
        yield log
    finally:
        app.conf.task_always_eager = saved
        process.terminate()
        process.wait(timeout=30)


def wait_for_text(log: Path, text: str, *, process=None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert process is None or process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def json_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.mark.worker
def test_a_task_queued_during_a_request_logs_with_that_requests_id(worker_log):
    queued = []

    def view(request):
        queued.append(beat_heartbeat.delay().id)
        return HttpResponse()

    response = RequestIdMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="lb-req-77"))
    response.close()  # as the server does once it is sent: request_finished
    wait_for_text(worker_log, f"[{queued[0]}] succeeded")

    assert response["X-Request-ID"] == "lb-req-77"
    done = next(line for line in json_lines(worker_log) if f"[{queued[0]}] succeeded" in line["message"])
    assert done["request_id"] == "lb-req-77"
    assert done["task_id"] == queued[0]
    assert done["logger"] == "celery.app.trace"


@pytest.mark.worker
def test_a_task_queued_outside_a_request_logs_with_its_own_id(worker_log):
    task_id = beat_heartbeat.delay().id
    wait_for_text(worker_log, f"[{task_id}] succeeded")

    done = next(line for line in json_lines(worker_log) if f"[{task_id}] succeeded" in line["message"])
    assert done["request_id"] == done["task_id"] == task_id
    # The worker's own lines, outside any task, carry neither.
    ready = next(line for line in json_lines(worker_log) if line["message"].endswith("ready."))
    assert ready["request_id"] == ready["task_id"] == ""


class _FakeSentry(BaseHTTPRequestHandler):
    """Accepts Sentry's envelopes (POST /api/<project>/envelope/) and keeps their items."""

    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "br":  # the SDK's choice when brotli is importable (locust's flask-compress brings it)
            import brotli

            body = brotli.decompress(body)
        elif encoding == "gzip":
            body = gzip.decompress(body)
        for line in body.splitlines():
            if line.startswith(b"{"):
                self.received.append({"path": self.path, **json.loads(line)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


SENTRY_SCRIPT = """
import django, sentry_sdk
django.setup()
from django.http import HttpResponse
from django.test import RequestFactory
from backoffice.logs import RequestIdMiddleware

def view(request):
    try:
        1 / 0
    except ZeroDivisionError:
        sentry_sdk.capture_exception()
    return HttpResponse()

print("active" if sentry_sdk.get_client().is_active() else "inactive")
RequestIdMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="req-sentry-1"))
sentry_sdk.flush(10)
"""


def run_sentry_script(extra_env: dict) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "backoffice.settings", **extra_env}
    return subprocess.run(
        [sys.executable, "-c", SENTRY_SCRIPT], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def fake_sentry():
    _FakeSentry.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _FakeSentry.received
    server.shutdown()


def test_sentry_is_off_without_a_dsn(fake_sentry):
    _, received = fake_sentry

    result = run_sentry_script({})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "inactive"
    assert received == []


def test_sentry_reports_an_error_with_the_request_id_when_a_dsn_is_set(fake_sentry):
    port, received = fake_sentry

    result = run_sentry_script({"SENTRY_DSN": f"http://publickey@127.0.0.1:{port}/42"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "active"
    events = [item for item in received if "exception" in item]
    assert len(events) == 1, received
    event = events[0]
    assert event["path"] == "/api/42/envelope/"
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert event["environment"] == "production"
