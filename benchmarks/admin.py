"""Admin list benchmark: the claim list at a million claims, beside the bare SQL of the same page.

On a bench database seeded by ``seed_volume``, a manager (``volume-manager-1``, from
the seed) opens the claim list through Django's test client, as a browser would
(session, authentication, the changelist, the template): unfiltered, filtered, and
searched by RMA number, order number and email; and the refunds queue. For each page
it prints the median time of ``--repeat`` requests (after two untimed), the number of
queries, and in the same run the **bare SQL**: the very statements the page ran
(captured with ``CaptureQueriesContext``), executed again on the raw psycopg cursor
with their rows fetched, median of as many runs. The ratio is the page ÷ its SQL:
what Django, the admin and the template add. Then the plan of each page's main
SELECT, to show which index it uses.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench_reports .venv/bin/python benchmarks/admin.py
"""

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

from _common import claims_estimate, command_line, require_bench_database, server_version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

USERNAME = "volume-manager-1"  # made by seed_volume, in the Manager group


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11, help="timed requests per page (median printed)")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    return parser.parse_args()


def pages(cursor) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT rma_number, order_number, customer_email FROM returns_claim "
        "WHERE rma_number IS NOT NULL ORDER BY id DESC LIMIT 1 OFFSET 5000"
    )
    rma, order, email = cursor.fetchone()
    return [
        ("claims, unfiltered", "/admin/returns/claim/"),
        ("claims, status + type", "/admin/returns/claim/?status__exact=shipped&claim_type__exact=doa"),
        ("claims, electronic, last 30 days", "/admin/returns/claim/?is_electronic__exact=1&made=" + last_days(30)),
        ("claims, first response overdue", "/admin/returns/claim/?first_response=overdue"),
        ("claims, search RMA number", f"/admin/returns/claim/?q={rma}"),
        ("claims, search order number", f"/admin/returns/claim/?q={order}"),
        ("claims, search email", f"/admin/returns/claim/?q={email}"),
        ("claims, page 50", "/admin/returns/claim/?p=50"),
        ("refunds queue (open)", "/admin/refunds/refund/"),
    ]


def last_days(n: int) -> str:
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    return f"{today - timedelta(days=n - 1)}..{today}"


def main() -> None:
    args = parse_args()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    name = require_bench_database(connection, args.force)
    setup_test_environment()  # the test client's host; DEBUG stays off
    with connection.cursor() as cursor:
        server = server_version(cursor)
        estimate = claims_estimate(cursor)
        page_list = pages(cursor)

    from accounts.testing import force_login_verified

    client = Client()
    # Managers verify a second factor at login (accounts): the session is marked verified, as after one.
    force_login_verified(client, get_user_model().objects.get(username=USERNAME))
    load_before = os.getloadavg()[0]
    results = []
    for label, url in page_list:
        for _ in range(2):
            assert client.get(url).status_code == 200, url
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        statements = [query["sql"] for query in captured.captured_queries]
        result_count = response.context["cl"].result_count
        seconds = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            client.get(url)
            seconds.append(time.perf_counter() - started)
        bare = []
        raw = connection.cursor().cursor
        for _ in range(args.repeat):
            started = time.perf_counter()
            for sql in statements:
                raw.execute(sql)
                raw.fetchall()
            bare.append(time.perf_counter() - started)
        paginator = response.context["cl"].paginator
        full = [sql for sql in statements if re.search(r"COUNT\(\*\)", sql) and "LIMIT" not in sql]
        how = "FULL COUNT" if full else ("estimate (pg_class)" if paginator.estimated else "bounded (LIMIT)")
        main_select = max((s for s in statements if "FROM \"returns_claim\"" in s or "FROM \"refunds_refund\"" in s),
                          key=len)  # fmt: skip
        raw.execute("EXPLAIN " + main_select)
        plan = [row[0] for row in raw.fetchall()]
        results.append((label, url, statistics.median(seconds), len(statements), statistics.median(bare), how,
                        result_count, plan))  # fmt: skip
    load_after = os.getloadavg()[0]
    client.logout()

    print("Admin list benchmark")
    print(f"  command   {command_line()}")
    print(f"  database  {name}: about {estimate:,} claims (pg_class.reltuples)")
    print(f"  server    {server}")
    print(f"  machine   {os.cpu_count()} CPUs; 1-min load {load_before:.2f} before, {load_after:.2f} after")
    print(f"  user      {USERNAME} (Manager group), {args.repeat} timed requests per page after 2 untimed; medians")
    print()
    rows = [("page", "ms", "queries", "bare SQL ms", "page/SQL", "count", "shown as")]
    for label, _, page_s, queries, bare_s, how, result_count, _ in results:
        rows.append((label, f"{page_s * 1000:.1f}", str(queries), f"{bare_s * 1000:.1f}", f"{page_s / bare_s:.1f}×",
                     how, f"{result_count:,}"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  " + "  ".join(c.ljust(widths[i]) if i in (0, 5) else c.rjust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print()
    print("  queries: everything the page ran (session, user, manager check, permissions, count, rows).")
    print("  bare SQL: the same statements on the raw cursor, rows fetched. count: how the paginator counted.")
    print()
    print("Plans of each page's main SELECT (EXPLAIN, first lines)")
    for label, url, *_, plan in results:
        print(f"  {label}: {url}")
        for line in plan[:6]:
            print(f"      {line}")


if __name__ == "__main__":
    main()
