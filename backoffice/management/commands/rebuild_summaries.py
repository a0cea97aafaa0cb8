"""``manage.py rebuild_summaries``: the dashboard's daily summaries counted again from the raw rows."""

import time

from django.core.management.base import BaseCommand, CommandError

from backoffice import summaries


class Command(BaseCommand):
    help = (
        "Count the dashboard's daily summaries (claims, units sold, refunds paid, refund clocks) again from "
        "the raw rows, in one transaction. PostgreSQL only; the sweep keeps them up to date afterwards."
    )

    def handle(self, *args, **options):
        if not summaries.in_use():
            raise CommandError("The summaries are kept on PostgreSQL only (with DASHBOARD_SUMMARIES on).")
        started = time.perf_counter()
        written = summaries.rebuild()
        for table, rows in written.items():
            self.stdout.write(f"  {table:<20} {rows:>10,} rows")
        self.stdout.write(f"Rebuilt in {time.perf_counter() - started:.1f} s.")
