"""Shopify order exports for the tests: its 79-column header as Shopify writes it, and rows built from dicts."""

import csv
import io
from pathlib import Path

# A real export's shape, written for the tests (stores/tests/files/.gitattributes keeps its bytes as they are):
# UTF-8 with a BOM, CRLF line ends, 8 orders on 14 rows. Lines 2-3 #1001 (two items, note with commas and
# quotes), 4 #1002 (cancelled and refunded), 5-7 #1003 (partially refunded, apostrophes), 8-9 #1004 (note
# starting with =, a tip without SKU), 10-11 #1005 (a bad second row), 12-13 #1006 (JPY, one SKU twice),
# 14 #1007 (a note over two lines), 15 #1008 (pending).
EXPORT = Path(__file__).parent / "files" / "shopify_orders_export.csv"

HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee",
    "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name",
    "Tax 1 Value", "Tax 2 Name", "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value",
    "Tax 5 Name", "Tax 5 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name",
    "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
]  # fmt: skip


def first_row(name: str = "#2001", **fields) -> dict:
    """An order's first row: its fields and its first line item."""
    row = {
        "Name": name,
        "Email": "ana@example.com",
        "Financial Status": "paid",
        "Paid at": "2026-03-01 10:00:00 +0000",
        "Fulfillment Status": "fulfilled",
        "Fulfilled at": "2026-03-02 10:00:00 +0000",
        "Accepts Marketing": "no",
        "Currency": "USD",
        "Subtotal": "49.90",
        "Shipping": "0.00",
        "Taxes": "0.00",
        "Total": "49.90",
        "Discount Amount": "0.00",
        "Created at": "2026-03-01 09:59:00 +0000",
        "Lineitem quantity": "1",
        "Lineitem name": "Camera cage",
        "Lineitem price": "49.90",
        "Lineitem sku": "CAGE-1",
        "Lineitem requires shipping": "true",
        "Lineitem taxable": "true",
        "Lineitem fulfillment status": "fulfilled",
        "Billing Name": "Ana Silva",
        "Shipping Name": "Ana Silva",
        "Payment Method": "Shopify Payments",
        "Refunded Amount": "0.00",
        "Vendor": "SmallRig",
        "Id": "5300000000001",
        "Payment ID": "rAbC123",
    }
    row.update(fields)
    return row


def item_row(name: str = "#2001", **fields) -> dict:
    """A later row of the order: its Name and one line item."""
    row = {
        "Name": name,
        "Lineitem quantity": "1",
        "Lineitem name": "LED light",
        "Lineitem price": "129.90",
        "Lineitem sku": "LED-1",
        "Lineitem requires shipping": "true",
        "Lineitem taxable": "true",
        "Vendor": "SmallRig",
    }
    row.update(fields)
    return row


def shopify_export(*rows: dict, bom: bool = True, line_end: str = "\r\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(HEADER)
    for row in rows:
        unknown = set(row) - set(HEADER)
        assert not unknown, f"not Shopify's columns: {unknown}"
        writer.writerow([row.get(column, "") for column in HEADER])
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()
