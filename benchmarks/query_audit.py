"""Query audit: which statements of the test suite would read a whole big table on a seeded database.

    SQL_CAPTURE=var/statements.jsonl PYTHONPATH=benchmarks bash scripts/test.sh -p sql_capture -m "not browser"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench_load .venv/bin/python benchmarks/query_audit.py \\
        var/statements.jsonl

The tests run on small tables, where every plan is fast; this replays the shape of each statement they ran
(``sql_capture.py``) as ``EXPLAIN`` (never executed) on a bench database seeded by ``seed_volume``, with
``enable_seqscan = off`` so that what no index can serve still shows as a whole read, and lists the
statements whose plan reads all of a table above ``--min-rows``: a sequential scan, or an index scan with no
condition on a non-partial index, that filters rows or is not stopped by a ``LIMIT``. Statements are grouped
by shape (literals blanked), most frequent first, with one example each.

Not every finding is a defect: a test's own assertion, an export of everything, a migration's backfill, the
SQLite fallback a test forces, or a count bounded by ``LIMIT`` read whole on purpose. Read each.
"""

import argparse
import collections
import json
import os
import re
import sys
from pathlib import Path

from _common import command_line, require_bench_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "query-audit")

LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
LIST = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")


def shape(sql: str) -> str:
    """The statement with its literals blanked and its IN-lists folded: one entry per query the code makes."""
    return LIST.sub("(…)", LITERAL.sub("?", sql))


def whole_reads(plan: dict, big: dict[str, int], partial: set[str], limited: bool = False) -> list[str]:
    node = plan["Node Type"]
    limited = limited or node == "Limit"
    found = []
    relation = plan.get("Relation Name")
    reads_all = node == "Seq Scan" or (
        node in ("Index Scan", "Index Only Scan") and "Index Cond" not in plan and plan["Index Name"] not in partial
    )
    if relation in big and reads_all and ("Filter" in plan or not limited):
        found.append(f"{node} on {relation} ({big[relation]:,} rows) {plan.get('Filter', '')}".rstrip())
    for child in plan.get("Plans", []):
        found += whole_reads(child, big, partial, limited)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", help="the file sql_capture.py wrote")
    parser.add_argument("--min-rows", type=int, default=20_000, help="tables smaller than this are not reported")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection, transaction

    name = require_bench_database(connection, args.force)
    counts = collections.Counter()
    examples = {}
    with open(args.capture, encoding="utf-8") as lines:
        for line in lines:
            sql = json.loads(line)
            words = sql.split(None, 1)
            if not words or words[0].upper() not in ("SELECT", "WITH", "UPDATE", "DELETE"):
                continue  # DDL, SET, savepoints, inserts: nothing to read whole
            key = shape(sql)
            counts[key] += 1
            examples.setdefault(key, sql)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind = 'r' AND reltuples >= %s", [args.min_rows]
        )
        big = dict(cursor.fetchall())
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%% WHERE %%'")
        partial = {row[0] for row in cursor.fetchall()}
    findings, failed = [], 0
    for key, sql in examples.items():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql)  # no parameters: a % is a % here
                plan = cursor.fetchone()[0]
                if isinstance(plan, str):
                    plan = json.loads(plan)
        except Exception:  # a statement of a table this database lacks, a temporary object of a test
            failed += 1
            continue
        reads = whole_reads(plan[0]["Plan"], big, partial)
        if reads:
            findings.append((counts[key], reads, sql))

    print("Query audit")
    print(f"  command   {command_line()}")
    print(f"  database  {name}: tables of at least {args.min_rows:,} rows: {len(big)}")
    print(f"  capture   {sum(counts.values()):,} statements, {len(examples):,} shapes; {failed} not explainable here")
    print(f"  found     {len(findings)} shapes reading a whole big table\n")
    for count, reads, sql in sorted(findings, key=lambda finding: -finding[0]):
        print(f"{count:>6}×  " + "\n         ".join(reads))
        print(f"         {sql[:600]}{'…' if len(sql) > 600 else ''}\n")


if __name__ == "__main__":
    main()
