"""The project's own CSV layout: one row per order line, every row carrying its whole order.

Each row is checked on its own (every problem at once), then against what earlier rows of the file said: in
one file an order has one customer, one received date and one currency, a product one name and category, and
an order each product once; a row that disagrees with an earlier row is refused, naming it. Since every row
carries its order, a refused row is refused alone: the order's other rows still load (a refusal of the order
itself, such as a received date the service refuses, refuses all its rows). Consecutive rows of an order go to
``returns.orders.orders_upsert`` as one order; an order met again further down is applied again with its
further lines (lines missing from a file are left alone).

The layout has no notes or cancellation: importing it leaves those as they are (``UNSAID``).
"""

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from returns import money
from returns.orders import MAX_AMOUNT, MAX_QUANTITY, UNSAID, LineData, OrderData
from stores.earlier import EarlierOrders
from stores.report import ImportFileError, ImportReport

NAME = "own"
LABEL = "the project's own layout"
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
COLUMNS_READ = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE_NUMBER = re.compile(r"\d+")
_SERIAL_SEPARATOR = re.compile(r"[;|]")
_LENGTHS = {
    "order_number": 64,
    "customer_email": 254,
    "customer_name": 255,
    "sku": 64,
    "product_name": 255,
    "payment_reference": 128,
}
_SERIAL_LENGTH = 64


class RowError(ValueError):
    """One row cannot be loaded; the message is the reason a person reads."""


def recognises(columns: list[str]) -> bool:
    return all(column in columns for column in REQUIRED_COLUMNS)


def check_header(columns: list[str], label: str) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        found = ", ".join(column for column in columns if column) or "nothing"
        raise ImportFileError(
            f"{label}: the header lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (it has: {found}). This is {LABEL}; a Shopify order export is recognised by "
            "its Lineitem columns (or choose the format with --format shopify)."
        )


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


# --- One row ----------------------------------------------------------------------------------------


def order_row_parse(line: int, raw: Mapping, *, today: date | None = None) -> OrderRow:
    """Every problem of the row at once, so one look at the report fixes it."""
    if raw.get(None):
        raise RowError(
            f"has {len(raw[None])} more value{'s' if len(raw[None]) > 1 else ''} than the header has columns: "
            "a value containing the delimiter (, or ;) must be in double quotes."
        )
    value = {column: (raw.get(column) or "").strip() for column in COLUMNS_READ}
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
    elif not email_is_valid(email):
        problems.append(f"customer_email “{email}” is not an email address")

    received_on = _parse_received_on(value["received_on"], today or timezone.localdate(), problems)
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


# The common address, checked in a microsecond: what it matches Django's validator accepts too (a subset of its
# rules, ASCII only); anything else goes to Django's validator.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.IGNORECASE | re.ASCII,
)


def email_is_valid(email: str) -> bool:
    return (len(email) <= 254 and _PLAIN_EMAIL.fullmatch(email) is not None) or _email_is_valid(email)


@lru_cache(maxsize=4096)
def _email_is_valid(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def _parse_received_on(text: str, today: date, problems: list[str]) -> date | None:
    if not text:
        return None  # not received yet
    day = _day(text)
    if isinstance(day, str):
        problems.append(day)
        return None
    if day > today:
        problems.append(f"received_on {text} is in the future")
    return day


@lru_cache(maxsize=4096)
def _day(text: str) -> date | str:
    """The day, or the problem (a file repeats few days: each is read once)."""
    if not _DATE.fullmatch(text):
        return f"received_on “{text}” is not a date written YYYY-MM-DD"
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        return f"received_on {text} is not a real date ({error})"


def _parse_quantity(text: str, problems: list[str]) -> int | None:
    if not text:
        problems.append("quantity is empty")
    elif not _WHOLE_NUMBER.fullmatch(text):
        problems.append(f"quantity “{text}” is not a whole number")
    elif int(text) < 1:
        problems.append("quantity must be at least 1")
    elif int(text) > MAX_QUANTITY:
        problems.append(f"quantity {text} is too large")
    else:
        return int(text)
    return None


def _parse_price(text: str, currency: str, problems: list[str]) -> Decimal | None:
    price = price_parse(text, currency, "unit_price")
    if isinstance(price, str):
        if price:
            problems.append(price)
        return None
    return price


@lru_cache(maxsize=16384)
def price_parse(text: str, currency: str, column: str) -> Decimal | str:
    """The amount, or the problem ("" when the currency is the problem, reported with it); a file repeats few
    prices: each is read once."""
    if not text:
        return f"{column} is empty"
    if re.fullmatch(r"-?\d+,\d+", text):
        return f"{column} “{text}” has a decimal comma: write it with a decimal point ({text.replace(',', '.')})"
    if text.startswith("-"):
        return f"{column} {text} is negative"
    if currency not in money.MINOR_UNITS:
        return ""
    try:
        price = money.parse_amount(text, currency)
    except money.MoneyError as error:
        return f"{column}: {error}"
    if price >= MAX_AMOUNT:
        return f"{column} {text} is too large"
    return price


def _parse_serial_numbers(text: str, quantity: int | None, problems: list[str]) -> tuple[str, ...]:
    if not text:
        return ()
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


# --- The rows of a file, as orders ---------------------------------------------------------------------


def orders(
    rows: Iterable[tuple[int, Mapping]], *, report: ImportReport, file_name: str = ""
) -> Iterator[tuple[OrderData, list[int]]]:
    """Each run of consecutive rows of one order, as an order with the rows it came from; refused rows go to
    the report."""
    today = timezone.localdate()
    earlier = EarlierOrders()
    products: dict[str, tuple[int, str, bool]] = {}  # sku -> (line, name, electronic): a catalogue's size
    order = None
    try:
        for line, raw in rows:
            report.rows_read += 1
            try:
                row = order_row_parse(line, raw, today=today)
                if order is None or row.order_number != order.number:
                    if order is not None:
                        yield from order.finish(earlier, file_name)
                    order = _Order(row.order_number, earlier.get(row.order_number))
                order.check(row)
                _check_product(row, products)
            except RowError as error:
                report.reject(line, str(error))
                continue
            order.add(row)
            products.setdefault(row.sku, (row.line, row.product_name, row.electronic))
        if order is not None:
            yield from order.finish(earlier, file_name)
    finally:
        earlier.close()


class _Order:
    """Consecutive rows of one order, checked against its first row in the file (here, or kept in
    ``EarlierOrders`` when the order was met before)."""

    def __init__(self, number: str, earlier: tuple | None):
        self.number = number
        # (line, email, name, received_on ISO or None, currency) of the order's first row in the file
        self.first: tuple | None = earlier[0] if earlier else None
        self.skus: dict[str, int] = dict(earlier[1]) if earlier else {}  # sku -> line, in the whole file
        self.rows: list[OrderRow] = []

    def check(self, row: OrderRow) -> None:
        if self.first:
            line, email, name, received_on, currency = self.first
            if (email.casefold(), name) != (row.customer_email.casefold(), row.customer_name):
                raise RowError(
                    f"order {row.order_number} is for {email} ({name}) on line {line}, but this row says "
                    f"{row.customer_email} ({row.customer_name}): one order has one customer."
                )
            if received_on != (row.received_on.isoformat() if row.received_on else None):
                raise RowError(
                    f"order {row.order_number} was received on {_day_words(received_on)} according to line "
                    f"{line}, but this row says {_day_words(row.received_on)}."
                )
            if currency != row.currency:
                raise RowError(
                    f"order {row.order_number} is in {currency} on line {line}, "
                    f"but this row is in {row.currency}: one order is paid in one currency."
                )
        if row.sku in self.skus:
            raise RowError(
                f"{row.sku} is already on order {row.order_number} at line {self.skus[row.sku]}: "
                "one row per product and order (add up the quantities)."
            )

    def add(self, row: OrderRow) -> None:
        if self.first is None:
            received_on = row.received_on.isoformat() if row.received_on else None
            self.first = (row.line, row.customer_email, row.customer_name, received_on, row.currency)
        self.skus[row.sku] = row.line
        self.rows.append(row)

    def finish(self, earlier: EarlierOrders, file_name: str) -> Iterator[tuple[OrderData, list[int]]]:
        if not self.rows:
            return
        earlier.put(self.number, (self.first, self.skus))
        _, email, name, received_on, currency = self.first
        references = [row.payment_reference for row in self.rows if row.payment_reference]
        where = f"store export {file_name}" if file_name else "store export"
        data = OrderData(
            number=self.number,
            customer_email=email,
            customer_name=name,
            currency=currency,
            received_on=date.fromisoformat(received_on) if received_on else None,
            payment_reference=references[-1] if references else "",
            cancelled_at=UNSAID,
            note=UNSAID,
            lines=tuple(
                LineData(
                    sku=row.sku,
                    name=row.product_name,
                    quantity=row.quantity,
                    unit_price=row.unit_price,
                    serial_numbers=row.serial_numbers,
                    electronic=row.electronic,
                )
                for row in self.rows
            ),
            origin=f"{where}, line {self.rows[0].line}",
        )
        yield data, [row.line for row in self.rows]


def _check_product(row: OrderRow, products: dict) -> None:
    product = products.get(row.sku)
    if product and product[1:] != (row.product_name, row.electronic):
        line, name, electronic = product
        raise RowError(
            f"SKU {row.sku} is “{name}” ({_yes_no(electronic)}) on line {line}, "
            f"but “{row.product_name}” ({_yes_no(row.electronic)}) here."
        )


def _day_words(value) -> str:
    if isinstance(value, date):
        value = value.isoformat()
    return value or "no date (not received yet)"


def _yes_no(electronic: bool) -> str:
    return "electronic" if electronic else "not electronic"
