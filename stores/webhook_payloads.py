"""Shopify's webhook bodies read into the back-office's terms: pure functions, no database.

The shapes are Shopify's REST resources as its webhooks send them (``stores/tests/webhooks/README.md``
names the documentation pages). What is read, and the choices made where Shopify says more than we keep:

- an order (``orders/create``, ``orders/updated``, ``orders/cancelled``): ``name`` is our order number
  ("#1001", as the store shows it), ``email``, the customer's name from ``billing_address`` (else
  ``customer``), ``currency`` (the shop's: ``price`` and refund amounts are in it, not in the
  presentment currency), ``note``, ``cancelled_at``, ``updated_at`` (the version: an older one arriving
  late changes nothing), and ``line_items[]`` by ``sku`` with ``quantity`` and ``price`` as the unit
  price (before discounts, as the brief and the CSV export have it). A line without a SKU (a custom
  item, a tip) cannot be claimed and is left out, said in the outcome; lines of one SKU are one order
  line (their quantities added), unless their prices differ;
- a refund (``refunds/create``, or each of an order's ``refunds[]``): its ``id``, and per
  ``refund_line_items[]`` the line's SKU (``line_item.sku``, else the order's line of ``line_item_id``),
  ``quantity`` and ``subtotal`` (what was paid back for the goods, before tax, like ``price``); its money
  paid back is the sum of its successful ``refund`` ``transactions`` (shipping included);
- a fulfilment event (``fulfillment_events/create``): ``id``, ``order_id``, ``status`` and ``happened_at``.

Amounts are read as Decimals from the JSON text (never through floats).
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime

from returns import money
from returns.orders import LineData, OrderData


class PayloadError(ValueError):
    """The body is not what Shopify documents, or says something impossible; the message says what, for a person."""


@dataclass(frozen=True)
class RefundLine:
    sku: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class StoreRefund:
    """One of the store's refunds: the same refund may come in a ``refunds/create`` and again inside a
    later order webhook, so refunds are counted by ``id``, never by delivery."""

    id: int
    lines: tuple[RefundLine, ...]
    paid_back: Decimal  # its successful refund transactions; 0 when none is listed


@dataclass(frozen=True)
class FulfilmentEvent:
    id: int
    store_order_id: int
    status: str
    happened_at: datetime | None


def parse(body: str) -> dict:
    try:
        payload = json.loads(body, parse_float=Decimal)
    except ValueError as error:
        raise PayloadError(f"The body is not JSON: {error}.") from None
    if not isinstance(payload, dict):
        raise PayloadError("The body is not a JSON object.")
    return payload


def store_order_id(payload: dict, field: str) -> int:
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"The payload has no order id in {field!r}.")
    return value


# --- Orders -----------------------------------------------------------------------------------------------


def order_number(payload: dict) -> str:
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PayloadError("The order has no name (its number, e.g. #1001).")
    return name.strip()


def order_data(payload: dict, *, refunds: list[StoreRefund] | None, origin: str) -> tuple[OrderData, list[str]]:
    """The order as ``returns.orders.orders_upsert`` takes it, and notes for a person (lines left out).

    ``refunds``: every refund of the order known here (None: nothing is known, so nothing is said).
    """
    number = order_number(payload)
    currency = _currency(payload)
    notes = []
    lines: dict[str, dict] = {}
    for item in _list(payload, "line_items"):
        sku = (item.get("sku") or "").strip()
        title = _text(item.get("name")) or _text(item.get("title"))
        if not sku:
            notes.append(f"Line {title or item.get('id')!r} has no SKU: left out (it cannot be claimed).")
            continue
        quantity = _count(item.get("quantity"), f"{sku}: quantity")
        if quantity == 0:
            notes.append(f"{sku}: quantity 0, left out.")
            continue
        price = _amount(item.get("price"), currency, f"{sku}: price")
        if sku in lines:
            if lines[sku]["unit_price"] != price:
                raise PayloadError(
                    f"{sku} is on two lines at different prices ({money.format_amount(lines[sku]['unit_price'], currency)} and {money.format_money(price, currency)}): "
                    "an order line here has one price."
                )
            lines[sku]["quantity"] += quantity
        else:
            lines[sku] = {"name": title or sku, "quantity": quantity, "unit_price": price}
    if not lines:
        raise PayloadError(f"Order {number} has no line with a SKU.")
    quantities = {sku: values["quantity"] for sku, values in lines.items()}
    per_line, refund_notes = line_refunds(refunds or [], quantities=quantities, currency=currency, number=number)
    notes.extend(refund_notes)
    line_data = tuple(
        LineData(
            sku=sku,
            name=values["name"][:255],
            quantity=values["quantity"],
            unit_price=values["unit_price"],
            refunded_quantity=None if refunds is None else per_line[sku][0],
            refunded_amount=None if refunds is None else per_line[sku][1],
        )
        for sku, values in lines.items()
    )
    data = OrderData(
        number=number,
        customer_email=_customer_email(payload),
        customer_name=_customer_name(payload)[:255],
        currency=currency,
        lines=line_data,
        cancelled_at=_instant(payload.get("cancelled_at"), "cancelled_at"),
        refunded_total=None if refunds is None else refunded_total(refunds, currency),
        note=_text(payload.get("note")),
        store_updated_at=_instant(payload.get("updated_at"), "updated_at"),
        origin=origin,
    )
    return data, notes


def refunds_in_order(payload: dict) -> list[StoreRefund] | None:
    """The refunds an order's payload lists; None when it has no ``refunds`` at all (nothing said)."""
    if "refunds" not in payload or payload["refunds"] is None:
        return None
    skus = {item.get("id"): (item.get("sku") or "").strip() for item in _list(payload, "line_items")}
    return [refund(entry, line_skus=skus) for entry in _list(payload, "refunds")]


def refund(payload: dict, *, line_skus: dict | None = None) -> StoreRefund:
    """One refund (a ``refunds/create`` body, or an entry of an order's ``refunds``)."""
    refund_id = payload.get("id")
    if isinstance(refund_id, bool) or not isinstance(refund_id, int):
        raise PayloadError("A refund has no id.")
    lines = []
    for entry in _list(payload, "refund_line_items"):
        item = entry.get("line_item") or {}
        sku = (item.get("sku") or "").strip() or (line_skus or {}).get(entry.get("line_item_id"), "")
        if not sku:
            continue  # a line without a SKU is not an order line here
        quantity = _count(entry.get("quantity"), f"refund {refund_id}, {sku}: quantity")
        amount = _decimal(entry.get("subtotal", 0), f"refund {refund_id}, {sku}: subtotal")
        lines.append(RefundLine(sku=sku, quantity=quantity, amount=amount))
    paid_back = sum(
        (
            _decimal(transaction.get("amount"), f"refund {refund_id}: transaction amount")
            for transaction in _list(payload, "transactions")
            if transaction.get("kind") == "refund" and transaction.get("status") == "success"
        ),
        Decimal(0),
    )
    return StoreRefund(id=refund_id, lines=tuple(lines), paid_back=paid_back)


def line_refunds(
    refunds: list[StoreRefund], *, quantities: dict[str, int], currency: str, number: str
) -> tuple[dict[str, tuple[int, Decimal]], list[str]]:
    """Per SKU of the order (``quantities``: its units ordered), the units and money the store paid back,
    summed over distinct refunds (0 where none); and notes for refunds of SKUs not on the order here.
    More units refunded than ordered is refused: the ledger could not hold it."""
    units, amounts = defaultdict(int), defaultdict(Decimal)
    for store_refund in refunds:
        for line in store_refund.lines:
            units[line.sku] += line.quantity
            amounts[line.sku] += line.amount
    notes = []
    for sku in units:
        if sku not in quantities:
            notes.append(f"A refund names {sku}, which is not a line of order {number} here: not counted per line.")
        elif units[sku] > quantities[sku]:
            raise PayloadError(
                f"{sku}: the store's refunds add up to {units[sku]} unit(s), more than the {quantities[sku]} ordered."
            )
    return {sku: (units[sku], money.quantize(amounts[sku], currency)) for sku in quantities}, notes


def refunded_total(refunds: list[StoreRefund], currency: str) -> Decimal:
    """The money the store paid back on the whole order: its refunds' successful transactions."""
    return money.quantize(sum((store_refund.paid_back for store_refund in refunds), Decimal(0)), currency)


# --- Fulfilment events ------------------------------------------------------------------------------------


def fulfilment_event(payload: dict) -> FulfilmentEvent:
    event_id = payload.get("id")
    if isinstance(event_id, bool) or not isinstance(event_id, int):
        raise PayloadError("The fulfilment event has no id.")
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise PayloadError(f"Fulfilment event {event_id} has no status.")
    happened_at = _instant(payload.get("happened_at"), "happened_at")
    if status == "delivered" and happened_at is None:
        raise PayloadError(f"Delivery event {event_id} does not say when it happened (happened_at).")
    return FulfilmentEvent(
        id=event_id, store_order_id=store_order_id(payload, "order_id"), status=status, happened_at=happened_at
    )


# --- Fields -----------------------------------------------------------------------------------------------


def _list(payload: dict, field: str) -> list[dict]:
    value = payload.get(field) or []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise PayloadError(f"{field!r} is not a list of objects.")
    return value


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _currency(payload: dict) -> str:
    currency = payload.get("currency")
    if currency not in money.MINOR_UNITS:
        raise PayloadError(f"Currency {currency!r} is not one the back-office knows.")
    return currency


def _count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(f"{what} {value!r} is not a whole number.")
    return value


def _decimal(value, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PayloadError(f"{what} {value!r} is not an amount.") from None
    if not amount.is_finite() or amount < 0:
        raise PayloadError(f"{what} {value!r} is not an amount of money.")
    return amount


def _amount(value, currency: str, what: str) -> Decimal:
    try:
        return money.parse_amount(str(value), currency)
    except money.MoneyError as error:
        raise PayloadError(f"{what}: {error}.") from None


def _instant(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise PayloadError(f"{field} {value!r} is not a time with its offset.")
    return moment


def _customer_email(payload: dict) -> str:
    customer = payload.get("customer") or {}
    return _text(payload.get("email")) or _text(payload.get("contact_email")) or _text(customer.get("email"))


def _customer_name(payload: dict) -> str:
    for source in (payload.get("billing_address"), payload.get("customer"), payload.get("shipping_address")):
        if not isinstance(source, dict):
            continue
        name = _text(source.get("name")) or " ".join(
            part for part in (_text(source.get("first_name")), _text(source.get("last_name"))) if part
        )
        if name:
            return name
    return ""
