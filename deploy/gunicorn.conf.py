"""gunicorn for the web processes: ``gunicorn -c deploy/gunicorn.conf.py backoffice.wsgi``.

One command serves the whole back-office, static files included (WhiteNoise, after
``collectstatic``). Values come from the environment so that systemd, the container and the
load test (benchmarks/load.py) start the same server; docs/operations.md explains the choices.
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Pages are CPU-bound (templates, the ORM): about two processes per CPU keeps every CPU busy while
# some wait on PostgreSQL. Scale out with more machines, not more processes per CPU.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
# Settings, apps and templates loaded once in the master, shared by the forks.
preload_app = True
# A request longer than this is killed (and logged): exports above EXPORT_STREAM_MAX_ROWS are tasks.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
# Behind the load balancer: keep its connections open a little longer than its idle timeout expects.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
# A worker is replaced after this many requests (jittered), so that slow leaks never add up.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = max_requests // 10
# The load balancer's addresses, whose X-Forwarded-Proto/For are believed ("*" only behind a private LB).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files in memory, not on a container's overlay disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Logs on stderr as JSON lines, like the application's (backoffice/logs.py); the access line carries
# the request id the application answered in X-Request-ID.
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "true").lower() == "true" else None
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "process"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
# Python's cyclic garbage collector: a claim page allocates enough containers to trigger about nine
# collections at the default threshold (700), each walking the whole heap of the loaded app: 6-15 ms of a
# 45-60 ms page (measured, docs/operations.md "Load"). The app's objects, loaded once in the master, are
# frozen out of every collection before the fork (which also keeps their pages shared between the forks,
# as the gc module's documentation advises), and the youngest generation is collected every 50,000
# allocations instead of 700 (GUNICORN_GC_THRESHOLD; 0 keeps Python's default).
GC_THRESHOLD = int(os.environ.get("GUNICORN_GC_THRESHOLD", 50_000))


def pre_fork(server, worker):
    gc.freeze()


def post_fork(server, worker):
    if GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


# Nothing here uses gunicorn's control socket; one per user would clash between instances on a machine.
control_socket_disable = True
