"""The store's orders arriving while a claim is made on them, on PostgreSQL, each in its own thread.

A claim locks the order, then its lines; the importer locks the orders it changes (by primary key) before
it writes their lines: the two queue, never deadlock, and each sees the other's change.
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.testing import at_once
from returns import ledger, services
from returns.models import ClaimType, Order, OrderLine
from returns.orders import LineData, OrderData, orders_upsert
from returns.tests.factories import OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_import_waits_for_a_claim_being_made_on_the_order_then_applies(cs, monkeypatch):
    # given an order with one line, and a claim that holds the order's and the line's locks a while
    order = OrderFactory(number="SO-1", received_on=timezone.localdate() - timedelta(days=2))
    line = OrderLineFactory(order=order, product=ProductFactory(sku="CAGE-1"), quantity=2)
    for_lines = ledger.for_lines

    def slow(*args, **kwargs):
        ledgers = for_lines(*args, **kwargs)
        time.sleep(0.5)
        return ledgers

    monkeypatch.setattr(ledger, "for_lines", slow)
    cancelled = timezone.now()
    update = OrderData(
        number="SO-1",
        customer_email=order.customer_email,
        customer_name=order.customer_name,
        currency="USD",
        lines=(LineData(sku="CAGE-1", name="Camera cage", quantity=3, unit_price=Decimal("49.90")),),
        cancelled_at=cancelled,
    )

    def claim():
        return services.claim_create(
            order=order, claim_type=ClaimType.NO_REASON, description="Too big.", order_line_ids=[line.pk], by=cs
        )

    def store():
        time.sleep(0.2)  # arrives while the claim holds the locks
        started = time.monotonic()
        report = orders_upsert([update])
        return report, time.monotonic() - started

    # when both run at once
    (claim_outcome, made), (store_outcome, (report, waited)) = at_once(claim, store)

    # then both succeed, the import having waited for the claim's transaction, and its change is applied
    assert (claim_outcome, store_outcome) == ("ok", "ok")
    assert waited > 0.2
    assert report.orders["updated"] == 1 and not report.refused
    assert Order.objects.get(pk=order.pk).cancelled_at == cancelled
    assert OrderLine.objects.get(pk=line.pk).quantity == 3
    assert made.items.get().order_line_id == line.pk
