"""The product catalogue as the brand keeps it: a CSV of SKUs, each electronic or not (``manage.py import_products``).

A store's export carries no category and no serial numbers, so products get their category from here (or from
the product admin's actions, or the claim page). A file is read whole (``read_catalogue``), then each row is
applied in its own transaction (``catalogue_import``), through ``services.product_set_category`` as the system
actor with the file's name and line as the reason: a catalogue is the brand's own word, so the system may set
a category, and change a known one while no claim on the product is approved (a manager decides after that).

Decisions the issue left to us (docs/importing.md, "The product catalogue"):
- An unknown SKU with a name is created (its category set, an event on it); one without a name is a bad row: a
  product needs a name, and a typo in a SKU should not make an empty product.
- A known SKU keeps its name: the store's export names the products its customers bought.
- A blank ``electronic`` says nothing: it never clears a known category (the row changes nothing).
- A SKU given twice in a file with different categories: the later row is refused, naming the earlier line.
- Importing the same file again changes nothing and writes no event (the service leaves a product already in
  that category alone).
"""

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from core import actors
from returns import services
from returns.models import Product

REQUIRED_COLUMNS = ("sku", "electronic")
OPTIONAL_COLUMNS = ("name",)
BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_DELIMITERS = (",", ";", "\t")
_SKU_LENGTH = Product._meta.get_field("sku").max_length
_NAME_LENGTH = Product._meta.get_field("name").max_length

FORMAT = (
    "A header line, then one product a line, with the columns sku, electronic and optionally name: "
    "electronic is yes/no/true/false/1/0, or blank when not known (a blank never clears a known category). "
    "Commas, semicolons or tabs; UTF-8 with or without a BOM."
)


class CatalogueFileError(Exception):
    """The file cannot be imported at all; the message says why, for a person."""


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.reason}"


CREATED, SET, UNCHANGED = "created", "category set", "unchanged"


@dataclass
class CatalogueReport:
    rows: dict[str, int] = field(default_factory=lambda: {CREATED: 0, SET: 0, UNCHANGED: 0})
    claims_changed: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(self.rows.values()) + len(self.rejected)

    def summary(self) -> str:
        text = [
            f"{self.rows_read} rows read.",
            f"Products: {self.rows[CREATED]} created, {self.rows[SET]} category set, {self.rows[UNCHANGED]} unchanged.",
            f"Open claims whose category changed: {self.claims_changed}.",
            f"Rejected: {len(self.rejected)} row{'' if len(self.rejected) == 1 else 's'}.",
        ]
        text.extend(f"  {rejected}" for rejected in self.rejected)
        return "\n".join(text)


def read_catalogue(path: str | Path) -> list[tuple[int, dict]]:
    """The file's rows as (spreadsheet line number, {column: text}); raises ``CatalogueFileError``."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CatalogueFileError(f"Cannot read {path}: {error.strerror or error}.") from None
    return parse_catalogue(data, name=str(path))


def parse_catalogue(data: bytes, *, name: str = "The file") -> list[tuple[int, dict]]:
    """Decode, find the delimiter, check the header. The header is line 1; a blank row still counts."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogueFileError(
            f"{name} is not UTF-8 text (byte {error.start + 1} cannot be read): export it as “CSV UTF-8”."
        ) from None
    if not text.strip():
        raise CatalogueFileError(f"{name} is empty: it needs a header line naming the columns sku, electronic, name.")
    delimiter = max(_DELIMITERS, key=text.splitlines()[0].count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as error:
        raise CatalogueFileError(f"{name} cannot be read as CSV (near line {reader.line_num}: {error}).") from None
    columns = [re.sub(r"[\s-]+", "_", cell.strip().lower()) for cell in records[0]]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        found = ", ".join(column for column in columns if column) or "nothing"
        raise CatalogueFileError(
            f"{name}: the header lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (it has: {found})."
        )
    rows = []
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        row = {column: "" for column in columns}
        row.update(zip(columns, (cell.strip() for cell in record), strict=False))
        if len(record) > len(columns) and any(cell.strip() for cell in record[len(columns) :]):
            row[None] = record[len(columns) :]
        rows.append((line, row))
    return rows


def catalogue_import(rows: list[tuple[int, dict]], *, file_name: str) -> CatalogueReport:
    """Apply each row in its own transaction; a bad row is reported with its line and reason, the others load."""
    report = CatalogueReport()
    seen: dict[str, tuple[int, bool | None]] = {}  # SKU → (line, category) of the first row that gave it
    for line, row in rows:
        try:
            sku, name, electronic = _check(row)
            if sku in seen and seen[sku][1] is not None and electronic is not None and seen[sku][1] != electronic:
                earlier, category = seen[sku]
                raise ValueError(
                    f"SKU {sku} is {'electronic' if category else 'not electronic'} on line {earlier}, "
                    f"but {'electronic' if electronic else 'not electronic'} here."
                )
            with transaction.atomic():
                outcome, claims = _apply(sku, name, electronic, reason=f"product catalogue {file_name}, line {line}")
        except ValueError as error:
            report.rejected.append(Rejected(line, str(error)))
            continue
        report.rows[outcome] += 1
        report.claims_changed += claims
        if sku not in seen or seen[sku][1] is None:
            seen[sku] = (line, electronic)
    return report


def _check(row: dict) -> tuple[str, str, bool | None]:
    problems = []
    if None in row:
        problems.append("the row has more cells than the header")
    sku, name, value = row.get("sku", ""), row.get("name", ""), row.get("electronic", "")
    if not sku:
        problems.append("the SKU is blank")
    elif len(sku) > _SKU_LENGTH:
        problems.append(f"the SKU is longer than {_SKU_LENGTH} characters")
    if len(name) > _NAME_LENGTH:
        problems.append(f"the name is longer than {_NAME_LENGTH} characters")
    electronic = None
    if value:
        electronic = BOOLEANS.get(value.lower())
        if electronic is None:
            problems.append(f"electronic is “{value}”: write yes or no (or leave it blank when not known)")
    if problems:
        raise ValueError("; ".join(problems) + ".")
    return sku, name, electronic


def _apply(sku: str, name: str, electronic: bool | None, *, reason: str) -> tuple[str, int]:
    """One row: (what happened to the product, how many open claims changed category)."""
    product = Product.objects.filter(sku=sku).first()
    created = product is None
    if created:
        if not name:
            raise ValueError(f"SKU {sku} is not a product we know, and the row gives no name to create it with.")
        # Created without a category, then set through the service: every category has its event.
        product = Product.objects.create(sku=sku, name=name, is_electronic=None)
    if electronic is None:
        return (CREATED if created else UNCHANGED), 0
    try:
        result = services.product_set_category(
            product_ids=[product.pk], by=actors.SYSTEM, electronic=electronic, reason=reason
        )
    except (PermissionDenied, ValidationError) as error:
        raise ValueError(" ".join(getattr(error, "messages", [str(error)]))) from None
    if created:
        return CREATED, len(result.claims)
    return (SET if result.products else UNCHANGED), len(result.claims)
