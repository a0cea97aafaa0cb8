"""Shopify's "Export orders" CSV, as Shopify writes it, through ``import_orders``."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice import exports
from returns import ledger, selectors
from returns.models import ClaimStatus, Order, OrderEvent, OrderLine, Product, ReceivedDateSource
from returns.tests.factories import ClaimFactory, ClaimItemFactory, OrderFactory, OrderLineFactory, ProductFactory
from stores import importing
from stores.tests.shopify_files import EXPORT, first_row, item_row, shopify_export

pytestmark = pytest.mark.django_db


def run_import(path, *args) -> str:
    out = io.StringIO()
    call_command("import_orders", str(path), *args, stdout=out)
    return out.getvalue()


def import_rows(*rows, **options) -> importing.ImportReport:
    return importing.order_rows_import(importing.parse_order_csv(shopify_export(*rows, **options)))


def lines_of(number: str) -> list[tuple]:
    return list(
        OrderLine.objects.filter(order__number=number)
        .order_by("pk")
        .values_list("product__sku", "quantity", "unit_price", "currency")
    )


# --- the test export, as it comes ------------------------------------------------------------------------


def test_the_export_loads_as_shopify_writes_it():
    assert EXPORT.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in EXPORT.read_bytes()

    output = run_import(EXPORT)

    assert "14 rows read (Shopify's order export)." in output
    assert "Order lines: 10 created, 0 updated, 0 unchanged." in output
    assert "Orders: 7 created, 0 updated, 0 unchanged." in output
    assert "Products: 7 created, 0 updated." in output
    assert "Left out: 1 row." in output
    assert "Rejected: 2 rows." in output
    assert sorted(Order.objects.values_list("number", flat=True)) == [
        "#1001", "#1002", "#1003", "#1004", "#1006", "#1007", "#1008"
    ]  # fmt: skip


def test_an_orders_rows_make_one_order_with_the_fields_of_its_first_row():
    run_import(EXPORT)

    order = Order.objects.get(number="#1001")
    assert (order.customer_email, order.customer_name, order.payment_reference) == (
        "zoe.muller@example.fr",
        "Zoé Müller-Lefèvre",
        "rIw4QXqrJbXeyKv4gKSgs2b8P",  # Payment ID, before Payment Reference
    )
    assert order.note == 'Leave it with the concierge, please: "Bâtiment B", 2nd floor'
    assert lines_of("#1001") == [
        ("SR-CAGE-A7IV", 1, Decimal("89.000"), "EUR"),
        ("SR-LED-P96", 2, Decimal("129.900"), "EUR"),
    ]


def test_the_received_date_stays_unknown_whatever_fulfilled_at_says():
    run_import(EXPORT)

    assert set(Order.objects.values_list("received_on", "received_on_source")) == {(None, "")}


def test_products_from_the_export_get_no_category():
    run_import(EXPORT)

    assert set(Product.objects.values_list("is_electronic", flat=True)) == {None}
    assert Product.objects.get(sku="SR-VMOUNT-99").name == "V-mount battery 99Wh, with D-tap"


def test_the_stores_cancellation_and_refunds_are_kept():
    run_import(EXPORT)

    cancelled = Order.objects.get(number="#1002")
    assert cancelled.cancelled_at == datetime.datetime(2026, 3, 2, 8, 15, tzinfo=datetime.UTC)
    assert cancelled.store_refunded_total == Decimal("34.90")
    assert Order.objects.get(number="#1003").store_refunded_total == Decimal("20.00")
    assert Order.objects.get(number="#1001").store_refunded_total == 0


def test_apostrophes_diacritics_quoted_commas_and_a_note_over_two_lines_survive():
    run_import(EXPORT)

    names = dict(Order.objects.values_list("number", "customer_name"))
    assert names["#1003"] == "Siobhán O'Brien"  # the Billing Name; the Shipping Name is "O'Brien, Siobhán"
    assert names["#1004"] == "Łukasz Wiśniewski"  # no Billing Name: the Shipping Name
    assert names["#1006"] == "佐藤 陽翔"
    assert Product.objects.get(sku="SR-ARM-11").name == 'Magic arm, 11"'
    notes = dict(Order.objects.values_list("number", "note"))
    assert notes["#1007"] == "Gift wrap, please.\r\nNo invoice in the parcel."
    assert notes["#1006"] == notes["#1003"] == ""  # an empty notes cell


def test_a_note_starting_with_equals_is_kept_as_written_and_neutralised_in_a_spreadsheet():
    run_import(EXPORT)

    note = Order.objects.get(number="#1004").note
    assert note == '=HYPERLINK("http://evil.example","click")'
    assert exports.neutralise(note) == "'" + note


def test_a_line_item_without_a_sku_is_left_out_and_listed():
    output = run_import(EXPORT)

    assert "line 9: line item “Tip” of order #1004 has no Lineitem sku: left out (products are found by SKU)." in output
    assert lines_of("#1004") == [("SR-MATTE-1", 1, Decimal("399.000"), "PLN")]


def test_a_bad_row_refuses_its_whole_order_with_every_reason_and_the_others_load():
    output = run_import(EXPORT)

    assert (
        "line 11: Lineitem quantity “two” is not a whole number; Lineitem price: 'abc' is not an amount. "
        "Order #1005 (lines 10–11) is not loaded."
    ) in output
    assert "line 10: order #1005 is not loaded: line 11 is refused." in output
    assert not Order.objects.filter(number="#1005").exists()
    assert Order.objects.filter(number="#1006").exists()


def test_one_sku_twice_at_one_price_is_one_line_with_the_quantities_added():
    run_import(EXPORT)

    assert lines_of("#1006") == [("SR-SHOE-2", 2, Decimal("3800.000"), "JPY")]


def test_importing_the_same_export_again_changes_nothing():
    run_import(EXPORT)
    before = list(Order.objects.order_by("pk").values_list("pk", "updated_at"))

    with CaptureQueriesContext(connection) as captured:
        output = run_import(EXPORT)

    assert "Order lines: 0 created, 0 updated, 10 unchanged." in output
    assert "Orders: 0 created, 0 updated, 7 unchanged." in output
    assert "Products: 0 created, 0 updated." in output
    assert list(Order.objects.order_by("pk").values_list("pk", "updated_at")) == before
    assert not [
        query for query in captured.captured_queries if not query["sql"].startswith(("SELECT", "SAVEPOINT", "RELEASE"))
    ]


@pytest.mark.parametrize(("bom", "line_end"), [(False, "\n"), (True, "\n"), (False, "\r\n")])
def test_the_export_loads_the_same_with_or_without_bom_and_with_lf_line_ends(bom, line_end):
    data = EXPORT.read_bytes().removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", line_end.encode())

    report = importing.order_rows_import(importing.parse_order_csv((b"\xef\xbb\xbf" if bom else b"") + data))

    assert (report.rows_read, report.lines["created"], report.orders["created"], report.rejected_rows) == (14, 10, 7, 2)


# --- the ledger and the claim page see the store's cancellation and refunds -------------------------------


def test_the_claim_review_and_the_ledger_see_an_order_the_store_cancelled():
    run_import(EXPORT)
    line = OrderLine.objects.get(order__number="#1002")
    Product.objects.filter(pk=line.product_id).update(is_electronic=False)  # the catalogue sets the category
    claim = ClaimItemFactory(order_line=line, claim__order=line.order).claim

    problems = selectors.claim_review(claim).problems

    assert "Order #1002 was cancelled by the store: nothing of it can be returned or refunded." in problems
    assert ledger.for_lines([line.pk])[line.pk].refundable == 0


def test_the_ledger_caps_the_lines_of_an_order_the_store_refunded():
    import_rows(
        first_row("#2001", **{"Financial Status": "refunded", "Refunded Amount": "179.80", "Total": "179.80"}),
        item_row("#2001"),
        first_row("#2002", **{"Financial Status": "partially_refunded", "Refunded Amount": "100.00"}),
        item_row("#2002"),
    )
    refunded = ledger.for_lines(OrderLine.objects.filter(order__number="#2001").values_list("pk", flat=True))
    partly = ledger.for_lines(OrderLine.objects.filter(order__number="#2002").values_list("pk", flat=True))

    assert {entry.refundable for entry in refunded.values()} == {Decimal(0)}
    # paid 49.90 + 129.90 = 179.80, of which the store refunded 100.00: no line may take more than 79.80
    assert sorted(entry.refundable for entry in partly.values()) == [Decimal("49.90"), Decimal("79.80")]
    assert "The store refunded 100.00 USD of order #2002 in all." in next(iter(partly.values())).notes()


# --- decisions where the export is ambiguous ---------------------------------------------------------------


def test_a_known_received_date_category_and_product_name_are_kept():
    known = OrderFactory(number="#2001", received_on="2026-03-03", received_on_source=ReceivedDateSource.STAFF)
    OrderLineFactory(order=known, product=ProductFactory(sku="CAGE-1", name="Cage (catalogue)", is_electronic=True))
    ClaimFactory(order=known, status=ClaimStatus.APPROVED, rma_number="RMA-2026-000001")

    report = import_rows(first_row("#2001", **{"Lineitem name": "Cage - Black / S"}))

    assert report.rejected == []
    known.refresh_from_db()
    assert (known.received_on, known.received_on_source) == (datetime.date(2026, 3, 3), ReceivedDateSource.STAFF)
    assert Product.objects.filter(sku="CAGE-1", name="Cage (catalogue)", is_electronic=True).exists()
    assert not OrderEvent.objects.exists()


def test_one_sku_twice_at_two_prices_refuses_the_order():
    report = import_rows(first_row("#2001"), item_row("#2001", **{"Lineitem sku": "CAGE-1", "Lineitem price": "0.00"}))

    assert [(rejected.line, rejected.reason) for rejected in report.rejected] == [
        (
            2,
            "SKU CAGE-1 is on order #2001 twice, at 49.90 USD and at 0.00 USD a unit: one line per product, and the "
            "ledger needs one unit price per line.",
        ),
        (3, "order #2001 is not loaded: see line 2."),
    ]
    assert not Order.objects.exists()


def test_a_voided_order_counts_as_cancelled_from_its_creation_when_cancelled_at_is_blank():
    import_rows(first_row("#2001", **{"Financial Status": "voided", "Created at": "2026-03-01 09:59:00 -0500"}))

    assert Order.objects.get().cancelled_at == datetime.datetime(2026, 3, 1, 14, 59, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Email": ""}, "Email is empty: customer service answers the customer by email"),
        ({"Email": "ana@"}, "Email “ana@” is not an email address"),
        ({"Currency": "XYZ"}, "Currency “XYZ” is not one we sell in"),
        ({"Lineitem price": "49.999"}, "Lineitem price: 49.999 has more decimals than USD allows"),
        ({"Lineitem quantity": "0"}, "Lineitem quantity 0 is out of range (from 1)"),
        ({"Cancelled at": "yesterday"}, "Cancelled at “yesterday” is not a date and time as Shopify writes it"),
        (
            {"Financial Status": "partially_refunded", "Refunded Amount": ""},
            "Financial Status is partially_refunded but Refunded Amount is blank",
        ),
    ],
)
def test_a_bad_first_row_is_reported_with_its_reason_and_the_next_order_loads(changes, reason):
    report = import_rows(first_row("#2001", **changes), item_row("#2001"), first_row("#2002"))

    assert reason in report.rejected[0].reason
    assert [rejected.line for rejected in report.rejected] == [2, 3]
    assert list(Order.objects.values_list("number", flat=True)) == ["#2002"]


def test_an_order_met_again_further_down_is_refused_there():
    report = import_rows(first_row("#2001"), first_row("#2002"), first_row("#2001"))

    assert [(rejected.line, rejected.reason) for rejected in report.rejected] == [
        (
            4,
            "order #2001 is already on line 2 of this file: Shopify writes an order's rows one after the other "
            "(two exports pasted together?). Import each export on its own.",
        )
    ]
    assert Order.objects.count() == 2


def test_a_row_without_name_is_refused():
    report = import_rows(first_row("#2001"), item_row(""))

    assert [str(rejected) for rejected in report.rejected] == [
        "line 3: Name is empty: the order's rows are found by its Name."
    ]
    assert lines_of("#2001") == [("CAGE-1", 1, Decimal("49.900"), "USD")]
