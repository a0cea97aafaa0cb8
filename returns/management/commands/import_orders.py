"""``manage.py import_orders FILE.csv``: load or update orders from the store's export."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from returns import importing


class Command(BaseCommand):
    help = (
        "Load orders from the store's CSV export, one row per order line, with the columns "
        f"{', '.join(importing.REQUIRED_COLUMNS)} and optionally serial_numbers (separated by ';' or '|'). "
        "Comma- or semicolon-delimited, UTF-8 with or without a BOM. Importing again updates instead of "
        "duplicating. Bad rows are listed with their line number and reason while the good rows load; "
        "the command fails only when the file cannot be read or its header lacks a required column."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file exported by the store")

    def handle(self, *args, file, **options):
        try:
            rows = importing.read_order_csv(file)
        except importing.ImportFileError as error:
            raise CommandError(str(error)) from None
        report = importing.order_rows_import(rows, file_name=Path(file).name)
        self.stdout.write(f"{file}: {report.summary()}")
