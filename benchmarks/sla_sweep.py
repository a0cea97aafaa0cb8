"""SLA sweep benchmark: ``sla_sweep`` over a million claims, 10,000 of them due, against the bare indexed SELECT.

On a bench database seeded by ``seed_volume`` (1,000,000 claims of which 10,000
have a first response due within the next 4 hours or already overdue, none
reminded or escalated yet), times ``returns.services.sla_sweep(now=as_of)``:
the reminders and escalations with their events and the digest emails, and in
the same run the bare SELECT of the same due rows with the same predicates. It
prints both times and their ratio, runs the sweep a second time to show it
sends nothing, and prints EXPLAIN (ANALYZE, BUFFERS) of the sweep's two
selecting queries, checking that neither scans returns_claim sequentially.
See benchmarks/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench_sla \\
        .venv/bin/python benchmarks/sla_sweep.py

Celery is pointed at kombu's in-memory broker, as in intake.py: the email tasks
the sweep queues on commit are published into this process's memory and never run.
"""

import argparse
import os
import re
import sys
import time
from datetime import timedelta
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line  # noqa: E402
from intake import describe_sql, ensure_database, other_backends, print_table  # noqa: E402

STAFF = (  # (username, group): the digests' recipients this script makes sure exist
    ("bench-sla-agent", "Customer service"),
    ("bench-sla-manager", "Manager"),
)
SLA_ACTIONS = ("sla_reminded", "sla_breached")
SLA_TEMPLATES = ("sla_due_soon", "sla_overdue")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=1_000_000, help="claims in the database (seeded if fewer)")
    parser.add_argument("--due", type=int, default=10_000, help="of which due or overdue for a first response")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (after one untimed warm-up round)")
    parser.add_argument("--reseed", action="store_true", help="empty the returns tables and seed again")
    parser.add_argument("--seed", type=int, default=None, help="seed_volume's random seed when seeding")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    parser.add_argument("--drop", action="store_true", help="drop the whole database at the end")
    args = parser.parse_args()
    if args.claims < 1 or args.due < 1 or args.repeat < 1 or args.due > args.claims:
        parser.error("--claims, --due and --repeat must be at least 1, and --due at most --claims")
    return args


def prepare_environment() -> None:
    """Celery on the in-memory broker, never eager (Celery reads the variable before its own config)."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)


# --- The data ---------------------------------------------------------------------------


def ensure_seeded(args) -> tuple[dict, str, float | None]:
    """(seed info, why it was (re)seeded or reused, seconds seeding took or None)."""
    from django.db import connection

    from backoffice import volume

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM returns_claim")
        (count,) = cursor.fetchone()
    info = volume.seeded()
    if info is not None:
        reset_markers(info["as_of"])  # what an interrupted run left
    if args.reseed:
        why = "--reseed"
    elif info is None:
        why = f"{count:,} claims, not seeded by seed_volume" if count else "empty database"
    elif count < args.claims:
        why = f"{count:,} claims, fewer than --claims {args.claims:,}"
    elif info["due"] != args.due:
        why = f"seeded with --due {info['due']:,}, not {args.due:,}"
    elif (due := pending(info["as_of"])) != args.due:
        why = f"{due:,} claims pending at the seed's moment, not {args.due:,} (changed since it was seeded)"
    else:
        return info, f"reused: {count:,} claims seeded by seed_volume", None
    print(f"Seeding {args.claims:,} claims ({why}); this takes a few minutes …", flush=True)
    plan = volume.Plan(claims=args.claims, due=args.due, **({"seed": args.seed} if args.seed is not None else {}))
    started = time.perf_counter()
    volume.seed(plan, truncate=True)
    seconds = time.perf_counter() - started
    return volume.seeded(), f"seeded now ({why})", seconds


def ensure_staff() -> dict:
    """A staff user with an email in each digest's group; returns group → active recipients with an email."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User

    for username, group_name in STAFF:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@staff.example.com", "is_staff": True}
        )
        user.groups.add(Group.objects.get(name=group_name))
    return {
        group: User.objects.filter(groups__name=group, is_active=True).exclude(email="").count()
        for group in (settings.SLA_REMINDER_GROUP, settings.SLA_ESCALATION_GROUP)
    }


def reset_markers(as_of) -> dict:
    """Put the due claims back as seeded: no marker the sweep set at ``as_of``, none of its events or digests.

    The sweep marks a claim with its ``now``, which is the seed's ``as_of`` here, and the seed
    leaves every due claim unmarked; the sweep's events are written after ``as_of``, the seed's before.
    """
    from django.conf import settings
    from django.db import connection, transaction

    soon = as_of + timedelta(hours=settings.SLA_REMIND_BEFORE_HOURS)
    counts = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for column in ("sla_reminded_at", "sla_breached_at"):
            cursor.execute(
                f"UPDATE returns_claim SET {column} = NULL WHERE first_response_due_at <= %s AND {column} = %s",
                [soon, as_of],
            )
            counts[column] = cursor.rowcount
        cursor.execute(
            "DELETE FROM returns_claimevent WHERE action = ANY(%s) AND created_at > %s AND claim_id IN "
            "(SELECT id FROM returns_claim WHERE first_response_due_at <= %s)",
            [list(SLA_ACTIONS), as_of, soon],
        )
        counts["events"] = cursor.rowcount
        cursor.execute("DELETE FROM returns_outboundemail WHERE template = ANY(%s)", [list(SLA_TEMPLATES)])
        counts["emails"] = cursor.rowcount
    return counts


def vacuum() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in ("returns_claim", "returns_claimevent", "returns_outboundemail"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - started


# --- What is timed ------------------------------------------------------------------------


def pending_queries(as_of):
    """The due claims as the seed made them (to check the data; the timed SELECT is the sweep's own SQL)."""
    from django.conf import settings

    soon = as_of + timedelta(hours=settings.SLA_REMIND_BEFORE_HOURS)
    return (
        (
            "SELECT id FROM returns_claim WHERE first_response_due_at >= %s AND first_response_due_at <= %s "
            "AND sla_reminded_at IS NULL ORDER BY first_response_due_at",
            [as_of, soon],
        ),
        (
            "SELECT id FROM returns_claim WHERE first_response_due_at < %s AND sla_breached_at IS NULL "
            "ORDER BY first_response_due_at",
            [as_of],
        ),
    )


def pending(as_of) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        return sum(len(cursor.execute(sql, params).fetchall()) for sql, params in pending_queries(as_of))


def bare_statements(selecting: list[str]) -> list[str]:
    """The sweep's own SELECTs (same WHERE, same ORDER BY), reading the id only and locking nothing."""
    bare = []
    for sql in selecting:
        sql = re.sub(r'^SELECT .*? FROM "returns_claim"', 'SELECT "returns_claim"."id" FROM "returns_claim"', sql)
        bare.append(re.sub(r" FOR UPDATE.*$", "", sql))
    return bare


def bare_select(statements: list[str]) -> list[int]:
    from django.db import connection

    ids = []
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the raw psycopg cursor
        for sql in statements:
            cursor.execute(sql)
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


def timed(call):
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def sla_rows_since(event_id: int, email_id: int) -> tuple[int, int]:
    from returns.models import ClaimEvent, OutboundEmail

    return (
        ClaimEvent.objects.filter(pk__gt=event_id, action__in=SLA_ACTIONS).count(),
        OutboundEmail.objects.filter(pk__gt=email_id, template__in=SLA_TEMPLATES).count(),
    )


def last_ids() -> tuple[int, int]:
    from django.db.models import Max

    from returns.models import ClaimEvent, OutboundEmail

    return (
        ClaimEvent.objects.aggregate(m=Max("pk"))["m"] or 0,
        OutboundEmail.objects.aggregate(m=Max("pk"))["m"] or 0,
    )


def one_round(as_of, bare: list[str]) -> dict:
    """Bare SELECT, sweep, sweep again; the due claims are then put back and the tables vacuumed."""
    from returns import services

    ids, bare_s = timed(lambda: bare_select(bare))
    event_id, email_id = last_ids()
    first, sweep_s = timed(lambda: services.sla_sweep(now=as_of))
    events, emails = sla_rows_since(event_id, email_id)
    event_id, email_id = last_ids()
    second, again_s = timed(lambda: services.sla_sweep(now=as_of))
    events_again, emails_again = sla_rows_since(event_id, email_id)
    reset = reset_markers(as_of)
    vacuum_s = vacuum()
    return {
        "bare_rows": len(ids),
        "bare_s": bare_s,
        "first": first,
        "sweep_s": sweep_s,
        "events": events,
        "emails": emails,
        "second": second,
        "again_s": again_s,
        "events_again": events_again,
        "emails_again": emails_again,
        "reset": reset,
        "vacuum_s": vacuum_s,
    }


# --- Not timed: where the time goes, and the plans -------------------------------------------


def profiled_sweep(as_of):
    """One more sweep under CaptureQueriesContext and a timing execute wrapper: its statements and their times."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from returns import services

    timings = []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((sql, time.perf_counter() - started))

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
        started = time.perf_counter()
        services.sla_sweep(now=as_of)
        total = time.perf_counter() - started
    reset_markers(as_of)
    vacuum()
    return captured.captured_queries, timings, total


def selecting_statements(captured) -> list[str]:
    """The sweep's SELECTs of due claims, as Django sent them (parameters inlined by psycopg)."""
    return [
        query["sql"]
        for query in captured
        if query["sql"].startswith("SELECT")
        and 'FROM "returns_claim"' in query["sql"]
        and "first_response_due_at" in query["sql"]
    ]


def explain(statements) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) each statement in a transaction that is rolled back (they lock rows)."""
    from django.db import connection, transaction

    plans = []
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)
    return plans


def shorten(sql: str) -> str:
    """A statement for print: the column list elided, long IN lists counted."""
    sql = re.sub(r'^SELECT .*? FROM "returns_claim"', 'SELECT "returns_claim".* FROM "returns_claim"', sql)
    return re.sub(r"IN \(([^)]{200,})\)", lambda m: f"IN (… {m.group(1).count(',') + 1} ids …)", sql)


# --- Main -------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    prepare_environment()
    import django
    from django.conf import settings

    db = settings.DATABASES["default"]  # reading settings does not start Django
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"sla_sweep.py measures PostgreSQL; DATABASE_URL points at {db['ENGINE']}.")
    created = ensure_database(db, args.force)  # refuses a name without "bench" unless --force
    django.setup()

    from django.core.management import call_command
    from django.db import connection

    from backoffice import volume
    from backoffice.celery import app as celery_app

    settings.DEBUG = False
    celery_app.conf.broker_url = "memory://"
    celery_app.conf.broker_transport_options = {}
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as broker:
        if broker.transport_cls != "memory":
            sys.exit(f"Celery is not on the in-memory broker but {broker.as_uri()}: refusing to publish tasks.")
    try:
        volume.check_database(args.force)
    except volume.VolumeError as error:
        sys.exit(str(error))

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('synchronous_commit'), current_setting('shared_buffers')")
        pg_version, synchronous_commit, shared_buffers = cursor.fetchone()

    info, seeded_how, seed_s = ensure_seeded(args)
    as_of = info["as_of"]
    recipients = ensure_staff()
    first_vacuum_s = vacuum()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), pg_size_pretty(pg_database_size(current_database())) FROM returns_claim")
        claims, db_size = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM returns_claim WHERE first_response_due_at IS NOT NULL")
        (running,) = cursor.fetchone()

    from kombu.transport.memory import Channel

    # Warm-up, untimed: templates compiled, caches warm, and the SQL the sweep sends captured.
    captured, _, warmup_s = profiled_sweep(as_of)
    statements = selecting_statements(captured)
    bare = bare_statements(statements)
    load_before, others_before = os.getloadavg()[0], other_backends()
    rounds = [one_round(as_of, bare) for _ in range(args.repeat)]
    load_after, others_after = os.getloadavg()[0], other_backends()
    published = sum(queue.qsize() for queue in Channel.queues.values())
    _, timings, profiled_s = profiled_sweep(as_of)
    plans = explain(statements)
    for queue in Channel.queues.values():
        queue.queue.clear()

    print("RMA SLA sweep benchmark")
    print(f"  command     {command_line()}")
    print(
        f"  database    {db['NAME']} on {db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}"
        f"{' (created and migrated)' if created else ' (migrated)'}; {db_size}"
    )
    print(f"  server      {pg_version}")
    print(f"  settings    synchronous_commit={synchronous_commit}, shared_buffers={shared_buffers}")
    print(
        f"  machine     {os.cpu_count()} CPUs; 1-min load {load_before:.2f} before, {load_after:.2f} after the timed "
        f"rounds; other client connections to the server {others_before} before, {others_after} after"
    )
    print(
        f"  celery      broker memory:// (in-process; the {published} email tasks queued on commit were published "
        "and never run), task_always_eager=False"
    )
    seeded_line = f"{seeded_how}" + (f" in {seed_s:.1f} s" if seed_s is not None else "")
    print(f"  data        {claims:,} claims, {running:,} with a running first-response clock; {seeded_line}")
    print(
        f"  sweep at    now={as_of.isoformat()} (the seed's moment), reminder threshold "
        f"{settings.SLA_REMIND_BEFORE_HOURS} h; digest recipients: "
        + ", ".join(f"{group} {count}" for group, count in recipients.items())
    )
    print(
        f"  between     each round puts the markers back (UPDATE … SET sla_*_at = NULL WHERE sla_*_at = now), deletes "
        f"the sweep's events and digests, VACUUM (ANALYZE); one warm-up sweep untimed (VACUUM before it {first_vacuum_s:.1f} s)"
    )
    print()
    rows = [
        (
            "round",
            "bare SELECT s",
            "rows",
            "sweep s",
            "reminded",
            "escalated",
            "events",
            "emails",
            "ratio",
            "2nd sweep s",
            "2nd sends",
        )
    ]
    for n, r in enumerate(rounds, 1):
        rows.append(
            (
                n,
                f"{r['bare_s']:.4f}",
                f"{r['bare_rows']:,}",
                f"{r['sweep_s']:.3f}",
                f"{r['first']['reminded']:,}",
                f"{r['first']['escalated']:,}",
                f"{r['events']:,}",
                r["emails"],
                f"{r['sweep_s'] / r['bare_s']:.0f}×",
                f"{r['again_s']:.4f}",
                f"{r['second']['reminded'] + r['second']['escalated']} claims, {r['events_again']} events, {r['emails_again']} emails",
            )
        )
    bare_m, sweep_m = median(r["bare_s"] for r in rounds), median(r["sweep_s"] for r in rounds)
    rows.append(
        (
            "median",
            f"{bare_m:.4f}",
            "",
            f"{sweep_m:.3f}",
            "",
            "",
            "",
            "",
            f"{sweep_m / bare_m:.0f}×",
            f"{median(r['again_s'] for r in rounds):.4f}",
        )
    )
    print_table(rows)
    print(f"  warm-up sweep (untimed, queries captured): {warmup_s:.3f} s")
    print("  bare SELECT: the sweep's own two statements, reading only the id and without FOR UPDATE:")
    for sql in bare:
        print(f"    {sql}")
    print()

    sql_s = sum(seconds for _, seconds in timings)
    print(f"Statements of one sweep (CaptureQueriesContext + execute wrapper, untimed run: {profiled_s:.3f} s in all)")
    shapes = {}
    for sql, seconds in timings:
        shape = describe_sql(sql)
        count, total = shapes.get(shape, (0, 0.0))
        shapes[shape] = (count + 1, total + seconds)
    for shape, (count, total) in shapes.items():
        print(f"  {count:3d}×  {total * 1000:9.1f} ms  {shape}")
    print(
        f"  SQL {sql_s * 1000:.1f} ms; the rest, {(profiled_s - sql_s) * 1000:.1f} ms, is Python (models, templates, commit)"
    )
    print()

    seq_scans = 0
    print(
        f"EXPLAIN (ANALYZE, BUFFERS) of the sweep's {len(statements)} selecting queries (on the reset data, rolled back)"
    )
    for sql, plan in zip(statements, plans, strict=True):
        print()
        print(f"  {shorten(sql)}")
        print()
        for line in plan.splitlines():
            print(f"    {line}")
        seq_scans += "Seq Scan on returns_claim" in plan
    print()
    if len(statements) != 2:
        print(f"CHECK FAILED: expected the sweep's two selecting queries, captured {len(statements)}")
    if seq_scans:
        print(f"CHECK FAILED: {seq_scans} plan(s) with a Seq Scan on returns_claim")
    else:
        print('Check: no "Seq Scan on returns_claim" in either plan.')
    if args.drop:
        from intake import drop_database

        drop_database(db)
        print(f"Dropped database {db['NAME']}.")
    if seq_scans or len(statements) != 2:
        sys.exit(1)


if __name__ == "__main__":
    main()
