"""``manage.py import_orders FILE.csv [--format own|shopify]``: load or update orders from the store's export."""

from django.core.management.base import BaseCommand, CommandError

from stores import importing, own_layout, shopify


class Command(BaseCommand):
    help = (
        "Load orders from a store's CSV export, in one of two formats, found from the header (or chosen with "
        "--format). 'own', the project's own layout: one row per order line with the columns "
        f"{', '.join(own_layout.REQUIRED_COLUMNS)}, optionally serial_numbers (separated by ';' or '|') and "
        "payment_reference; comma-, semicolon- or tab-delimited. 'shopify', Shopify's 'Export orders' CSV as "
        "Shopify writes it: one row per line item, the order's fields on its first row; read: Name (the order "
        "number), Email, Billing Name (else Shipping Name), Currency, Financial Status, Refunded Amount, "
        "Cancelled at, Notes, Payment ID (else Payment Reference), Lineitem quantity, Lineitem name, Lineitem "
        "price (the unit price), Lineitem sku; every other column is ignored, Fulfilled at included: the "
        "received date stays unknown (when the parcel left is not when it arrived). Products from a Shopify "
        "export get no category; line items without a SKU are left out and listed. UTF-8 with or without a BOM. "
        "Importing again updates what changed and writes nothing for what did not. Bad rows are listed with "
        "their line number and every reason while the other orders load (in Shopify's export a bad row refuses "
        "its whole order). The command fails only when the file cannot be read or its header lacks a required "
        "column. See docs/importing.md for how each column maps."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file exported by the store")
        parser.add_argument(
            "--format",
            choices=sorted(importing.FORMATS),
            help=f"'{own_layout.NAME}' ({own_layout.LABEL}) or '{shopify.NAME}' ({shopify.LABEL}); "
            "by default found from the header",
        )

    def handle(self, *args, file, format=None, **options):
        try:
            orders_file = importing.read_order_csv(file, format=format)
        except importing.ImportFileError as error:
            raise CommandError(str(error)) from None
        report = importing.order_rows_import(orders_file)
        self.stdout.write(f"{file}: {report.summary()}")
        if report.stopped:
            raise CommandError(f"{file} could not be read to its end: {report.stopped}")
