"""Where a page's time goes: each page of the load test, profiled in this process with production settings.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench_load .venv/bin/python benchmarks/profile_pages.py

Run benchmarks/load.py once first (it seeds the database and makes the load-<role>-<n> staff users). For
each page: the median of ``--repeat`` requests through Django's test client (after one untimed), split
into time in SQL (every statement timed by an execute wrapper, rows fetched included), time opening the
database connection, and the rest (Python: middleware, view, ORM, templates); then the functions with the
most time of their own under cProfile. Run it without gevent (the load test's Locust patches the
standard library, which distorts a profile).
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "profile-pages")

PAGES = {  # the load test's pages (benchmarks/load.py WORKLOAD), by role
    "cs": [
        ("claim list (requested)", "/admin/returns/claim/?status__exact=requested"),
        ("claim search", "/admin/returns/claim/?q={order}"),
        ("claim page", "/admin/returns/claim/{claim}/change/"),
    ],
    "warehouse": [
        ("inspection queue", "/admin/inspections/inspection/queue/"),
        ("receive parcel page", "/admin/shipments/returnparcel/receive/"),
    ],
    "finance": [("refund queue", "/admin/refunds/refund/"), ("refund page", "/admin/refunds/refund/{refund}/change/")],
    "manager": [
        ("dashboard", "/admin/dashboard/"),
        ("SLA report", "/admin/sla/"),
        ("claim list", "/admin/returns/claim/"),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--top", type=int, default=8, help="functions listed per page")
    parser.add_argument("--page", help="only pages whose name contains this")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.testing import force_login_verified

    setup_test_environment()  # the test client's host; nothing else changes for the pages
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, order_number FROM returns_claim WHERE rma_number IS NOT NULL ORDER BY id LIMIT 1")
        claim, order = cursor.fetchone()
        cursor.execute("SELECT id FROM refunds_refund ORDER BY id LIMIT 1")
        (refund,) = cursor.fetchone()
    print(f"profile_pages: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"  CONN_MAX_AGE {connection.settings_dict['CONN_MAX_AGE']}, sessions {django.conf.settings.SESSION_ENGINE}")
    print(f"\n{'page':<24} {'ms':>6} {'SQL ms':>7} {'connect':>7} {'other':>6} {'queries':>7}")
    profiles = []
    for role, pages in PAGES.items():
        client = Client()
        force_login_verified(client, get_user_model().objects.get(username=f"load-{role}-1"))
        for name, template in pages:
            if args.page and args.page not in name:
                continue
            path = template.format(claim=claim, order=order, refund=refund)
            assert client.get(path).status_code == 200, path
            runs = [measure(client, path, connection) for _ in range(args.repeat)]
            total, sql, connect, queries = (statistics.median(values) for values in zip(*runs, strict=True))
            print(f"{name:<24} {total:>6.1f} {sql:>7.1f} {connect:>7.1f} {total - sql - connect:>6.1f} {queries:>7.0f}")
            profiler = cProfile.Profile()
            profiler.enable()
            client.get(path)
            profiler.disable()
            profiles.append((name, profiler))
    for name, profiler in profiles:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        print(f"\n=== {name}: most own time (one request)")
        print("\n".join(line.replace(str(ROOT), ".").replace(sys.prefix, "venv") for line in lines[3:]))


def measure(client, path, connection) -> tuple[float, float, float, int]:
    """One request: total, SQL and connection-opening milliseconds, and the number of statements."""
    spent = {"sql": 0.0, "queries": 0}

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent["sql"] += time.perf_counter() - start
            spent["queries"] += 1

    opened = {"seconds": 0.0}
    original = connection.connect

    def connect():
        start = time.perf_counter()
        original()
        opened["seconds"] += time.perf_counter() - start

    connection.connect = connect
    # As under gunicorn: the test client keeps the connection, a server closes it after every request
    # unless CONN_MAX_AGE keeps it.
    if not connection.settings_dict["CONN_MAX_AGE"]:
        connection.close()
    try:
        with connection.execute_wrapper(timed):
            start = time.perf_counter()
            client.get(path)
            total = time.perf_counter() - start
    finally:
        del connection.connect
    return total * 1000, spent["sql"] * 1000, opened["seconds"] * 1000, spent["queries"]


if __name__ == "__main__":
    main()
