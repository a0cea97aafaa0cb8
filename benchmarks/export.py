"""Export benchmark: the claim list exported to CSV and to Excel, beside PostgreSQL's own COPY of the same rows.

On a bench database seeded by ``seed_volume`` (a million claims), each export runs
in its own subprocess, so each has its own peak memory (``ru_maxrss``):

- **csv**: ``backoffice.exports`` as the Celery task runs it: the admin list's
  queryset rebuilt for a manager with no filter (``changelist_queryset``), read
  through a server-side cursor in chunks, each row turned into the managers'
  columns (labels, company time, money, neutralised text) and written with
  ``csv.writer`` to a temporary file;
- **copy**: ``COPY (<the same SELECT>) TO STDOUT WITH CSV HEADER`` through psycopg's
  COPY protocol into a temporary file: the same rows and columns as the database
  stores them (codes, UTC timestamps, t/f), with no Python per row: the floor;
- **xlsx**: the same export written by openpyxl's write-only mode.

It prints seconds, rows per second, file size, the peak resident memory of the
process and how much of it the export added after Django had started, and the
ratio of the CSV export's time to COPY's. A warm-up COPY runs first (not timed) so
both start from the same cache; with ``--repeat R`` the CSV and COPY runs alternate
and the medians are printed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench_reports .venv/bin/python benchmarks/export.py
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import command_line, require_bench_database, server_version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

USERNAME = "volume-manager-1"  # made by seed_volume, in the Manager group


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="CSV and COPY runs each (medians printed)")
    parser.add_argument("--skip-xlsx", action="store_true", help="leave out the Excel export (minutes at 1M rows)")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    parser.add_argument("--child", choices=("csv", "copy", "xlsx"), help=argparse.SUPPRESS)
    return parser.parse_args()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# --- One export, in its own process ----------------------------------------------------------


def child(kind: str) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from backoffice import exports
    from returns.models import Claim

    user = get_user_model().objects.get(username=USERNAME)
    queryset = exports.changelist_queryset(Claim, "", user)
    export = exports.CLAIMS
    connection.ensure_connection()
    started_mb = peak_mb()
    with tempfile.NamedTemporaryFile(prefix=f"export-{kind}-", delete=True) as target:
        started = time.perf_counter()
        if kind == "csv":
            with open(target.name, "w", encoding="utf-8", newline="") as out:
                exports.write_csv(export, queryset, out)
        elif kind == "xlsx":
            with open(target.name, "wb") as out:
                exports.write_xlsx(export, queryset, out)
        else:
            # The export's own SELECT (dates formatted by the database, as the CSV export reads them),
            # its parameters inlined by psycopg: COPY takes none.
            sql, params = export.values(queryset, "csv").query.sql_with_params()
            with connection.cursor() as cursor:
                sql = cursor.cursor.mogrify(sql, params)
            statement = f"COPY ({sql}) TO STDOUT WITH CSV HEADER"
            with open(target.name, "wb") as out, connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
                for data in copy:
                    out.write(data)
        seconds = time.perf_counter() - started
        size = os.path.getsize(target.name)
    rows = queryset.count() if kind == "copy" else None
    print(json.dumps({"kind": kind, "seconds": seconds, "bytes": size, "peak_mb": peak_mb(), "start_mb": started_mb,
                      "rows": rows}))  # fmt: skip


def run_child(kind: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind], capture_output=True, text=True, check=False, env=os.environ
    )
    if result.returncode:
        sys.exit(f"{kind} export failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- The parent ----------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    if args.child:
        child(args.child)
        return
    import django

    django.setup()
    from django.db import connection

    from backoffice import exports

    name = require_bench_database(connection, args.force)
    with connection.cursor() as cursor:
        server = server_version(cursor)
        cursor.execute("SELECT count(*) FROM returns_claim")
        (claims,) = cursor.fetchone()
    connection.close()

    load_before = os.getloadavg()[0]
    run_child("copy")  # warm-up: the tables in the cache for both
    copies, csvs = [], []
    for _ in range(args.repeat):
        copies.append(run_child("copy"))
        csvs.append(run_child("csv"))
    xlsx = None if args.skip_xlsx else run_child("xlsx")
    load_after = os.getloadavg()[0]

    def median(runs, key):
        return statistics.median(run[key] for run in runs)

    print("Export benchmark: the claim list, unfiltered")
    print(f"  command   {command_line()}")
    print(f"  database  {name}: {claims:,} claims")
    print(f"  server    {server}")
    print(f"  machine   {os.cpu_count()} CPUs; 1-min load {load_before:.2f} before, {load_after:.2f} after")
    print(f"  columns   {len(exports.CLAIMS.columns)}: {', '.join(exports.CLAIMS.headers)}")
    print(f"  runs      {args.repeat} each of COPY and CSV (medians), after one untimed COPY; one process per run")
    print()
    rows = [("", "seconds", "rows/s", "MB written", "peak MB", "added MB")]
    for label, runs in (("COPY … TO STDOUT WITH CSV", copies), ("CSV export (backoffice.exports)", csvs)):
        seconds = median(runs, "seconds")
        rows.append(
            (
                label,
                f"{seconds:.2f}",
                f"{claims / seconds:,.0f}",
                f"{median(runs, 'bytes') / 1e6:,.1f}",
                f"{median(runs, 'peak_mb'):.0f}",
                f"{median(runs, 'peak_mb') - median(runs, 'start_mb'):.0f}",
            )
        )
    if xlsx:
        rows.append(
            (
                "Excel export (openpyxl write-only)",
                f"{xlsx['seconds']:.2f}",
                f"{claims / xlsx['seconds']:,.0f}",
                f"{xlsx['bytes'] / 1e6:,.1f}",
                f"{xlsx['peak_mb']:.0f}",
                f"{xlsx['peak_mb'] - xlsx['start_mb']:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  " + "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    ratio = median(csvs, "seconds") / median(copies, "seconds")
    csv_peak = max(run["peak_mb"] for run in csvs)
    print()
    print(f"  ratio CSV export / COPY: {ratio:.2f}×  (goal: within 3×)  {'OK' if ratio <= 3 else 'OVER'}")
    print(f"  CSV export peak memory: {csv_peak:.0f} MB  (goal: under 150 MB)  {'OK' if csv_peak < 150 else 'OVER'}")
    if xlsx:
        print(f"  ratio Excel export / COPY: {xlsx['seconds'] / median(copies, 'seconds'):.1f}×")
    print("  peak MB: the process's peak resident set (ru_maxrss), Django and the interpreter included;")
    print("  added MB: the peak minus the peak before the export started (after django.setup and the connection).")


if __name__ == "__main__":
    main()
