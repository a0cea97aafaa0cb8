"""Login benchmark: what a wrong password costs the server, and what a locked-out one costs.

A flood of wrong passwords starved working staff because each one is a full password hash (PBKDF2, Django's
default iterations). Once a username or an address is locked (accounts, django-axes), axes refuses the attempt
before any hash. Through Django's test client on PostgreSQL, with the production password hasher, this times
the median of ``--repeat`` POSTs to the admin's login of each kind, with their query counts, beside the login
page's own GET (the reference: a page that hashes nothing) in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench .venv/bin/python benchmarks/logins.py
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from _common import command_line, require_bench_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

USERNAME = "bench-login-user"
PASSWORD = "bench-login-password-42"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11, help="timed requests per kind (median printed)")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import django

    django.setup()
    from axes.models import AccessAttempt, AccessLog
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import get_hasher
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    name = require_bench_database(connection, args.force)
    call_command("migrate", verbosity=0)
    setup_test_environment()
    User = get_user_model()
    User.objects.filter(username=USERNAME).delete()
    User.objects.create_user(username=USERNAME, password=PASSWORD, is_staff=True)

    def clear():
        AccessAttempt.objects.filter(username=USERNAME).delete()
        AccessAttempt.objects.filter(ip_address="192.0.2.1").delete()

    def post(password):
        client = Client(REMOTE_ADDR="192.0.2.1")
        return client.post("/admin/login/", {"username": USERNAME, "password": password, "next": "/admin/"})

    def get_page():
        return Client(REMOTE_ADDR="192.0.2.1").get("/admin/login/")

    def measure(call, expect, before=None):
        seconds, queries = [], None
        for n in range(args.repeat + 1):
            if before:
                before()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = call()
                elapsed = time.perf_counter() - started
            assert response.status_code == expect, (response.status_code, expect)
            if n:  # the first one warms up
                seconds.append(elapsed)
                queries = len(captured.captured_queries)
        return statistics.median(seconds), queries

    def lock():
        for _ in range(settings.AXES_FAILURE_LIMIT):
            post("wrong")

    try:
        clear()
        reference = measure(get_page, 200)
        right = measure(lambda: post(PASSWORD), 302, before=clear)
        wrong = measure(lambda: post("wrong"), 200, before=clear)
        clear()
        lock()
        locked_right = measure(lambda: post(PASSWORD), 429)
        locked_wrong = measure(lambda: post("wrong"), 429)
    finally:
        clear()
        AccessLog.objects.filter(username=USERNAME).delete()
        User.objects.filter(username=USERNAME).delete()

    hasher = get_hasher()
    print("Login benchmark")
    print(f"  command   {command_line()}")
    print(f"  database  {name}; {os.cpu_count()} CPUs; 1-min load {os.getloadavg()[0]:.2f}")
    print(f"  hasher    {hasher.algorithm}, {getattr(hasher, 'iterations', '?'):,} iterations")
    print(f"  lockout   {settings.AXES_FAILURE_LIMIT} failures per username or address; medians of {args.repeat}")
    print()
    rows = [("request", "ms", "queries", "÷ login page")]
    for label, (seconds, queries) in (
        ("GET the login page (reference)", reference),
        ("right password", right),
        ("wrong password, not locked", wrong),
        ("locked out, right password", locked_right),
        ("locked out, wrong password", locked_wrong),
    ):
        rows.append((label, f"{seconds * 1000:.1f}", str(queries), f"{seconds / reference[0]:.1f}×"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print()
    print(f"  a locked-out attempt costs {locked_wrong[0] / wrong[0]:.2f}× a wrong password that is still hashed")


if __name__ == "__main__":
    main()
