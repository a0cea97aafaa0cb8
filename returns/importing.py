"""Orders as the store exports them: one CSV row per order line, loaded or updated.

The store is the source of truth for orders (DESIGN: "imported, not invented").
A file is read whole (``read_order_csv``), then every row is checked and saved
in its own transaction (``order_rows_import``): a bad row is reported with its
spreadsheet line number and the reason, and the good rows still load. Importing
the same file again updates what changed and creates nothing twice: an order
is found by its number, a product by its SKU, an order line by (order, product).

Decisions the store's export leaves to us:
- A blank ``received_on`` never clears a date we know: customer service may have
  recorded it in the admin before the store's export caught up.
- A date for an order we did not know is written with the order (source "store").
  Any other new date goes through ``services.order_set_received_on`` as the system,
  with source "store" and the file's name and line as the reason: events on the
  order and its claims, and refused once a claim of the order is approved (a person
  decides then), which rejects the row. A date equal to the recorded one costs no query.
- Lines of an order that are missing from a file are left alone: an export may
  cover only some days.
- In one file, an order has one customer, one received date and one currency,
  a product one name, and an order each product once; a row that disagrees with
  an earlier loaded row is rejected, naming that row.
"""

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction
from django.utils import timezone

from core import actors
from returns import money, services
from returns.models import Order, OrderLine, Product, ReceivedDateSource

REQUIRED_COLUMNS = (
    "order_number",
    "customer_email",
    "customer_name",
    "received_on",
    "sku",
    "product_name",
    "electronic",
    "quantity",
    "unit_price",
    "currency",
)
OPTIONAL_COLUMNS = ("serial_numbers", "payment_reference")
_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE_NUMBER = re.compile(r"\d+")
_SERIAL_SEPARATOR = re.compile(r"[;|]")
_DELIMITERS = (",", ";", "\t")
# Limits of the columns the rows go to (returns.models).
_MAX_QUANTITY = 2_147_483_647
_MAX_PRICE = Decimal(10) ** 11  # DecimalField(max_digits=14, decimal_places=3)
_LENGTHS = {
    "order_number": 64,
    "customer_email": 254,
    "customer_name": 255,
    "sku": 64,
    "product_name": 255,
    "payment_reference": 128,
}
_SERIAL_LENGTH = 64

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class ImportFileError(Exception):
    """The file cannot be imported at all; the message says why, for a person."""


class RowError(ValueError):
    """One row cannot be loaded; the message is the reason a person reads."""


@dataclass(frozen=True)
class OrderRow:
    """One checked row: an order line as the store knows it."""

    line: int
    order_number: str
    customer_email: str
    customer_name: str
    received_on: date | None
    sku: str
    product_name: str
    electronic: bool
    quantity: int
    unit_price: Decimal
    currency: str
    serial_numbers: tuple[str, ...]
    # The payment provider's id of the order's payment (a Stripe PaymentIntent): refunds go against it.
    payment_reference: str = ""


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    lines: dict[str, int] = field(default_factory=lambda: {CREATED: 0, UPDATED: 0, UNCHANGED: 0})
    orders: dict[str, set[str]] = field(default_factory=lambda: {CREATED: set(), UPDATED: set()})
    products: dict[str, set[str]] = field(default_factory=lambda: {CREATED: set(), UPDATED: set()})
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(self.lines.values()) + len(self.rejected)

    def summary(self) -> str:
        text = [
            f"{self.rows_read} rows read.",
            f"Order lines: {self.lines[CREATED]} created, {self.lines[UPDATED]} updated, "
            f"{self.lines[UNCHANGED]} unchanged.",
            f"Orders: {len(self.orders[CREATED])} created, {len(self.orders[UPDATED])} updated.",
            f"Products: {len(self.products[CREATED])} created, {len(self.products[UPDATED])} updated.",
            f"Rejected: {len(self.rejected)} row{'' if len(self.rejected) == 1 else 's'}.",
        ]
        text.extend(f"  {rejected}" for rejected in self.rejected)
        return "\n".join(text)


# --- Reading the file -----------------------------------------------------


def read_order_csv(path: str | Path) -> list[tuple[int, dict]]:
    """The file's rows as (spreadsheet line number, {column: text}); raises ``ImportFileError``."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ImportFileError(f"Cannot read {path}: {error.strerror or error}.") from None
    return parse_order_csv(data, name=str(path))


def parse_order_csv(data: bytes, *, name: str = "The file") -> list[tuple[int, dict]]:
    """Decode (UTF-8, with or without a BOM), find the delimiter and check the header.

    Line numbers are the spreadsheet's: the header is line 1, a blank row still
    counts, and a quoted value spanning several lines is one row.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"{name} is not UTF-8 text (byte {error.start + 1} cannot be read): export it as “CSV UTF-8”."
        ) from None
    if not text.strip():
        raise ImportFileError(
            f"{name} is empty: it needs a header line naming the columns {', '.join(REQUIRED_COLUMNS)}."
        )
    header_line = text.splitlines()[0]
    # The column names hold none of these, so the header's most frequent one is the delimiter.
    delimiter = max(_DELIMITERS, key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as error:
        raise ImportFileError(f"{name} cannot be read as CSV (near line {reader.line_num}: {error}).") from None
    columns = [_column_name(cell) for cell in records[0]]
    _check_header(columns, name)
    rows = []
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        row = dict(zip(columns, record, strict=False))
        for column in columns[len(record) :]:
            row[column] = ""
        if len(record) > len(columns):
            # A shifted row, even when the extra cell is blank: its values are in the wrong columns.
            row[None] = record[len(columns) :]
        rows.append((line, row))
    return rows


def _column_name(cell: str) -> str:
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


def _check_header(columns: list[str], name: str) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        found = ", ".join(column for column in columns if column) or "nothing"
        raise ImportFileError(
            f"{name}: the header lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (it has: {found})."
        )
    repeated = sorted({column for column in columns if column and columns.count(column) > 1})
    if repeated:
        raise ImportFileError(f"{name}: the header has the column {', '.join(repeated)} more than once.")


# --- Checking and loading the rows ------------------------------------------


def order_rows_import(rows: Iterable[tuple[int, Mapping]], *, file_name: str = "") -> ImportReport:
    """Check and save each row in its own transaction; a bad row is reported and skipped.

    ``file_name`` names the export in the reason of a received date it changes."""
    report = ImportReport()
    loaded = _LoadedInThisFile()
    for line, raw in rows:
        try:
            row = order_row_parse(line, raw)
            loaded.check(row)
            with transaction.atomic():
                outcome = _save(row, file_name)
        except RowError as error:
            report.rejected.append(Rejected(line, str(error)))
            continue
        except DatabaseError as error:
            report.rejected.append(Rejected(line, f"could not be saved ({error}); import the file again."))
            continue
        loaded.remember(row)
        product_outcome, order_outcome, line_outcome = outcome
        report.lines[line_outcome] += 1
        if order_outcome != UNCHANGED:
            report.orders[order_outcome].add(row.order_number)
        if product_outcome != UNCHANGED:
            report.products[product_outcome].add(row.sku)
    return report


def order_row_parse(line: int, raw: Mapping) -> OrderRow:
    """Every problem of the row at once, so one look at the report fixes it."""
    if raw.get(None):
        raise RowError(
            f"has {len(raw[None])} more value{'s' if len(raw[None]) > 1 else ''} than the header has columns: "
            "a value containing the delimiter (, or ;) must be in double quotes."
        )
    value = {column: (raw.get(column) or "").strip() for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
    problems = []
    for column in ("order_number", "customer_name", "sku", "product_name"):
        if not value[column]:
            problems.append(f"{column} is empty")
    for column, limit in _LENGTHS.items():
        if len(value[column]) > limit:
            problems.append(f"{column} is longer than {limit} characters")

    email = value["customer_email"]
    if not email:
        problems.append("customer_email is empty")
    else:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"customer_email “{email}” is not an email address")

    received_on = _parse_received_on(value["received_on"], problems)
    electronic = _BOOLEANS.get(value["electronic"].lower())
    if electronic is None:
        problems.append(f"electronic “{value['electronic']}” must be yes or no (or true/false, 1/0)")
    quantity = _parse_quantity(value["quantity"], problems)
    currency = value["currency"].upper()
    if not currency:
        problems.append("currency is empty")
    elif currency not in money.MINOR_UNITS:
        problems.append(
            f"currency “{value['currency']}” is not one we sell in ({', '.join(sorted(money.MINOR_UNITS))})"
        )
    unit_price = _parse_price(value["unit_price"], currency, problems)
    serial_numbers = _parse_serial_numbers(value["serial_numbers"], quantity, problems)
    if problems:
        raise RowError("; ".join(problems) + ".")
    return OrderRow(
        line=line,
        order_number=value["order_number"],
        customer_email=email,
        customer_name=value["customer_name"],
        received_on=received_on,
        sku=value["sku"],
        product_name=value["product_name"],
        electronic=electronic,
        quantity=quantity,
        unit_price=unit_price,
        currency=currency,
        serial_numbers=serial_numbers,
        payment_reference=value["payment_reference"],
    )


def _parse_received_on(text: str, problems: list[str]) -> date | None:
    if not text:
        return None  # not received yet
    if not _DATE.fullmatch(text):
        problems.append(f"received_on “{text}” is not a date written YYYY-MM-DD")
        return None
    try:
        received_on = date.fromisoformat(text)
    except ValueError as error:
        problems.append(f"received_on {text} is not a real date ({error})")
        return None
    if received_on > timezone.localdate():
        problems.append(f"received_on {text} is in the future")
    return received_on


def _parse_quantity(text: str, problems: list[str]) -> int | None:
    if not text:
        problems.append("quantity is empty")
    elif not _WHOLE_NUMBER.fullmatch(text):
        problems.append(f"quantity “{text}” is not a whole number")
    elif int(text) < 1:
        problems.append("quantity must be at least 1")
    elif int(text) > _MAX_QUANTITY:
        problems.append(f"quantity {text} is too large")
    else:
        return int(text)
    return None


def _parse_price(text: str, currency: str, problems: list[str]) -> Decimal | None:
    if not text:
        problems.append("unit_price is empty")
        return None
    if re.fullmatch(r"-?\d+,\d+", text):
        problems.append(
            f"unit_price “{text}” has a decimal comma: write it with a decimal point ({text.replace(',', '.')})"
        )
        return None
    if text.startswith("-"):
        problems.append(f"unit_price {text} is negative")
        return None
    if currency not in money.MINOR_UNITS:
        return None  # reported with the currency
    try:
        price = money.parse_amount(text, currency)
    except money.MoneyError as error:
        problems.append(f"unit_price: {error}")
        return None
    if price >= _MAX_PRICE:
        problems.append(f"unit_price {text} is too large")
        return None
    return price


def _parse_serial_numbers(text: str, quantity: int | None, problems: list[str]) -> tuple[str, ...]:
    serials = tuple(serial.strip() for serial in _SERIAL_SEPARATOR.split(text) if serial.strip())
    repeated = sorted({serial for serial in serials if serials.count(serial) > 1})
    if repeated:
        problems.append(f"serial number {', '.join(repeated)} is listed twice")
    too_long = [serial for serial in serials if len(serial) > _SERIAL_LENGTH]
    if too_long:
        problems.append(f"serial number {too_long[0]} is longer than {_SERIAL_LENGTH} characters")
    if quantity is not None and len(serials) > quantity:
        problems.append(f"{len(serials)} serial numbers for a quantity of {quantity}: one per unit at most")
    return serials


class _LoadedInThisFile:
    """What earlier rows of the file loaded, so a row that contradicts them is refused."""

    def __init__(self):
        self.orders: dict[str, OrderRow] = {}
        self.lines: dict[tuple[str, str], OrderRow] = {}
        self.products: dict[str, OrderRow] = {}

    def check(self, row: OrderRow) -> None:
        first = self.orders.get(row.order_number)
        if first:
            if (first.customer_email.casefold(), first.customer_name) != (
                row.customer_email.casefold(),
                row.customer_name,
            ):
                raise RowError(
                    f"order {row.order_number} is for {first.customer_email} ({first.customer_name}) on line "
                    f"{first.line}, but this row says {row.customer_email} ({row.customer_name}): "
                    "one order has one customer."
                )
            if first.received_on != row.received_on:
                raise RowError(
                    f"order {row.order_number} was received on {_day(first.received_on)} according to line "
                    f"{first.line}, but this row says {_day(row.received_on)}."
                )
            if first.currency != row.currency:
                raise RowError(
                    f"order {row.order_number} is in {first.currency} on line {first.line}, "
                    f"but this row is in {row.currency}: one order is paid in one currency."
                )
        same_line = self.lines.get((row.order_number, row.sku))
        if same_line:
            raise RowError(
                f"{row.sku} is already on order {row.order_number} at line {same_line.line}: "
                "one row per product and order (add up the quantities)."
            )
        product = self.products.get(row.sku)
        if product and (product.product_name, product.electronic) != (row.product_name, row.electronic):
            raise RowError(
                f"SKU {row.sku} is “{product.product_name}” ({_yes_no(product.electronic)}) on line {product.line}, "
                f"but “{row.product_name}” ({_yes_no(row.electronic)}) here."
            )

    def remember(self, row: OrderRow) -> None:
        self.orders.setdefault(row.order_number, row)
        self.lines[(row.order_number, row.sku)] = row
        self.products.setdefault(row.sku, row)


def _day(value: date | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "no date (not received yet)"


def _yes_no(electronic: bool) -> str:
    return "electronic" if electronic else "not electronic"


def _save(row: OrderRow, file_name: str) -> tuple[str, str, str]:
    product, product_outcome = _upsert(
        Product, {"sku": row.sku}, {"name": row.product_name, "is_electronic": row.electronic}
    )
    order_values = {"customer_email": row.customer_email, "customer_name": row.customer_name}
    if row.payment_reference:  # a blank never clears a known payment reference
        order_values["payment_reference"] = row.payment_reference
    received = {"received_on": row.received_on, "received_on_source": ReceivedDateSource.STORE}
    order, order_outcome = _upsert(
        Order, {"number": row.order_number}, order_values, on_create=received if row.received_on else {}
    )
    # A blank never clears a known date; a new one goes through the service (before the line's lock is
    # taken: the service locks the order's claims, and an approval locks a claim before its lines).
    if order_outcome != CREATED and row.received_on is not None and row.received_on != order.received_on:
        _received_on_set(order, row, file_name)
        order_outcome = UPDATED
    _, line_outcome = _upsert(
        OrderLine,
        {"order": order, "product": product},
        {
            "quantity": row.quantity,
            "unit_price": row.unit_price,
            "currency": row.currency,
            "serial_numbers": list(row.serial_numbers),
        },
    )
    return product_outcome, order_outcome, line_outcome


def _received_on_set(order: Order, row: OrderRow, file_name: str) -> None:
    where = f"store export {file_name}, line {row.line}" if file_name else f"store export, line {row.line}"
    try:
        services.order_set_received_on(
            order_id=order.pk,
            by=actors.SYSTEM,
            received_on=row.received_on,
            source=ReceivedDateSource.STORE,
            reason=where,
        )
    except PermissionDenied:
        if order.received_on is None:
            recorded = "none is recorded"
        else:
            source = ReceivedDateSource(order.received_on_source).label if order.received_on_source else "no source"
            recorded = f"{order.received_on:%Y-%m-%d}, {source}"
        raise RowError(
            f"received_on {row.received_on:%Y-%m-%d}: the received date differs from the one recorded ({recorded}); "
            "once a claim is approved only a manager can change it."
        ) from None
    except ValidationError as error:
        raise RowError(f"received_on {row.received_on:%Y-%m-%d}: {' '.join(error.messages)}") from None


def _upsert(model, lookup: dict, values: dict, on_create: dict | None = None):
    """Find by ``lookup`` (locked) and set ``values``; says whether it was created, updated or unchanged.
    ``on_create``: more values for a new row only."""
    instance = model.objects.select_for_update().filter(**lookup).first()
    if instance is None:
        return model.objects.create(**lookup, **values, **(on_create or {})), CREATED
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if not changed:
        return instance, UNCHANGED
    for name in changed:
        setattr(instance, name, values[name])
    instance.save()
    return instance, UPDATED
