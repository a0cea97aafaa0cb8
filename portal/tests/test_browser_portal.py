"""The customer's side in Chromium on a phone-sized screen, from the links as the SMTP server received them:
find the order, see each line's windows, submit a no-reason return with photos (a refused file on the way),
follow it while customer service asks for information and approves in the admin, answer with a photo, see
the RMA number and the return instructions. axe-core checks every page; each page is weighed and shot.

Django's test client sends no ``Origin``; a browser does: the forms' POSTs are checked in Chromium.
"""

import re
from urllib.parse import urlsplit

import pytest
from PIL import Image

from portal.tests.browser import PHONE, Weights, assert_accessible, link_in
from portal.tests.conftest import order_with_lines
from returns import links
from returns.models import Claim, ClaimStatus, ClaimType

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": PHONE, "is_mobile": True, "has_touch": True, "locale": "en-GB"}


@pytest.fixture
def inbox(settings, live_server, smtp_inbox):
    """Links in emails point at the live server; emails go to the SMTP server."""
    settings.SITE_URL = live_server.url
    return smtp_inbox


@pytest.fixture
def weights(screenshot_dir):
    return Weights(screenshot_dir)


@pytest.fixture
def look(shoot, weights):
    """Check, weigh and shoot the page the customer sees now (back at phone width afterwards)."""

    def at(page, name: str) -> None:
        weights.weigh(page, name)
        assert_accessible(page)
        shoot(page, f"portal-{name}")
        page.set_viewport_size(PHONE)

    return at


def picture(folder, name: str, colour: str, size=(1200, 900)) -> str:
    path = folder / name
    Image.new("RGB", size, colour).save(path, "JPEG", quality=90)
    return str(path)


def staff_login(browser, live_server, username: str):
    context = browser.new_context()
    staff = context.new_page()
    staff.goto(f"{live_server.url}/admin/login/")
    staff.fill("#id_username", username)
    staff.fill("#id_password", f"pw-{username}")
    staff.click("#login-form [type=submit]")
    return staff


def test_customer_claims_and_follows_it_from_the_emailed_links(page, browser, live_server, inbox, cs, look, tmp_path):
    order, lines = order_with_lines(received_days_ago=10)
    cage = lines[0]

    # The customer asks for the link, with no session and from the lookup page.
    page.goto(f"{live_server.url}/portal/")
    look(page, "lookup")
    page.fill("#id_order_number", order.number)
    page.fill("#id_email", "Ada@Example.com")
    with page.expect_request(lambda request: request.method == "POST") as posted:
        page.click("#lookup-form button[type=submit]")
    page.wait_for_load_state()
    assert posted.value.all_headers().get("origin") == live_server.url
    assert posted.value.response().status == 200
    assert "If this order is ours" in page.locator("#sent").inner_text()
    look(page, "lookup-sent")

    # The emailed link opens the order: each line, its units and its windows, from policy.judge.
    order_link = link_in(inbox, f"Your link to order {order.number}", "/portal/order/")
    page.goto(order_link)
    cage_card = page.locator(f"#line-{cage.pk}")
    assert "2 units can still be claimed" in cage_card.inner_text()
    assert "no-reason return until" in cage_card.inner_text()
    assert "DOA return window closed on" in cage_card.inner_text()
    look(page, "order")

    # The claim form: a refused file is named next to its field, and the rest of the form stays as it was.
    page.click("#start-claim")
    page.wait_for_url(re.compile(r"/portal/order/.+/claim/$"))
    look(page, "claim-form")
    page.fill(f"#id_units_{cage.pk}", "1")
    page.check("input[name=claim_type][value=no_reason]")
    page.fill("#id_description", "It does not fit my rig.")
    page.set_input_files("#id_whole_package_photo", picture(tmp_path, "whole-package.jpg", "steelblue"))
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"<html>this is not a photo</html>")
    page.set_input_files("#id_files", str(fake))
    page.click("#claim-form button[type=submit]")
    page.wait_for_selector("#id_files_errors .errorlist")
    assert "“holiday.jpg” is not a photo or video we can read" in page.locator("#id_files_errors").inner_text()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.input_value("#id_description") == "It does not fit my rig."
    assert page.eval_on_selector("#id_whole_package_photo", "input => input.files.length") == 1
    assert page.get_attribute("#id_files", "aria-invalid") == "true"
    look(page, "claim-form-refused-file")
    assert not Claim.objects.exists()

    page.set_input_files("#id_files", picture(tmp_path, "scratch.jpg", "tan"))
    with page.expect_request(lambda request: request.method == "POST") as posted:
        page.click("#claim-form button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/claim/"))
    assert posted.value.all_headers().get("origin") == live_server.url
    claim = Claim.objects.get()
    assert (claim.claim_type, claim.status, claim.language) == (ClaimType.NO_REASON, ClaimStatus.REQUESTED, "en")
    assert sorted(claim.evidence.values_list("original_name", "shows_whole_package")) == [
        ("scratch.jpg", False),
        ("whole-package.jpg", True),
    ]
    assert "can be approved as it stands" in page.locator("#outlook").inner_text()
    assert page.locator("#steps li.current").inner_text().startswith("Approved")
    look(page, "claim-new")
    status_link = link_in(inbox, "We received your after-sales request", "/portal/claim/")
    # the same request's link (each made at its own second, so not the same token)
    assert links.claim_from_status_token(urlsplit(status_link).path.rstrip("/").rsplit("/", 1)[1]) == claim

    # Customer service asks for information in the admin; the customer answers from the email's link.
    staff = staff_login(browser, live_server, cs.username)
    staff.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    staff.fill("#id_ask_for_information_message", "Please send a photo of the product label.")
    staff.click("#claim-actions button[value=ask_for_information]")
    staff.wait_for_selector(".messagelist")
    page.goto(link_in(inbox, "We need more information", "/portal/claim/"))
    assert page.locator("#question-text").inner_text() == "Please send a photo of the product label."
    look(page, "claim-question")
    page.fill("#id_answer-answer", "Here is the label.")
    page.set_input_files("#id_answer-files", picture(tmp_path, "label.jpg", "ivory", size=(800, 600)))
    page.click("#answer-form button[type=submit]")
    page.wait_for_url(re.compile(r"answered=1"))
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED and claim.first_response_due_at is not None
    assert claim.evidence.filter(original_name="label.jpg").exists()
    assert "Your answer reached us." in page.locator("#history").inner_text()

    # Customer service approves; the customer reopens the status page: the RMA number and the instructions.
    staff.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    staff.click("#claim-actions button[value=approve]")
    staff.wait_for_selector(".messagelist .success")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    page.goto(link_in(inbox, f"Your return is approved: {claim.rma_number}", "/portal/claim/"))
    assert page.locator("#rma-number").inner_text() == claim.rma_number
    assert "Send the parcel to:" in page.locator("#instructions").inner_text()
    look(page, "claim-approved")

    # Its cancel page, and the tracking page it leads to, are customer pages too.
    page.click("#cancel-link")
    look(page, "claim-cancel")
    page.go_back()
    page.click("#tracking-link")
    assert page.locator("#rma-number").inner_text() == claim.rma_number
    look(page, "tracking-form")


def test_refused_links_and_a_closed_window_in_chromium(page, live_server, inbox, look, tmp_path):
    order, lines = order_with_lines(received_days_ago=50)
    page.goto(f"{live_server.url}/portal/")
    page.fill("#id_order_number", order.number)
    page.fill("#id_email", "ada@example.com")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_selector("#sent")
    order_link = link_in(inbox, "Your link to order", "/portal/order/")

    # A tampered link: nothing of the order, a way to ask for a new one.
    token = urlsplit(order_link).path.rstrip("/").rsplit("/", 1)[1]
    response = page.goto(order_link.replace(token, token[:-3] + "abc"))
    assert response.status == 400
    assert page.locator("h1").inner_text() == "This link does not work"
    assert order.number not in page.content()
    look(page, "link-problem")

    # The no-reason window closed five days ago: the form says until when it was open.
    page.goto(order_link + "claim/")
    page.fill(f"#id_units_{lines[0].pk}", "1")
    page.check("input[name=claim_type][value=no_reason]")
    page.fill("#id_description", "Too late?")
    page.set_input_files("#id_whole_package_photo", picture(tmp_path, "box.jpg", "gray"))
    page.click("#claim-form button[type=submit]")
    page.wait_for_selector("#id_claim_type_errors .errorlist")
    assert "closed on" in page.locator("#id_claim_type_errors").inner_text()
    assert "it was open until then" in page.locator("#id_claim_type_errors").inner_text()
    look(page, "claim-form-window-closed")
    assert not Claim.objects.exists()
