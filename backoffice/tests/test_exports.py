"""Exports of the claim, refund and inspection lists: columns, filters, neutralisation, streaming and the task."""

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from backoffice import exports
from inspections.models import Inspection, Outcome
from refunds.models import Refund, RefundPurpose, RefundStatus
from returns.models import ClaimStatus, ClaimType, DoaReason, OutboundEmail
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, OrderFactory, staff_user

pytestmark = pytest.mark.django_db

CLAIM_HEADERS = [
    "Claim ID",
    "RMA number",
    "Order number",
    "Customer name",
    "Customer email",
    "Claim type",
    "DOA reason",
    "Status",
    "SKUs",
    "Claimed value",
    "Refunded",
    "Currency",
    "Electronic product",
    "Goods received on (company calendar, Asia/Shanghai)",
    "Received date from",
    "Claim made at (Asia/Shanghai)",
    "First response due at (Asia/Shanghai)",
    "First response within 24 h",
    "Approved without a return",
    "Customer's description",
    "Rejection reason",
]


@pytest.fixture
def manager(django_user_model):
    user = staff_user(django_user_model, "boss", ROLES["manager"])
    user.email = "boss@staff.example.com"
    user.save()
    return user


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(body[1:])))


def read_xlsx(data: io.BytesIO) -> list[tuple]:
    data.seek(0)
    return list(load_workbook(data).active.iter_rows(values_only=True))


def as_dicts(rows):
    header, *rest = rows
    return [dict(zip(header, row, strict=True)) for row in rest]


@pytest.mark.parametrize("text", ["=1+1", "+33 6 12", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")'])
def test_neutralise_prefixes_every_formula_start(text):
    assert exports.neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["Broken strap", "a=b", "", "1+1", " =1"])
def test_neutralise_leaves_other_text_alone(text):
    assert exports.neutralise(text) == text


def test_claims_csv_has_the_managers_columns_in_company_time(manager_client, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    order = OrderFactory(
        number="SO-777", customer_name="Ana Ng", received_on=date(2026, 2, 25), received_on_source="carrier"
    )
    claim = ClaimFactory(
        order=order,
        claim_type=ClaimType.DOA,
        doa_reason=DoaReason.DAMAGE,
        status=ClaimStatus.APPROVED,
        rma_number="RMA-2026-000042",
        is_electronic=True,
        first_response_met=True,
        description='=HYPERLINK("http://evil.example","click")',
        submitted_at=datetime(2026, 3, 1, 20, 30, tzinfo=UTC),  # 2 March, 04:30 in Shanghai
    )
    ClaimItemFactory(
        claim=claim, quantity=2, order_line__quantity=3, order_line__unit_price=Decimal("59.50"),
        order_line__currency="CAD", order_line__product__sku="SR-CAGE-9",
    )  # fmt: skip
    ClaimItemFactory(
        claim=claim, order_line__unit_price=Decimal("0.995"),
        order_line__currency="CAD", order_line__product__sku="SR-ARM-1",
    )  # fmt: skip
    _refund(claim, currency="CAD", total=Decimal("65.125"))
    Refund.objects.create(  # approved, not paid yet: not counted
        claim=claim, purpose=RefundPurpose.RETURNLESS, currency="CAD", total=Decimal(99), status=RefundStatus.APPROVED
    )

    rows = read_csv(manager_client.get("/admin/returns/claim/export/csv/"))

    assert rows[0] == CLAIM_HEADERS
    [row] = as_dicts(rows)
    assert row == {
        "Claim ID": str(claim.pk),
        "RMA number": "RMA-2026-000042",
        "Order number": "SO-777",
        "Customer name": "Ana Ng",
        "Customer email": claim.customer_email,
        "Claim type": "DOA return (7 days)",
        "DOA reason": "Physical damage or scratch",
        "Status": "Approved",
        "SKUs": "SR-ARM-1, SR-CAGE-9",
        "Claimed value": "120.00",  # 2 × 59.50 + 1 × 0.995, half up to the cent
        "Refunded": "65.13",  # the succeeded refunds only
        "Currency": "CAD",
        "Electronic product": "Yes",
        "Goods received on (company calendar, Asia/Shanghai)": "2026-02-25",
        "Received date from": "the carrier's delivery event",
        "Claim made at (Asia/Shanghai)": "2026-03-02 04:30",
        "First response due at (Asia/Shanghai)": "",
        "First response within 24 h": "Yes",
        "Approved without a return": "No",
        "Customer's description": '\'=HYPERLINK("http://evil.example","click")',
        "Rejection reason": "",
    }


def test_claims_export_says_unknown_for_a_category_not_set_yet(manager_client):
    ClaimFactory(is_electronic=None, order__received_on=None)

    [row] = as_dicts(read_csv(manager_client.get("/admin/returns/claim/export/csv/")))

    assert row["Electronic product"] == "Unknown"
    assert row["Goods received on (company calendar, Asia/Shanghai)"] == "" and row["Received date from"] == ""


def test_export_keeps_the_lists_filters_and_search(manager_client):
    doa = ClaimFactory(claim_type=ClaimType.DOA, doa_reason=DoaReason.WRONG_ITEM)
    ClaimFactory(claim_type=ClaimType.WARRANTY)
    other_doa = ClaimFactory(claim_type=ClaimType.DOA, doa_reason=DoaReason.DAMAGE)

    filtered = as_dicts(read_csv(manager_client.get("/admin/returns/claim/export/csv/?claim_type__exact=doa")))
    searched = as_dicts(read_csv(manager_client.get(f"/admin/returns/claim/export/csv/?q={doa.order_number}")))

    assert [row["Claim ID"] for row in filtered] == [str(other_doa.pk), str(doa.pk)]  # the list's order: newest first
    assert [row["Claim ID"] for row in searched] == [str(doa.pk)]


def test_export_sku_filter_lists_a_claim_once_however_many_matching_items(manager_client):
    claim = ClaimFactory()
    ClaimItemFactory(claim=claim, order_line__product__sku="SR-CAGE-1")
    ClaimItemFactory(claim=claim, order_line__product__sku="SR-PLATE-2")
    ClaimItemFactory(order_line__product__sku="SR-PLATE-2")

    rows = as_dicts(read_csv(manager_client.get("/admin/returns/claim/export/csv/?sku=SR-CAGE-1")))

    assert [row["Claim ID"] for row in rows] == [str(claim.pk)]


def _refund(claim, *, currency, total, status=RefundStatus.SUCCEEDED, **fields):
    return Refund.objects.create(
        claim=claim, purpose=RefundPurpose.INSPECTION, currency=currency, total=total, status=status, **fields
    )


def test_refunds_csv_has_money_as_numbers_with_a_currency(manager_client):
    paid = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    usd = _refund(
        ClaimFactory(rma_number="RMA-2026-000001"), currency="USD", total=Decimal("49.905"), succeeded_at=paid
    )
    jpy = _refund(ClaimFactory(rma_number="RMA-2026-000002"), currency="JPY", total=Decimal("4990.400"))

    rows = as_dicts(read_csv(manager_client.get("/admin/refunds/refund/export/csv/?status=all")))

    by_id = {row["Refund ID"]: row for row in rows}
    assert by_id[str(usd.pk)]["Amount"] == "49.91"  # half up to the cent
    assert by_id[str(usd.pk)]["Currency"] == "USD"
    assert by_id[str(usd.pk)]["Paid at (Asia/Shanghai)"] == "2026-03-02 09:00"
    assert by_id[str(usd.pk)]["Status"] == "Succeeded"
    assert by_id[str(jpy.pk)]["Amount"] == "4990"  # no minor unit
    assert by_id[str(jpy.pk)]["RMA number"] == "RMA-2026-000002"
    assert list(rows[0]) == [
        "Refund ID", "RMA number", "Order number", "Customer email", "Purpose", "Status", "Amount", "Currency",
        "Paid through", "Refund's reference", "Proposed at (Asia/Shanghai)", "Approved at (Asia/Shanghai)",
        "Paid at (Asia/Shanghai)", "Failure reason",
    ]  # fmt: skip


def test_refunds_export_keeps_the_queues_default_filter(manager_client):
    open_refund = _refund(ClaimFactory(), currency="USD", total=Decimal(10), status=RefundStatus.APPROVED)
    _refund(ClaimFactory(), currency="USD", total=Decimal(10), status=RefundStatus.SUCCEEDED)

    rows = as_dicts(read_csv(manager_client.get("/admin/refunds/refund/export/csv/")))  # open refunds by default

    assert [row["Refund ID"] for row in rows] == [str(open_refund.pk)]


def test_inspections_csv_has_the_checklist_and_the_deduction_in_money(manager_client, manager):
    item = ClaimItemFactory(
        quantity=2, order_line__quantity=2, order_line__unit_price=Decimal("30.00"), order_line__currency="EUR"
    )
    Inspection.objects.create(
        claim_item=item,
        inspector=manager,
        is_new_unused=False,
        original_packaging_sealed=True,
        outcome=Outcome.REDUCED_REFUND,
        deduction_percent=Decimal("12.50"),
        deduction_reason="-Scratches on the base",
        findings="@mention the scratches",
    )

    [row] = as_dicts(read_csv(manager_client.get("/admin/inspections/inspection/export/csv/")))

    assert row["SKU"] == item.order_line.product.sku
    assert row["Quantity"] == "2"
    assert row["New, no signs of use"] == "No"
    assert row["Sealed in the original packaging"] == "Yes"
    assert row["Label present"] == ""  # not checked
    assert row["Outcome"] == "Refund with a deduction; return shipping on the customer"
    assert row["Deduction"] == "7.50"  # 12.5 % of 2 × 30.00
    assert row["Currency"] == "EUR"
    assert row["Deduction reason"] == "'-Scratches on the base"
    assert row["Findings"] == "'@mention the scratches"
    assert row["Inspector"] == "boss"


def test_claims_xlsx_has_typed_cells_and_no_formula(manager_client, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    claim = ClaimFactory(description="=1+1", submitted_at=datetime(2026, 3, 1, 20, 30, tzinfo=UTC))

    response = manager_client.get("/admin/returns/claim/export/xlsx/")

    assert response.status_code == 200
    assert response["Content-Type"] == exports.XLSX_CONTENT_TYPE
    assert re.match(r'attachment; filename="claims-\d{8}-\d{6}\.xlsx"', response["Content-Disposition"])
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert list(header) == CLAIM_HEADERS
    cells = dict(zip(header, row, strict=True))
    assert cells["Claim ID"] == claim.pk
    assert cells["Claim made at (Asia/Shanghai)"] == datetime(2026, 3, 2, 4, 30)  # company time, a real date cell
    assert cells["Customer's description"] == "'=1+1"
    description_cell = next(sheet.iter_rows(min_row=2))[CLAIM_HEADERS.index("Customer's description")]
    assert description_cell.data_type == "s"  # a string, never a formula


def test_refunds_xlsx_amount_is_a_number(manager_client):
    _refund(ClaimFactory(), currency="EUR", total=Decimal("12.345"))

    response = manager_client.get("/admin/refunds/refund/export/xlsx/?status=all")

    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, row = list(sheet.iter_rows(values_only=True))
    cells = dict(zip(header, row, strict=True))
    assert cells["Amount"] == pytest.approx(12.35)
    assert isinstance(cells["Amount"], float | int)
    assert cells["Currency"] == "EUR"


def test_csv_streams_in_chunks_and_never_reads_every_row_at_once():
    for _ in range(5):
        ClaimFactory()
    queryset = exports.CLAIMS.model.objects.all()

    chunks = list(exports.csv_chunks(exports.CLAIMS, queryset, chunk_rows=2))

    assert len(chunks) == 3  # header with rows 1-2, rows 3-4, row 5
    assert sum(chunk.count("\r\n") for chunk in chunks) == 6


def test_streamed_export_runs_a_fixed_number_of_queries_without_a_full_count(manager_client):
    def export_queries():
        with CaptureQueriesContext(connection) as captured:
            read_csv(manager_client.get("/admin/returns/claim/export/csv/?claim_type__exact=no_reason"))
        return [query["sql"] for query in captured.captured_queries]

    for _ in range(3):
        ClaimFactory()
    few = export_queries()
    for _ in range(30):
        ClaimFactory()
    many = export_queries()

    assert len(many) == len(few)
    assert not [sql for sql in many if "COUNT(" in sql.upper()]  # no count: the list's keys, bounded, answer it
    (keys,) = [sql for sql in many if "LIMIT 20001" in sql]  # the list's keys, one more than the stream's limit
    assert keys.startswith('SELECT "returns_claim"."id" AS "pk" FROM "returns_claim" WHERE'), keys


def test_streamed_export_by_keys_equals_the_one_query_export(manager):
    """The stream reads the list's keys, then its rows by key a chunk at a time: the same file as one query."""
    for n in range(5):
        claim = ClaimFactory(claim_type=ClaimType.NO_REASON, description=f"=cmd {n}")
        ClaimItemFactory(claim=claim)
    ClaimFactory(claim_type=ClaimType.WARRANTY)  # filtered out
    queryset = exports.changelist_queryset(exports.Claim, "claim_type__exact=no_reason", manager)

    pks = exports.stream_pks(queryset)
    by_keys = "".join(exports.csv_chunks(exports.CLAIMS, queryset, chunk_rows=2, pks=pks))
    one_query = "".join(exports.csv_chunks(exports.CLAIMS, queryset, chunk_rows=2))
    xlsx_by_keys, xlsx_one_query = io.BytesIO(), io.BytesIO()
    exports.write_xlsx(exports.CLAIMS, queryset, xlsx_by_keys, pks=pks)
    exports.write_xlsx(exports.CLAIMS, queryset, xlsx_one_query)

    assert pks == sorted(pks, reverse=True) and len(pks) == 5  # the list's order: newest first
    assert by_keys == one_query and by_keys.count("\r\n") == 6
    assert read_xlsx(xlsx_by_keys) == read_xlsx(xlsx_one_query)


def test_streamed_export_keeps_the_keys_order_and_leaves_out_rows_gone(manager):
    first, second, third = (ClaimFactory() for _ in range(3))
    queryset = exports.changelist_queryset(exports.Claim, "", manager)
    gone = ClaimFactory()
    pks = [first.pk, gone.pk, third.pk, second.pk]
    gone.events.all().delete()
    gone.delete()

    text = "".join(exports.csv_chunks(exports.CLAIMS, queryset, chunk_rows=1, pks=pks))

    ids = [int(row[0]) for row in list(csv.reader(io.StringIO(text[1:])))[1:]]
    assert ids == [first.pk, third.pk, second.pk]


def test_stream_pks_answers_stream_or_task_by_reading_one_key_more_than_the_limit(manager):
    for _ in range(4):
        ClaimFactory()
    queryset = exports.changelist_queryset(exports.Claim, "", manager)

    assert exports.stream_pks(queryset, limit=3) is None
    assert len(exports.stream_pks(queryset, limit=4)) == 4


def test_large_export_is_stored_and_the_link_emailed(manager_client, manager, settings, s3_objects):
    settings.EXPORT_STREAM_MAX_ROWS = 2
    settings.EXPORT_LINK_EXPIRE_SECONDS = 3600
    claims = [ClaimFactory(claim_type=ClaimType.WARRANTY, description="+1 555 0100") for _ in range(3)]
    ClaimFactory(claim_type=ClaimType.DOA, doa_reason=DoaReason.DAMAGE)

    response = manager_client.get("/admin/returns/claim/export/csv/?claim_type__exact=warranty", follow=True)

    assert response.redirect_chain[-1][0] == "/admin/returns/claim/?claim_type__exact=warranty"
    message = [str(m) for m in response.context["messages"]]
    assert any("emailed to boss@staff.example.com" in text and "1 hours" in text for text in message)
    [key] = [key for key in s3_objects() if key.startswith(f"exports/{manager.pk}/")]
    assert re.fullmatch(rf"exports/{manager.pk}/claims-\d{{8}}-\d{{6}}\.csv", key)
    stored = s3_objects(key).decode("utf-8")
    rows = as_dicts(list(csv.reader(io.StringIO(stored[1:]))))
    assert sorted(row["Claim ID"] for row in rows) == sorted(str(c.pk) for c in claims)
    assert {row["Customer's description"] for row in rows} == {"'+1 555 0100"}
    email = OutboundEmail.objects.get(template="export_ready")
    assert email.to == "boss@staff.example.com"
    [link] = re.findall(r"https?://\S+/admin/files/\S+/", email.body_text)
    assert manager_client.get(link).status_code == 302  # to S3's presigned URL
    assert "the link works for 1 hour" in email.body_text


def test_large_xlsx_export_is_stored(manager_client, manager, settings, s3_objects):
    settings.EXPORT_STREAM_MAX_ROWS = 1
    ClaimFactory()
    ClaimFactory()

    manager_client.get("/admin/returns/claim/export/xlsx/")

    [key] = [key for key in s3_objects() if key.startswith(f"exports/{manager.pk}/")]
    sheet = load_workbook(io.BytesIO(s3_objects(key))).active
    assert sheet.max_row == 3


def test_only_managers_export_and_see_the_links(client, django_user_model):
    agent = staff_user(django_user_model, "agent", ROLES["cs"])
    client.force_login(agent)

    assert client.get("/admin/returns/claim/export/csv/").status_code == 403
    assert "Export CSV" not in client.get("/admin/returns/claim/").content.decode()


def test_the_lists_show_export_links_that_keep_the_filters(manager_client):
    ClaimFactory()

    page = manager_client.get("/admin/returns/claim/?claim_type__exact=doa").content.decode()
    refunds = manager_client.get("/admin/refunds/refund/").content.decode()
    inspections = manager_client.get("/admin/inspections/inspection/").content.decode()

    assert 'href="/admin/returns/claim/export/csv/?claim_type__exact=doa"' in page
    assert 'href="/admin/returns/claim/export/xlsx/?claim_type__exact=doa"' in page
    assert 'href="/admin/refunds/refund/export/csv/"' in refunds
    assert 'href="/admin/inspections/inspection/export/csv/"' in inspections


def test_invalid_filters_export_nothing(manager_client):
    response = manager_client.get("/admin/returns/claim/export/csv/?made=yesterday")

    assert response.status_code == 302


def test_an_export_abandoned_midway_stops_its_reader_and_frees_the_connection():
    import threading

    for _ in range(6):
        ClaimFactory()
    chunks = exports.csv_chunks(exports.CLAIMS, exports.CLAIMS.model.objects.all(), chunk_rows=1)

    next(chunks)  # the browser went away after the first piece
    chunks.close()

    assert not [t for t in threading.enumerate() if t.name == "export-read-ahead"]
    assert exports.CLAIMS.model.objects.count() == 6  # the connection works: the cursor and transaction are gone
