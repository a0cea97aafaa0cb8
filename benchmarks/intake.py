"""Intake benchmark: N claims created and approved through the services on PostgreSQL.

Times ``claim_create`` for N claims, then ``claim_approve`` for the same N
(the whole-package photo each approval needs is bulk-inserted in between, not
timed), and in the same run a bare bulk write of the very rows the services
wrote (claims, claim items, 2 events and 2 emails per claim, the RMA counter)
through the raw psycopg cursor. It prints both rates, their ratio and the
queries each service call makes. See benchmarks/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench \\
        .venv/bin/python benchmarks/intake.py --claims 2000

Celery is pointed at kombu's in-memory broker: the tasks the services queue on
commit (emails, thumbnails) are published into this process's memory and never
run. Files go to a temporary MEDIA_ROOT unless S3 is configured.
"""

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from statistics import mean

from _common import command_line

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "BENCH-"  # every row this script creates carries it (order numbers, SKUs, username)
USERNAME = "bench-intake-agent"
EVIDENCE_NAME = "evidence/bench/whole.png"
CLAIM_TYPES = ("no_reason", "doa", "warranty")  # cycled, so every email template and window is exercised


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=500, help="claims created and approved in the timed run")
    parser.add_argument("--sample", type=int, default=20, help="claims whose queries are captured (not timed)")
    parser.add_argument("--warmup", type=int, default=5, help="claims run before timing starts")
    parser.add_argument(
        "--bare",
        choices=("copy", "values"),
        default="copy",
        help="reference write: COPY ... FROM STDIN (default) or multi-row INSERT ... VALUES",
    )
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    parser.add_argument("--drop", action="store_true", help="drop the whole database at the end")
    args = parser.parse_args()
    if args.claims < 1 or args.sample < 1 or args.warmup < 0:
        parser.error("--claims and --sample must be at least 1, --warmup at least 0")
    return args


# --- Environment, before Django starts ---------------------------------------


def prepare_environment() -> str | None:
    """Celery on the in-memory broker, never eager; files in a temporary MEDIA_ROOT."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    # Celery reads CELERY_BROKER_URL from the environment before its own config: set it here.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
        return None
    media = tempfile.mkdtemp(prefix="rma-bench-media-")
    os.environ["MEDIA_ROOT"] = media
    return media


def ensure_database(db: dict, force: bool) -> bool:
    """Refuse a non-bench database, create it if missing; True when created."""
    import psycopg
    from psycopg import sql

    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"intake.py measures PostgreSQL; DATABASE_URL points at {db['ENGINE']}.")
    name = db["NAME"]
    if "bench" not in name and not force:
        sys.exit(
            f"Refusing to run on database {name!r}: it creates, deletes and migrates data. "
            "Use a database whose name contains 'bench', or pass --force."
        )
    params = {"host": db.get("HOST"), "port": db.get("PORT"), "user": db.get("USER"), "password": db.get("PASSWORD")}
    params = {key: str(value) for key, value in params.items() if value}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(db: dict) -> None:
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    params = {"host": db.get("HOST"), "port": db.get("PORT"), "user": db.get("USER"), "password": db.get("PASSWORD")}
    params = {key: str(value) for key, value in params.items() if value}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(db["NAME"])))


# --- Setup (not timed) --------------------------------------------------------


@dataclass
class Fixture:
    user: object
    warmup: list = field(default_factory=list)  # (order, line id) pairs
    timed: list = field(default_factory=list)
    sample: list = field(default_factory=list)
    extra: list = field(default_factory=list)  # one claim for the fresh-user query count
    evidence_name: str = EVIDENCE_NAME


def tiny_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def build_fixture(args, run: str) -> Fixture:
    from django.contrib.auth.models import Group, User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from backoffice import roles
    from returns.models import Order, OrderLine, Product

    user = User.objects.create_user(username=USERNAME, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.CUSTOMER_SERVICE))
    products = Product.objects.bulk_create(
        Product(sku=f"{PREFIX}{run}-P{i:02d}", name=f"Bench cage {i}", is_electronic=i % 2 == 1) for i in range(10)
    )
    received = timezone.localdate() - timedelta(days=3)  # inside every window: 7 days, 30/45 days, 1/2 years
    fixture = Fixture(user=user)
    groups = (
        ("W", args.warmup, fixture.warmup),
        ("T", args.claims, fixture.timed),
        ("S", args.sample, fixture.sample),
        ("X", 1, fixture.extra),
    )
    for tag, count, target in groups:
        orders = Order.objects.bulk_create(
            Order(
                number=f"{PREFIX}{run}-{tag}{i:06d}",
                customer_email=f"Bench.Customer{i}@Example.com",
                customer_name=f"Bench Customer {i}",
                received_on=received,
            )
            for i in range(count)
        )
        lines = OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=products[i % len(products)],
                quantity=1 + i % 2,
                unit_price=Decimal("49.900"),
                currency="USD",
            )
            for i, order in enumerate(orders)
        )
        target.extend((order, line.pk) for order, line in zip(orders, lines, strict=True))
    if not default_storage.exists(EVIDENCE_NAME):
        fixture.evidence_name = default_storage.save(EVIDENCE_NAME, ContentFile(tiny_png()))
    return fixture


def attach_whole_package_photos(claim_ids, fixture: Fixture) -> None:
    """The evidence approval needs, bulk-inserted: every row points at one stored tiny file."""
    from returns.models import Evidence

    Evidence.objects.bulk_create(
        Evidence(
            claim_id=claim_id,
            file=fixture.evidence_name,
            kind="photo",
            content_type="image/png",
            size_bytes=100,
            original_name="whole.png",
            shows_whole_package=True,
            uploaded_by=fixture.user,
        )
        for claim_id in claim_ids
    )


def create_claim(order, line_id, index, user):
    from returns import services

    claim_type = CLAIM_TYPES[index % len(CLAIM_TYPES)]
    return services.claim_create(
        order=order,
        claim_type=claim_type,
        doa_reason="damage" if claim_type == "doa" else "",
        description="The cage arrived with a scratch on the top plate.",
        order_line_ids=[line_id],
        by=user,
    )


# --- Timed: the services --------------------------------------------------------


def run_services(pairs, fixture: Fixture) -> tuple[list[int], float, float]:
    from returns import services

    user = fixture.user
    started = time.perf_counter()
    claim_ids = [create_claim(order, line_id, i, user).pk for i, (order, line_id) in enumerate(pairs)]
    create_seconds = time.perf_counter() - started
    attach_whole_package_photos(claim_ids, fixture)  # not timed
    started = time.perf_counter()
    for claim_id in claim_ids:
        services.claim_approve(claim_id=claim_id, by=user)
    approve_seconds = time.perf_counter() - started
    return claim_ids, create_seconds, approve_seconds


# --- Timed: the bare write of the same rows ---------------------------------------


def snapshot_rows(claim_ids) -> list[tuple]:
    """(table, columns, rows) for everything the services wrote for these claims, in id order."""
    from returns.models import Claim, ClaimEvent, ClaimItem, OutboundEmail

    tables = []
    for model, lookup in ((Claim, "pk__in"), (ClaimItem, "claim_id__in"), (ClaimEvent, "claim_id__in")):
        tables.append(_table_rows(model, {lookup: claim_ids}))
    tables.append(_table_rows(OutboundEmail, {"claim_id__in": claim_ids}))
    return tables


def _table_rows(model, filters):
    from psycopg.types.json import Jsonb

    fields = model._meta.concrete_fields
    rows = [
        tuple(Jsonb(value) if isinstance(value, dict | list) else value for value in row)
        for row in model.objects.filter(**filters).order_by("pk").values_list(*[f.attname for f in fields])
    ]
    return model._meta.db_table, [f.column for f in fields], rows


def bare_write(tables, rma_year: int, rma_last_value: int, mode: str) -> float:
    """One transaction: COPY (or multi-row INSERT) every row, update the RMA counter, commit."""
    from django.db import connection, transaction
    from psycopg import sql

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the raw psycopg cursor: no Django in the loop
        for table, columns, rows in tables:
            target = sql.SQL("{} ({})").format(sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
            if mode == "copy":
                with cursor.copy(sql.SQL("COPY {} FROM STDIN").format(target)) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
                for start in range(0, len(rows), 500):
                    chunk = rows[start : start + 500]
                    statement = sql.SQL("INSERT INTO {} VALUES {}").format(
                        target, sql.SQL(", ").join([one] * len(chunk))
                    )
                    cursor.execute(statement, [value for row in chunk for value in row])
        cursor.execute("UPDATE returns_rmasequence SET last_value = %s WHERE year = %s", [rma_last_value, rma_year])
    return time.perf_counter() - started


# --- Queries per call (not timed) --------------------------------------------------


@dataclass
class CallQueries:
    counts: list = field(default_factory=list)  # everything Django logged, BEGIN and COMMIT included
    statements: list = field(default_factory=list)  # SQL statements only
    shapes: Counter = field(default_factory=Counter)
    shape_ms: Counter = field(default_factory=Counter)
    seconds: list = field(default_factory=list)

    def add(self, captured, timed, seconds):
        """``captured``: CaptureQueriesContext's list; ``timed``: (sql, seconds) from an execute wrapper."""
        self.counts.append(len(captured))
        self.statements.append(len(timed))
        self.seconds.append(seconds)
        statements = iter(timed)
        for query in captured:  # in execution order; the wrapper saw the same statements, minus BEGIN/COMMIT
            if query["sql"] in ("BEGIN", "COMMIT"):
                shape, ms = query["sql"], float(query["time"]) * 1000  # Django logs these to the millisecond
            else:
                sql, elapsed = next(statements)
                shape, ms = describe_sql(sql), elapsed * 1000
            self.shapes[shape] += 1
            self.shape_ms[shape] += ms


def describe_sql(text: str) -> str:
    """A short name for a statement: verb, table, joins, FOR UPDATE, columns set."""
    tables = re.findall(r'(?:FROM|JOIN|INTO|UPDATE) "(\w+)"', text)
    verb = text.split(None, 1)[0].upper()
    if not tables:
        return verb
    name = f"{verb} {tables[0] if tables else '?'}"
    if len(tables) > 1 and verb == "SELECT":
        name += " ⋈ " + ", ".join(dict.fromkeys(tables[1:]))
    if verb == "UPDATE":
        set_part = text.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
        columns = len(re.findall(r'"\w+" = ', set_part))
        name += f" ({columns} columns)"
    if " FOR UPDATE" in text:
        name += " FOR UPDATE"
    return name


def capture_queries(pairs, fixture: Fixture, png: bytes) -> dict[str, CallQueries]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from returns import services

    calls = {name: CallQueries() for name in ("claim_create", "evidence_add", "claim_approve")}

    def measured(name, call):
        timed = []

        def timer(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                timed.append((sql, time.perf_counter() - started))

        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
            started = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - started
        calls[name].add(captured.captured_queries, timed, seconds)
        return result

    user = fixture.user
    for i, (order, line_id) in enumerate(pairs):
        claim = measured("claim_create", lambda o=order, n=line_id, i=i: create_claim(o, n, i, user))
        upload = SimpleUploadedFile("whole-package.png", png, content_type="image/png")
        measured(
            "evidence_add",
            lambda c=claim, u=upload: services.evidence_add(claim_id=c.pk, by=user, upload=u, shows_whole_package=True),
        )
        measured("claim_approve", lambda c=claim: services.claim_approve(claim_id=c.pk, by=user))
    return calls


def fresh_user_queries(fixture: Fixture) -> tuple[int, int]:
    """Queries of one create and one approve by a freshly loaded user, as in a web request."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from returns import services

    (order, line_id) = fixture.extra[0]
    user = User.objects.get(pk=fixture.user.pk)
    with CaptureQueriesContext(connection) as create:
        claim = create_claim(order, line_id, 0, user)
    attach_whole_package_photos([claim.pk], fixture)
    user = User.objects.get(pk=fixture.user.pk)
    with CaptureQueriesContext(connection) as approve:
        services.claim_approve(claim_id=claim.pk, by=user)
    return len(create), len(approve)  # BEGIN and COMMIT included, as in the table's "queries"


def celery_publish_cost(count: int = 300) -> float:
    """Seconds per ``.delay`` into the in-memory broker, outside any transaction."""
    from returns import tasks

    started = time.perf_counter()
    for _ in range(count):
        tasks.send_email.delay(0)
    return (time.perf_counter() - started) / count


def memory_queue_size() -> int:
    from kombu.transport.memory import Channel

    return sum(queue.qsize() for queue in Channel.queues.values())


def purge_memory_queues() -> None:
    from kombu.transport.memory import Channel

    for queue in Channel.queues.values():
        queue.queue.clear()


# --- Clean up ----------------------------------------------------------------------


def delete_bench_rows(claim_ids=None) -> None:
    """Every row this script made (all runs' leftovers included), or only these claims' rows."""
    from django.contrib.auth.models import User

    from returns.models import Claim, Order, Product

    # Items, evidence rows, events and emails go with their claim (CASCADE).
    if claim_ids is not None:
        Claim.objects.filter(pk__in=claim_ids).delete()
    else:
        Claim.objects.filter(order_number__startswith=PREFIX).delete()
        Order.objects.filter(number__startswith=PREFIX).delete()
        Product.objects.filter(sku__startswith=PREFIX).delete()
        User.objects.filter(username=USERNAME).delete()


def other_backends() -> int:
    """Client connections to this server other than ours: other work competing for it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def vacuum(tables) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'VACUUM ANALYZE "{table}"')


# --- Output ------------------------------------------------------------------------


def print_table(rows) -> None:
    rows = [tuple(row) + ("",) * (len(rows[0]) - len(row)) for row in rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)]
        print("  " + "  ".join(cells).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def main() -> None:
    args = parse_args()
    media = prepare_environment()
    try:
        run(args, media)
    finally:
        if media:
            shutil.rmtree(media, ignore_errors=True)


def run(args, media: str | None) -> None:
    import django
    from django.conf import settings

    db = settings.DATABASES["default"]  # reading settings does not start Django
    created = ensure_database(db, args.force)
    django.setup()

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from backoffice.celery import app as celery_app
    from returns.models import RmaSequence

    settings.DEBUG = False  # no connection.queries bookkeeping in the timed loops
    celery_app.conf.broker_url = "memory://"
    celery_app.conf.broker_transport_options = {}
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as broker:
        if broker.transport_cls != "memory":
            sys.exit(f"Celery is not on the in-memory broker but {broker.as_uri()}: refusing to publish tasks.")

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('synchronous_commit'), current_setting('fsync')")
        pg_version, synchronous_commit, fsync = cursor.fetchone()

    year = timezone.localdate().year
    rma_before = RmaSequence.objects.filter(year=year).values_list("last_value", flat=True).first()
    run_id = timezone.now().strftime("%H%M%S")
    n = args.claims
    try:
        delete_bench_rows()  # leftovers of an interrupted run
        fixture = build_fixture(args, run_id)
        png = tiny_png()

        # Warm-up: templates compiled, permissions cached on the user, connections open.
        run_services(fixture.warmup, fixture)

        queued_before = memory_queue_size()
        load_before, others_before = os.getloadavg()[0], other_backends()
        claim_ids, create_s, approve_s = run_services(fixture.timed, fixture)
        load_after, others_after = os.getloadavg()[0], other_backends()
        service_s = create_s + approve_s
        published = memory_queue_size() - queued_before
        rma_after = RmaSequence.objects.get(year=year).last_value

        tables = snapshot_rows(claim_ids)
        row_count = sum(len(rows) for _, _, rows in tables) + 1  # + the RMA counter's UPDATE
        delete_bench_rows(claim_ids)
        vacuum(table for table, _, _ in tables)
        bare_s = bare_write(tables, year, rma_after, args.bare)
        delete_bench_rows(claim_ids)

        calls = capture_queries(fixture.sample, fixture, png)
        fresh_create, fresh_approve = fresh_user_queries(fixture)
        publish_s = celery_publish_cost()
    finally:
        purge_memory_queues()
        delete_bench_rows()
        if rma_before is None:
            RmaSequence.objects.filter(year=year).delete()
        else:
            RmaSequence.objects.filter(year=year).update(last_value=rma_before)
        if args.drop:
            drop_database(db)

    print("RMA intake benchmark")
    print(f"  command     {command_line()}")
    print(
        f"  database    {db['NAME']} on {db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}"
        f"{' (created and migrated)' if created else ' (migrated)'}{'; dropped at the end' if args.drop else ''}"
    )
    print(f"  server      {pg_version}")
    print(f"  durability  synchronous_commit={synchronous_commit}, fsync={fsync}")
    print(
        f"  machine     {os.cpu_count()} CPUs; 1-min load {load_before:.2f} before, {load_after:.2f} after the timed run; "
        f"other client connections to the server {others_before} before, {others_after} after"
    )
    print(
        f"  celery      broker memory:// (in-process; the {published} tasks queued on commit were published "
        "and never run), task_always_eager=False"
    )
    print(
        f"  files       {'temporary MEDIA_ROOT ' + media if media else 'S3 bucket ' + settings.AWS_STORAGE_BUCKET_NAME}"
    )
    print(f"  claim mix   {', '.join(CLAIM_TYPES)} in turn; one order line each; {args.warmup} warm-up claims untimed")
    print()
    per_claim_rows = row_count / n
    print_table(
        [
            ("", "seconds", "claims/s", "rows/s", "ms/claim"),
            ("N claims", n, "", "", ""),
            ("service: claim_create", f"{create_s:.3f}", f"{n / create_s:,.0f}", "", f"{create_s / n * 1000:.2f}"),
            ("service: claim_approve", f"{approve_s:.3f}", f"{n / approve_s:,.0f}", "", f"{approve_s / n * 1000:.2f}"),
            (
                "service: total",
                f"{service_s:.3f}",
                f"{n / service_s:,.0f}",
                f"{row_count / service_s:,.0f}",
                f"{service_s / n * 1000:.2f}",
            ),
            (
                f"bare {'COPY' if args.bare == 'copy' else 'INSERT … VALUES'} ({row_count} rows, 1 tx)",
                f"{bare_s:.3f}",
                f"{n / bare_s:,.0f}",
                f"{row_count / bare_s:,.0f}",
                f"{bare_s / n * 1000:.3f}",
            ),
            ("ratio service / bare", f"{service_s / bare_s:.1f}×", "", "", ""),
        ]
    )
    print(f"  ({per_claim_rows:.2f} rows per claim: claim, item, 2 events, 2 emails; + 1 RMA counter update)")
    print()
    s = len(fixture.sample)
    print(f"Queries per call (CaptureQueriesContext over {s} more claims, after the timed run; not timed)")
    rows = [("call", "queries", "of which SQL", "min", "max", "ms/call")]
    for name, call in calls.items():
        rows.append(
            (
                name,
                f"{mean(call.counts):.1f}",
                f"{mean(call.statements):.1f}",
                min(call.counts),
                max(call.counts),
                f"{mean(call.seconds) * 1000:.2f}",
            )
        )
    create, approve = calls["claim_create"], calls["claim_approve"]
    both = mean(create.counts) + mean(approve.counts)
    rows.append(
        ("per claim: create + approve", f"{both:.1f}", f"{mean(create.statements) + mean(approve.statements):.1f}")
    )
    rows.append(("  same, user loaded fresh per call", fresh_create + fresh_approve, fresh_create + fresh_approve - 4))
    print_table(rows)
    print('  "queries" counts what Django logs, BEGIN and COMMIT included; "of which SQL" leaves those two out.')
    print("  The timed run reuses one user object, whose permissions are cached after the first has_perm; a web")
    print(f"  request loads the user afresh and pays for them: create {fresh_create}, approve {fresh_approve} queries.")
    print(
        f"  celery publish into memory:// ≈ {publish_s * 1e6:.0f} µs per .delay, 2 per claim "
        f"≈ {2 * publish_s * n / service_s:.1%} of the service time"
    )
    print()
    print("Statements per call, by shape (count per call, mean ms)")
    for name, call in calls.items():
        print(f"  {name}")
        for shape, count in call.shapes.items():
            print(f"    {count / s:4.1f}×  {call.shape_ms[shape] / count:6.3f} ms  {shape}")


if __name__ == "__main__":
    main()
