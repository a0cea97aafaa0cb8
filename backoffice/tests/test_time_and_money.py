"""One rule for time and money (docs/console.md, "Time and money"): the same instant reads the same on the claim
page, in an email and in the CSV; money with its currency's decimals and code; Excel files typed and clean."""

import csv
import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.utils import translation
from openpyxl import load_workbook

from returns import money, services
from returns.instants import calendar_words, format_instant
from returns.models import ClaimType, Evidence, EvidenceKind, OutboundEmail
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, OrderFactory, OrderLineFactory, staff_user

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
ARRIVED = dt.datetime(2026, 11, 29, 19, 54, tzinfo=dt.UTC)  # 30 Nov 03:54 in Shanghai, 29 Nov in most of Europe


@pytest.fixture
def cs(django_user_model):
    user = staff_user(django_user_model, "agent", ROLES["cs"])
    user.email = "agent@example.com"
    user.save()
    return user


@pytest.fixture
def manager(django_user_model):
    return staff_user(django_user_model, "boss", ROLES["manager"])


def _claim(cs):
    order = OrderFactory(received_on=dt.date(2026, 11, 27))
    line = OrderLineFactory(order=order)
    with time_machine.travel(ARRIVED, tick=False):
        claim = services.claim_create(
            order=order,
            claim_type=ClaimType.NO_REASON,
            description="Not for me",
            order_line_ids=[line.pk],
            by=cs,
            submitted_at=ARRIVED,
        )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"box", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        size_bytes=3,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return claim


def test_the_same_instant_reads_the_same_on_the_claim_page_in_an_email_and_in_the_csv(client, cs, manager):
    claim = _claim(cs)
    due = claim.first_response_due_at  # 1 Dec 03:54 in Shanghai
    with time_machine.travel(due - dt.timedelta(hours=3), tick=False):
        services.sla_sweep()  # the due-soon digest to customer service
        client.force_login(cs)
        client.cookies["tz"] = "Europe/Paris"  # a browser elsewhere changes nothing
        page = client.get(f"/admin/returns/claim/{claim.pk}/change/").content.decode()
    (digest,) = OutboundEmail.objects.filter(template="sla_due_soon")
    client.force_login(manager)
    response = client.get("/admin/returns/claim/export/csv/")
    header, row = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode()[1:])))
    cells = dict(zip(header, row, strict=True))

    words = "01 Dec 2026 03:54 (Asia/Shanghai)"
    assert format_instant(due) == words
    assert f"Due {words}: 3 h 00 min left." in page
    assert f"due {words}" in digest.body_text and f"due {words}" in digest.body_html
    assert cells["First response due at (Asia/Shanghai)"] == "2026-12-01 03:54"  # the same wall clock, sortable
    assert cells["Claim made at (Asia/Shanghai)"] == "2026-11-30 03:54"


def test_the_verdict_says_its_days_are_the_company_calendars(client, cs):
    claim = _claim(cs)
    client.force_login(cs)

    page = client.get(f"/admin/returns/claim/{claim.pk}/change/").content.decode()

    assert "Eligible: claim made 30 Nov 2026, within the" in page  # 30 Nov in Shanghai, not 29 Nov
    assert "(company calendar, Asia/Shanghai)." in page
    assert calendar_words() == "company calendar, Asia/Shanghai"


def test_the_admins_own_date_and_time_fields_follow_the_rule():
    from django.contrib.admin.utils import display_for_value

    with translation.override("en-gb"):
        assert display_for_value(ARRIVED, "") == format_instant(ARRIVED) == "30 Nov 2026 03:54 (Asia/Shanghai)"
        assert display_for_value(dt.date(2026, 11, 30), "") == "30 Nov 2026"


@pytest.mark.parametrize(
    ("amount", "currency", "words"),
    [
        (Decimal("119"), "CAD", "119.00 CAD"),
        (Decimal("4500.000"), "JPY", "4,500 JPY"),  # no minor unit
        (Decimal("12.3456"), "KWD", "12.346 KWD"),  # three, rounded half up
        (Decimal("0.125"), "USD", "0.13 USD"),  # half up, not Babel's half even
        ("49.900", "EUR", "49.90 EUR"),  # an event payload's string
        (Decimal("1234567.5"), "GBP", "1,234,567.50 GBP"),
    ],
)
def test_money_has_its_currencys_decimals_and_its_code(amount, currency, words):
    assert money.format_money(amount, currency) == words


def test_money_follows_the_active_language():
    with translation.override("fr"):
        assert money.format_money(Decimal("1119.5"), "EUR") == "1\u202f119,50 EUR"


def test_the_minor_units_agree_with_babels_currency_data():
    from babel.numbers import get_currency_precision

    assert {code: get_currency_precision(code) for code in money.MINOR_UNITS} == money.MINOR_UNITS


def test_an_excel_export_drops_the_control_characters_excel_refuses(client, manager):
    ClaimFactory(description="Beeps\x07 twice\x1b[0m\tthen stops", order__customer_name="Ana\x01 Ng")
    client.force_login(manager)

    response = client.get("/admin/returns/claim/export/xlsx/")

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, row = list(sheet.iter_rows(values_only=True))
    cells = dict(zip(header, row, strict=True))
    assert cells["Customer's description"] == "Beeps twice[0m\tthen stops"  # tab kept, BEL and ESC gone
    assert cells["Customer name"] == "Ana Ng"


def test_an_excel_export_has_a_frozen_filtered_header_widths_and_real_formats(client, manager):
    claim = ClaimFactory(
        submitted_at=dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC), order__received_on=dt.date(2026, 2, 25)
    )
    ClaimItemFactory(claim=claim, order_line__unit_price=Decimal("4500"), order_line__currency="JPY")
    ClaimFactory()
    client.force_login(manager)

    response = client.get("/admin/returns/claim/export/xlsx/")

    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header = [cell.value for cell in sheet[1]]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}3"
    assert all(sheet.column_dimensions[sheet.cell(1, n).column_letter].width >= 10 for n in range(1, len(header) + 1))
    assert sheet[1][0].font.bold
    row = {title: cell for title, cell in zip(header, sheet[3], strict=True)}  # newest first: the JPY claim is 3rd
    assert row["Claimed value"].value == 4500 and row["Claimed value"].number_format == "#,##0"
    assert row["Currency"].value == "JPY"
    assert row["Claim made at (Asia/Shanghai)"].value == dt.datetime(2026, 3, 2, 4, 30)
    assert row["Claim made at (Asia/Shanghai)"].number_format == "yyyy-mm-dd hh:mm"
    assert row["Goods received on (company calendar, Asia/Shanghai)"].number_format == "yyyy-mm-dd"


def test_the_order_page_shows_its_lines_money_with_the_currency_and_its_decimals(client, cs):
    line = OrderLineFactory(unit_price=Decimal("119"), currency="CAD", store_refunded_amount=Decimal("10.5"))
    OrderLineFactory(order=line.order, unit_price=Decimal("4500"), currency="JPY")
    client.force_login(cs)

    page = client.get(f"/admin/returns/order/{line.order_id}/change/").content.decode()

    assert "119.00 CAD" in page and "10.50 CAD" in page and "4,500 JPY" in page
    assert "119.000" not in page and "4500.000" not in page
