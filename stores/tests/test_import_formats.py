"""Which format a file is in: found from its header, or chosen with ``--format``; what ``--help`` says."""

import io

import pytest
from django.core.management import CommandError, call_command

from returns.models import Order
from stores.management.commands.import_orders import Command
from stores.tests.shopify_files import EXPORT, first_row, shopify_export

pytestmark = pytest.mark.django_db

OWN = (
    "order_number,customer_email,customer_name,received_on,sku,product_name,electronic,quantity,unit_price,currency\n"
    "SO-1,ana@example.com,Ana Silva,2026-01-10,CAGE-1,Camera cage,no,1,49.90,USD\n"
)


def run_import(path, *args) -> str:
    out = io.StringIO()
    call_command("import_orders", str(path), *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def own_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(OWN, encoding="utf-8")
    return path


def test_the_format_is_found_from_the_header(own_file):
    assert "1 rows read (the project's own layout)." in run_import(own_file)
    assert "14 rows read (Shopify's order export)." in run_import(EXPORT)
    assert set(Order.objects.values_list("number", flat=True)) >= {"SO-1", "#1001"}


def test_format_chooses_the_layout(own_file, tmp_path):
    shopify_file = tmp_path / "orders_export.csv"
    shopify_file.write_bytes(shopify_export(first_row("#2001")))

    assert "(the project's own layout)" in run_import(own_file, "--format", "own")
    assert "(Shopify's order export)" in run_import(shopify_file, "--format", "shopify")


def test_a_file_read_in_the_wrong_format_fails_naming_the_columns_it_lacks(own_file):
    with pytest.raises(CommandError, match=r"the header lacks the required columns order_number, customer_email, "):
        run_import(EXPORT, "--format", "own")
    with pytest.raises(
        CommandError,
        match=r"the header lacks Shopify.s order export.s columns Name, Email, Lineitem quantity, Lineitem name",
    ):
        run_import(own_file, "--format", "shopify")
    assert not Order.objects.exists()


def test_a_header_of_neither_format_says_how_a_shopify_export_is_recognised(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("Order,Customer,Total\n1,Ana,10\n", encoding="utf-8")

    with pytest.raises(CommandError) as error:
        run_import(path)

    assert "the header lacks the required columns order_number" in str(error.value)
    assert (
        "a Shopify order export is recognised by its Lineitem columns (or choose the format with --format shopify)"
        in str(error.value)
    )


def test_an_unknown_format_is_refused(own_file):
    with pytest.raises(CommandError, match="argument --format: invalid choice: 'woocommerce'"):
        run_import(own_file, "--format", "woocommerce")


def test_help_says_which_formats_exist_how_columns_map_and_what_is_ignored():
    text = " ".join(Command().create_parser("manage.py", "import_orders").format_help().split())

    assert "--format {own,shopify}" in text
    assert "'own', the project's own layout" in text
    assert "'shopify', Shopify's 'Export orders' CSV as Shopify writes it" in text
    assert "Name (the order number)" in text
    assert "Lineitem price (the unit price)" in text
    assert "every other column is ignored, Fulfilled at included" in text
    assert "line items without a SKU are left out" in text
    assert "docs/importing.md" in text
