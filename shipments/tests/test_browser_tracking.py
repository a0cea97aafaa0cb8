"""The customer's tracking page in Chromium, opened from the approval email as the SMTP server received it.

Django's test client sends no ``Origin`` header; a browser does. A page whose referrer
policy makes the browser send ``Origin: null`` fails Django's CSRF check in every browser
and passes every test-client test, so these tests drive the public pages in Chromium.
"""

import email
import email.policy
import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from returns import services as claim_services
from returns.models import ClaimStatus
from shipments.models import EnteredVia, ReturnParcel
from shipments.tests.conftest import approved_claim

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def emailing_to_live_server(settings, live_server, smtp_inbox):
    """Links in emails point at the live server; emails go to the SMTP server. Yields its inbox."""
    settings.SITE_URL = live_server.url
    return smtp_inbox


def tracking_link(inbox, claim) -> str:
    """The link in the approval email's plain-text part, exactly as written; the HTML part has the same."""
    messages = [email.message_from_bytes(envelope.content, policy=email.policy.default) for envelope in inbox]
    (message,) = [m for m in messages if m["Subject"] == f"Your return is approved: {claim.rma_number}"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    (link,) = re.findall(r"https?://\S+/returns/tracking/\S+", text)
    assert f'href="{link}"' in html
    return link


def test_customer_enters_the_tracking_from_the_approval_email_in_chromium(
    page, live_server, emailing_to_live_server, cs, shoot
):
    # given a claim approved by customer service; each service call commits, so its email was sent
    claim = approved_claim(cs)
    link = tracking_link(emailing_to_live_server, claim)
    assert link.startswith(f"{live_server.url}/returns/tracking/")
    sent_on = timezone.localdate()

    # when the customer, with no session, opens the link and sends the form
    assert page.context.cookies() == []
    opened = page.goto(link)
    assert opened.status == 200
    assert page.locator("#rma-number").inner_text() == claim.rma_number
    shoot(page, "tracking-form")
    page.fill("#id_carrier", "DHL")
    page.fill("#id_tracking_number", "JD0146000012345")
    page.fill("#id_sent_on", sent_on.isoformat())
    with page.expect_request(lambda request: request.method == "POST") as posted:
        page.click("#tracking-form button[type=submit]")
    page.wait_for_load_state()

    # then the browser said where the form came from, and the thanks page answered
    assert posted.value.all_headers().get("origin") == live_server.url
    assert posted.value.response().status == 200
    assert page.locator("h1").inner_text() == "Thank you: we have your tracking number"
    assert page.locator("#tracking").inner_text() == f"DHL · JD0146000012345, sent on {sent_on:%-d %B %Y}."
    shoot(page, "tracking-thanks")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED
    parcel = ReturnParcel.objects.get(claim=claim)
    assert (parcel.tracking_number, parcel.entered_via) == ("JD0146000012345", EnteredVia.CUSTOMER_LINK)

    # and opening the link again shows what we have, with no form
    again = page.goto(link)
    assert again.status == 200
    assert page.locator("h1").inner_text() == "We already have your tracking number"
    assert "We already have your tracking number JD0146000012345 (DHL)" in page.locator("#already").inner_text()
    assert page.locator("#tracking-form").count() == 0
    shoot(page, "tracking-already")


def test_form_errors_show_next_to_their_fields_in_chromium(page, live_server, emailing_to_live_server, cs, shoot):
    claim = approved_claim(cs)
    page.goto(tracking_link(emailing_to_live_server, claim))

    page.fill("#id_tracking_number", "JD0146000012345")
    page.click("#tracking-form button[type=submit]")
    page.wait_for_load_state()

    assert "This field is required." in page.locator("#id_carrier ~ .errorlist").first.inner_text()
    assert page.input_value("#id_tracking_number") == "JD0146000012345"
    shoot(page, "tracking-form-errors")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED


def test_tampered_link_shows_the_link_problem_page_in_chromium(page, live_server, emailing_to_live_server, cs, shoot):
    claim = approved_claim(cs)
    link = tracking_link(emailing_to_live_server, claim)
    token = urlsplit(link).path.rstrip("/").rsplit("/", 1)[1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    response = page.goto(link.replace(token, tampered))

    assert response.status == 400
    assert page.locator("h1").inner_text() == "This link does not work"
    assert page.locator("#problem").inner_text().startswith("This link is not valid")
    shoot(page, "tracking-link-problem")
    assert not ReturnParcel.objects.filter(claim=claim).exists()


def test_link_of_a_cancelled_return_says_no_parcel_is_expected_in_chromium(
    page, live_server, emailing_to_live_server, cs, shoot
):
    claim = approved_claim(cs)
    link = tracking_link(emailing_to_live_server, claim)
    claim_services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer kept it.")

    response = page.goto(link)

    assert response.status == 200
    assert page.locator("h1").inner_text() == "No parcel to track"
    assert page.locator("#reason").inner_text() == "This return was cancelled, so there is no parcel to send."
    assert page.locator("#tracking-form").count() == 0
    shoot(page, "tracking-not-expected")
