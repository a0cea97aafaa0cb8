"""``manage.py import_products FILE.csv``: the product catalogue, each SKU electronic or not."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from returns import catalogue


class Command(BaseCommand):
    help = (
        "Set products' categories from the brand's product catalogue. "
        + catalogue.FORMAT
        + " An unknown SKU is created with its name (a row without a name is refused). Every category goes "
        "through the product-category service as the system, the file and line as the reason: open claims on "
        "the product are judged by it from then on; a known category of a product with an approved claim is "
        "refused (a manager decides). Bad rows are listed with their line number and reason while the others "
        "load; importing the same file again changes nothing. The command fails only when the file cannot be "
        "read or its header lacks sku or electronic."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the product catalogue, a CSV file with the columns sku, electronic, name")

    def handle(self, *args, file, **options):
        try:
            rows = catalogue.read_catalogue(file)
        except catalogue.CatalogueFileError as error:
            raise CommandError(str(error)) from None
        report = catalogue.catalogue_import(rows, file_name=Path(file).name)
        self.stdout.write(f"{file}: {report.summary()}")
