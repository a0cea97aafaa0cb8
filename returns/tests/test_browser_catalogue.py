"""Customer service opens a claim on a product of unknown category in Chromium, sets it from the claim page, and
sees the policy's verdict."""

import pytest

from returns import services
from returns.models import Claim, ClaimType, Product
from returns.tests.factories import ROLES, OrderFactory, OrderLineFactory, ProductFactory, staff_user
from returns.tests.test_browser_units import log_in
from returns.tests.test_services import add_whole_package_photo, days_ago

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_sets_an_unknown_category_from_the_claim_page_and_sees_the_verdict(
    page, live_server, django_user_model, shoot
):
    agent = staff_user(django_user_model, "cs", ROLES["cs"])
    product = ProductFactory(sku="SR-1195", name="NATO handle", is_electronic=None)
    order = OrderFactory(received_on=days_ago(10))
    line = OrderLineFactory(order=order, product=product)
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.NO_REASON,
        description="The handle does not fit my cage.",
        order_line_ids=[line.pk],
        by=agent,
    )
    add_whole_package_photo(claim)
    log_in(page, live_server, "cs")

    # the agent opens the claim: the policy cannot judge it, and the page says what to do
    page.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    panel = page.locator("#category-sr-1195")
    assert panel.locator("h2").inner_text() == "Set the category of SR-1195 before the policy can judge this claim"
    assert page.locator("#policy-verdict .ok").count() == 0
    shoot(page, "claim-category-unknown")

    # one click: the product is not electronic
    panel.get_by_role("button", name="SR-1195 is not electronic").click()
    page.wait_for_selector(".messagelist .success")

    # the verdict shows, judged with the standard 45-day window, and the panel is gone
    assert Product.objects.get(pk=product.pk).is_electronic is False
    assert Claim.objects.get(pk=claim.pk).is_electronic is False
    verdict = page.locator("#policy-verdict").inner_text()
    assert "Eligible: claim made" in verdict and "within the 45-day no-reason return window" in verdict
    assert page.locator(".category-panel").count() == 0
    assert "1 product marked not electronic (SR-1195)." in page.locator(".messagelist").inner_text()
    shoot(page, "claim-category-set")
