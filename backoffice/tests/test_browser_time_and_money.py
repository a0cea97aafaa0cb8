"""The one rule for time and money as a person sees it, in Debian's Chromium through Playwright: a browser in
Paris reads the claim page's instants in the company's zone, named, and the verdict's day is the same day.

Saves ``var/screenshots/time-and-money-claim-desktop.png`` and ``-phone.png``.
"""

import io
import re

import pytest
from django.core.management import call_command

from backoffice.tests.test_time_and_money import _claim
from inspections.services import inspection_propose_refund
from refunds import services as refund_services
from refunds.tests.conftest import finance_user, inspected_claim
from returns.tests.factories import ROLES, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_browser_elsewhere_reads_the_company_zone_named_and_the_same_day(
    browser, live_server, django_user_model, shoot
):
    cs = staff_user(django_user_model, "agent", ROLES["cs"])
    claim = _claim(cs)  # made 29 Nov 19:54 UTC: 30 Nov 03:54 in Shanghai, 20:54 on 29 Nov in Paris
    context = browser.new_context(timezone_id="Europe/Paris", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "pw-agent")
    page.click("#login-form [type=submit]")

    page.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    text = page.locator("body").inner_text()
    shoot(page, "time-and-money-claim")
    context.close()

    assert "30 Nov 2026 03:54 (Asia/Shanghai)" in text  # the claim made, in the company zone, named
    assert "Eligible: claim made 30 Nov 2026" in text  # the verdict's day is the field's day
    assert "(company calendar, Asia/Shanghai)" in text
    assert "20:54" not in text and "CET" not in text  # nothing in the browser's zone
    assert "49.90 USD" in text  # the claimed line's price, with its currency
    assert "In the company's time zone (Asia/Shanghai)" in text  # what is typed is read in that zone too


def test_the_demo_months_dashboard_reads_as_a_real_month(page, live_server, shoot):
    call_command("load_demo", stdout=io.StringIO())
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "demo-manager")
    page.click("#login-form [type=submit]")
    page.wait_for_selector("svg.chart")
    shoot(page, "time-and-money-dashboard-demo")

    rates = page.locator("#chart-sku-rates text").all_text_contents()
    percents = [float(text.split("%")[0]) for text in rates if re.match(r"^\d+(\.\d)?% \(\d+/\d+ units\)$", text)]
    assert len(percents) == 10 and all(0 < percent < 50 for percent in percents)  # units claimed of units sold
    assert "units claimed (claims made in the period)" in page.locator("#sku-rates").inner_text()
    averages = page.locator("#chart-approval-to-refund text.value").all_text_contents()
    assert len(averages) >= 3 and any(float(value) > 1 for value in averages)  # days, shown on their columns
    assert page.locator("#chart-claims-per-week rect.bar").count() >= 8


def test_the_refund_page_says_its_money_with_its_currency_and_names_its_two_references(
    page, live_server, django_user_model, shoot
):
    inspector = staff_user(django_user_model, "picker", ROLES["warehouse"])
    finance = finance_user(django_user_model, "payer")
    claim = inspected_claim(inspector, ["full_refund"], unit_price="12800", currency="JPY", payment_reference="pi_42")
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    refund_services.refund_approve(refund_id=refund.pk, by=finance)  # executed on commit: the manual provider waits
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/refunds/refund/{refund.pk}/change/")
    page.fill("#id_username", "payer")
    page.fill("#id_password", "pw-payer")
    page.click("#login-form [type=submit]")
    page.wait_for_selector("#id_provider_reference")
    shoot(page, "time-and-money-refund")

    text = page.locator("body").inner_text()
    assert "12,800 JPY" in text  # the currency's decimals: none
    assert "12800" not in text and "12,800.00" not in text  # the amount field too, not a bare Decimal
    assert "Customer's original payment" in text and "pi_42" in text
    assert "This refund's reference (the bank transfer's or the provider's)" in text
