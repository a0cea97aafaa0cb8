"""Staff pages benchmark: every page each role uses, at a million claims, beside the claim list in the same run.

On a bench database seeded by ``seed_volume`` (its staff users ``volume-<role>-1``), each
role logs in through Django's test client, as a browser would (session, authentication,
the view, the template), and opens the pages it works in: customer service the claim
list, a search by RMA number and the newest claim's page; the warehouse the inspection
queue; finance the refunds queue; the manager the dashboard over the default 12 weeks and
over two years, the SLA report, the "needs attention" page (its last stored check: the first
untimed request of a fresh database runs one), and a filtered claim export (time to its first
byte); customer service also searches the orders by an email typed in capitals.

For each page: two untimed requests, then ``--repeat`` timed ones; the median, the p95
(nearest rank) and the number of queries of one request. The reference is the unfiltered
claim list, timed the same way in the same run (interleaved: before and after the other
pages, all runs pooled), and every page's median is shown as a multiple of it. The goal
(issue 17): every page within 4× the claim list.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench_perf .venv/bin/python benchmarks/pages.py
"""

import argparse
import math
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from _common import claims_estimate, command_line, require_bench_database, server_version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

GOAL = 4.0  # each page within this multiple of the claim list


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11, help="timed requests per page (median and p95 printed)")
    parser.add_argument("--only", default="", help="run only pages whose label contains this text")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    return parser.parse_args()


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def page_list(cursor) -> list[tuple[str, str, str, bool]]:
    """(label, role, url, stream): the pages, each opened by the role that works in it."""
    from django.utils import timezone

    cursor.execute(
        "SELECT rma_number FROM returns_claim WHERE rma_number IS NOT NULL ORDER BY id DESC LIMIT 1 OFFSET 5000"
    )
    (rma,) = cursor.fetchone()
    cursor.execute("SELECT max(id) FROM returns_claim")
    (newest,) = cursor.fetchone()
    cursor.execute("SELECT customer_email FROM returns_order ORDER BY id DESC LIMIT 1 OFFSET 5000")
    (email,) = cursor.fetchone()
    today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    two_years = f"start={today - timedelta(days=2 * 365)}&end={today}"
    month = f"{today - timedelta(days=29)}..{today}"
    return [
        ("claim page (newest claim)", "cs", f"/admin/returns/claim/{newest}/change/", False),
        ("claims, search RMA number", "cs", f"/admin/returns/claim/?q={rma}", False),
        ("inspection queue", "warehouse", "/admin/inspections/inspection/queue/", False),
        ("refunds queue", "finance", "/admin/refunds/refund/", False),
        ("dashboard, 12 weeks", "manager", "/admin/dashboard/", False),
        ("dashboard, 2 years", "manager", f"/admin/dashboard/?{two_years}", False),
        ("SLA report", "manager", "/admin/sla/", False),
        ("needs attention", "manager", "/admin/attention/", False),
        ("orders, search email (other case)", "cs", f"/admin/returns/order/?q={email.upper()}", False),
        (
            "export CSV, DOA last 30 days (1st byte)",
            "manager",
            f"/admin/returns/claim/export/csv/?claim_type__exact=doa&made={month}",
            True,
        ),
    ]


def timed_get(client, url: str, stream: bool) -> float:
    """Seconds until the page's body (or, for a streamed export, its first piece) is in hand."""
    started = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    if stream:
        next(iter(response.streaming_content))
        elapsed = time.perf_counter() - started
        response.close()
        return elapsed
    return time.perf_counter() - started


def measure(client, url: str, stream: bool, repeat: int) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        timed_get(client, url, stream)
    with CaptureQueriesContext(connection) as captured:
        timed_get(client, url, stream)
    queries = len(captured.captured_queries)  # read now: the next request empties the log
    return [timed_get(client, url, stream) for _ in range(repeat)], queries


def main() -> None:
    args = parse_args()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    name = require_bench_database(connection, args.force)
    setup_test_environment()  # the test client's host; DEBUG stays off
    with connection.cursor() as cursor:
        server = server_version(cursor)
        estimate = claims_estimate(cursor)
        pages = [page for page in page_list(cursor) if args.only.lower() in page[0].lower()]

    from accounts.testing import force_login_verified

    clients = {}
    for role in ("cs", "warehouse", "finance", "manager"):
        clients[role] = Client()  # logged in, and past the second factor finance and managers need
        force_login_verified(clients[role], get_user_model().objects.get(username=f"volume-{role}-1"))
    reference_url = "/admin/returns/claim/"
    load_before = os.getloadavg()[0]
    reference, reference_queries = measure(clients["cs"], reference_url, False, args.repeat)
    results = []
    for label, role, url, stream in pages:
        seconds, queries = measure(clients[role], url, stream, args.repeat)
        results.append((label, role, seconds, queries))
    reference += measure(clients["cs"], reference_url, False, args.repeat)[0]
    load_after = os.getloadavg()[0]
    base = statistics.median(reference)

    print("Staff pages benchmark")
    print(f"  command   {command_line()}")
    print(f"  database  {name}: about {estimate:,} claims (pg_class.reltuples)")
    print(f"  server    {server}")
    print(f"  machine   {os.cpu_count()} CPUs; 1-min load {load_before:.2f} before, {load_after:.2f} after")
    print(f"  method    test client, 2 untimed then {args.repeat} timed requests per page; the reference (claim list)")
    print(f"            timed before and after the others ({len(reference)} requests pooled); goal ≤ {GOAL:g}×")
    print()
    rows = [("page", "role", "median ms", "p95 ms", "queries", "× claim list")]
    rows.append(("claim list (reference)", "cs", f"{base * 1000:.1f}", f"{p95(reference) * 1000:.1f}",
                 str(reference_queries), "1.0×"))  # fmt: skip
    for label, role, seconds, queries in results:
        median = statistics.median(seconds)
        ratio = median / base
        flag = "" if ratio <= GOAL else "  over"
        rows.append((label, role, f"{median * 1000:.1f}", f"{p95(seconds) * 1000:.1f}", str(queries),
                     f"{ratio:.1f}×{flag}"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  " + "  ".join(c.ljust(widths[i]) if i in (0, 1) else c.rjust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
