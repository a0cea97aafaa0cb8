"""Refund execution benchmark: N approved refunds through a real Celery worker against the Stripe fake.

In one run, with one worker subprocess (``celery -A backoffice worker``) on Redis:
1. M no-op tasks (Celery's built-in ``celery.accumulate``, 3,000 by default: a phase of a few seconds,
   where a few hundred took under a second and their rate swung by a fifth between runs) are published
   and timed until the broker holds none, queued or unacknowledged: the worker's bare rate;
2. N approved refunds get one ``execute_refund`` each, timed until every refund is
   succeeded, every customer's ``refund_sent`` email is sent (Django's dummy backend)
   and the broker is drained. Each execution locks the row twice, commits twice,
   POSTs to the Stripe fake over HTTP (one kept-alive connection per worker process),
   marks the claim refunded and writes the email, then sends it once that commits
   (the email row's own lock and commit). Any task that would queue more work (a
   ``send_email`` after a failed send, a retry) is waited for too.
It prints both rates and their ratio (no-op tasks a second over refunds a second). See benchmarks/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench \\
        .venv/bin/python benchmarks/refunds.py --refunds 500 --concurrency 4
"""

import argparse
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "BENCHREF-"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refunds", type=int, default=300, help="approved refunds executed in the timed run")
    parser.add_argument(
        "--noops",
        type=int,
        default=3000,
        help="no-op tasks timed for the reference rate (a longer phase, a steadier rate)",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes (prefork)")
    parser.add_argument("--pool", default="prefork", choices=("prefork", "solo"))
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="the worker's DATABASE_CONN_MAX_AGE: production's 60 keeps a connection per process; 0 opens one a task",
    )
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    args = parser.parse_args()
    if min(args.refunds, args.noops, args.concurrency) < 1:
        parser.error("--refunds, --noops and --concurrency must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    os.environ.setdefault("CELERY_BROKER_URL", DEFAULT_BROKER)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    if not os.environ["CELERY_BROKER_URL"].startswith("redis://"):
        sys.exit("refunds.py measures the Redis broker: set CELERY_BROKER_URL=redis://…")

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import django
    from _common import command_line, masked_url
    from django.conf import settings
    from intake import ensure_database

    db = settings.DATABASES["default"]
    created = ensure_database(db, args.force)
    django.setup()

    import redis
    from django.core.management import call_command
    from django.db import connection

    from backoffice.celery import app
    from refunds.tests.stripe_fake import StripeFake
    from refunds.tests.worker_process import WorkerProcess, database_url

    call_command("migrate", interactive=False, verbosity=0)
    broker_url = os.environ["CELERY_BROKER_URL"]
    client = redis.Redis.from_url(broker_url)
    purge(client)
    fake = StripeFake().start()
    n = args.refunds
    log_dir = Path(tempfile.mkdtemp(prefix="rma-bench-refunds-"))
    worker = WorkerProcess(
        {
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": broker_url,
            "STRIPE_API_BASE": fake.url,
            "STRIPE_SECRET_KEY": fake.secret_key,
            "EMAIL_URL": "dummymail://",
            # INFO: the worker's " ready." line (the start's signal) is a Celery INFO record under LOGGING.
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "text",
            "DATABASE_CONN_MAX_AGE": str(args.conn_max_age),
        },
        log_dir / "worker.log",
        pool=args.pool,
        concurrency=args.concurrency,
    )
    try:
        refund_ids, pis = build_approved_refunds(n, fake)
        worker.start()
        # Warm-up: every worker process imports Django and opens its connection.
        publish_noops(app, args.concurrency * 4)
        drain(client, worker)

        started = time.perf_counter()
        publish_noops(app, args.noops)
        drain(client, worker)
        noop_s = time.perf_counter() - started

        from refunds import tasks
        from refunds.models import Refund, RefundStatus
        from returns.models import EmailStatus, OutboundEmail

        claim_ids = list(Refund.objects.filter(pk__in=refund_ids).values_list("claim_id", flat=True))
        succeeded = Refund.objects.filter(pk__in=refund_ids, status=RefundStatus.SUCCEEDED)
        emails_sent = OutboundEmail.objects.filter(
            claim_id__in=claim_ids, template="refund_sent", status=EmailStatus.SENT
        )

        def all_done() -> bool:
            # The broker first (one Redis round trip), the database only once it is drained: the same
            # condition as asking all three each time, without a query every 20 ms while the workers run.
            return broker_drained(client) and succeeded.count() == n and emails_sent.count() == n

        started = time.perf_counter()
        for refund_id in refund_ids:
            tasks.execute_refund.delay(refund_id)
        wait_until(all_done, worker)
        refund_s = time.perf_counter() - started

        paid = sum(fake.refunds_created(pi) for pi in pis)
        posts = len(fake.requests_to("POST", "/v1/refunds"))
        failed = Refund.objects.filter(pk__in=refund_ids).exclude(status=RefundStatus.SUCCEEDED).count()
        sent = emails_sent.count()
    finally:
        worker.stop()
        fake.stop()
        purge(client)
        delete_bench_rows()

    print("RMA refund execution benchmark")
    print(f"  command      {command_line()}")
    print(f"  database     {db['NAME']}{' (created and migrated)' if created else ' (migrated)'}")
    print(f"  broker       {masked_url(broker_url)}; worker --pool={args.pool} --concurrency={args.concurrency}, "
          f"acks_late, prefetch 1, DATABASE_CONN_MAX_AGE={args.conn_max_age}")  # fmt: skip
    print(f"  provider     Stripe fake (refunds/tests/stripe_fake.py) on {fake.url}, in this process")
    print(f"  machine      {os.cpu_count()} CPUs; 1-min load {os.getloadavg()[0]:.2f} after the run")
    print()
    rows = [
        ("", "tasks", "seconds", "per second"),
        ("no-op task (celery.accumulate)", args.noops, f"{noop_s:.2f}", f"{args.noops / noop_s:,.0f}"),
        ("execute_refund (+ its email sent)", n, f"{refund_s:.2f}", f"{n / refund_s:,.1f}"),
        ("ratio no-op / refund", "", "", f"{(args.noops / noop_s) / (n / refund_s):.1f}×"),
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    for number, row in enumerate(rows):
        print(
            "  " + "  ".join(str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(row))
        )
        if number == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print()
    print(
        f"  check: {paid} refunds made at the fake for {n} refunds, {posts} POSTs, {failed} not succeeded, "
        f"{sent} refund emails sent; {fake.connections} connections to the fake"
    )


def build_approved_refunds(n: int, fake) -> tuple[list[int], list[str]]:
    """N inspected claims with a full-refund inspection, proposed through the service, then approved."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.utils import timezone

    from inspections.models import Inspection
    from refunds.models import Refund, RefundStatus
    from returns.models import Claim, ClaimItem, Order, OrderLine, PolicyVersion, Product

    settings.REFUND_PROVIDER = "stripe"
    delete_bench_rows()
    user = User.objects.create_user(username=f"{PREFIX}finance", is_staff=True)
    product = Product.objects.create(sku=f"{PREFIX}CAGE", name="Bench cage")
    policy = PolicyVersion.objects.latest()
    pis = [fake.add_payment_intent(10_000, "usd") for _ in range(n)]
    orders = Order.objects.bulk_create(
        Order(number=f"{PREFIX}{i:06d}", customer_email=f"bench{i}@example.com", customer_name=f"Bench {i}",
              received_on=timezone.localdate(), payment_reference=pi)
        for i, pi in enumerate(pis)
    )  # fmt: skip
    lines = OrderLine.objects.bulk_create(
        OrderLine(order=o, product=product, quantity=1, unit_price=Decimal("49.90"), currency="USD") for o in orders
    )
    claims = Claim.objects.bulk_create(
        Claim(order=o, order_number=o.number, customer_email=o.customer_email, claim_type="doa", doa_reason="damage",
              description="bench", status="inspected", policy_version=policy, submitted_at=timezone.now(),
              rma_number=f"RMA-9999-{i:06d}")
        for i, o in enumerate(orders)
    )  # fmt: skip
    items = ClaimItem.objects.bulk_create(
        ClaimItem(claim=c, order_line=line, quantity=1) for c, line in zip(claims, lines, strict=True)
    )
    Inspection.objects.bulk_create(
        Inspection(claim_item=item, inspector=user, outcome="full_refund", completed_at=timezone.now())
        for item in items
    )
    from core import actors
    from inspections.services import inspection_propose_refund

    refund_ids = [inspection_propose_refund(claim_id=c.pk, by=actors.SYSTEM).pk for c in claims]
    Refund.objects.filter(pk__in=refund_ids).update(
        status=RefundStatus.APPROVED, approved_by=user, approved_at=timezone.now()
    )
    return refund_ids, pis


def delete_bench_rows() -> None:
    from django.contrib.auth.models import User

    from inspections.models import Inspection
    from refunds.models import Refund
    from returns.models import Claim, Order, Product

    Refund.objects.filter(claim__order_number__startswith=PREFIX).delete()
    Inspection.objects.filter(claim_item__claim__order_number__startswith=PREFIX).delete()
    Claim.objects.filter(order_number__startswith=PREFIX).delete()
    Order.objects.filter(number__startswith=PREFIX).delete()
    Product.objects.filter(sku__startswith=PREFIX).delete()
    User.objects.filter(username__startswith=PREFIX).delete()


def publish_noops(app, count: int) -> None:
    for i in range(count):
        app.send_task("celery.accumulate", args=(i,))


def drain(client, worker, timeout: float = 600) -> None:
    """Until the broker holds no message, queued or delivered but unacknowledged (acks_late: acked when done)."""
    wait_until(lambda: broker_drained(client), worker, timeout)


def broker_drained(client) -> bool:
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def wait_until(condition, worker, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out; worker log:\n{worker.log_tail()}")
        time.sleep(0.02)


def purge(client) -> None:
    stale = [key for key in client.keys("celery*") if not key.startswith(b"_kombu")]
    client.delete("unacked", "unacked_index", *stale)


if __name__ == "__main__":
    main()
