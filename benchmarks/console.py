"""Staff console benchmark: the sidebar's badges and the search box at a million claims, beside the claim list.

Read-only, on a database seeded by ``seed_volume``. For the badges (``backoffice.navigation.counts``, one query
for all of a user's queues, each capped) and for each kind of search (``backoffice.search.find_claims``: RMA
number, order number, email, tracking number, serial number, the first page of results read), it prints the
median and p95 of ``--repeat`` runs after one untimed, beside the **reference** measured in the same run: the
claim list's own page query (the newest 100 claims with their orders). Then the plan of the badge query.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench .venv/bin/python benchmarks/console.py
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11, help="timed runs per figure (median and p95 printed)")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    return parser.parse_args()


def timed(run, repeat: int) -> tuple[float, float]:
    run()  # untimed: plans and caches warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def main() -> None:
    args = parse_args()
    import django

    django.setup()
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backoffice import navigation, search
    from returns.models import Claim, ClaimItem
    from shipments.models import ReturnParcel

    name = connection.settings_dict["NAME"]
    if "bench" not in name and not args.force:
        sys.exit(f"refusing {name!r}: not a bench database (use --force)")

    class Superuser(AnonymousUser):
        """Every queue (a superuser's permissions), without a row of its own: the run writes nothing."""

        is_active = is_staff = is_superuser = True

        def has_perm(self, perm, obj=None):
            return True

    class Request:
        def __init__(self):
            self.user = Superuser()

    def badges():
        return navigation.counts(Request())

    claims = Claim.objects.count()
    newest = Claim.objects.filter(rma_number__isnull=False).order_by("-id")[5000]
    terms = {
        "RMA number": newest.rma_number,
        "order number": newest.order_number,
        "email": newest.customer_email,
        "tracking number": ReturnParcel.objects.exclude(tracking_number="")
        .order_by("-id")
        .values_list("tracking_number", flat=True)
        .first(),
        "serial number": ClaimItem.objects.exclude(serial_number="")
        .order_by("-id")
        .values_list("serial_number", flat=True)
        .first(),
    }

    def reference():
        return list(Claim.objects.select_related("order").order_by("-id")[:100])

    print(f"database {name}: {claims:,} claims; {args.repeat} runs each, milliseconds")
    ref_median, ref_p95 = timed(reference, args.repeat)
    rows = [("claim list's page query (reference)", ref_median, ref_p95, "")]
    median, p95 = timed(badges, args.repeat)
    rows.append(("badges: every queue, one query", median, p95, str(badges())))
    # A number that is nowhere: every branch of the UNION looks and finds nothing (the worst case).
    terms["a number found nowhere"] = "ZZ-NOT-A-NUMBER-0000"
    for kind, term in terms.items():
        if not term:
            term = "ZZ-NOT-A-NUMBER-0000"
            kind = f"{kind} (none in the data: a miss)"
        found = len(list(search.find_claims(Claim.objects.select_related("order"), term)[:100]))
        median, p95 = timed(
            lambda term=term: list(search.find_claims(Claim.objects.select_related("order"), term)[:100]), args.repeat
        )
        rows.append((f"search by {kind}", median, p95, f"{found} found"))
    print(f"{'':56} {'median':>8} {'p95':>8} {'× ref':>6}")
    for label, median, p95, note in rows:
        print(f"{label:56} {median:8.1f} {p95:8.1f} {median / ref_median:6.1f}  {note}")

    with CaptureQueriesContext(connection) as captured:
        badges()
    (sql,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(navigation.SQL_MARK)]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
        print("\nthe badges' plan:\n" + "\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
