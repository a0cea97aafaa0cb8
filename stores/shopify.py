"""Shopify's "Export orders" CSV, as Shopify writes it.

One row per line item. An order's fields (Email, Financial Status, Currency, Refunded Amount, Cancelled at,
Notes, the billing and shipping names, the payment's ids…) are on its first row only; the later rows of the
order repeat its Name and carry their own Lineitem columns. The rows of one order follow each other.

What is read, and what is decided where the export is ambiguous (docs/importing.md says the same for people):
- order number: ``Name`` as written (``#1001``); Shopify's ``Id`` is not used;
- customer: ``Email`` (required: customer service answers by email); name: ``Billing Name``, else
  ``Shipping Name``, else the email;
- ``Notes``: the order's note, kept as written (an export of ours neutralises a cell starting with = + - @);
- ``Cancelled at``: the store cancelled the order, nothing of it is refundable; ``Financial Status`` ``voided``
  (the payment was never taken) counts as cancelled too, at ``Cancelled at`` or else ``Created at``;
- ``Refunded Amount``: what the store refunded on the whole order (``store_refunded_total``); Shopify does not
  say which lines, and it may include shipping and taxes: counted whole against the goods, the ledger caps
  every line by what the order still owes (erring towards paying too little, never twice). ``refunded`` with
  a blank amount counts the order's ``Total``; ``partially_refunded`` with a blank amount is refused;
- payment reference: ``Payment ID``, else ``Payment Reference``, else the first of ``Payment References``: the
  gateway's id (with Shopify Payments, Shopify's, not a Stripe PaymentIntent); a blank never clears one known;
- the received date stays unknown: ``Fulfilled at`` is when the parcel left, not when it arrived, and no
  policy window may count from it;
- line items: ``Lineitem quantity``, ``Lineitem price`` (the unit price, before discounts: ``Discount Amount``
  and ``Lineitem discount`` are not taken off), ``Lineitem sku``, ``Lineitem name`` (names a product only when
  it is new: the catalogue owns names; no category: ``electronic`` stays unknown unless already known);
- a line item without a SKU (a tip, a gift card, a custom item) is left out and listed: products are found by
  SKU; an order left with no line is left out whole;
- one SKU twice in an order: at one unit price the quantities are added up, at two prices the order is
  refused (``returns.orders``);
- currency: the order's first row's.
A bad row refuses its whole order (an order is one thing: its fields are on its first row, its refund covers
all its lines), listed with every reason; the other orders load.
"""

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from returns import money
from returns.orders import MAX_QUANTITY, PRODUCT_NAME_LENGTH, SKU_LENGTH, UNSAID, LineData, OrderData
from stores.earlier import EarlierOrders
from stores.own_layout import email_is_valid, price_parse
from stores.report import ImportFileError, ImportReport

NAME = "shopify"
LABEL = "Shopify's order export"
# Shopify's column names as written, and as matched (``stores.csvfile.column_name``).
REQUIRED_COLUMNS = ("Name", "Email", "Currency", "Lineitem quantity", "Lineitem name", "Lineitem price",
                    "Lineitem sku")  # fmt: skip
OPTIONAL_COLUMNS = ("Financial Status", "Billing Name", "Shipping Name", "Notes", "Cancelled at", "Created at",
                    "Refunded Amount", "Total", "Payment ID", "Payment Reference", "Payment References")  # fmt: skip
_KEY = {column: re.sub(r"[\s-]+", "_", column.lower()) for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
COLUMNS_READ = tuple(_KEY.values())
FINANCIAL_STATUSES = ("pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded",
                      "voided", "expired")  # fmt: skip
_WHOLE_NUMBER = re.compile(r"\d+")
_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # 2024-05-01 10:00:00 +0200


def recognises(columns: list[str]) -> bool:
    return _KEY["Lineitem quantity"] in columns and _KEY["Name"] in columns


def check_header(columns: list[str], label: str) -> None:
    missing = [column for column in REQUIRED_COLUMNS if _KEY[column] not in columns]
    if missing:
        raise ImportFileError(
            f"{label}: the header lacks {LABEL}'s column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            "(export the orders from Shopify's admin, Orders › Export, as a plain CSV file)."
        )


def orders(
    rows: Iterable[tuple[int, Mapping]], *, report: ImportReport, file_name: str = ""
) -> Iterator[tuple[OrderData, list[int]]]:
    """Each order with the rows it came from; refused and left-out rows go to the report."""
    earlier = EarlierOrders()
    order = None
    try:
        for line, raw in rows:
            report.rows_read += 1
            number = (raw.get(_KEY["Name"]) or "").strip()
            if not number:
                report.reject(line, "Name is empty: the order's rows are found by its Name.")
                continue
            if order is None or number != order.number:
                if order is not None:
                    yield from order.finish(report, earlier, file_name)
                order = _Order(number, line, raw, earlier.get(number))
            order.add(line, raw)
        if order is not None:
            yield from order.finish(report, earlier, file_name)
    finally:
        earlier.close()


class _Order:
    def __init__(self, number: str, line: int, raw: Mapping, earlier: tuple | None):
        self.number = number
        self.first_line = line
        self.earlier = earlier  # (first line, last line) where the file had this order before
        self.lines: list[tuple[int, LineData | None, list[str], str]] = []  # (line, data, problems, name)
        self.problems = self._order_fields(raw)

    def _order_fields(self, raw: Mapping) -> list[str]:
        def text(column):
            return (raw.get(_KEY[column]) or "").strip()

        problems = []
        if len(self.number) > 64:
            problems.append("Name is longer than 64 characters")
        self.email = text("Email")
        if not self.email:
            problems.append("Email is empty: customer service answers the customer by email")
        elif len(self.email) > 254 or not email_is_valid(self.email):
            problems.append(f"Email “{self.email}” is not an email address")
        self.customer_name = text("Billing Name") or text("Shipping Name") or self.email
        if len(self.customer_name) > 255:
            problems.append("Billing Name is longer than 255 characters")
        self.currency = text("Currency").upper()
        if not self.currency:
            problems.append("Currency is empty")
        elif self.currency not in money.MINOR_UNITS:
            problems.append(
                f"Currency “{text('Currency')}” is not one we sell in ({', '.join(sorted(money.MINOR_UNITS))})"
            )
        known_currency = self.currency if self.currency in money.MINOR_UNITS else ""
        status = text("Financial Status").lower()
        self.cancelled_at = (
            UNSAID if _KEY["Cancelled at"] not in raw else _moment(text("Cancelled at"), "Cancelled at", problems)
        )
        self.refunded_total = None
        if text("Refunded Amount"):
            self.refunded_total = _amount(text("Refunded Amount"), known_currency, "Refunded Amount", problems)
        elif status == "refunded" and text("Total"):
            self.refunded_total = _amount(text("Total"), known_currency, "Total", problems)
        elif status == "partially_refunded":
            problems.append(
                "Financial Status is partially_refunded but Refunded Amount is blank: how much was refunded?"
            )
        if status == "voided" and not self.cancelled_at:
            self.cancelled_at = _moment(text("Created at"), "Created at", problems)
            if self.cancelled_at is None:
                problems.append("Financial Status is voided but Cancelled at and Created at are blank")
        note = raw.get(_KEY["Notes"])
        self.note = UNSAID if note is None else note
        references = re.split(r"[\s,+]+", text("Payment References"))
        self.payment_reference = text("Payment ID") or text("Payment Reference") or references[0]
        if len(self.payment_reference) > 128:
            problems.append("the payment's id (Payment ID or Payment Reference) is longer than 128 characters")
        return problems

    def add(self, line: int, raw: Mapping) -> None:
        def text(column):
            return (raw.get(_KEY[column]) or "").strip()

        problems = []
        if raw.get(None):
            problems.append(
                f"has {len(raw[None])} more value{'s' if len(raw[None]) > 1 else ''} than the header has columns"
            )
        quantity_text = text("Lineitem quantity")
        quantity = None
        if not quantity_text:
            problems.append("Lineitem quantity is empty")
        elif not _WHOLE_NUMBER.fullmatch(quantity_text):
            problems.append(f"Lineitem quantity “{quantity_text}” is not a whole number")
        elif not 1 <= int(quantity_text) <= MAX_QUANTITY:
            problems.append(f"Lineitem quantity {quantity_text} is out of range (from 1)")
        else:
            quantity = int(quantity_text)
        currency = self.currency if self.currency in money.MINOR_UNITS else ""
        price = price_parse(text("Lineitem price"), currency, "Lineitem price")
        if isinstance(price, str):
            if price:  # "": the currency is the problem, reported with the order
                problems.append(price)
            price = None
        sku = text("Lineitem sku")
        name = text("Lineitem name") or sku
        if len(sku) > SKU_LENGTH:
            problems.append(f"Lineitem sku is longer than {SKU_LENGTH} characters")
        if len(name) > PRODUCT_NAME_LENGTH:
            name = name[: PRODUCT_NAME_LENGTH - 1] + "…"
        data = None
        if sku and not problems and quantity is not None and price is not None:
            data = LineData(sku=sku, name=name, quantity=quantity, unit_price=price, name_if_new=True)
        if line == self.first_line:
            problems = self.problems + problems
        self.lines.append((line, data, problems, name))

    def finish(
        self, report: ImportReport, earlier: EarlierOrders, file_name: str
    ) -> Iterator[tuple[OrderData, list[int]]]:
        rows = [line for line, _, _, _ in self.lines]
        span = f"line {rows[0]}" if len(rows) == 1 else f"lines {rows[0]}–{rows[-1]}"
        if self.earlier:
            first, last = self.earlier
            before = f"line {first}" if first == last else f"lines {first}–{last}"
            for line in rows:
                report.reject(
                    line,
                    f"order {self.number} is already on {before} of this file: Shopify writes an order's rows one "
                    "after the other (two exports pasted together?). Import each export on its own.",
                )
            return
        earlier.put(self.number, (rows[0], rows[-1]))
        bad = [(line, problems) for line, _, problems, _ in self.lines if problems]
        if bad:
            for line, problems in bad:
                report.reject(line, f"{'; '.join(problems)}. Order {self.number} ({span}) is not loaded.")
            for line in sorted(set(rows) - {line for line, _ in bad}):
                report.reject(line, f"order {self.number} is not loaded: line {bad[0][0]} is refused.")
            return
        kept = [(line, data) for line, data, _, _ in self.lines if data is not None]
        for line, data, _, name in self.lines:
            if data is None:
                report.leave_out(
                    line,
                    f"line item “{name}” of order {self.number} has no Lineitem sku: left out (products are "
                    "found by SKU)"
                    + ("; the order has no other line item, so it is left out too." if not kept else "."),
                )
        if not kept:
            return
        where = f"store export {file_name}" if file_name else "store export"
        yield (
            OrderData(
                number=self.number,
                customer_email=self.email,
                customer_name=self.customer_name,
                currency=self.currency,
                lines=tuple(data for _, data in kept),
                payment_reference=self.payment_reference,
                cancelled_at=self.cancelled_at,
                refunded_total=self.refunded_total,
                note=self.note,
                origin=f"{where}, line {rows[0]}",
            ),
            [line for line, _ in kept],
        )


def _moment(text: str, column: str, problems: list[str]) -> datetime | None:
    """A date and time as Shopify writes it (``2024-05-01 10:00:00 +0200``) or in ISO 8601; a time without
    an offset is in the company's time zone."""
    if not text:
        return None
    try:
        moment = datetime.strptime(text, _DATETIME_FORMAT)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            problems.append(
                f"{column} “{text}” is not a date and time as Shopify writes it (2024-05-01 10:00:00 +0200)"
            )
            return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _amount(text: str, currency: str, column: str, problems: list[str]) -> Decimal | None:
    amount = price_parse(text, currency, column)
    if isinstance(amount, str):
        if amount:  # "": the currency is the problem, reported with it
            problems.append(amount)
        return None
    return amount
