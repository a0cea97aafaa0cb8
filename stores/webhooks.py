"""Shopify's webhooks: each delivery checked, stored once, processed once, as the system.

Receiving (``delivery_receive``, from the view): the signature has been checked; a delivery whose
``X-Shopify-Webhook-Id`` is already stored is a retry and is not stored or queued again; a new one is
stored and its task queued once the row is committed.

Processing (``delivery_process``, from the task), by topic:

- ``orders/create``, ``orders/updated``, ``orders/cancelled``: the order goes through
  ``returns.orders.orders_upsert``, the one path the CSV imports take too. An ``orders/updated`` before
  its ``orders/create`` creates the order; the late, older create then changes nothing (its
  ``updated_at`` is older than the version applied). Deliveries of the order that were waiting for it
  (a refund, a delivery event) are queued again.
- ``refunds/create``: the store's refunds of each order line (units and money, summed over the line's
  refunds) and of the whole order go through ``orders_upsert`` too. A refund is counted by its id: the
  same refund listed again in a later order webhook's ``refunds`` is the same refund, so every refund
  delivery and order delivery of the order recomputes the totals from the distinct refunds known, never
  adds to them.
- ``fulfillment_events/create`` with status ``delivered``: the company-local day of ``happened_at`` is
  the order's received date, through ``returns.services.order_set_received_on`` as the system, source
  carrier. Once a claim of the order is approved the service refuses the system: the delivery is left
  *for a person to decide*, its outcome saying both days, and the date is not changed (a manager may).
  An earlier carrier day than the carrier day already recorded does not move the date back (a second
  parcel of the order delivered later is when all the goods were in hand). Other statuses change nothing.

A refund or a delivery event names the store's order id only. The id is matched to our order through the
order's own webhooks (``WebhookDelivery.store_order_id``); until one was processed, the delivery *waits
for its order* and is applied when the order's webhook arrives (and by the sweep, which catches any left).

The deliveries of one store order are processed one at a time (a transaction-level advisory lock on
PostgreSQL; SQLite has one writer at a time anyway), so a refund never races its order.
"""

import base64
import hashlib
import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core import actors
from returns import money, policy, services
from returns.models import Order, ReceivedDateSource
from returns.orders import CREATED, UPDATED, LineData, OrderData, orders_upsert
from stores import webhook_payloads as payloads
from stores.models import DeliveryStatus, WebhookDelivery
from stores.webhook_payloads import PayloadError

log = logging.getLogger(__name__)

ORDERS_CREATE, ORDERS_UPDATED, ORDERS_CANCELLED = "orders/create", "orders/updated", "orders/cancelled"
REFUNDS_CREATE = "refunds/create"
FULFILLMENT_EVENTS_CREATE = "fulfillment_events/create"
ORDER_TOPICS = (ORDERS_CREATE, ORDERS_UPDATED, ORDERS_CANCELLED)
TOPICS = (*ORDER_TOPICS, REFUNDS_CREATE, FULFILLMENT_EVENTS_CREATE)
DELIVERED = "delivered"

# The first key of the advisory locks taken here ("SHOP"), so that they cannot meet another use's.
_LOCK_NAMESPACE = 0x53484F50


class TryAgain(Exception):
    """A passing fault (the database went away, a deadlock): the task retries with back-off."""


# --- Receiving --------------------------------------------------------------------------------------------


def signature_valid(body: bytes, signature: str) -> bool:
    """``X-Shopify-Hmac-Sha256``: the base64 HMAC-SHA256 of the raw body with the shared secret, compared in
    constant time. Without a configured secret nothing is valid."""
    secret = settings.SHOPIFY_WEBHOOK_SECRET
    if not secret or not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode())


def delivery_receive(
    *, webhook_id: str, topic: str, shop_domain: str, api_version: str, triggered_at: str, body: bytes
) -> WebhookDelivery | None:
    """Store a new delivery and queue its processing once committed; None for a retry of a stored one."""
    from stores import tasks

    if WebhookDelivery.objects.filter(webhook_id=webhook_id).exists():
        return None
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                webhook_id=webhook_id,
                topic=topic,
                shop_domain=shop_domain[:255],
                api_version=api_version[:16],
                triggered_at=_header_instant(triggered_at),
                body=body.decode("utf-8", errors="replace"),
            )
            transaction.on_commit(lambda: tasks.process_webhook_delivery.delay(delivery.pk), robust=True)
    except IntegrityError:
        return None  # the same delivery, retried while the first was being stored
    return delivery


def _header_instant(value: str):
    try:
        return parse_datetime(value.strip()) if value else None
    except ValueError:
        return None


# --- Processing -------------------------------------------------------------------------------------------


def delivery_process(*, delivery_id: int, final_attempt: bool = True) -> str:
    """Apply one delivery (see the module docstring); safe to run twice: a processed delivery is left alone.

    A body that is not what Shopify documents, or an order the upsert refuses, fails at once with the
    reason; a passing database fault raises ``TryAgain`` until ``final_attempt``, then fails.
    """
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
            if delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.WAITING):
                return delivery.status
            delivery.attempts += 1
            status, outcome = _process(delivery)
            delivery.status, delivery.outcome = status, outcome
            delivery.processed_at = None if status == DeliveryStatus.WAITING else timezone.now()
            delivery.save()
            return status
    except PayloadError as error:
        return _fail(delivery_id, str(error))
    except (OperationalError, InterfaceError) as error:
        if final_attempt:
            return _fail(delivery_id, f"Gave up after its retries: {error}")
        _note(delivery_id, f"Attempt failed, it will be tried again: {error}")
        raise TryAgain(str(error)) from error
    except Exception as error:
        log.exception("webhook delivery %s failed", delivery_id)
        _fail(delivery_id, f"Unexpected error: {error!r}")
        raise


def _fail(delivery_id: int, reason: str) -> str:
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
            delivery.status, delivery.outcome = DeliveryStatus.FAILED, reason
            delivery.attempts += 1
            delivery.processed_at = timezone.now()
            delivery.save()
    except Exception:
        log.exception("webhook delivery %s: could not record its failure: %s", delivery_id, reason)
    return DeliveryStatus.FAILED


def _note(delivery_id: int, text: str) -> None:
    try:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            outcome=text, attempts=F("attempts") + 1, updated_at=timezone.now()
        )
    except Exception:
        log.exception("webhook delivery %s: %s", delivery_id, text)


def _process(delivery: WebhookDelivery) -> tuple[str, str]:
    payload = payloads.parse(delivery.body)
    if delivery.topic in ORDER_TOPICS:
        return _apply_order(delivery, payload)
    if delivery.topic == REFUNDS_CREATE:
        return _apply_refund(delivery, payload)
    if delivery.topic == FULFILLMENT_EVENTS_CREATE:
        return _apply_fulfilment_event(delivery, payload)
    return DeliveryStatus.PROCESSED, f"Topic {delivery.topic} is not one the back-office reads: nothing done."


def _origin(delivery: WebhookDelivery) -> str:
    return f"webhook {delivery.webhook_id} ({delivery.topic})"


def _apply_order(delivery: WebhookDelivery, payload: dict) -> tuple[str, str]:
    store_order_id = payloads.store_order_id(payload, "id")
    number = payloads.order_number(payload)
    delivery.store_order_id, delivery.order_number = store_order_id, number
    _one_at_a_time(store_order_id)
    refunds = _known_refunds(store_order_id, exclude=delivery.pk)
    own = payloads.refunds_in_order(payload)
    refunds.update({store_refund.id: store_refund for store_refund in own or []})
    known = list(refunds.values()) if own is not None or refunds else None
    data, notes = payloads.order_data(payload, refunds=known, origin=_origin(delivery))
    applied = Order.objects.filter(number=number).values_list("store_updated_at", flat=True).first()
    report = orders_upsert([data])
    if report.refused:
        return DeliveryStatus.FAILED, f"Order {number} refused: {report.refused[0][1]}"
    if report.orders[CREATED]:
        words = f"Order {number} created with {len(data.lines)} line(s)."
    elif report.orders[UPDATED] or report.lines[CREATED] or report.lines[UPDATED]:
        words = f"Order {number} updated."
    elif applied and data.store_updated_at and data.store_updated_at < applied:
        words = (
            f"Order {number} unchanged: this version (updated {data.store_updated_at.isoformat()}) is older "
            f"than the one applied ({applied.isoformat()})."
        )
    else:
        words = f"Order {number} unchanged: nothing new."
    if known:
        words += f" The store's refunds counted: {_refund_words(known, data.currency)}."
    _requeue_waiting(store_order_id)
    return DeliveryStatus.PROCESSED, " ".join([words, *notes])


def _apply_refund(delivery: WebhookDelivery, payload: dict) -> tuple[str, str]:
    store_refund = payloads.refund(payload)
    store_order_id = payloads.store_order_id(payload, "order_id")
    delivery.store_order_id = store_order_id
    _one_at_a_time(store_order_id)
    order = _order_of(store_order_id)
    if order is None:
        return DeliveryStatus.WAITING, (
            f"Refund {store_refund.id} is of the store's order {store_order_id}, not known here yet: "
            "it is counted when the order's webhook arrives."
        )
    delivery.order_number = order.number
    refunds = _known_refunds(store_order_id, exclude=delivery.pk)
    refunds[store_refund.id] = store_refund
    data, notes = _order_data_with_refunds(order, list(refunds.values()), origin=_origin(delivery))
    report = orders_upsert([data])
    if report.refused:
        return DeliveryStatus.FAILED, f"Order {order.number} refused: {report.refused[0][1]}"
    words = (
        f"Refund {store_refund.id} of order {order.number} counted. "
        f"The store's refunds now: {_refund_words(list(refunds.values()), data.currency)}."
    )
    return DeliveryStatus.PROCESSED, " ".join([words, *notes])


def _apply_fulfilment_event(delivery: WebhookDelivery, payload: dict) -> tuple[str, str]:
    event = payloads.fulfilment_event(payload)
    delivery.store_order_id = event.store_order_id
    if event.status != DELIVERED:
        return DeliveryStatus.PROCESSED, (
            f"Fulfilment event {event.id}: {event.status}. Only a delivery gives the received date: nothing to do."
        )
    day = policy.claim_day(event.happened_at)
    _one_at_a_time(event.store_order_id)
    order = _order_of(event.store_order_id)
    if order is None:
        return DeliveryStatus.WAITING, (
            f"Delivery event {event.id} ({day:%d %b %Y}) is of the store's order {event.store_order_id}, not "
            "known here yet: the received date is set when the order's webhook arrives."
        )
    delivery.order_number = order.number
    recorded = f"{order.received_on:%d %b %Y} ({order.get_received_on_source_display()})" if order.received_on else ""
    if order.received_on == day:
        return DeliveryStatus.PROCESSED, f"Order {order.number} was delivered on {day:%d %b %Y}, as recorded."
    if order.received_on_source == ReceivedDateSource.CARRIER and order.received_on and day < order.received_on:
        return DeliveryStatus.PROCESSED, (
            f"Delivery event {event.id}: part of order {order.number} was delivered on {day:%d %b %Y}; the received "
            f"date stays {order.received_on:%d %b %Y}, the carrier's later delivery, when all the goods were in hand."
        )
    try:
        services.order_set_received_on(
            order_id=order.pk,
            by=actors.SYSTEM,
            received_on=day,
            source=ReceivedDateSource.CARRIER,
            reason=f"carrier delivery event {event.id} at {event.happened_at.isoformat()}",
        )
    except PermissionDenied as refusal:
        return DeliveryStatus.NEEDS_REVIEW, _not_changed(order, event, day, recorded, str(refusal))
    except ValidationError as error:
        return DeliveryStatus.NEEDS_REVIEW, _not_changed(order, event, day, recorded, " ".join(error.messages))
    was = f", was {recorded}" if recorded else ""
    return DeliveryStatus.PROCESSED, (
        f"Received date of order {order.number} set to {day:%d %b %Y} from the carrier's delivery event "
        f"{event.id}{was}."
    )


def _not_changed(order: Order, event, day, recorded: str, why: str) -> str:
    return (
        f"The carrier says order {order.number} was delivered on {day:%d %b %Y} (event {event.id}, "
        f"{event.happened_at.isoformat()}); the recorded received date is {recorded or 'none'}. Not changed: {why} "
        "A manager may change it on the order's page."
    )


def _order_data_with_refunds(order: Order, refunds: list, *, origin: str) -> tuple[OrderData, list[str]]:
    """The order as it stands (its row locked), with the store's refunds per line and in all: only those change.

    The order total refunded never goes below the one known (an export may have counted refunds no
    webhook brought)."""
    lines = list(order.lines.select_related("product").order_by("pk"))
    if not lines:
        raise PayloadError(f"Order {order.number} has no lines here: a refund cannot be counted against it.")
    currency = lines[0].currency
    per_line, notes = payloads.line_refunds(
        refunds,
        quantities={line.product.sku: line.quantity for line in lines},
        currency=currency,
        number=order.number,
    )
    data = OrderData(
        number=order.number,
        customer_email=order.customer_email,
        customer_name=order.customer_name,
        currency=currency,
        lines=tuple(
            LineData(
                sku=line.product.sku,
                name=line.product.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                serial_numbers=tuple(line.serial_numbers),
                refunded_quantity=per_line[line.product.sku][0],
                refunded_amount=per_line[line.product.sku][1],
            )
            for line in lines
        ),
        cancelled_at=order.cancelled_at,
        refunded_total=max(payloads.refunded_total(refunds, currency), order.store_refunded_total),
        note=order.note,
        origin=origin,
    )
    return data, notes


def _refund_words(refunds: list, currency: str) -> str:
    units = sum(line.quantity for store_refund in refunds for line in store_refund.lines)
    paid = money.format_money(payloads.refunded_total(refunds, currency), currency)
    return f"{len(refunds)} refund(s), {units} unit(s), {paid} paid back"


def _known_refunds(store_order_id: int, *, exclude: int | None) -> dict:
    """Every refund of the store's order known from its other deliveries, by refund id."""
    rows = (
        WebhookDelivery.objects.filter(
            store_order_id=store_order_id,
            topic__in=(*ORDER_TOPICS, REFUNDS_CREATE),
            status__in=(DeliveryStatus.PROCESSED, DeliveryStatus.WAITING),
        )
        .exclude(pk=exclude)
        .order_by("received_at", "pk")
        .only("topic", "body")
    )
    refunds = {}
    for row in rows:
        payload = payloads.parse(row.body)
        found = [payloads.refund(payload)] if row.topic == REFUNDS_CREATE else payloads.refunds_in_order(payload)
        found = found or []
        refunds.update({store_refund.id: store_refund for store_refund in found})
    return refunds


def _order_number_of(store_order_id: int) -> str | None:
    """Our number of the store's order, from its own webhooks."""
    return (
        WebhookDelivery.objects.filter(
            store_order_id=store_order_id, topic__in=ORDER_TOPICS, status=DeliveryStatus.PROCESSED
        )
        .exclude(order_number="")
        .order_by("-received_at", "-pk")
        .values_list("order_number", flat=True)
        .first()
    )


def _order_of(store_order_id: int) -> Order | None:
    number = _order_number_of(store_order_id)
    return Order.objects.select_for_update().filter(number=number).first() if number else None


def _one_at_a_time(store_order_id: int) -> None:
    """Deliveries of one store order wait for each other until their transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time already (BEGIN IMMEDIATE, settings.py)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s::integer, %s::integer)",
            [_LOCK_NAMESPACE, store_order_id % (2**31)],
        )


def _requeue_waiting(store_order_id: int) -> None:
    from stores import tasks

    waiting = WebhookDelivery.objects.filter(store_order_id=store_order_id, status=DeliveryStatus.WAITING)
    for delivery_id in waiting.values_list("pk", flat=True):
        transaction.on_commit(
            lambda delivery_id=delivery_id: tasks.process_webhook_delivery.delay(delivery_id), robust=True
        )


# --- The sweep --------------------------------------------------------------------------------------------


def deliveries_requeue() -> int:
    """Queue again what is left behind: deliveries still queued long after they arrived (the broker lost
    their task), and deliveries waiting for an order that is now known."""
    from stores import tasks

    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.SHOPIFY_WEBHOOK_REQUEUE_AFTER_SECONDS)
    stale = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    waiting = dict(WebhookDelivery.objects.filter(status=DeliveryStatus.WAITING).values_list("pk", "store_order_id"))
    ready = [pk for pk, store_order_id in waiting.items() if _order_of_unlocked(store_order_id)]
    WebhookDelivery.objects.filter(pk__in=stale + ready).update(updated_at=now)
    for delivery_id in stale + ready:
        tasks.process_webhook_delivery.delay(delivery_id)
    return len(stale) + len(ready)


def _order_of_unlocked(store_order_id: int | None) -> bool:
    number = _order_number_of(store_order_id) if store_order_id is not None else None
    return bool(number) and Order.objects.filter(number=number).exists()
