"""The mailbox as the front door, in Chromium: a customer's email with a photo arrives, customer service turns
it into a claim from the unsorted inbox and asks for the whole-package photo, the customer's reply with it
attaches itself to the claim, the agent marks it and approves. Screenshots in var/screenshots/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services, testing
from inbox.models import InboundMessage
from inbox.tests.conftest import SUPPORT, waiting
from returns import notifications
from returns.models import Claim, ClaimStatus
from returns.tests.factories import OrderLineFactory, ProductFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("#login-form [type=submit]")


def test_an_email_becomes_a_claim_and_the_customers_reply_with_the_photo_joins_it(
    page, live_server, mailbox, cs, shoot
):
    line = OrderLineFactory(
        order__customer_email="ann@example.com",
        order__customer_name="Ann Lee",
        product=ProductFactory(sku="SR-3122", name="Camera cage for A7 IV"),
    )
    first = testing.iphone_photo_email(
        "Ann Lee <ann@example.com>",
        SUPPORT,
        f"Return for order {line.order.number}",
        "Hello, the cage does not fit my camera. I would like to return it.",
        photo=testing.jpeg(1200, 900, "slategray"),
    )
    mailbox.append(first, "INBOX")
    assert services.mailbox_read().stored == 1  # the beat task's run

    # customer service opens the unsorted inbox and the message
    log_in(page, live_server, cs.username)
    page.click("text=Unsorted messages")
    shoot(page, "inbox-unsorted")
    page.click(f"text=Return for order {line.order.number}")
    page.wait_for_selector("#message-text")
    assert "the cage does not fit my camera" in page.inner_text("#message-text")
    shoot(page, "inbox-message")

    # turns it into a claim: the order named in the email, its line, the text and the photo are there
    page.click("#turn-into-claim")
    assert page.input_value("#id_description").startswith("Hello, the cage does not fit my camera.")
    assert page.input_value(f"#id_units_{line.pk}") == "1"
    assert "SR-3122" in page.inner_text("#candidate-orders")
    page.select_option("#id_claim_type", "no_reason")
    shoot(page, "inbox-turn-into-claim")
    page.click("#create-claim")
    page.wait_for_selector(".messagelist .success")
    claim = Claim.objects.get()
    assert page.url.endswith(f"/admin/returns/claim/{claim.pk}/change/")
    assert claim.evidence.get().original_name == "IMG_4521.JPG"

    # asks for the whole-package photo
    page.fill("#id_ask_for_information_message", "Please send a photo of the whole package, with the box.")
    page.click("button[value=ask_for_information]")
    page.wait_for_selector(".messagelist .success")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.AWAITING_CUSTOMER

    # the customer answers that email with the photo; it attaches itself to the claim
    asked = claim.emails.get(template="information_requested")
    reply = testing.iphone_photo_email(
        "Ann Lee <ann@example.com>",
        notifications.reply_address(claim),
        f"Re: {asked.subject}",
        "Here is the whole package.",
        photo=testing.jpeg(1600, 1200, "darkolivegreen"),
        name="IMG_4533.JPG",
        in_reply_to=asked.message_id,
        date=timezone.now() + timedelta(seconds=2),
    )
    mailbox.append(reply, "INBOX")
    assert services.mailbox_read().stored == 1
    assert waiting(mailbox) == []
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED
    assert InboundMessage.objects.get(subject__startswith="Re:").claim == claim

    page.reload()
    conversation = page.inner_text("#conversation")
    assert "Here is the whole package." in conversation
    assert conversation.index("the cage does not fit") < conversation.index("Please send a photo of the whole package")
    assert conversation.index("Please send a photo of the whole package") < conversation.index(
        "Here is the whole package."
    )
    shoot(page, "inbox-claim-conversation")

    # the agent marks the new photo as the whole package and approves
    whole = claim.evidence.get(original_name="IMG_4533.JPG")
    page.click(f"#whole-package-{whole.pk}")
    page.wait_for_selector(".messagelist .success")
    page.click("button[value=approve]")
    page.wait_for_selector(".messagelist .success")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED and claim.rma_number
    approved = claim.emails.get(template="claim_approved")
    assert approved.in_reply_to == InboundMessage.objects.get(subject__startswith="Re:").message_id
    shoot(page, "inbox-claim-approved")
