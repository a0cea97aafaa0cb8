"""The order import's optional payment_reference column: what the Stripe adapter refunds against."""

import pytest

from returns.models import Order
from stores.importing import order_rows_import, parse_order_csv

pytestmark = pytest.mark.django_db

HEADER = (
    "order_number,customer_email,customer_name,received_on,sku,product_name,electronic,quantity,unit_price,currency"
)


def test_the_payment_reference_is_imported_and_a_blank_never_clears_it():
    with_reference = f"{HEADER},payment_reference\nSO-1,a@example.com,Ann,2026-11-20,SKU-1,Cage,no,1,49.90,USD,pi_123\n"
    order_rows_import(parse_order_csv(with_reference.encode()))
    assert Order.objects.get(number="SO-1").payment_reference == "pi_123"

    blank = f"{HEADER},payment_reference\nSO-1,a@example.com,Ann,2026-11-20,SKU-1,Cage,no,1,49.90,USD,\n"
    report = order_rows_import(parse_order_csv(blank.encode()))

    assert not report.rejected
    assert Order.objects.get(number="SO-1").payment_reference == "pi_123"


def test_a_payment_reference_too_long_is_refused():
    data = f"{HEADER},payment_reference\nSO-2,a@example.com,Ann,2026-11-20,SKU-1,Cage,no,1,49.90,USD,{'p' * 129}\n"

    report = order_rows_import(parse_order_csv(data.encode()))

    assert "payment_reference is longer than 128" in str(report.rejected[0])
