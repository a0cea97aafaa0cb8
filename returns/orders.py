"""The store's orders, upserted: one code path and one set of rules for its CSV exports and its webhooks.

The channels (``stores``: the project's own CSV layout, Shopify's order export, Shopify's webhooks) turn what
the store sends into ``OrderData`` and call ``orders_upsert``. The rules, whatever the source:
- an order is found by its number, a product by its SKU, an order line by (order, product);
- a blank never clears what is known: the received date, the payment reference, a product's category
  (``electronic=None``: the source does not say; the product catalogue decides); a source that has no note
  or cancellation at all says so with ``UNSAID`` and leaves them as they are;
- a product's name follows the source, except where the source says its name only names a new product
  (``LineData.name_if_new``: Shopify's line-item title is the variant's title at the time of the order);
- a known received date changes only through ``services.order_set_received_on`` (as the system, source
  "store", the origin as the reason): refused once a claim of the order is approved, and the order is then
  refused whole (nothing of it changes);
- the store's cancellation and refunds are kept (``Order.cancelled_at``, ``store_refunded_total``, and per
  line where the store says which): the per-line ledger keeps our refunds within what is still owed;
- an update older than the version already applied (``store_updated_at``) changes nothing;
- one order has each product once: lines of one SKU at one unit price are added up; at two prices the order
  is refused (the ledger needs one unit price per line);
- the same order given twice in one call is applied twice, in the order given.

How, set-wise: the orders are taken in batches (``BATCH_LINES`` lines at most), each in its own transaction.
A batch reads what is known of its products, orders and lines in three statements, without locks, and
compares in Python. Only the orders that differ are then locked (``SELECT … FOR UPDATE`` by primary key,
orders before their lines, as a claim takes them) and read again, so an unchanged re-import locks and writes
nothing. New rows are written with one statement per table (PostgreSQL: ``COPY``, the ids taken from the
table's sequence first; elsewhere ``executemany``), changed rows likewise (``UPDATE … FROM unnest(…)``).
Received dates that differ are few: each goes through the service in a savepoint. A batch that fails (a
deadlock, a product or an order another transaction created meanwhile) is tried once more, then order by
order, so one bad order never holds back the others.
"""

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from core import actors, text
from returns import money, services
from returns.models import Order, OrderLine, Product, ReceivedDateSource

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
# Lines per batch: the rows a batch holds in memory and writes in one transaction.
BATCH_LINES = 20_000
# Limits of the columns the rows go to (returns.models).
MAX_QUANTITY = 2_147_483_647
MAX_AMOUNT = Decimal(10) ** 11  # DecimalField(max_digits=14, decimal_places=3)
LENGTHS = {"number": 64, "customer_email": 254, "customer_name": 255, "payment_reference": 128}
# Refused when they hold a control character (names are cleaned instead: _names_on_one_line).
IDENTIFIERS = ("number", "customer_email", "payment_reference")
SKU_LENGTH, PRODUCT_NAME_LENGTH = 64, 255


class _Unsaid:
    """The source has no such field at all (not: it says the field is empty): what is known stays."""

    def __repr__(self):
        return "UNSAID"

    def __bool__(self):
        return False


UNSAID = _Unsaid()


@dataclass(frozen=True)
class LineData:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    serial_numbers: tuple[str, ...] = ()
    electronic: bool | None = None  # None: the source does not say
    # The store's own refund of this line, where the store says which line (a webhook's refund): None, not said.
    refunded_quantity: int | None = None
    refunded_amount: Decimal | None = None
    # True: ``name`` names the product only when it is new; a known product keeps its name (the catalogue's).
    name_if_new: bool = False


@dataclass(frozen=True)
class OrderData:
    number: str
    customer_email: str
    customer_name: str
    currency: str
    lines: tuple[LineData, ...]
    received_on: date | None = None
    payment_reference: str = ""
    cancelled_at: datetime | _Unsaid | None = None  # UNSAID: the source has no cancellation field
    refunded_total: Decimal | None = None  # the store's figure for the whole order; None: not said
    note: str | _Unsaid = ""  # UNSAID: the source has no notes
    store_updated_at: datetime | None = None
    # Where it came from, in words: the reason of a received date it changes, and the key of a refusal in the
    # report ("store export orders.csv, line 12", "Shopify webhook 4b1f…").
    origin: str = ""


class OrderRefused(ValueError):
    """The order cannot be applied as it stands; the message says why, for a person."""


def _counts():
    return {CREATED: 0, UPDATED: 0, UNCHANGED: 0}


@dataclass
class UpsertReport:
    orders: dict[str, int] = field(default_factory=_counts)
    lines: dict[str, int] = field(default_factory=_counts)
    products: dict[str, int] = field(default_factory=_counts)  # per batch: a product is counted once a batch
    refused: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)

    def add(self, other: "UpsertReport") -> None:
        for mine, theirs in ((self.orders, other.orders), (self.lines, other.lines), (self.products, other.products)):
            for outcome, count in theirs.items():
                mine[outcome] += count
        self.refused.extend(other.refused)


def orders_upsert(
    orders: Iterable[OrderData], *, report: UpsertReport | None = None, batch_lines: int = BATCH_LINES
) -> UpsertReport:
    """Apply the orders in batches, each batch in its own transaction (as the system); a refused order is
    reported with its origin and reason, the others apply."""
    report = report or UpsertReport()
    batch: list[OrderData] = []
    numbers: set[str] = set()
    size = 0
    for data in orders:
        if batch and (data.number in numbers or size + len(data.lines) > batch_lines):
            _batch_apply(batch, report)
            batch, numbers, size = [], set(), 0
        batch.append(data)
        numbers.add(data.number)
        size += len(data.lines)
    if batch:
        _batch_apply(batch, report)
    return report


# --- Checks that need no database ----------------------------------------------------------------


def order_problems(data: OrderData) -> list[str]:
    """What makes the order impossible to store as it stands (the columns' limits and the rules above)."""
    problems = []
    if not data.number:
        problems.append("the order number is empty")
    for name, limit in LENGTHS.items():
        if len(getattr(data, name)) > limit:
            problems.append(f"{name.replace('_', ' ')} is longer than {limit} characters")
    for name in IDENTIFIERS:
        if text.has_control_characters(getattr(data, name)):
            problems.append(f"{name.replace('_', ' ')} contains a line break or another control character")
    if data.currency not in money.MINOR_UNITS:
        problems.append(f"currency “{data.currency}” is not one we sell in")
    if data.refunded_total is not None and not Decimal(0) <= data.refunded_total < MAX_AMOUNT:
        problems.append(f"the refunded total {data.refunded_total} is out of range")
    for line in data.lines:
        problems.extend(_line_problems(line, data.currency))
    return problems


def _line_problems(line: LineData, currency: str) -> list[str]:
    problems = []
    if not line.sku:
        problems.append("a line has no SKU")
    elif len(line.sku) > SKU_LENGTH:
        problems.append(f"SKU {line.sku[:20]}… is longer than {SKU_LENGTH} characters")
    elif text.has_control_characters(line.sku):
        problems.append(f"SKU {line.sku!r} contains a line break or another control character")
    if len(line.name) > PRODUCT_NAME_LENGTH:
        problems.append(f"the name of {line.sku} is longer than {PRODUCT_NAME_LENGTH} characters")
    if not 1 <= line.quantity <= MAX_QUANTITY:
        problems.append(f"the quantity of {line.sku} must be a whole number from 1")
    if not Decimal(0) <= line.unit_price < MAX_AMOUNT:
        problems.append(f"the unit price of {line.sku} is out of range")
    elif currency in money.MINOR_UNITS and line.unit_price != money.quantize(line.unit_price, currency):
        problems.append(f"the unit price of {line.sku} has more decimals than {currency} allows")
    if line.refunded_quantity is not None and not 0 <= line.refunded_quantity <= line.quantity:
        problems.append(f"the store refunded {line.refunded_quantity} units of {line.sku}, of {line.quantity}")
    if line.refunded_amount is not None and not Decimal(0) <= line.refunded_amount < MAX_AMOUNT:
        problems.append(f"the amount the store refunded on {line.sku} is out of range")
    return problems


def _one_line_per_product(data: OrderData) -> OrderData:
    """Lines of one SKU at one unit price, added up; at two prices the order is refused."""
    if len({line.sku for line in data.lines}) == len(data.lines):
        return data
    merged: dict[str, LineData] = {}
    for line in data.lines:
        first = merged.get(line.sku)
        if first is None:
            merged[line.sku] = line
            continue
        if first.unit_price != line.unit_price:
            raise OrderRefused(
                f"SKU {line.sku} is on order {data.number} twice, at {money.format_money(first.unit_price, data.currency)}"
                f" and at {money.format_money(line.unit_price, data.currency)} a unit: one line per product, and the "
                "ledger needs one unit price per line."
            )
        merged[line.sku] = replace(
            first,
            quantity=first.quantity + line.quantity,
            serial_numbers=first.serial_numbers + line.serial_numbers,
            electronic=first.electronic if first.electronic is not None else line.electronic,
            refunded_quantity=_add(first.refunded_quantity, line.refunded_quantity),
            refunded_amount=_add(first.refunded_amount, line.refunded_amount),
        )
    return replace(data, lines=tuple(merged.values()))


def _names_on_one_line(data: OrderData) -> OrderData:
    """A name is shown and emailed on one line: its line breaks and control characters become spaces.

    Identifiers (number, email, payment reference, SKU) are not cleaned but refused (``order_problems``).
    """
    name = text.single_line(data.customer_name)
    lines = tuple(replace(line, name=text.single_line(line.name)) for line in data.lines)
    return replace(data, customer_name=name, lines=lines)


def _add(first, second):
    return first if second is None else second if first is None else first + second


# --- A batch --------------------------------------------------------------------------------------


def _batch_apply(batch: list[OrderData], report: UpsertReport) -> None:
    ready = []
    for data in batch:
        data = _names_on_one_line(data)
        problems = order_problems(data)
        try:
            if problems:
                raise OrderRefused("; ".join(problems) + ".")
            ready.append(_one_line_per_product(data))
        except OrderRefused as refusal:
            report.refused.append((data.origin, str(refusal)))
    if not ready:
        return
    error = None
    for _attempt in range(2):
        part = UpsertReport()
        try:
            with transaction.atomic():
                _Batch(ready, part).apply()
        except (IntegrityError, OperationalError, DataError) as failure:  # a deadlock, a row made meanwhile, …
            error = failure
            continue
        report.add(part)
        return
    if len(ready) == 1:
        why = f" ({str(error).strip().splitlines()[0]})" if error else ""
        report.refused.append((ready[0].origin, f"could not be saved{why}; import it again."))
        return
    for data in ready:  # one by one: the order that fails is refused alone
        _batch_apply([data], report)


@dataclass
class _KnownOrder:
    pk: int
    number: str
    customer_email: str
    customer_name: str
    received_on: date | None
    received_on_source: str
    cancelled_at: datetime | None
    store_refunded_total: Decimal
    note: str
    store_updated_at: datetime | None
    payment_reference: str

    FIELDS = (
        "customer_email",
        "customer_name",
        "cancelled_at",
        "store_refunded_total",
        "note",
        "store_updated_at",
        "payment_reference",
    )

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.FIELDS)


_ORDER_COLUMNS = ("pk", "number", "customer_email", "customer_name", "received_on", "received_on_source",
                  "cancelled_at", "store_refunded_total", "note", "store_updated_at", "payment_reference")  # fmt: skip
_LINE_COLUMNS = ("pk", "order_id", "product_id", "quantity", "unit_price", "currency", "serial_numbers",
                 "store_refunded_quantity", "store_refunded_amount")  # fmt: skip
_LINE_FIELDS = _LINE_COLUMNS[3:]


class _Batch:
    def __init__(self, orders: list[OrderData], report: UpsertReport):
        self.orders = orders
        self.report = report
        self.db = _writer()
        self.now = timezone.now()

    def apply(self) -> None:
        product_ids = self.products_apply()
        known = {
            row[1]: _KnownOrder(*row)
            for row in self.db.read(Order, _ORDER_COLUMNS, "number", [data.number for data in self.orders])
        }
        lines = self.lines_read([order.pk for order in known.values()])
        changing = [
            data
            for data in self.orders
            if data.number in known and self.order_differs(data, known[data.number], lines, product_ids)
        ]
        if changing:
            # Orders before their lines, by primary key, as a claim takes them; then read again under the locks.
            pks = sorted(known[data.number].pk for data in changing)
            for row in self.db.read(Order, _ORDER_COLUMNS, "pk", pks, lock=True):
                known[row[1]] = _KnownOrder(*row)
            lines.update(self.lines_read(pks))
        new_orders, order_updates, new_lines, line_updates = [], [], [], []
        applied = []
        for data in self.orders:
            order = known.get(data.number)
            if order is None:
                new_orders.append(data)
                continue
            if _older(data, order):
                self.report.orders[UNCHANGED] += 1  # an older version arriving late
                self.report.lines[UNCHANGED] += len(data.lines)
                continue
            date_changed = data.received_on is not None and data.received_on != order.received_on
            if date_changed:
                try:
                    self.received_on_set(order, data)
                except OrderRefused as refusal:
                    self.report.refused.append((data.origin, str(refusal)))
                    continue
            values = _order_values(data, order)
            fields_changed = values != order.values()
            if fields_changed:
                order_updates.append((order.pk, *values))
            self.report.orders[UPDATED if date_changed or fields_changed else UNCHANGED] += 1
            applied.append((data, order.pk))
        if new_orders:
            created = self.db.insert(
                Order, ORDER_INSERT_COLUMNS, [self.order_row(data) for data in new_orders], key="number"
            )
            self.report.orders[CREATED] += len(new_orders)
            applied.extend((data, created[data.number]) for data in new_orders)
        if order_updates:
            self.db.update(Order, ("pk", *_KnownOrder.FIELDS), order_updates, self.now)
        for data, order_pk in applied:
            for line in data.lines:
                known_line = lines.get((order_pk, product_ids[line.sku]))
                values = _line_values(line, data.currency, known_line)
                if known_line is None:
                    new_lines.append((order_pk, product_ids[line.sku], *values))
                    self.report.lines[CREATED] += 1
                elif values != known_line[1:]:
                    line_updates.append((known_line[0], *values))
                    self.report.lines[UPDATED] += 1
                else:
                    self.report.lines[UNCHANGED] += 1
        if new_lines:
            self.db.insert(OrderLine, LINE_INSERT_COLUMNS, new_lines)
        if line_updates:
            self.db.update(OrderLine, ("pk", *_LINE_FIELDS), line_updates)

    # Products ---------------------------------------------------------------------------------

    def products_apply(self) -> dict[str, int]:
        """Create the new products, rename the changed ones; their ids by SKU.

        A known product's category changes only through ``services.product_set_category`` (as the system, the
        order's origin as the reason): its open claims are judged again and an event says so; once a claim on
        it is approved the system may not, and the change is reported as refused (the rest applies).
        """
        wanted: dict[str, list] = {}  # sku -> [name for a new product, new name or None, electronic or None]
        said_by: dict[str, str] = {}  # sku -> the origin of the first order that gave its category
        for data in self.orders:
            for line in data.lines:
                entry = wanted.setdefault(line.sku, [line.name, None, None])
                if not line.name_if_new:
                    entry[0] = entry[1] = line.name
                if line.electronic is not None:
                    entry[2] = line.electronic
                    said_by.setdefault(line.sku, data.origin)
        known = {sku: (pk, name, electronic) for pk, sku, name, electronic in self._products_read(list(wanted))}

        def new_name(sku):
            return wanted[sku][1] if wanted[sku][1] is not None else known[sku][1]

        renamed = sorted(known[sku][0] for sku in known if new_name(sku) != known[sku][1])
        updates = []
        if renamed:
            for pk, sku, name, _ in self._products_read(renamed, key="pk", lock=True):
                if new_name(sku) != name:
                    updates.append((pk, new_name(sku)))
            if updates:
                self.db.update(Product, ("pk", "name"), updates)
        recategorised = [
            sku for sku in sorted(known) if wanted[sku][2] is not None and wanted[sku][2] is not known[sku][2]
        ]
        for sku in recategorised:
            self._category_set(known[sku][0], sku, wanted[sku][2], said_by[sku])
        new = [(sku, name, electronic) for sku, (name, _, electronic) in wanted.items() if sku not in known]
        ids = {sku: pk for sku, (pk, _, _) in known.items()}
        if new:
            ids.update(self.db.insert(Product, ("sku", "name", "is_electronic"), new, key="sku"))
        changed = len({pk for pk, _ in updates} | {known[sku][0] for sku in recategorised})
        self.report.products[CREATED] += len(new)
        self.report.products[UPDATED] += changed
        self.report.products[UNCHANGED] += len(wanted) - len(new) - changed
        return ids

    def _category_set(self, pk: int, sku: str, electronic: bool, origin: str) -> None:
        try:
            with transaction.atomic():
                services.product_set_category(
                    product_ids=[pk], by=actors.SYSTEM, electronic=electronic, reason=origin or "store export"
                )
        except (PermissionDenied, ValidationError) as error:
            words = " ".join(getattr(error, "messages", [str(error)]))
            self.report.refused.append((origin, f"{sku}: the category was not changed: {words}"))

    def _products_read(self, keys, *, key="sku", lock=False):
        return self.db.read(Product, ("pk", "sku", "name", "is_electronic"), key, keys, lock=lock)

    # Orders and lines -------------------------------------------------------------------------------

    def lines_read(self, order_pks: list[int]) -> dict[tuple[int, int], tuple]:
        """(order, product) -> (pk, quantity, unit price, currency, serial numbers, store's refund)."""
        return {
            (row[1], row[2]): (row[0], *row[3:6], list(row[6]), *row[7:])
            for row in self.db.read(OrderLine, _LINE_COLUMNS, "order_id", order_pks)
        }

    def order_differs(self, data: OrderData, order: _KnownOrder, lines: dict, product_ids: dict) -> bool:
        if _older(data, order):
            return False
        if data.received_on is not None and data.received_on != order.received_on:
            return True
        if _order_values(data, order) != order.values():
            return True
        for line in data.lines:
            known_line = lines.get((order.pk, product_ids[line.sku]))
            if known_line is None or _line_values(line, data.currency, known_line) != known_line[1:]:
                return True
        return False

    def order_row(self, data: OrderData) -> tuple:
        return (
            data.number,
            data.customer_email,
            data.customer_name,
            data.received_on,
            ReceivedDateSource.STORE.value if data.received_on else "",
            None if data.cancelled_at is UNSAID else data.cancelled_at,
            data.refunded_total if data.refunded_total is not None else Decimal(0),
            "" if data.note is UNSAID else data.note,
            data.store_updated_at,
            data.payment_reference,
            self.now,
            self.now,
        )

    def received_on_set(self, order: _KnownOrder, data: OrderData) -> None:
        try:
            with transaction.atomic():
                services.order_set_received_on(
                    order_id=order.pk,
                    by=actors.SYSTEM,
                    received_on=data.received_on,
                    source=ReceivedDateSource.STORE,
                    reason=data.origin or "the store",
                )
        except PermissionDenied:
            if order.received_on is None:
                recorded = "none is recorded"
            else:
                source = ReceivedDateSource(order.received_on_source).label if order.received_on_source else "no source"
                recorded = f"{order.received_on:%Y-%m-%d}, {source}"
            raise OrderRefused(
                f"received_on {data.received_on:%Y-%m-%d}: the received date differs from the one recorded "
                f"({recorded}); once a claim is approved only a manager can change it."
            ) from None
        except ValidationError as error:
            raise OrderRefused(f"received_on {data.received_on:%Y-%m-%d}: {' '.join(error.messages)}") from None


def _older(data: OrderData, order: _KnownOrder) -> bool:
    """The store's version is older than the one applied: it arrived late and changes nothing."""
    return bool(order.store_updated_at and data.store_updated_at and data.store_updated_at < order.store_updated_at)


def _order_values(data: OrderData, order: _KnownOrder) -> tuple:
    """The order's fields after ``data``, in ``_KnownOrder.FIELDS`` order: what is not said stays."""
    return (
        data.customer_email,
        data.customer_name,
        order.cancelled_at if data.cancelled_at is UNSAID else data.cancelled_at,
        order.store_refunded_total if data.refunded_total is None else data.refunded_total,
        order.note if data.note is UNSAID else data.note,
        data.store_updated_at if data.store_updated_at is not None else order.store_updated_at,
        data.payment_reference or order.payment_reference,
    )


def _line_values(line: LineData, currency: str, known: tuple | None) -> tuple:
    """The line's fields after ``line``, in ``_LINE_FIELDS`` order: the store's refund stays when not said."""
    refunded_quantity = line.refunded_quantity
    refunded_amount = line.refunded_amount
    if refunded_quantity is None:
        refunded_quantity = known[-2] if known else 0
    if refunded_amount is None:
        refunded_amount = known[-1] if known else Decimal(0)
    return (line.quantity, line.unit_price, currency, list(line.serial_numbers), refunded_quantity, refunded_amount)


# --- Reading and writing many rows ---------------------------------------------------------------------

ORDER_INSERT_COLUMNS = ("number", "customer_email", "customer_name", "received_on", "received_on_source",
                        "cancelled_at", "store_refunded_total", "note", "store_updated_at", "payment_reference",
                        "created_at", "updated_at")  # fmt: skip
LINE_INSERT_COLUMNS = ("order_id", "product_id", *_LINE_FIELDS)


def _writer():
    return _PostgresWriter() if connection.vendor == "postgresql" else _Writer()


class _Writer:
    """Any database Django supports: reads in chunks of its parameter limit, writes with ``executemany``.

    No write skips a conflict: a product or an order another transaction created meanwhile makes the statement
    fail, and the batch is tried again (then it is known)."""

    def read(self, model, columns, key: str, keys: list, *, lock: bool = False):
        size = connection.features.max_query_params or 999
        for start in range(0, len(keys), size):
            queryset = model.objects.filter(**{f"{key}__in": keys[start : start + size]})
            queryset = queryset.select_for_update().order_by("pk") if lock else queryset.order_by()
            yield from queryset.values_list(*columns)

    def insert(self, model, columns, rows: list[tuple], *, key: str = "") -> dict:
        """Insert ``rows``; with ``key``, the new rows' ids by that column."""
        fields = [_field(model, name) for name in columns]
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        with connection.cursor() as cursor:
            cursor.executemany(sql, [[_prep(f, v) for f, v in zip(fields, row, strict=True)] for row in rows])
        if not key:
            return {}
        position = columns.index(key)
        return {value: pk for pk, value in self.read(model, ("pk", key), key, [row[position] for row in rows])}

    def update(self, model, columns, rows, now=None) -> None:
        """``rows``: (pk, values of ``columns[1:]``); ``now``: the ``updated_at`` to set too."""
        fields = [_field(model, name) for name in columns[1:]]
        quote = connection.ops.quote_name
        assignments = [f"{quote(f.column)} = %s" for f in fields]
        extra = []
        if now is not None:
            assignments.append(f"{quote('updated_at')} = %s")
            extra = [_prep(model._meta.get_field("updated_at"), now)]
        sql = (
            f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} "
            f"WHERE {quote(model._meta.pk.column)} = %s"
        )
        params = [[*(_prep(f, v) for f, v in zip(fields, row[1:], strict=True)), *extra, row[0]] for row in rows]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


class _PostgresWriter(_Writer):
    """PostgreSQL: reads take a batch's keys as one array (``= ANY(%s)``); new rows go in with ``COPY``, their
    ids taken from the table's sequence beforehand; changed rows are updated from arrays (``unnest``). COPY
    statements are logged like the others (``connection.queries``), so tests count them."""

    def read(self, model, columns, key: str, keys: list, *, lock: bool = False):
        if not keys:
            return []
        fields = [_field(model, name) for name in columns]
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(model._meta.db_table)} "
            f"WHERE {quote(_field(model, key).column)} = ANY(%s)"
        )
        if lock:
            sql += f" ORDER BY {quote(model._meta.pk.column)} FOR UPDATE"
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(keys)])
            rows = cursor.fetchall()
        for i, model_field in enumerate(fields):
            if model_field.get_internal_type() == "JSONField":
                rows = [(*row[:i], _json(row[i]), *row[i + 1 :]) for row in rows]
        return rows

    def insert(self, model, columns, rows: list[tuple], *, key: str = "") -> dict:
        fields = [_field(model, name) for name in columns]
        json_columns = {i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"}
        quote = connection.ops.quote_name
        table = model._meta.db_table
        pks = []
        with connection.cursor() as cursor:
            if key:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [table, model._meta.pk.column, len(rows)],
                )
                pks = [pk for (pk,) in cursor.fetchall()]
                fields = [model._meta.pk, *fields]
                json_columns = {i + 1 for i in json_columns}
                rows = [(pk, *row) for pk, row in zip(pks, rows, strict=True)]
            if json_columns:
                rows = [
                    tuple(json.dumps(v, ensure_ascii=False) if i in json_columns else v for i, v in enumerate(row))
                    for row in rows
                ]
            sql = f"COPY {quote(table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
            started = time.monotonic()
            with cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            if connection.queries_logged:
                connection.queries_log.append(
                    {"sql": f"{sql} ({len(rows)} rows)", "time": f"{time.monotonic() - started:.3f}"}
                )
        if not key:
            return {}
        position = columns.index(key) + 1
        return {row[position]: row[0] for row in rows}

    def update(self, model, columns, rows, now=None) -> None:
        fields = [_field(model, name) for name in columns]
        quote = connection.ops.quote_name
        names = [f"c{i}" for i in range(len(fields))]
        assignments = [
            f"{quote(f.column)} = {_from_array(f, name)}" for f, name in zip(fields[1:], names[1:], strict=True)
        ]
        params = _arrays(fields, rows)
        if now is not None:
            assignments.append(f"{quote('updated_at')} = %s")
            params.insert(0, now)
        sql = (
            f"UPDATE {quote(model._meta.db_table)} AS t SET {', '.join(assignments)} "
            f"FROM unnest({', '.join(_array_param(f) for f in fields)}) AS u({', '.join(names)}) "
            f"WHERE t.{quote(fields[0].column)} = u.c0"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _field(model, name: str):
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def _prep(model_field, value):
    return model_field.get_db_prep_save(value, connection)


def _json(text):
    """A JSON column as PostgreSQL gives it to Django (text); most serial-number lists are empty."""
    if not isinstance(text, str):
        return text
    return [] if text == "[]" else json.loads(text)


def _array_param(model_field) -> str:
    """The array a column's values travel in: JSON as text (cast per element), no length or precision (a cast
    to varchar(n) or numeric(p, s) would cut or round silently; the column's own checks apply on write)."""
    if model_field.get_internal_type() == "JSONField":
        return "%s::text[]"
    base = re.sub(r"\(.*\)", "", model_field.db_type(connection)).strip()
    return f"%s::{base}[]"


def _from_array(model_field, name: str) -> str:
    return f"u.{name}::jsonb" if model_field.get_internal_type() == "JSONField" else f"u.{name}"


def _arrays(fields, rows) -> list[list]:
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in fields]
    for i, model_field in enumerate(fields):
        if model_field.get_internal_type() == "JSONField":
            columns[i] = [json.dumps(value, ensure_ascii=False) for value in columns[i]]
    return columns
