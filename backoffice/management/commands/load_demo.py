"""``manage.py load_demo``: demo orders, staff users and claims; safe to run again."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backoffice import demo


class Command(BaseCommand):
    help = (
        "Load demo data (safe to run again: nothing is duplicated): the orders in demo/orders.csv through the "
        "store importer, staff users cs, warehouse, finance and manager (one per role) and a superuser admin, "
        "and claims of every type made through the claim services, in the states they can reach today: "
        "requested, awaiting customer, approved, resolved, rejected and cancelled, some outside their policy "
        "window. Shipped, inspected, refunded and replaced have no services yet, so the demo has none."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/admin/", help="the admin's address, printed with the logins"
        )

    def handle(self, *args, url, **options):
        try:
            report = demo.demo_load()
        except (demo.DemoDataError, demo.importing.ImportFileError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Orders from {demo.ORDERS_CSV.relative_to(settings.BASE_DIR)}: {report.orders.summary()}")
        self.stdout.write(f"Claims: {len(report.claims_created)} created, {len(report.claims_existing)} already there.")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Open {url} and log in as:"))
        for username, password, role in demo.USERS:
            self.stdout.write(f"  {username:<10} password {password:<15} {role or 'superuser'}")
