import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core import actors
from returns.models import (
    ClaimAction,
    ClaimEvent,
    ClaimStatus,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    ReceivedDateSource,
)
from returns.tests.factories import ClaimFactory, ClaimItemFactory, OrderFactory, OrderLineFactory, ProductFactory
from stores import importing

pytestmark = pytest.mark.django_db

HEADER = (
    "order_number,customer_email,customer_name,received_on,sku,product_name,"
    "electronic,quantity,unit_price,currency,serial_numbers"
)
GOOD = "SO-1,ana@example.com,Ana Silva,2026-01-10,CAGE-1,Camera cage,no,1,49.90,USD,"


def csv_file(tmp_path, *lines, header=HEADER, encoding="utf-8", name="orders.csv"):
    path = tmp_path / name
    path.write_bytes("\n".join([header, *lines]).encode(encoding) + b"\n")
    return path


def run_import(path) -> str:
    out = io.StringIO()
    call_command("import_orders", str(path), stdout=out)
    return out.getvalue()


def import_text(*lines, header=HEADER) -> importing.ImportReport:
    rows = importing.parse_order_csv("\n".join([header, *lines]).encode())
    return importing.order_rows_import(rows)


# --- a good file ------------------------------------------------------------


def test_good_file_loads_products_orders_and_lines(tmp_path):
    path = csv_file(
        tmp_path,
        GOOD,
        "SO-1,ana@example.com,Ana Silva,2026-01-10,LED-9,P96 LED light,yes,2,129.90,USD,P-1;P-2",
        'SO-2,jo@example.de,"Müller, Jonas",,CAGE-1,Camera cage,no,3,12800,JPY,',
    )

    output = run_import(path)

    assert "Order lines: 3 created, 0 updated, 0 unchanged." in output
    assert "Orders: 2 created, 0 updated, 0 unchanged." in output
    assert "Products: 2 created, 0 updated." in output
    assert "Rejected: 0 rows." in output
    first = Order.objects.get(number="SO-1")
    assert (first.customer_email, first.customer_name, first.received_on) == (
        "ana@example.com",
        "Ana Silva",
        datetime.date(2026, 1, 10),
    )
    assert Order.objects.get(number="SO-2").received_on is None
    assert Order.objects.get(number="SO-2").customer_name == "Müller, Jonas"
    led = OrderLine.objects.get(order=first, product__sku="LED-9")
    assert (led.quantity, led.unit_price, led.currency, led.serial_numbers) == (
        2,
        Decimal("129.90"),
        "USD",
        ["P-1", "P-2"],
    )
    assert Product.objects.get(sku="LED-9").is_electronic is True
    assert Product.objects.get(sku="CAGE-1").is_electronic is False
    assert OrderLine.objects.get(order__number="SO-2").unit_price == Decimal("12800")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("YES", True),
        ("true", True),
        ("1", True),
        ("no", False),
        ("False", False),
        ("0", False),
    ],
)
def test_electronic_reads_yes_no_true_false_one_zero(text, expected):
    report = import_text(f"SO-1,ana@example.com,Ana,2026-01-10,LED-9,Light,{text},1,9.90,USD,")

    assert report.rejected == []
    assert Product.objects.get(sku="LED-9").is_electronic is expected


@pytest.mark.parametrize(
    ("serials", "expected"),
    [
        ("A1;B2;C3", ["A1", "B2", "C3"]),
        ("A1|B2|C3", ["A1", "B2", "C3"]),
        (" A1 ; B2|C3 ;", ["A1", "B2", "C3"]),
        ("", []),
    ],
)
def test_serial_numbers_split_on_semicolon_or_bar(serials, expected):
    report = import_text(f'SO-1,ana@example.com,Ana,2026-01-10,LED-9,Light,yes,3,9.90,USD,"{serials}"')

    assert report.rejected == []
    assert OrderLine.objects.get().serial_numbers == expected


def test_serial_numbers_column_may_be_left_out():
    header = HEADER.removesuffix(",serial_numbers")

    report = import_text(GOOD.removesuffix(","), header=header)

    assert report.rejected == []
    assert OrderLine.objects.get().serial_numbers == []


# --- bad rows ---------------------------------------------------------------


def row(**changes) -> str:
    values = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    values.update({"order_number": "SO-9", "sku": "OTHER-1", **changes})
    return ",".join(values.values())


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (row(received_on="2026-02-30"), "received_on 2026-02-30 is not a real date (day is out of range for month)"),
        (row(received_on="30/01/2026"), "received_on “30/01/2026” is not a date written YYYY-MM-DD"),
        (row(received_on="2999-01-01"), "received_on 2999-01-01 is in the future"),
        (row(unit_price="-5.00"), "unit_price -5.00 is negative"),
        (row(unit_price="abc"), "unit_price: 'abc' is not an amount"),
        (row(unit_price=""), "unit_price is empty"),
        (row(unit_price="49.999"), "unit_price: 49.999 has more decimals than USD allows"),
        (row(unit_price="1500.5", currency="JPY"), "unit_price: 1500.5 has more decimals than JPY allows"),
        (row(unit_price='"49,90"'), "unit_price “49,90” has a decimal comma: write it with a decimal point (49.90)"),
        (row(unit_price="100000000000"), "unit_price 100000000000 is too large"),
        (row(currency="XYZ"), "currency “XYZ” is not one we sell in (AUD, CAD,"),
        (row(currency=""), "currency is empty"),
        (row(quantity="0"), "quantity must be at least 1"),
        (row(quantity="two"), "quantity “two” is not a whole number"),
        (row(quantity="1.5"), "quantity “1.5” is not a whole number"),
        (row(quantity="-1"), "quantity “-1” is not a whole number"),
        (row(customer_email=""), "customer_email is empty"),
        (row(customer_email="ana@"), "customer_email “ana@” is not an email address"),
        (row(customer_name=""), "customer_name is empty"),
        (row(order_number=""), "order_number is empty"),
        (row(sku=""), "sku is empty"),
        (row(sku="S" * 65), "sku is longer than 64 characters"),
        (row(electronic="maybe"), "electronic “maybe” must be yes or no (or true/false, 1/0)"),
        (row(electronic=""), "electronic “” must be yes or no"),
        (row(serial_numbers="A1;B2"), "2 serial numbers for a quantity of 1: one per unit at most"),
        (row(quantity="2", serial_numbers="A1;A1"), "serial number A1 is listed twice"),
        (row(customer_name="Silva, Ana"), "has 1 more value than the header has columns"),
    ],
)
def test_bad_row_is_reported_with_line_and_reason_and_good_rows_load(tmp_path, bad_row, reason):
    path = csv_file(tmp_path, GOOD, bad_row, GOOD.replace("SO-1", "SO-3"))

    output = run_import(path)

    assert f"line 3: {reason}" in output
    assert "Rejected: 1 row." in output
    assert "Order lines: 2 created" in output
    assert set(Order.objects.values_list("number", flat=True)) == {"SO-1", "SO-3"}
    assert not Product.objects.filter(sku="OTHER-1").exists()


def test_every_problem_of_a_row_is_reported_at_once():
    report = import_text(row(received_on="2026-13-01", quantity="0", currency="EUR", unit_price="9.999"))

    [rejected] = report.rejected
    assert rejected.line == 2
    assert "received_on 2026-13-01 is not a real date" in rejected.reason
    assert "quantity must be at least 1" in rejected.reason
    assert "9.999 has more decimals than EUR allows" in rejected.reason


def test_same_order_with_another_customer_in_the_file_is_rejected():
    report = import_text(
        GOOD,
        "SO-1,bob@example.com,Bob Stone,2026-01-10,LED-9,Light,yes,1,9.90,USD,",
    )

    assert [(r.line, r.reason) for r in report.rejected] == [
        (
            3,
            "order SO-1 is for ana@example.com (Ana Silva) on line 2, but this row says bob@example.com "
            "(Bob Stone): one order has one customer.",
        )
    ]
    assert Order.objects.get(number="SO-1").customer_email == "ana@example.com"
    assert OrderLine.objects.count() == 1


def test_email_case_does_not_make_another_customer():
    report = import_text(GOOD, "SO-1,ANA@example.com,Ana Silva,2026-01-10,LED-9,Light,yes,1,9.90,USD,")

    assert report.rejected == []
    assert OrderLine.objects.count() == 2


@pytest.mark.parametrize(
    ("second_row", "reason"),
    [
        (
            "SO-1,ana@example.com,Ana Silva,2026-01-11,LED-9,Light,yes,1,9.90,USD,",
            "order SO-1 was received on 2026-01-10 according to line 2, but this row says 2026-01-11.",
        ),
        (
            "SO-1,ana@example.com,Ana Silva,2026-01-10,LED-9,Light,yes,1,9.90,EUR,",
            "order SO-1 is in USD on line 2, but this row is in EUR: one order is paid in one currency.",
        ),
        (
            "SO-1,ana@example.com,Ana Silva,2026-01-10,CAGE-1,Camera cage,no,2,49.90,USD,",
            "CAGE-1 is already on order SO-1 at line 2: one row per product and order (add up the quantities).",
        ),
        (
            "SO-2,bo@example.com,Bo,2026-01-10,CAGE-1,Cage XL,no,1,49.90,USD,",
            "SKU CAGE-1 is “Camera cage” (not electronic) on line 2, but “Cage XL” (not electronic) here.",
        ),
    ],
)
def test_row_contradicting_an_earlier_row_of_the_file_is_rejected(second_row, reason):
    report = import_text(GOOD, second_row)

    assert [(r.line, r.reason) for r in report.rejected] == [(3, reason)]
    assert OrderLine.objects.count() == 1


def test_line_numbers_are_the_spreadsheet_rows_with_blank_rows_and_multiline_cells():
    report = import_text(
        GOOD,
        "",
        'SO-2,bo@example.com,"Bo\nStone",2026-01-10,LED-9,Light,yes,1,9.90,USD,',
        row(quantity="0"),
    )

    assert [r.line for r in report.rejected] == [5]
    assert Order.objects.get(number="SO-2").customer_name == "Bo Stone"  # a name is kept on one line


# --- importing again ------------------------------------------------------


def test_reimport_updates_lines_orders_and_products_without_duplicates(tmp_path):
    run_import(csv_file(tmp_path, GOOD, "SO-1,ana@example.com,Ana Silva,2026-01-10,LED-9,Light,no,1,9.90,USD,"))

    output = run_import(
        csv_file(
            tmp_path,
            "SO-1,ana@example.com,Ana Silva,2026-01-12,CAGE-1,Camera cage v2,yes,3,39.50,USD,C-1;C-2",
            "SO-1,ana@example.com,Ana Silva,2026-01-12,LED-9,Light,no,1,9.90,USD,",
            name="again.csv",
        )
    )

    assert "Order lines: 0 created, 1 updated, 1 unchanged." in output
    assert "Orders: 0 created, 1 updated, 0 unchanged." in output
    assert "Products: 0 created, 1 updated." in output
    assert (Order.objects.count(), OrderLine.objects.count(), Product.objects.count()) == (1, 2, 2)
    line = OrderLine.objects.get(product__sku="CAGE-1")
    assert (line.quantity, line.unit_price, line.serial_numbers) == (3, Decimal("39.50"), ["C-1", "C-2"])
    assert Order.objects.get().received_on == datetime.date(2026, 1, 12)
    product = Product.objects.get(sku="CAGE-1")
    assert (product.name, product.is_electronic) == ("Camera cage v2", True)


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    path = csv_file(tmp_path, GOOD, GOOD.replace("SO-1", "SO-2"))
    run_import(path)
    before = list(OrderLine.objects.values_list("pk", "order__updated_at"))

    output = run_import(path)

    assert "Order lines: 0 created, 0 updated, 2 unchanged." in output
    assert "Orders: 0 created, 0 updated, 2 unchanged." in output
    assert list(OrderLine.objects.values_list("pk", "order__updated_at")) == before


def test_reimport_updates_existing_rows_made_elsewhere():
    order = OrderFactory(number="SO-1", customer_email="old@example.com", received_on=None)
    OrderLineFactory(order=order, product=ProductFactory(sku="CAGE-1"), quantity=5, unit_price=Decimal("1.00"))

    report = import_text(GOOD)

    assert report.lines == {"created": 0, "updated": 1, "unchanged": 0}
    order.refresh_from_db()
    assert (order.customer_email, order.received_on) == ("ana@example.com", datetime.date(2026, 1, 10))
    assert OrderLine.objects.get().quantity == 1


def test_blank_received_on_keeps_the_date_we_know():
    OrderFactory(number="SO-1", customer_email="ana@example.com", customer_name="Ana Silva", received_on="2026-01-09")

    report = import_text(GOOD.replace("2026-01-10", ""))

    assert report.rejected == []
    assert Order.objects.get().received_on == datetime.date(2026, 1, 9)


# --- file formats -------------------------------------------------------------


def test_utf8_bom_file_loads(tmp_path):
    path = csv_file(
        tmp_path, 'SO-1,zoe@example.fr,"Zoé Müller",2026-01-10,CAGE-1,Cage,no,1,49.90,EUR,', encoding="utf-8-sig"
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    output = run_import(path)

    assert "Rejected: 0 rows." in output
    assert Order.objects.get().customer_name == "Zoé Müller"


def test_semicolon_delimited_file_loads(tmp_path):
    path = csv_file(
        tmp_path,
        'SO-1;ana@example.com;"Silva; Ana";2026-01-10;LED-9;Light;yes;2;129.90;EUR;"P-1;P-2"',
        "SO-1;ana@example.com;Silva; Ana;2026-01-10;CAGE-1;Cage;no;1;49.90;EUR;",
        header=HEADER.replace(",", ";"),
    )

    output = run_import(path)

    assert "line 3: has 1 more value than the header has columns" in output
    line = OrderLine.objects.get()
    assert (line.order.customer_name, line.quantity, line.serial_numbers) == ("Silva; Ana", 2, ["P-1", "P-2"])


def test_header_names_are_matched_loosely(tmp_path):
    header = "Order Number,Customer Email,customer_name, Received On ,SKU,product-name,Electronic,Quantity,Unit Price,CURRENCY"

    report = import_text(GOOD.removesuffix(","), header=header)

    assert report.rejected == []
    assert OrderLine.objects.count() == 1


def test_missing_column_fails_naming_it_and_loads_nothing(tmp_path):
    path = csv_file(tmp_path, GOOD.replace(",USD,", ","), header=HEADER.replace(",currency", ""))

    with pytest.raises(CommandError, match=r"the header lacks the required column currency \(it has: order_number"):
        run_import(path)
    assert not Order.objects.exists()


def test_missing_columns_are_all_named(tmp_path):
    path = csv_file(tmp_path, "SO-1,ana@example.com", header="order_number,email")

    with pytest.raises(CommandError) as error:
        run_import(path)
    assert "required columns customer_email, customer_name, received_on, sku" in str(error.value)


def test_repeated_column_fails(tmp_path):
    path = csv_file(tmp_path, GOOD + ",X", header=HEADER + ",sku")

    with pytest.raises(CommandError, match="has the column sku more than once"):
        run_import(path)


def test_missing_file_fails(tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read .*nope\.csv: No such file or directory"):
        run_import(tmp_path / "nope.csv")


def test_file_that_is_not_utf8_fails_saying_so(tmp_path):
    path = csv_file(tmp_path, GOOD.replace("Ana Silva", "Zoé"), encoding="latin-1")

    with pytest.raises(CommandError, match=r"is not UTF-8 text .* export it as “CSV UTF-8”"):
        run_import(path)
    assert not Order.objects.exists()


def test_empty_file_fails(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    with pytest.raises(CommandError, match="is empty: it needs a header line"):
        run_import(path)


def test_received_today_is_accepted():
    today = timezone.localdate().isoformat()

    report = import_text(GOOD.replace("2026-01-10", today))

    assert report.rejected == []


# --- the received date: through the service once the order is known -------------------------------


def test_a_new_order_gets_the_received_date_of_the_file_from_the_store():
    import_text(GOOD)

    order = Order.objects.get()
    assert (order.received_on, order.received_on_source) == (datetime.date(2026, 1, 10), ReceivedDateSource.STORE)


def test_an_unknown_received_date_is_set_from_the_file_as_the_system(tmp_path):
    order = OrderFactory(number="SO-1", customer_email="ana@example.com", customer_name="Ana Silva", received_on=None)
    claim = ClaimFactory(order=order)

    run_import(csv_file(tmp_path, GOOD, name="export-0110.csv"))

    order.refresh_from_db()
    assert (order.received_on, order.received_on_source) == (datetime.date(2026, 1, 10), ReceivedDateSource.STORE)
    event = OrderEvent.objects.get(order=order)
    assert (event.actor_kind, event.actor) == (actors.ActorKind.SYSTEM, None)
    assert event.payload == {
        "old_received_on": None,
        "new_received_on": "2026-01-10",
        "old_source": "",
        "new_source": "store",
        "reason": "store export export-0110.csv, line 2",
    }
    assert ClaimEvent.objects.get(claim=claim, action=ClaimAction.RECEIVED_DATE_CHANGED).payload == event.payload


def test_a_changed_received_date_before_any_approval_is_recorded_on_the_order_and_its_claims(tmp_path):
    order = OrderFactory(
        number="SO-1", customer_email="ana@example.com", customer_name="Ana Silva", received_on="2026-01-09"
    )
    claim = ClaimFactory(order=order, submitted_at=timezone.now())

    output = run_import(csv_file(tmp_path, GOOD))

    assert "Orders: 0 created, 1 updated, 0 unchanged." in output
    assert Order.objects.get().received_on == datetime.date(2026, 1, 10)
    event = ClaimEvent.objects.get(claim=claim, action=ClaimAction.RECEIVED_DATE_CHANGED)
    assert (event.actor_kind, event.payload["old_received_on"], event.payload["reason"]) == (
        actors.ActorKind.SYSTEM,
        "2026-01-09",
        "store export orders.csv, line 2",
    )


def test_a_changed_received_date_of_an_order_with_an_approved_claim_is_a_bad_row_and_the_rest_loads(tmp_path):
    # given an order whose date customer service recorded, and an approved claim on it
    order = OrderFactory(
        number="SO-1",
        customer_email="ana@example.com",
        customer_name="Ana Silva",
        received_on="2026-01-09",
        received_on_source=ReceivedDateSource.STAFF,
    )
    OrderLineFactory(order=order, product=ProductFactory(sku="CAGE-1"), quantity=5)
    ClaimFactory(order=order, status=ClaimStatus.APPROVED, rma_number="RMA-2026-000001")

    # when the store's export says another day, and brings another order
    output = run_import(csv_file(tmp_path, GOOD, GOOD.replace("SO-1", "SO-2")))

    # then that row is refused with the reason, changes nothing, and the other order loads
    assert (
        "line 2: received_on 2026-01-10: the received date differs from the one recorded "
        "(2026-01-09, entered by staff); once a claim is approved only a manager can change it."
    ) in output
    assert "Rejected: 1 row." in output
    order.refresh_from_db()
    assert (order.received_on, order.received_on_source) == (datetime.date(2026, 1, 9), ReceivedDateSource.STAFF)
    assert OrderLine.objects.get(order=order).quantity == 5
    assert not OrderEvent.objects.exists()
    assert not ClaimEvent.objects.exists()
    assert Order.objects.get(number="SO-2").received_on == datetime.date(2026, 1, 10)


def test_the_same_received_date_on_an_order_with_an_approved_claim_loads(tmp_path):
    order = OrderFactory(
        number="SO-1", customer_email="ana@example.com", customer_name="Ana Silva", received_on="2026-01-10"
    )
    ClaimFactory(order=order, status=ClaimStatus.APPROVED, rma_number="RMA-2026-000001")

    output = run_import(csv_file(tmp_path, GOOD))

    assert "Rejected: 0 rows." in output
    assert not OrderEvent.objects.exists()


def test_a_received_date_after_a_claim_of_the_order_is_a_bad_row():
    order = OrderFactory(number="SO-1", customer_email="ana@example.com", customer_name="Ana Silva", received_on=None)
    ClaimFactory(order=order, submitted_at=datetime.datetime(2026, 1, 8, 12, tzinfo=datetime.UTC))

    report = import_text(GOOD)

    (rejected,) = report.rejected
    assert rejected.reason.startswith("received_on 2026-01-10: ")
    assert "was made on 08 Jan 2026" in rejected.reason
    assert Order.objects.get().received_on is None


@pytest.mark.parametrize("orders", [3, 30])
def test_reimporting_unchanged_rows_takes_the_same_few_statements_for_3_or_30_orders(orders, django_assert_num_queries):
    rows = [GOOD.replace("SO-1", f"SO-{n}") for n in range(1, orders + 1)]
    import_text(*rows)
    ClaimFactory(order=Order.objects.get(number="SO-2"), status=ClaimStatus.APPROVED, rma_number="RMA-2026-000001")

    # a savepoint, the products, the orders and their lines read (no lock, no write), the savepoint released
    with django_assert_num_queries(5):
        report = import_text(*rows)

    assert report.lines == {"created": 0, "updated": 0, "unchanged": orders}


@pytest.mark.parametrize("orders", [3, 30])
def test_a_first_import_takes_the_same_few_statements_for_3_or_30_orders(orders, django_assert_num_queries):
    rows = [GOOD.replace("SO-1", f"SO-{n}") for n in range(1, orders + 1)]

    # a savepoint; the products read, their ids taken, copied; the same for the orders; the lines copied; released
    with django_assert_num_queries(9):
        report = import_text(*rows)

    assert report.lines == {"created": orders, "updated": 0, "unchanged": 0}


def test_a_files_new_category_for_a_known_product_goes_through_the_catalogue_service():
    """The category decides a claim's window: the file changes it only as the catalogue would, with events."""
    # given an open claim on a product the back-office did not know the category of
    order = OrderFactory(number="SO-1", customer_email="ana@example.com", received_on=datetime.date(2026, 1, 10))
    line = OrderLineFactory(order=order, product=ProductFactory(sku="LED-9", is_electronic=None))
    claim = ClaimFactory(order=order, is_electronic=None)
    ClaimItemFactory(claim=claim, order_line=line)

    # when the store's file says it is electronic
    report = import_text("SO-1,ana@example.com,Ana Silva,2026-01-10,LED-9,Light,yes,1,9.90,USD,")

    # then the product and the open claim are electronic, each with its event, as the system
    assert not report.rejected
    assert Product.objects.get(sku="LED-9").is_electronic is True
    claim.refresh_from_db()
    assert claim.is_electronic is True
    (event,) = claim.events.filter(action=ClaimAction.CATEGORY_SET)
    assert event.actor_kind == actors.ActorKind.SYSTEM


def test_a_file_may_not_change_the_category_of_a_product_with_an_approved_claim():
    order = OrderFactory(number="SO-1", customer_email="ana@example.com", received_on=datetime.date(2026, 1, 10))
    line = OrderLineFactory(order=order, product=ProductFactory(sku="LED-9", is_electronic=False))
    claim = ClaimFactory(order=order, status=ClaimStatus.APPROVED, rma_number="RMA-2026-000321")
    ClaimItemFactory(claim=claim, order_line=line)

    report = import_text("SO-1,ana@example.com,Ana Silva,2026-01-10,LED-9,Light,yes,1,9.90,USD,")

    assert Product.objects.get(sku="LED-9").is_electronic is False
    assert any("LED-9: the category was not changed" in str(rejected) for rejected in report.rejected)
