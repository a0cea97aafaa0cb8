#!/usr/bin/env bash
# Run the back-office on this machine with demo data: SQLite in var/, the
# filesystem Celery broker in var/broker/, a real worker and beat (logs in
# var/log/), emails written to var/emails/, files in media/, and Django's
# development server on 127.0.0.1:${PORT:-8000}. Ctrl-C stops everything.
# Needs only Python 3.11; safe to run again (the demo data is not duplicated).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-venv.sh

export DJANGO_DEBUG=true
export PYTHONUNBUFFERED=1
port="${PORT:-8000}"
url="http://127.0.0.1:${port}/admin/"
# Links in the customers' emails (the tracking page) point at this server.
export SITE_URL="${SITE_URL:-http://127.0.0.1:${port}}"

mkdir -p var/log var/run var/emails var/inbox media

# A pid file left by an earlier run: stale if its process is gone (or is not celery),
# refused if that run is still going, so that exactly one beat runs.
for name in worker beat; do
    pidfile="var/run/${name}.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q celery; then
        echo "A celery $name started by another run of this copy is still running (pid $pid): stop that run first (Ctrl-C in its terminal, or kill $pid)." >&2
        exit 1
    fi
    rm -f "$pidfile"
done

.venv/bin/python manage.py migrate --noinput
# The customers' languages: each catalogue in locale/ compiled (gettext's msgfmt; English needs none).
if command -v msgfmt >/dev/null; then
    .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=var -v0
elif ls locale/*/LC_MESSAGES/django.po 2>/dev/null | grep -qv '^locale/en/'; then
    echo "gettext is not installed: the translations in locale/ are not compiled (apt-get install gettext)." >&2
fi
# Printed just before the server starts: the logins are the last thing above its log.
demo_summary="$(.venv/bin/python manage.py load_demo --url "$url")"

pids=()
stop_all() {
    # A second Ctrl-C must not leave the worker behind: wait it out (a stuck one is killed after 30 s).
    trap '' INT TERM
    trap - EXIT
    [ "${#pids[@]}" -gt 0 ] || return 0
    echo
    echo "Stopping the server, the worker and beat (a worker takes a few seconds)..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 60); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.5
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    echo "Stopped."
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --pool=solo: with acks_late and prefetch 1 (settings.py), a prefork pool on the
# filesystem transport manages about concurrency / polling interval tasks a second;
# one process polling every 0.1 s is plenty for the demo.
.venv/bin/celery -A backoffice worker --pool=solo -l info \
    --pidfile var/run/worker.pid >var/log/worker.log 2>&1 &
pids+=($!)
# Its schedule file is var/celerybeat-schedule (CELERY_BEAT_SCHEDULE_FILENAME).
.venv/bin/celery -A backoffice beat -l info --pidfile var/run/beat.pid >var/log/beat.log 2>&1 &
pids+=($!)

echo
echo "$demo_summary"
echo
echo "Worker and beat logs: var/log/worker.log, var/log/beat.log; emails written to var/emails/."
echo "The customer's pages: ${SITE_URL}/portal/ (a demo order's number and email; the link arrives in var/emails/)."
echo "Customers' emails: drop .eml files into var/inbox/ (read every minute, then moved to var/inbox/processed/)."
echo "Ctrl-C stops the server, the worker and beat."
echo

# In the background and waited for, so that a signal to this script runs the trap at once.
.venv/bin/python manage.py runserver --noreload "127.0.0.1:${port}" &
pids+=($!)
wait "${pids[-1]}"
