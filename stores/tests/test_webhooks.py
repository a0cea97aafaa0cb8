"""Shopify's webhooks through the real URL (``POST /stores/shopify/webhooks/``), with the recorded payloads
of ``webhooks/`` signed as Shopify signs them; the task each delivery queues runs eagerly."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import OperationalError
from django.utils import timezone

from core.actors import ActorKind
from returns import ledger, policy, selectors, services
from returns.models import (
    ClaimType,
    Evidence,
    EvidenceKind,
    Order,
    OrderAction,
    OrderEvent,
    OrderLine,
    Product,
    ReceivedDateSource,
)
from stores import tasks, webhooks
from stores.models import DeliveryStatus, WebhookDelivery
from stores.tests.shopify import (
    DELIVERED,
    ORDER_ID,
    ORDERS_CANCELLED,
    ORDERS_CREATE,
    ORDERS_UPDATED,
    REFUNDS_CREATE,
    SHOP,
    URL,
    body_of,
    payload,
    recorded,
    shopify_headers,
    sign,
)

pytestmark = pytest.mark.django_db


def order_lines(number="#1001") -> dict[str, OrderLine]:
    return {line.product.sku: line for line in OrderLine.objects.filter(order__number=number).select_related("product")}


@pytest.fixture
def count_queued(monkeypatch):
    """How many times a delivery's task was queued, by delivery id."""
    queued = []
    delay = tasks.process_webhook_delivery.delay

    def counting(delivery_id):
        queued.append(delivery_id)
        return delay(delivery_id)

    monkeypatch.setattr(tasks.process_webhook_delivery, "delay", counting)
    return queued


# --- Receiving ----------------------------------------------------------------------------------------------


def test_orders_create_creates_the_order_with_its_lines_currency_and_note(deliver):
    response = deliver(ORDERS_CREATE)

    assert response.status_code == 200
    order = Order.objects.get(number="#1001")
    assert order.customer_email == "alice.martin@example.com"
    assert order.customer_name == "Alice Martin"
    assert order.note == "Please leave the parcel at the door."
    assert order.cancelled_at is None
    assert order.store_updated_at == dt.datetime(2026, 11, 20, 15, 15, 7, tzinfo=dt.UTC)
    assert order.received_on is None  # an order is not a delivery
    lines = order_lines()
    assert {sku: (line.quantity, line.unit_price, line.currency) for sku, line in lines.items()} == {
        "SR-CAGE-A7IV": (1, Decimal("129.90"), "USD"),
        "SR-NATO-70": (2, Decimal("19.90"), "USD"),
    }
    assert lines["SR-CAGE-A7IV"].product.name == "Camera Cage for Sony A7 IV"
    assert lines["SR-CAGE-A7IV"].product.is_electronic is None  # the store does not say: the catalogue decides
    assert {line.store_refunded_quantity for line in lines.values()} == {0}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.topic, delivery.shop_domain, delivery.status) == ("orders/create", SHOP, DeliveryStatus.PROCESSED)
    assert (delivery.store_order_id, delivery.order_number, delivery.attempts) == (ORDER_ID, "#1001", 1)
    assert delivery.body.encode() == recorded(ORDERS_CREATE)
    assert delivery.outcome == "Order #1001 created with 2 line(s)."


def test_tampered_body_is_refused_with_401_and_nothing_stored(deliver):
    body = recorded(ORDERS_CREATE)
    tampered = body.replace(b'"price": "129.90"', b'"price": "1.00"')
    assert tampered != body

    response = deliver(tampered, topic="orders/create", signature=sign(body))

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "signature",
    ["", "not base64 at all", "c2lnbmVkIHdpdGggYW5vdGhlciBzZWNyZXQ="],
    ids=["missing header", "garbage", "another secret"],
)
def test_missing_or_wrong_signature_is_refused_with_401_and_nothing_stored(deliver, signature):
    response = deliver(ORDERS_CREATE, signature=signature)

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert not Order.objects.exists()


def test_without_a_configured_secret_every_webhook_is_refused(deliver, settings):
    settings.SHOPIFY_WEBHOOK_SECRET = ""

    response = deliver(ORDERS_CREATE)

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_replayed_delivery_is_stored_once_and_its_task_runs_once(deliver, count_queued):
    first = deliver(ORDERS_CREATE, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")

    again = deliver(ORDERS_CREATE, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == b"Already received.\n"
    delivery = WebhookDelivery.objects.get()
    assert count_queued == [delivery.pk]
    assert delivery.attempts == 1
    assert Order.objects.count() == 1


def test_a_topic_not_read_here_is_answered_200_and_ignored(deliver):
    response = deliver(recorded(ORDERS_CREATE), topic="orders/paid")

    assert response.status_code == 200
    assert b"ignored" in response.content
    assert not WebhookDelivery.objects.exists()


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_stored(deliver, settings):
    settings.SHOPIFY_WEBHOOK_MAX_BYTES = 1024

    response = deliver(ORDERS_CREATE)

    assert response.status_code == 413
    assert not WebhookDelivery.objects.exists()


def test_a_get_is_not_allowed(client):
    assert client.get("/stores/shopify/webhooks/").status_code == 405


# --- Orders out of order ------------------------------------------------------------------------------------


def test_orders_updated_before_its_create_creates_the_order_and_the_late_create_changes_nothing(deliver):
    deliver(ORDERS_UPDATED)

    deliver(ORDERS_CREATE)

    order = Order.objects.get(number="#1001")
    assert order.note == "Refunded one bent rail; the customer keeps the other."
    assert order.store_updated_at == dt.datetime(2026, 11, 22, 14, 0, 2, tzinfo=dt.UTC)
    assert order_lines()["SR-NATO-70"].store_refunded_quantity == 1
    late = WebhookDelivery.objects.get(topic="orders/create")
    assert late.status == DeliveryStatus.PROCESSED
    assert late.outcome.startswith("Order #1001 unchanged: this version (updated 2026-11-20T10:15:07-05:00) is older")


# --- Refunds ------------------------------------------------------------------------------------------------


def test_refunds_create_records_the_store_refund_per_line_and_the_ledger_counts_it(deliver):
    deliver(ORDERS_CREATE)

    deliver(REFUNDS_CREATE)

    order = Order.objects.get(number="#1001")
    lines = order_lines()
    rail, cage = lines["SR-NATO-70"], lines["SR-CAGE-A7IV"]
    assert (rail.store_refunded_quantity, rail.store_refunded_amount) == (1, Decimal("19.90"))
    assert (cage.store_refunded_quantity, cage.store_refunded_amount) == (0, Decimal("0"))
    assert order.store_refunded_total == Decimal("19.90")
    books = ledger.for_lines([rail.pk, cage.pk])
    assert books[rail.pk].refunded_units == 1
    assert books[rail.pk].free_units == 1
    assert books[rail.pk].refundable == Decimal("19.90")  # 2 × 19.90 paid, 19.90 paid back by the store
    assert any("the store refunded 1 unit(s), 19.90 USD" in note for note in books[rail.pk].notes())
    delivery = WebhookDelivery.objects.get(topic="refunds/create")
    assert (delivery.status, delivery.order_number) == (DeliveryStatus.PROCESSED, "#1001")
    assert "Refund 929361464 of order #1001 counted" in delivery.outcome


def test_a_refund_listed_again_in_a_later_orders_updated_is_counted_once(deliver):
    deliver(ORDERS_CREATE)
    deliver(REFUNDS_CREATE)

    deliver(ORDERS_UPDATED)  # its refunds[] holds the same refund 929361464

    rail = order_lines()["SR-NATO-70"]
    assert (rail.store_refunded_quantity, rail.store_refunded_amount) == (1, Decimal("19.90"))
    assert Order.objects.get().store_refunded_total == Decimal("19.90")


def test_a_refund_arriving_after_the_order_update_that_listed_it_is_counted_once(deliver):
    deliver(ORDERS_CREATE)
    deliver(ORDERS_UPDATED)

    deliver(REFUNDS_CREATE)

    rail = order_lines()["SR-NATO-70"]
    assert (rail.store_refunded_quantity, rail.store_refunded_amount) == (1, Decimal("19.90"))


def test_two_refunds_of_one_line_are_summed(deliver):
    deliver(ORDERS_CREATE)
    deliver(REFUNDS_CREATE)
    second = payload(REFUNDS_CREATE)
    second["id"] = 929361465
    second["transactions"][0]["id"] = 245135521

    deliver(body_of(second), topic="refunds/create")

    rail = order_lines()["SR-NATO-70"]
    assert (rail.store_refunded_quantity, rail.store_refunded_amount) == (2, Decimal("39.80"))
    assert Order.objects.get().store_refunded_total == Decimal("39.80")
    assert ledger.for_lines([rail.pk])[rail.pk].free_units == 0


def test_a_refund_of_an_order_not_known_yet_waits_and_is_counted_when_the_order_arrives(deliver):
    deliver(REFUNDS_CREATE)
    waiting = WebhookDelivery.objects.get()
    assert waiting.status == DeliveryStatus.WAITING
    assert "not known here yet" in waiting.outcome

    deliver(ORDERS_CREATE)

    rail = order_lines()["SR-NATO-70"]
    assert (rail.store_refunded_quantity, rail.store_refunded_amount) == (1, Decimal("19.90"))
    waiting.refresh_from_db()
    assert waiting.status == DeliveryStatus.PROCESSED


def test_more_units_refunded_than_ordered_fails_the_delivery_with_the_reason(deliver):
    deliver(ORDERS_CREATE)
    too_many = payload(REFUNDS_CREATE)
    too_many["refund_line_items"][0]["quantity"] = 3

    deliver(body_of(too_many), topic="refunds/create")

    delivery = WebhookDelivery.objects.get(topic="refunds/create")
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.outcome == "SR-NATO-70: the store's refunds add up to 3 unit(s), more than the 2 ordered."
    assert order_lines()["SR-NATO-70"].store_refunded_quantity == 0


# --- Cancellation -------------------------------------------------------------------------------------------


def claim_of(order: Order, by):
    Product.objects.update(is_electronic=False)
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.NO_REASON,
        description="The cage does not fit my camera.",
        order_line_ids=[order_lines(order.number)["SR-CAGE-A7IV"].pk],
        by=by,
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"box", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=3,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return claim


def test_orders_cancelled_makes_the_claim_review_refuse_approval(deliver, cs):
    deliver(ORDERS_CREATE)
    order = Order.objects.get()
    services.order_set_received_on(
        order_id=order.pk,
        by=cs,
        received_on=policy.claim_day(timezone.now()) - dt.timedelta(days=2),
        source=ReceivedDateSource.CUSTOMER_PROOF,
        reason="Photo of the delivery note",
    )
    claim = claim_of(order, cs)

    deliver(ORDERS_CANCELLED)

    order.refresh_from_db()
    assert order.cancelled_at == dt.datetime(2026, 11, 21, 17, 0, tzinfo=dt.UTC)
    problems = selectors.claim_review(claim).problems
    assert "Order #1001 was cancelled by the store: nothing of it can be returned or refunded." in problems
    with pytest.raises(services.ApprovalRefused, match="cancelled by the store"):
        services.claim_approve(claim_id=claim.pk, by=cs)


# --- Delivery events ----------------------------------------------------------------------------------------


def test_a_delivery_event_of_an_unknown_order_waits_then_sets_the_received_date_when_the_order_arrives(deliver):
    deliver(DELIVERED)
    waiting = WebhookDelivery.objects.get()
    assert (waiting.status, waiting.store_order_id) == (DeliveryStatus.WAITING, ORDER_ID)
    assert "not known here yet" in waiting.outcome

    deliver(ORDERS_CREATE)

    order = Order.objects.get(number="#1001")
    # 14:03 on 24 Nov at UTC-5 is 03:03 on 25 Nov in the company's zone (Asia/Shanghai).
    assert order.received_on == dt.date(2026, 11, 25)
    assert order.received_on_source == ReceivedDateSource.CARRIER
    event = OrderEvent.objects.get(order=order)
    assert (event.action, event.actor_kind, event.actor_id) == (
        OrderAction.RECEIVED_DATE_CHANGED,
        ActorKind.SYSTEM,
        None,
    )
    assert event.payload["new_source"] == ReceivedDateSource.CARRIER
    assert event.payload["reason"] == "carrier delivery event 944956397 at 2026-11-24T14:03:00-05:00"
    waiting.refresh_from_db()
    assert waiting.status == DeliveryStatus.PROCESSED
    assert waiting.outcome == (
        "Received date of order #1001 set to 25 Nov 2026 from the carrier's delivery event 944956397."
    )


def test_a_delivery_event_of_a_known_order_sets_its_received_date(deliver):
    deliver(ORDERS_CREATE)

    deliver(DELIVERED)

    order = Order.objects.get()
    assert (order.received_on, order.received_on_source) == (dt.date(2026, 11, 25), ReceivedDateSource.CARRIER)


def test_an_earlier_delivery_of_another_parcel_does_not_move_the_carrier_date_back(deliver):
    deliver(ORDERS_CREATE)
    deliver(DELIVERED)
    earlier = payload(DELIVERED)
    earlier.update(id=944956398, fulfillment_id=255858047, happened_at="2026-11-23T10:00:00-05:00")

    deliver(body_of(earlier), topic="fulfillment_events/create")

    assert Order.objects.get().received_on == dt.date(2026, 11, 25)
    assert WebhookDelivery.objects.get(body__contains="944956398").status == DeliveryStatus.PROCESSED


def test_a_fulfilment_event_that_is_not_a_delivery_changes_nothing(deliver):
    deliver(ORDERS_CREATE)
    in_transit = payload(DELIVERED)
    in_transit["status"] = "in_transit"

    deliver(body_of(in_transit), topic="fulfillment_events/create")

    assert Order.objects.get().received_on is None
    delivery = WebhookDelivery.objects.get(topic="fulfillment_events/create")
    assert delivery.status == DeliveryStatus.PROCESSED
    assert "in_transit" in delivery.outcome


def test_a_delivery_event_after_a_claim_was_approved_is_left_for_a_person(deliver, cs):
    deliver(ORDERS_CREATE)
    order = Order.objects.get()
    recorded_day = policy.claim_day(timezone.now()) - dt.timedelta(days=2)
    services.order_set_received_on(
        order_id=order.pk,
        by=cs,
        received_on=recorded_day,
        source=ReceivedDateSource.CUSTOMER_PROOF,
        reason="Photo of the delivery note",
    )
    claim = services.claim_approve(claim_id=claim_of(order, cs).pk, by=cs)
    carrier = payload(DELIVERED)
    carrier["happened_at"] = (timezone.now() - dt.timedelta(days=6)).isoformat()
    carrier_day = policy.claim_day(timezone.now() - dt.timedelta(days=6))

    response = deliver(body_of(carrier), topic="fulfillment_events/create")

    assert response.status_code == 200
    order.refresh_from_db()
    assert (order.received_on, order.received_on_source) == (recorded_day, ReceivedDateSource.CUSTOMER_PROOF)
    assert not OrderEvent.objects.filter(order=order, actor_kind=ActorKind.SYSTEM).exists()
    delivery = WebhookDelivery.objects.get(topic="fulfillment_events/create")
    assert delivery.status == DeliveryStatus.NEEDS_REVIEW
    assert delivery.processed_at is not None
    assert f"The carrier says order #1001 was delivered on {carrier_day:%d %b %Y}" in delivery.outcome
    assert f"the recorded received date is {recorded_day:%d %b %Y} (the customer's proof)" in delivery.outcome
    assert f"{claim.rma_number} was approved: the system may not change the received date now" in delivery.outcome


# --- Failures, retries, the sweep ---------------------------------------------------------------------------


def test_a_body_that_is_not_json_leaves_the_delivery_failed_with_the_reason(deliver):
    response = deliver(b"<order>not json</order>", topic="orders/create")

    assert response.status_code == 200  # received; the task found it unreadable
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.outcome.startswith("The body is not JSON")
    assert delivery.processed_at is not None


def test_an_order_in_a_currency_not_known_here_fails_with_the_reason(deliver):
    order = payload(ORDERS_CREATE)
    order["currency"] = "XTS"

    deliver(body_of(order), topic="orders/create")

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.outcome) == (
        DeliveryStatus.FAILED,
        "Currency 'XTS' is not one the back-office knows.",
    )
    assert not Order.objects.exists()


def test_a_passing_database_fault_is_retried_then_the_delivery_fails_visibly(deliver, monkeypatch):
    def database_gone(delivery):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(webhooks, "_process", database_gone)

    deliver(ORDERS_CREATE)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == tasks.MAX_RETRIES + 1
    assert delivery.outcome == "Gave up after its retries: server closed the connection unexpectedly"


def test_a_delivery_processed_again_changes_nothing(deliver):
    deliver(ORDERS_CREATE)
    delivery = WebhookDelivery.objects.get()

    assert webhooks.delivery_process(delivery_id=delivery.pk) == DeliveryStatus.PROCESSED

    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_the_sweep_queues_a_delivery_whose_task_the_broker_lost(client, django_capture_on_commit_callbacks):
    body = recorded(ORDERS_CREATE)
    with django_capture_on_commit_callbacks(execute=False):  # the broker never got the task
        client.post(URL, data=body, content_type="application/json", headers=shopify_headers("orders/create", body))
    WebhookDelivery.objects.update(updated_at=timezone.now() - dt.timedelta(hours=1))

    assert webhooks.deliveries_requeue() == 1

    assert WebhookDelivery.objects.get().status == DeliveryStatus.PROCESSED
    assert Order.objects.filter(number="#1001").exists()


def test_the_sweep_queues_a_waiting_delivery_whose_order_is_now_known(deliver):
    deliver(ORDERS_CREATE)
    deliver(DELIVERED)
    delivery = WebhookDelivery.objects.get(topic="fulfillment_events/create")
    # As if the delivery event had been decided while the order's first webhook was still being processed.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.WAITING)
    Order.objects.update(received_on=None, received_on_source="")

    assert webhooks.deliveries_requeue() == 1

    assert Order.objects.get().received_on == dt.date(2026, 11, 25)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.PROCESSED


# --- The admin list -----------------------------------------------------------------------------------------


def test_staff_see_deliveries_and_failures_read_only(deliver, client, cs):
    deliver(ORDERS_CREATE)
    deliver(b"not json", topic="orders/updated")
    client.force_login(cs)

    listing = client.get("/admin/stores/webhookdelivery/?status__exact=failed")
    delivery = WebhookDelivery.objects.get(status=DeliveryStatus.FAILED)
    page = client.get(f"/admin/stores/webhookdelivery/{delivery.pk}/change/")

    assert listing.status_code == 200
    assert b"The body is not JSON" in listing.content
    assert page.status_code == 200
    assert b"not json" in page.content
    assert client.get("/admin/stores/webhookdelivery/add/").status_code == 403
    assert client.post(f"/admin/stores/webhookdelivery/{delivery.pk}/delete/").status_code == 403
