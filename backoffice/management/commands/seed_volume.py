"""``manage.py seed_volume --claims 1000000 --due 10000``: a bench database at production size, with COPY.

Refuses any database but PostgreSQL whose name contains "bench" (``--force``
to override); creates the database when it is missing and migrates it. The
rows and their distributions are described in ``backoffice/volume.py``.
"""

import os
import shlex
import sys
from datetime import datetime

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from backoffice import volume


class Command(BaseCommand):
    help = (
        "Fill a PostgreSQL bench database with a realistic volume of products, orders, claims, claim items and "
        "claim events, written with COPY in one transaction, then ANALYZE. Refuses a database whose name lacks "
        "'bench' unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--claims", type=int, default=10_000, help="claims to add (one order each)")
        parser.add_argument(
            "--due",
            type=int,
            default=0,
            help="of which: requested claims whose first response falls due within the next 4 hours or has passed",
        )
        parser.add_argument(
            "--fresh",
            type=int,
            default=None,
            help="of which: requested claims that arrived in the last 20 hours (default: 20 hours of arrivals)",
        )
        parser.add_argument("--products", type=int, default=300)
        parser.add_argument("--seed", type=int, default=volume.Plan.seed, help="random seed: same seed, same data")
        parser.add_argument("--as-of", help="the moment the data is seen from (ISO 8601 with offset); default now")
        parser.add_argument("--truncate", action="store_true", help="empty the returns tables first (CASCADE)")
        parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")

    def handle(self, *args, claims, due, fresh, products, seed, as_of, truncate, force, **options):
        created = ensure_database(force)
        try:
            name = volume.check_database(force)
        except volume.VolumeError as error:
            raise CommandError(str(error)) from None
        call_command("migrate", interactive=False, verbosity=0)
        moment = datetime.fromisoformat(as_of) if as_of else None
        if moment is not None and moment.tzinfo is None:
            raise CommandError("--as-of needs a UTC offset, e.g. 2026-11-25T12:00:00+08:00.")
        plan = volume.Plan(claims=claims, due=due, fresh=fresh, products=products, seed=seed, as_of=moment)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            (server,) = cursor.fetchone()
        settings_dict = connection.settings_dict
        self.stdout.write("seed_volume")
        self.stdout.write(f"  command   {' '.join(shlex.quote(part) for part in [sys.executable, *sys.argv])}")
        self.stdout.write(
            f"  database  {name} on {settings_dict.get('HOST') or 'local socket'}:{settings_dict.get('PORT') or 5432}"
            f"{' (created and migrated)' if created else ' (migrated)'}"
        )
        self.stdout.write(f"  server    {server}")
        self.stdout.write(f"  machine   {os.cpu_count()} CPUs; 1-min load {os.getloadavg()[0]:.2f} at the start")
        self.stdout.write(
            f"  plan      {claims:,} claims ({due:,} due, {plan.fresh_count():,} fresh), {products} products, "
            f"seed {seed}{', after TRUNCATE' if truncate else ''}"
        )
        self.stdout.write("")
        self.stdout.write(f"  {'step':<30} {'table':<20} {'rows':>10} {'seconds':>8} {'rows/s':>10}")

        def progress(result):
            rate = f"{result.rows / result.seconds:,.0f}" if result.rows and result.seconds else ""
            self.stdout.write(
                f"  {result.name:<30} {result.table:<20} {result.rows:>10,} {result.seconds:>8.2f} {rate:>10}"
            )

        try:
            report = volume.seed(plan, truncate=truncate, progress=progress)
        except volume.VolumeError as error:
            raise CommandError(str(error)) from None
        written = sum(result.rows for result in report.steps if result.table.startswith("returns_"))
        self.stdout.write(f"  {'ANALYZE':<30} {'returns_*':<20} {'':>10} {report.analyze_seconds:>8.2f}")
        self.stdout.write(
            f"  {'total':<30} {'':<20} {written:>10,} {report.total_seconds:>8.2f} "
            f"{written / report.total_seconds:>10,.0f}"
        )
        self.stdout.write("")
        self.stdout.write(f"  as of     {report.as_of.isoformat()} (recorded in the comment on returns_claim)")


def ensure_database(force: bool) -> bool:
    """Create the bench database when it is missing (through the maintenance database); True when created."""
    import psycopg
    from psycopg import sql

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        return False  # check_database refuses it
    if "bench" not in db["NAME"] and not force:
        return False  # refused too, before anything is created
    params = {"host": db.get("HOST"), "port": db.get("PORT"), "user": db.get("USER"), "password": db.get("PASSWORD")}
    params = {key: str(value) for key, value in params.items() if value}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            return False
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        return True
