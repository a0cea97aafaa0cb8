"""``manage.py check --deploy`` fails on deploy/production.env.example's placeholder secret, and is clean
with the example once a real secret replaces it (and only then).

Each check runs in a subprocess whose environment is exactly the example file's
variables: nothing leaks in from the test run (its DATABASE_URL, broker, eager mode).
"""

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = BASE_DIR / "deploy" / "production.env.example"


def production_env() -> dict[str, str]:
    """The KEY=value lines of the example; comments and blank lines skipped."""
    variables = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key.isidentifier(), f"{ENV_EXAMPLE.name}:{number} is not KEY=value: {line!r}"
        assert key not in variables, f"{ENV_EXAMPLE.name}:{number} sets {key} twice"
        variables[key] = value
    return variables


def deployable_env() -> dict[str, str]:
    """The example with its placeholder secret replaced, as the operator is told to."""
    return {**production_env(), "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_fails_on_the_examples_placeholder_secret():
    result = deploy_check(production_env())

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "backoffice.E001" in output
    assert "(0 silenced)" in output and "1 issue" in output, output


def test_deploy_check_fails_on_the_placeholder_even_without_fail_level():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=BASE_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "backoffice.E001" in result.stderr


def test_deploy_check_is_clean_with_the_example_and_a_real_secret():
    result = deploy_check(deployable_env())

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output


def test_deploy_check_fails_with_the_embedded_defaults():
    result = deploy_check({})

    output = result.stdout + result.stderr
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert warning in output


@pytest.mark.parametrize(
    ("variable", "value", "warning"),
    [
        ("DJANGO_SECRET_KEY", None, "security.W009"),
        ("DJANGO_DEBUG", "true", "security.W018"),
        ("DJANGO_SECURE_SSL_REDIRECT", None, "security.W008"),
        ("DJANGO_SECURE_HSTS_SECONDS", None, "security.W004"),
        ("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", None, "security.W005"),
        ("DJANGO_SECURE_HSTS_PRELOAD", None, "security.W021"),
        ("DJANGO_SESSION_COOKIE_SECURE", None, "security.W012"),
        ("DJANGO_CSRF_COOKIE_SECURE", None, "security.W016"),
    ],
)
def test_each_hardening_variable_is_needed(variable, value, warning):
    env = deployable_env()
    if value is None:
        del env[variable]
    else:
        env[variable] = value

    result = deploy_check(env)

    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


def test_production_env_selects_the_production_services():
    """A misspelt name would silently fall back to SQLite, media/ or the filesystem broker."""
    script = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'backoffice.settings';"
        "from django.conf import settings as s;"
        "print(json.dumps({'debug': s.DEBUG, 'database': s.DATABASES['default']['ENGINE'],"
        "'storage': s.STORAGES['default']['BACKEND'], 'bucket': s.STORAGES['default']['OPTIONS'].get('bucket_name'),"
        "'signed_urls': s.STORAGES['default']['OPTIONS'].get('querystring_auth'),"
        "'broker': s.CELERY_BROKER_URL.split(':')[0], 'eager': s.CELERY_TASK_ALWAYS_EAGER,"
        "'email': s.EMAIL_BACKEND, 'email_tls': s.EMAIL_USE_TLS, 'email_port': s.EMAIL_PORT}))"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=production_env(), capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": False,
        "database": "django.db.backends.postgresql",
        "storage": "backoffice.files.PrivateS3Storage",
        "bucket": "rma-evidence",
        "signed_urls": True,
        "broker": "redis",
        "eager": False,
        "email": "django.core.mail.backends.smtp.EmailBackend",
        "email_tls": True,
        "email_port": 587,
    }
