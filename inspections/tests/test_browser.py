"""The warehouse's path in a real browser: receive the parcel, inspect it, see the claim inspected."""

import pytest

from inspections.models import Inspection, Outcome
from inspections.tests.conftest import approved_claim
from returns.models import Claim, ClaimStatus, ClaimType
from returns.tests.factories import ROLES, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_warehouse_receives_inspects_and_sees_the_claim_inspected(page, live_server, django_user_model, tmp_path):
    agent = staff_user(django_user_model, "cs", ROLES["cs"])
    staff_user(django_user_model, "warehouse", ROLES["warehouse"])
    claim = approved_claim(agent, claim_type=ClaimType.NO_REASON)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "warehouse")
    page.fill("#id_password", "pw-warehouse")
    page.click("#login-form [type=submit]")

    # The bench: scan the RMA number and press Enter.
    page.goto(f"{live_server.url}/admin/shipments/returnparcel/receive/")
    page.fill("#id_code", claim.rma_number)
    page.press("#id_code", "Enter")
    page.wait_for_selector(f"text={claim.rma_number} received")

    # The queue, then the item's inspection form.
    page.goto(f"{live_server.url}/admin/inspections/inspection/queue/")
    row = page.locator("#inspection-queue tr.queue-row", has_text=claim.rma_number)
    assert row.locator("td.days-waiting").inner_text() == "0"
    row.locator("td a", has_text=" × ").first.click()
    for name in ("is_new_unused", "no_installation_marks", "original_packaging_sealed", "label_present"):
        page.check(f"#id_{name} input[value=yes]")
    page.fill("#id_findings", "Sealed, label on, no marks.")
    page.click("#save")
    page.wait_for_selector("#proposal >> text=Proposed: Full refund")
    page.click("#complete")

    page.wait_for_selector(f"text={claim.rma_number} is inspected: Full refund.")
    assert page.locator("#claim-status").inner_text() == "Inspected"
    assert "Full refund" in page.locator("#content-main").inner_text()
    page.screenshot(path=str(tmp_path / "inspected.png"), full_page=True)
    claim = Claim.objects.get(pk=claim.pk)
    assert claim.status == ClaimStatus.INSPECTED
    inspection = Inspection.objects.get(claim_item__claim=claim)
    assert (inspection.outcome, inspection.inspector.username) == (Outcome.FULL_REFUND, "warehouse")
    assert claim.events.filter(action="inspect").count() == 1
