"""The store's orders, upserted: one code path and one set of rules for its CSV exports and its webhooks.

The channels (``stores``: the project's own CSV layout, Shopify's order export, Shopify's webhooks) turn what
the store sends into ``OrderData`` and call ``orders_upsert``. The rules, whatever the source:
- an order is found by its number, a product by its SKU, an order line by (order, product);
- a blank never clears what is known: the received date, the payment reference, a product's category
  (``electronic=None``: the source does not say; the product catalogue decides);
- a known received date changes only through ``services.order_set_received_on`` (as the system, source
  "store", the file and line as the reason): refused once a claim of the order is approved;
- the store's cancellation and refunds are kept (``Order.cancelled_at``, ``store_refunded_total``, and per
  line where the store says which): the per-line ledger keeps our refunds within what is still owed;
- an update older than the version already applied (``store_updated_at``) changes nothing.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from core import actors
from returns import services
from returns.models import Order, OrderLine, Product, ReceivedDateSource

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


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


@dataclass(frozen=True)
class OrderData:
    number: str
    customer_email: str
    customer_name: str
    currency: str
    lines: tuple[LineData, ...]
    received_on: date | None = None
    payment_reference: str = ""
    cancelled_at: datetime | None = None
    refunded_total: Decimal | None = None  # the store's figure for the whole order; None: not said
    note: str = ""
    store_updated_at: datetime | None = None
    # Where it came from, for a report a person reads: "orders.csv, line 12", "webhook 4b1f…".
    origin: str = ""


class OrderRefused(ValueError):
    """The order cannot be applied as it stands; the message says why, for a person."""


@dataclass
class UpsertReport:
    orders: dict[str, int] = field(default_factory=lambda: {CREATED: 0, UPDATED: 0, UNCHANGED: 0})
    lines: dict[str, int] = field(default_factory=lambda: {CREATED: 0, UPDATED: 0, UNCHANGED: 0})
    products: dict[str, int] = field(default_factory=lambda: {CREATED: 0, UPDATED: 0, UNCHANGED: 0})
    refused: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)


def orders_upsert(orders, *, report: UpsertReport | None = None) -> UpsertReport:
    """Apply each order in its own transaction (as the system); a refused one is reported, the others apply."""
    report = report or UpsertReport()
    for data in orders:
        try:
            with transaction.atomic():
                _apply(data, report)
        except OrderRefused as error:
            report.refused.append((data.origin, str(error)))
    return report


def _apply(data: OrderData, report: UpsertReport) -> None:
    order = Order.objects.select_for_update().filter(number=data.number).first()
    if (
        order is not None
        and order.store_updated_at
        and data.store_updated_at
        and data.store_updated_at < order.store_updated_at
    ):
        report.orders[UNCHANGED] += 1  # an older version arriving late
        return
    values = {
        "customer_email": data.customer_email,
        "customer_name": data.customer_name,
        "note": data.note,
        "cancelled_at": data.cancelled_at,
    }
    if data.payment_reference:
        values["payment_reference"] = data.payment_reference
    if data.refunded_total is not None:
        values["store_refunded_total"] = data.refunded_total
    if data.store_updated_at is not None:
        values["store_updated_at"] = data.store_updated_at
    if order is None:
        on_create = (
            {"received_on": data.received_on, "received_on_source": ReceivedDateSource.STORE}
            if data.received_on
            else {}
        )
        order = Order.objects.create(number=data.number, **values, **on_create)
        report.orders[CREATED] += 1
    else:
        changed = _set(order, values)
        if data.received_on is not None and data.received_on != order.received_on:
            _received_on_set(order, data)
            changed = True
        report.orders[UPDATED if changed else UNCHANGED] += 1
    for line_data in data.lines:
        _apply_line(order, data, line_data, report)


def _apply_line(order: Order, data: OrderData, line_data: LineData, report: UpsertReport) -> None:
    product = Product.objects.select_for_update().filter(sku=line_data.sku).first()
    product_values = {"name": line_data.name}
    if line_data.electronic is not None:
        product_values["is_electronic"] = line_data.electronic
    if product is None:
        product = Product.objects.create(sku=line_data.sku, **product_values)
        report.products[CREATED] += 1
    else:
        report.products[UPDATED if _set(product, product_values) else UNCHANGED] += 1
    values = {
        "quantity": line_data.quantity,
        "unit_price": line_data.unit_price,
        "currency": data.currency,
        "serial_numbers": list(line_data.serial_numbers),
    }
    if line_data.refunded_quantity is not None:
        values["store_refunded_quantity"] = line_data.refunded_quantity
    if line_data.refunded_amount is not None:
        values["store_refunded_amount"] = line_data.refunded_amount
    line = OrderLine.objects.select_for_update().filter(order=order, product=product).first()
    if line is None:
        OrderLine.objects.create(order=order, product=product, **values)
        report.lines[CREATED] += 1
    else:
        report.lines[UPDATED if _set(line, values) else UNCHANGED] += 1


def _set(instance, values: dict) -> bool:
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if changed:
        for name in changed:
            setattr(instance, name, values[name])
        instance.save()
    return bool(changed)


def _received_on_set(order: Order, data: OrderData) -> None:
    try:
        services.order_set_received_on(
            order_id=order.pk,
            by=actors.SYSTEM,
            received_on=data.received_on,
            source=ReceivedDateSource.STORE,
            reason=f"store: {data.origin}" if data.origin else "store",
        )
    except PermissionDenied:
        recorded = f"{order.received_on:%Y-%m-%d}" if order.received_on else "none is recorded"
        raise OrderRefused(
            f"received date {data.received_on:%Y-%m-%d} differs from the one recorded ({recorded}); "
            "once a claim is approved only a manager can change it."
        ) from None
    except ValidationError as error:
        raise OrderRefused(f"received date {data.received_on:%Y-%m-%d}: {' '.join(error.messages)}") from None
