"""``returns.orders.orders_upsert``: the one path by which the store's orders arrive, set-wise, with its rules."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from returns import orders
from returns.models import ClaimStatus, Order, OrderEvent, OrderLine, Product, ReceivedDateSource
from returns.orders import UNSAID, LineData, OrderData, orders_upsert
from returns.tests.factories import ClaimFactory, OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db

DAY = timezone.localdate() - datetime.timedelta(days=5)


@pytest.fixture(params=["postgresql", "any database"])
def writer(request, monkeypatch):
    """Every rule holds with PostgreSQL's writer (COPY, arrays) and with the one any database gets (executemany)."""
    if request.param == "any database":
        monkeypatch.setattr(orders, "_writer", orders._Writer)
    return request.param


def order(number="SO-1", *lines, **changes) -> OrderData:
    values = {
        "number": number,
        "customer_email": "ana@example.com",
        "customer_name": "Ana Silva",
        "currency": "USD",
        "lines": lines or (line(),),
        "origin": f"test, order {number}",
    }
    values.update(changes)
    return OrderData(**values)


def line(sku="CAGE-1", **changes) -> LineData:
    values = {"sku": sku, "name": "Camera cage", "quantity": 1, "unit_price": Decimal("49.90")}
    values.update(changes)
    return LineData(**values)


def many(count: int) -> list[OrderData]:
    return [order(f"SO-{n}", line("CAGE-1"), line(f"LED-{n % 3}", electronic=True)) for n in range(count)]


# --- statements: per batch, not per row -------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 30])
def test_a_first_load_takes_the_same_statements_for_3_or_30_orders(count):
    with CaptureQueriesContext(connection) as captured:
        report = orders_upsert(many(count))

    assert report.orders == {"created": count, "updated": 0, "unchanged": 0}
    statements = [query["sql"].split()[0].upper() for query in captured.captured_queries]
    # products read, their ids taken, copied; orders read, their ids taken, copied; lines copied
    assert statements == ["SAVEPOINT", "SELECT", "SELECT", "COPY", "SELECT", "SELECT", "COPY", "COPY", "RELEASE"]


@pytest.mark.parametrize("count", [3, 30])
def test_an_unchanged_reimport_reads_three_times_and_locks_and_writes_nothing(count):
    orders_upsert(many(count))
    before = list(Order.objects.values_list("pk", "updated_at"))

    with CaptureQueriesContext(connection) as captured:
        report = orders_upsert(many(count))

    assert report.orders == {"created": 0, "updated": 0, "unchanged": count}
    assert report.lines == {"created": 0, "updated": 0, "unchanged": 2 * count}
    sql = [query["sql"] for query in captured.captured_queries]
    assert [text.split()[0] for text in sql] == ["SAVEPOINT", "SELECT", "SELECT", "SELECT", "RELEASE"]
    assert not any("FOR UPDATE" in text for text in sql)
    assert list(Order.objects.values_list("pk", "updated_at")) == before


def test_a_batch_too_large_is_split_and_each_part_commits_on_its_own():
    report = orders_upsert(many(10), batch_lines=4)

    assert report.orders["created"] == 10
    assert OrderLine.objects.count() == 20


def test_a_webhook_sized_call_stays_cheap(django_assert_max_num_queries):
    orders_upsert([order("SO-1", line("CAGE-1"), line("LED-1"))])

    with django_assert_max_num_queries(9):
        orders_upsert([order("SO-1", line("CAGE-1", quantity=2), line("LED-1"))])

    assert OrderLine.objects.get(product__sku="CAGE-1").quantity == 2


# --- the rules, set-wise -------------------------------------------------------------------------------


def test_new_rows_are_created_and_changed_ones_updated(writer):
    orders_upsert([order("SO-1", line("CAGE-1"), line("LED-1", electronic=True)), order("SO-2")])

    report = orders_upsert(
        [
            order("SO-1", line("CAGE-1", quantity=3, serial_numbers=("C-1", "C-2")), line("LED-1", name="Light v2")),
            order("SO-2", customer_name="Ana S. Silva"),
            order("SO-3", line("ARM-1", unit_price=Decimal("19.90"))),
        ]
    )

    assert report.orders == {"created": 1, "updated": 1, "unchanged": 1}
    assert report.lines == {"created": 1, "updated": 1, "unchanged": 2}
    assert report.products == {"created": 1, "updated": 1, "unchanged": 1}
    cage = OrderLine.objects.get(order__number="SO-1", product__sku="CAGE-1")
    assert (cage.quantity, cage.serial_numbers) == (3, ["C-1", "C-2"])
    assert Product.objects.get(sku="LED-1").name == "Light v2"
    assert Order.objects.get(number="SO-2").customer_name == "Ana S. Silva"
    assert OrderLine.objects.get(order__number="SO-3").unit_price == Decimal("19.90")


def test_a_blank_never_clears_the_received_date_the_payment_reference_or_the_category(writer):
    known = OrderFactory(number="SO-1", received_on=DAY, received_on_source=ReceivedDateSource.STAFF)
    known.payment_reference = "pi_123"
    known.save()
    OrderLineFactory(order=known, product=ProductFactory(sku="CAGE-1", is_electronic=True))

    orders_upsert([order("SO-1", line("CAGE-1", electronic=None), received_on=None, payment_reference="")])

    known.refresh_from_db()
    assert (known.received_on, known.received_on_source, known.payment_reference) == (DAY, "staff", "pi_123")
    assert Product.objects.get(sku="CAGE-1").is_electronic is True


def test_a_source_without_notes_or_cancellation_leaves_them_and_one_with_them_sets_them(writer):
    cancelled = timezone.now().replace(microsecond=0)
    orders_upsert([order("SO-1", note="Ring twice", cancelled_at=cancelled, refunded_total=Decimal("10.00"))])

    orders_upsert([order("SO-1", note=UNSAID, cancelled_at=UNSAID, refunded_total=None)])
    kept = Order.objects.get()
    orders_upsert([order("SO-1", note="", cancelled_at=None, refunded_total=Decimal("0"))])
    cleared = Order.objects.get()

    assert (kept.note, kept.cancelled_at, kept.store_refunded_total) == ("Ring twice", cancelled, Decimal("10.000"))
    assert (cleared.note, cleared.cancelled_at, cleared.store_refunded_total) == ("", None, Decimal("0"))


def test_a_new_order_gets_its_received_date_from_the_store_without_an_event(writer):
    orders_upsert([order("SO-1", received_on=DAY)])

    created = Order.objects.get()
    assert (created.received_on, created.received_on_source) == (DAY, ReceivedDateSource.STORE)
    assert not OrderEvent.objects.exists()


def test_a_product_the_source_only_names_when_new_keeps_its_known_name(writer):
    ProductFactory(sku="CAGE-1", name="Camera cage (catalogue)", is_electronic=False)

    orders_upsert([order("SO-1", line("CAGE-1", name="Cage - Black / S", name_if_new=True))])
    orders_upsert([order("SO-2", line("NEW-1", name="Brand new", name_if_new=True))])

    assert dict(Product.objects.values_list("sku", "name")) == {
        "CAGE-1": "Camera cage (catalogue)",
        "NEW-1": "Brand new",
    }
    assert Product.objects.get(sku="NEW-1").is_electronic is None


def test_an_older_version_of_the_store_changes_nothing(writer):
    now = timezone.now()
    orders_upsert([order("SO-1", line(quantity=2), store_updated_at=now)])

    report = orders_upsert(
        [order("SO-1", line(quantity=5), customer_name="Old", store_updated_at=now - datetime.timedelta(hours=1))]
    )

    assert report.orders == {"created": 0, "updated": 0, "unchanged": 1}
    assert (Order.objects.get().customer_name, OrderLine.objects.get().quantity) == ("Ana Silva", 2)


def test_known_received_dates_that_differ_go_through_the_service_and_a_refused_one_refuses_only_its_order(writer):
    # given three known orders: one without claims, one whose claim is approved, one whose date is the same
    free = OrderFactory(number="SO-1", received_on=None)
    approved = OrderFactory(number="SO-2", received_on=DAY, received_on_source=ReceivedDateSource.STAFF)
    same = OrderFactory(number="SO-3", received_on=DAY)
    for known in (free, approved, same):
        OrderLineFactory(order=known, product=ProductFactory(sku="CAGE-1"), quantity=1)
    ClaimFactory(order=approved, status=ClaimStatus.APPROVED, rma_number="RMA-2026-000001")
    later = DAY + datetime.timedelta(days=1)

    # when one call brings new dates (and a new quantity) for all three
    report = orders_upsert(
        [
            order(number, line(quantity=4), received_on=later if number != "SO-3" else DAY)
            for number in ("SO-1", "SO-2", "SO-3")
        ]
    )

    # then the free order's date changed through the service, the approved one is refused whole, the third loads
    assert report.refused == [
        (
            "test, order SO-2",
            f"received_on {later:%Y-%m-%d}: the received date differs from the one recorded ({DAY:%Y-%m-%d}, "
            "entered by staff); once a claim is approved only a manager can change it.",
        )
    ]
    assert report.orders == {"created": 0, "updated": 2, "unchanged": 0}
    event = OrderEvent.objects.get()
    assert (event.order_id, event.payload["reason"], event.payload["new_source"]) == (
        free.pk,
        "test, order SO-1",
        "store",
    )
    assert dict(Order.objects.values_list("number", "received_on")) == {"SO-1": later, "SO-2": DAY, "SO-3": DAY}
    assert dict(OrderLine.objects.values_list("order__number", "quantity")) == {"SO-1": 4, "SO-2": 1, "SO-3": 4}


def test_one_sku_twice_at_one_price_is_added_up_and_at_two_prices_refuses_the_order(writer):
    report = orders_upsert(
        [
            order("SO-1", line("CAGE-1", quantity=1), line("CAGE-1", quantity=2)),
            order("SO-2", line("CAGE-1"), line("CAGE-1", unit_price=Decimal("0.00"))),
        ]
    )

    assert OrderLine.objects.get(order__number="SO-1").quantity == 3
    assert not Order.objects.filter(number="SO-2").exists()
    assert report.refused == [
        (
            "test, order SO-2",
            "SKU CAGE-1 is on order SO-2 twice, at 49.90 USD and at 0.00 USD a unit: one line per product, and the "
            "ledger needs one unit price per line.",
        )
    ]


def test_the_same_order_twice_in_one_call_is_applied_in_the_order_given(writer):
    report = orders_upsert([order("SO-1", line(quantity=1)), order("SO-1", line(quantity=2), line("LED-1"))])

    assert report.orders == {"created": 1, "updated": 0, "unchanged": 1}
    assert dict(OrderLine.objects.values_list("product__sku", "quantity")) == {"CAGE-1": 2, "LED-1": 1}


def test_an_order_the_columns_cannot_hold_is_refused_before_anything_is_written(writer):
    report = orders_upsert(
        [order("SO-1", line(sku="S" * 65, refunded_quantity=3)), order("SO-2", currency="XYZ"), order("SO-3")]
    )

    reasons = dict(report.refused)
    assert "longer than 64 characters" in reasons["test, order SO-1"]
    assert "the store refunded 3 units of" in reasons["test, order SO-1"]
    assert reasons["test, order SO-2"] == "currency “XYZ” is not one we sell in."
    assert list(Order.objects.values_list("number", flat=True)) == ["SO-3"]


def test_an_order_the_database_refuses_is_refused_alone_and_the_batch_loads(monkeypatch):
    apply = orders._Batch.apply

    def refuse_so_2(batch):
        if any(data.number == "SO-2" for data in batch.orders):
            raise IntegrityError("duplicate key value violates unique constraint")
        return apply(batch)

    monkeypatch.setattr(orders._Batch, "apply", refuse_so_2)

    report = orders_upsert([order("SO-1"), order("SO-2"), order("SO-3")])

    assert report.refused == [
        ("test, order SO-2", "could not be saved (duplicate key value violates unique constraint); import it again.")
    ]
    assert sorted(Order.objects.values_list("number", flat=True)) == ["SO-1", "SO-3"]
