"""Finance's path in a real browser: Debian's Chromium through Playwright."""

import pytest

from inspections.services import inspection_propose_refund
from refunds.models import Provider, Refund, RefundStatus
from refunds.tests.conftest import inspected_claim
from returns.models import ClaimStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_approves_a_proposed_refund_and_sees_it_succeed(
    page, live_server, finance, inspector, stripe_settings, stripe_fake, tmp_path
):
    pi = stripe_fake.add_payment_intent(10_000, "usd")
    claim = inspected_claim(inspector, ["full_refund"], unit_price="49.90", payment_reference=pi)
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    assert refund.provider == Provider.STRIPE

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "payer")
    page.fill("#id_password", "pw-payer")
    page.click("#login-form [type=submit]")
    page.goto(f"{live_server.url}/admin/refunds/refund/")
    assert "49.90 USD" in page.locator("#refund-totals").inner_text()
    page.click(f"text=Refund #{refund.pk}")
    page.click("#refund-actions button[value=approve]")

    # The task runs eagerly on commit here; the real worker has its own tests.
    page.wait_for_selector("text=Approved: the refund is being sent.")
    page.reload()
    summary = page.locator("#refund-summary").inner_text()
    page.screenshot(path=str(tmp_path / "refund-succeeded.png"), full_page=True)
    refund = Refund.objects.get(pk=refund.pk)
    assert refund.status == RefundStatus.SUCCEEDED
    assert summary.startswith("Succeeded: 49.90 USD") and refund.provider_reference in summary
    assert stripe_fake.refunds_created(pi) == 1
    assert Refund.objects.get(pk=refund.pk).claim.status == ClaimStatus.REFUNDED
