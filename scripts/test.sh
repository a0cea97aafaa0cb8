#!/usr/bin/env bash
# Set up and run the whole test suite on real parts: PostgreSQL, Redis, moto's
# S3 server (started by the tests), aiosmtpd (started by the tests), Chromium,
# Dovecot (installed here, started by the tests).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-venv.sh requirements-test.txt

apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    command -v redis-server >/dev/null || apt_install redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
[ -x /usr/bin/chromium ] || apt_install chromium chromium-driver
# gettext: the customers' languages (locale/<code>/LC_MESSAGES/django.po) are compiled here, and a test
# compiles a catalogue of its own with msgfmt.
command -v msgfmt >/dev/null || apt_install gettext
DJANGO_SECRET_KEY=compile .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=var -v0
# The inbox tests start their own Dovecot (inbox/testing.py): only the binary is needed, no service.
[ -x /usr/sbin/dovecot ] || apt_install dovecot-imapd

export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/rma}"
export CELERY_BROKER_URL="${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15}"
export CELERY_TASK_ALWAYS_EAGER=true
export DJANGO_ALLOW_ASYNC_UNSAFE=true  # Playwright's sync API runs an event loop in the test thread
exec .venv/bin/python -m pytest "$@"
