"""The production web process as deployed: one gunicorn command (deploy/gunicorn.conf.py) serving the admin,
its static files (WhiteNoise, after collectstatic) and JSON log lines with the request's id.

gunicorn runs in a subprocess with production-like settings (DEBUG off, hashed and compressed static files,
the suite's PostgreSQL test database and Redis broker).
"""

import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def production_env(tmp_path_factory, django_db_setup) -> dict[str, str]:
    """What a deployment sets, with collectstatic already run into a fresh STATIC_ROOT."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
        "DJANGO_STATIC_MANIFEST": "true",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture(scope="module")
def gunicorn(production_env, tmp_path_factory):
    """``gunicorn -c deploy/gunicorn.conf.py backoffice.wsgi`` on a free loopback port; yields (port, log file)."""
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "stderr.log"
    env = {**production_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "deploy/gunicorn.conf.py", "backoffice.wsgi"],
            cwd=BASE_DIR,
            env=env,
            stdout=stderr,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "Booting worker" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def get(port: int, path: str, headers: dict | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def log_lines(log: Path, *, until: str, seconds: float = 10) -> list[dict]:
    """The JSON lines gunicorn's processes wrote, once one contains ``until``."""
    deadline = time.monotonic() + seconds
    while until not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.mark.django_db
def test_gunicorn_serves_the_admins_hashed_css_compressed_with_a_year_long_cache(gunicorn):
    port, _ = gunicorn
    login, html = get(port, "/admin/login/")
    assert login.status == 200
    css = re.search(rb'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', html)
    assert css, html[:2000]

    response, body = get(port, css.group(1).decode(), {"Accept-Encoding": "gzip"})

    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/css")
    assert response.getheader("Cache-Control") == "max-age=315360000, public, immutable"
    assert response.getheader("Content-Encoding") == "gzip"
    assert body[:2] == b"\x1f\x8b"


@pytest.mark.django_db
def test_gunicorn_answers_a_missing_static_file_with_404(gunicorn):
    port, _ = gunicorn

    response, _ = get(port, "/static/admin/css/no-such-file.css")

    assert response.status == 404


@pytest.mark.django_db
def test_each_log_line_of_a_request_carries_its_id(gunicorn):
    port, log = gunicorn

    response, _ = get(port, "/no-such-page/", {"X-Request-ID": "lb-7f3a91"})

    assert response.status == 404
    assert response.getheader("X-Request-ID") == "lb-7f3a91"
    lines = log_lines(log, until="request_id=lb-7f3a91")
    django_line = next(
        line for line in lines if line.get("logger") == "django.request" and "no-such-page" in line["message"]
    )
    assert django_line["request_id"] == "lb-7f3a91"
    assert django_line["level"] == "WARNING"
    assert django_line["time"].endswith("+00:00")
    access_line = next(
        line for line in lines if line["logger"] == "gunicorn.access" and "no-such-page" in line["message"]
    )
    assert access_line["message"].endswith("request_id=lb-7f3a91")


@pytest.mark.django_db
def test_a_request_without_an_id_or_with_a_forged_one_gets_a_fresh_id(gunicorn):
    port, _ = gunicorn

    plain, _ = get(port, "/admin/login/")
    forged, _ = get(port, "/admin/login/", {"X-Request-ID": "abc def\tinjected"})

    assert re.fullmatch(r"[0-9a-f]{32}", plain.getheader("X-Request-ID"))
    assert re.fullmatch(r"[0-9a-f]{32}", forged.getheader("X-Request-ID"))
    assert plain.getheader("X-Request-ID") != forged.getheader("X-Request-ID")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_log_in_through_gunicorn_in_chromium_with_the_admins_styles(
    gunicorn, page, django_user_model, settings, shoot
):
    """The whole admin from one gunicorn command: every stylesheet and script from /static/ (hashed, a year of
    cache), the login, the home page, styled. (Customer service: the two factors finance and managers need are
    tested with the logins.)"""
    from django.conf import global_settings

    from returns.tests.factories import ROLES, staff_user

    port, _ = gunicorn
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # gunicorn checks the password with these
    staff_user(django_user_model, "agent", ROLES["cs"])
    static = []
    page.on("response", lambda response: static.append(response) if "/static/" in response.url else None)
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)

    page.goto(f"http://127.0.0.1:{port}/admin/login/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "pw-agent")
    page.click("#login-form [type=submit]")
    page.wait_for_selector("#home")
    shoot(page, "production-admin-home")

    assert static, "the pages loaded nothing from /static/"
    for response in static:
        assert response.status in (200, 304), response.url
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", response.url), response.url  # css, js, fonts, icons
        assert response.headers["cache-control"] == "max-age=315360000, public, immutable"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background not in ("", "rgba(0, 0, 0, 0)")  # the theme's stylesheet applied
    # The browser's own request for /favicon.ico is the one miss (main's admin declares no icon).
    assert [url for url in failed if not url.endswith("/favicon.ico")] == []
