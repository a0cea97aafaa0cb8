"""The claim's and the refund's history as a person reads them, in Debian's Chromium through Playwright.

Saves ``var/screenshots/claim-history.png`` and ``refund-history.png`` for a person to look at.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest

from inspections import services as inspection_services
from inspections.tests.conftest import receive, requested_claim
from refunds import services as refund_services
from refunds.models import LineKind, Refund
from refunds.tests.conftest import finance_user
from returns import services as claim_services
from returns.tests.factories import ROLES, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHECKLIST = {"is_new_unused": True, "no_installation_marks": True, "original_packaging_sealed": True}


def a_claim_with_a_history(cs, warehouse, finance):
    """Created, overdue (the system), approved, received, inspected with an override, refunded by hand."""
    claim = requested_claim(cs)
    claim_services.sla_sweep(now=claim.submitted_at + dt.timedelta(days=2))
    claim = receive(claim_services.claim_approve(claim_id=claim.pk, by=cs), warehouse)
    item = claim.items.get()
    inspection = inspection_services.inspection_start(claim_item_id=item.pk, by=warehouse)
    inspection_services.inspection_record(inspection_id=inspection.pk, by=warehouse, **CHECKLIST, label_present=True)
    inspection_services.inspection_record(
        inspection_id=inspection.pk,
        by=warehouse,
        **CHECKLIST,
        label_present=False,
        findings="Box opened, label torn off",
        deduction_percent=Decimal("20"),
        deduction_reason="box opened",
    )
    inspection_services.inspection_complete(inspection_id=inspection.pk, by=warehouse)
    refund = Refund.objects.get(claim=claim)
    deduction = refund.lines.get(kind=LineKind.DEDUCTION)
    refund_services.refund_adjust_lines(
        refund_id=refund.pk,
        by=finance,
        changes=[refund_services.LineChange(line_id=deduction.pk, amount=Decimal("5.00"))],
        reason="Only the label is missing; the box is fine",
    )
    refund_services.refund_approve(refund_id=refund.pk, by=finance)  # manual: waits for finance to pay
    refund_services.refund_record_manual_payment(refund_id=refund.pk, by=finance, provider_reference="BANK-2026-1127")
    return claim, refund


def history_text(page) -> str:
    return page.locator("#events-group").inner_text()


def test_the_claim_and_refund_histories_read_in_words(page, live_server, django_user_model, screenshot_dir):
    cs = staff_user(django_user_model, "agent", ROLES["cs"])
    warehouse = staff_user(django_user_model, "picker", ROLES["warehouse"])
    finance = finance_user(django_user_model, "payer")
    staff_user(django_user_model, "boss", ROLES["manager"])
    claim, refund = a_claim_with_a_history(cs, warehouse, finance)

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss")
    page.click("#login-form [type=submit]")

    page.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    # The claim page's history is its timeline (backoffice/claim_page.py); the refund page keeps its table.
    page.locator("#timeline").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "claim-history.png"), full_page=True)
    page.locator("#timeline").screenshot(path=str(screenshot_dir / "claim-history-table.png"))
    claim_history = page.locator("#timeline").inner_text()

    page.goto(f"{live_server.url}/admin/refunds/refund/{refund.pk}/change/")
    page.screenshot(path=str(screenshot_dir / "refund-history.png"), full_page=True)
    page.locator("#events-group").screenshot(path=str(screenshot_dir / "refund-history-table.png"))
    refund_history = history_text(page)

    assert f"Approved: {claim.rma_number} given." in claim_history
    assert "First response overdue: it was due" in claim_history and "system" in claim_history
    assert "outcome changed from full refund to refund with deduction 20 %, reason: box opened" in claim_history
    assert "Refunded: " in claim_history and "reference BANK-2026-1127" in claim_history
    assert "Refund adjusted: Deduction on" in refund_history and "Reason: Only the label is missing" in refund_history
    assert "Manual payment recorded, reference BANK-2026-1127." in refund_history
    for history in (claim_history, refund_history):
        assert not re.search(r"[{}\[\]]|None|[a-z]_[a-z]", history), history
