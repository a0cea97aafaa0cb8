"""``manage.py load_demo``: demo orders, staff users, claims in every state and unmatched parcels; safe to run again."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from accounts.middleware import requires_two_factor
from backoffice import demo
from returns.models import Claim, ClaimStatus


class Command(BaseCommand):
    help = (
        "Load demo data (safe to run again: nothing is duplicated): the orders in demo/orders.csv through the "
        "store importer, staff users cs, warehouse, finance and manager (one per role) and a superuser admin, "
        "and claims of every type made through the services in every state: requested, awaiting customer, "
        "approved, shipped (tracking entered by the customer's link or by customer service), shipped and "
        "received (the inspection queue), inspected (refunds waiting for finance, one for a second approval), "
        "refunded (manual provider; after an inspection and for a missing item without a return), replaced, "
        "rejected (also after an inspection), resolved and cancelled, some outside their policy window; and "
        "two parcels nobody can match, for customer service."
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
        self.stdout.write(
            f"Unmatched parcels: {len(report.unmatched_created)} received, "
            f"{len(report.unmatched_existing)} already there."
        )
        per_status = dict(Claim.objects.order_by().values_list("status").annotate(Count("pk")))
        self.stdout.write(
            "Claims by state: "
            + ", ".join(
                f"{label.lower()} {per_status[value]}" for value, label in ClaimStatus.choices if value in per_status
            )
            + "."
        )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Open {url} and log in as:"))
        for username, password, role in demo.USERS:
            self.stdout.write(f"  {username:<10} password {password:<15} {role or 'superuser'}")
        demo_users = get_user_model().objects.filter(username__in=[username for username, _, _ in demo.USERS])
        second_factor = [user.username for user in demo_users.order_by("username") if requires_two_factor(user)]
        if second_factor:
            self.stdout.write(
                f"{', '.join(second_factor)}: set up an authenticator app (a QR code) at the first login."
            )
