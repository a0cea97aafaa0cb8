"""Customer emails, read back from a real SMTP server (aiosmtpd on loopback).

The services write an ``OutboundEmail`` row with the change; on commit the send
task (eager in this suite) sends it. ``django_capture_on_commit_callbacks(execute=True)``
stands for the commit.
"""

import email
import email.policy
import io
import socket

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from returns import services
from returns.models import ClaimType, DoaReason, EmailStatus, OutboundEmail
from returns.tests.factories import OrderLineFactory

pytestmark = pytest.mark.django_db


def whole_package_photo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "brown").save(buffer, "JPEG")
    return SimpleUploadedFile("box.jpg", buffer.getvalue(), content_type="image/jpeg")


def parse(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def only_message(inbox, subject_start: str) -> email.message.EmailMessage:
    matching = [message for message in map(parse, inbox) if message["Subject"].startswith(subject_start)]
    assert len(matching) == 1, [parse(envelope)["Subject"] for envelope in inbox]
    return matching[0]


def text_and_html(message) -> tuple[str, str]:
    """Both bodies, with the wire's CRLF line ends back to LF."""
    return tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))


@pytest.fixture
def order_line():
    return OrderLineFactory(order__customer_email="Ada.Lovelace@Example.com", order__customer_name="Ada Lovelace")


@pytest.fixture
def new_claim(smtp_inbox, order_line, cs, django_capture_on_commit_callbacks):
    """A no-reason return received 3 days ago, created through the service and committed."""
    with django_capture_on_commit_callbacks(execute=True):
        return services.claim_create(
            order=order_line.order,
            claim_type=ClaimType.NO_REASON,
            description="The cage does not fit my camera.",
            order_line_ids=[order_line.pk],
            by=cs,
        )


@pytest.fixture
def approved_claim(new_claim, cs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.evidence_add(claim_id=new_claim.pk, by=cs, upload=whole_package_photo(), shows_whole_package=True)
        return services.claim_approve(claim_id=new_claim.pk, by=cs)


@pytest.fixture
def smtp_down(settings):
    """Django's SMTP backend pointed at a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False


@pytest.fixture
def ready_email(order_line, cs):
    """A claim whose acknowledgement is written but not sent: the commit's callbacks never ran."""
    claim = services.claim_create(
        order=order_line.order,
        claim_type=ClaimType.NO_REASON,
        description="Changed my mind.",
        order_line_ids=[order_line.pk],
        by=cs,
    )
    return OutboundEmail.objects.get(claim=claim)


def test_new_claim_is_acknowledged_by_email(new_claim, smtp_inbox, settings):
    message = only_message(smtp_inbox, "We received your after-sales request")

    assert message["To"] == "ada.lovelace@example.com"
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert f"claim {new_claim.pk}, order {new_claim.order_number}" in message["Subject"]
    text, html = text_and_html(message)
    assert "Dear Ada Lovelace" in text
    assert "entire package/box" in text
    assert "within 24 hours" in html


def test_approval_email_gives_rma_number_return_address_and_packing_rules(approved_claim, smtp_inbox, settings):
    message = only_message(smtp_inbox, "Your return is approved")

    assert approved_claim.rma_number.startswith("RMA-")
    assert message["Subject"] == f"Your return is approved: {approved_claim.rma_number}"
    text, html = text_and_html(message)
    assert approved_claim.rma_number in text
    assert approved_claim.rma_number in html
    assert settings.RMA_RETURN_ADDRESS in text
    assert "<br>".join(settings.RMA_RETURN_ADDRESS.splitlines()) in html
    for body in (text, html):
        assert "sealed" in body
        assert "label" in body


def test_approval_email_says_who_pays_return_shipping(approved_claim, smtp_inbox):
    """A no-reason return: the customer pays the return shipping (policy default)."""
    text, html = text_and_html(only_message(smtp_inbox, "Your return is approved"))

    assert "you will get a full refund; the return shipping is on your charge" in text
    assert "reimbursement" not in text
    assert "you will get a full refund; the return shipping is on your charge" in html


def test_doa_approval_email_promises_return_shipping_reimbursed(
    smtp_inbox, order_line, cs, django_capture_on_commit_callbacks
):
    """DOA: "full refund and the return shipping cost reimbursement" when the inspection passes."""
    with django_capture_on_commit_callbacks(execute=True):
        claim = services.claim_create(
            order=order_line.order,
            claim_type=ClaimType.DOA,
            doa_reason=DoaReason.DAMAGE,
            description="The cage arrived scratched.",
            order_line_ids=[order_line.pk],
            by=cs,
        )
        services.evidence_add(claim_id=claim.pk, by=cs, upload=whole_package_photo(), shows_whole_package=True)
        services.claim_approve(claim_id=claim.pk, by=cs)

    text, html = text_and_html(only_message(smtp_inbox, "Your return is approved"))
    for body in (text, html):
        assert "you will get a full refund and the return shipping cost reimbursement" in body
        assert "the return shipping is not reimbursed" in body


def test_information_request_email_carries_the_agents_message(
    new_claim, cs, smtp_inbox, django_capture_on_commit_callbacks
):
    asked = "Please send a photo of the serial number label & the box's barcode."

    with django_capture_on_commit_callbacks(execute=True):
        services.claim_ask_for_information(claim_id=new_claim.pk, by=cs, message=asked)

    text, html = text_and_html(only_message(smtp_inbox, "We need more information about your request"))
    assert asked in text
    assert "Please send a photo of the serial number label &amp; the box&#x27;s barcode." in html


def test_rejection_email_gives_the_reason(new_claim, cs, smtp_inbox, django_capture_on_commit_callbacks):
    reason = "The goods were received 60 days ago; no-reason returns close after 45 days."

    with django_capture_on_commit_callbacks(execute=True):
        services.claim_reject(claim_id=new_claim.pk, by=cs, reason=reason)

    text, html = text_and_html(only_message(smtp_inbox, "About your after-sales request"))
    assert f"Reason: {reason}" in text
    assert reason in html


def test_sent_emails_are_marked_sent_with_the_time(approved_claim, smtp_inbox):
    emails = OutboundEmail.objects.filter(claim=approved_claim).order_by("id")

    assert [row.template for row in emails] == ["claim_received", "claim_approved"]
    assert {(row.status, row.attempts) for row in emails} == {(EmailStatus.SENT, 1)}
    assert all(row.sent_at for row in emails)
    assert len(smtp_inbox) == 2


def test_nothing_is_sent_before_the_commit(order_line, cs, smtp_inbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        claim = services.claim_create(
            order=order_line.order,
            claim_type=ClaimType.NO_REASON,
            description="Changed my mind.",
            order_line_ids=[order_line.pk],
            by=cs,
        )

    assert len(callbacks) == 1
    assert smtp_inbox == []
    assert OutboundEmail.objects.get(claim=claim).status == EmailStatus.READY


def test_smtp_server_down_leaves_email_ready_with_the_error(ready_email, smtp_down):
    with pytest.raises(OSError):
        services.email_send(email_id=ready_email.pk)

    ready_email.refresh_from_db()
    assert (ready_email.status, ready_email.attempts, ready_email.sent_at) == (EmailStatus.READY, 1, None)
    assert ready_email.last_error


def test_smtp_server_down_on_the_last_attempt_marks_email_failed(ready_email, smtp_down):
    with pytest.raises(OSError):
        services.email_send(email_id=ready_email.pk, final_attempt=True)

    ready_email.refresh_from_db()
    assert (ready_email.status, ready_email.attempts) == (EmailStatus.FAILED, 1)
    assert ready_email.last_error


def test_sent_email_is_not_sent_twice(ready_email, smtp_inbox):
    """A redelivered task finds the row sent and does nothing."""
    services.email_send(email_id=ready_email.pk)
    services.email_send(email_id=ready_email.pk)

    assert len(smtp_inbox) == 1
    ready_email.refresh_from_db()
    assert (ready_email.status, ready_email.attempts) == (EmailStatus.SENT, 1)
