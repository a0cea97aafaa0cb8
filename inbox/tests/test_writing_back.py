"""Writing back: every email carries a Message-ID, threads with the customer's last message and leads back to
the claim; a free reply with files goes out through the outbox. Read back from a real SMTP server."""

from email import message_from_bytes, policy

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from inbox import services, testing
from inbox.models import InboundMessage
from inbox.tests.conftest import SUPPORT
from returns import services as claims
from returns.models import OutboundEmail
from returns.tests.factories import ROLES, OrderLineFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread_settings(settings):
    settings.INBOUND_REPLY_ADDRESS = SUPPORT
    settings.EMAIL_MESSAGE_ID_DOMAIN = "brand.example"


def sent(envelope):
    return message_from_bytes(envelope.content, policy=policy.default)


def test_a_claim_made_from_an_email_acknowledges_it_in_the_same_thread(
    thread_settings, cs, smtp_inbox, django_capture_on_commit_callbacks
):
    line = OrderLineFactory(order__customer_email="ann@example.com")
    raw = testing.plain_email("ann@example.com", SUPPORT, f"Order {line.order.number}", "Broken on arrival.")
    message, _ = services.message_store(raw=raw, mailbox="test")

    with django_capture_on_commit_callbacks(execute=True):
        claim = services.message_turn_into_claim(
            message_id=message.pk,
            by=cs,
            order=line.order,
            claim_type="no_reason",
            description=message.display_text,
            units={line.pk: 1},
        )

    [envelope] = smtp_inbox
    email = sent(envelope)
    assert email["Message-ID"] == claim.emails.get().message_id
    assert email["Message-ID"].endswith("@brand.example>")
    assert email["In-Reply-To"] == message.message_id
    assert email["References"] == message.message_id
    assert email["Reply-To"] == f"support+{claim.reply_token}@brand.example"
    assert email["Auto-Submitted"] == "auto-generated"
    assert len(claim.reply_token) == 24 and claim.reply_token != str(claim.pk)


def test_a_free_reply_with_a_file_goes_out_through_the_outbox_written_by_a_person(
    thread_settings, cs, smtp_inbox, django_capture_on_commit_callbacks
):
    line = OrderLineFactory(order__customer_email="ann@example.com")
    claim = claims.claim_create(
        order=line.order, claim_type="no_reason", description="x", by=cs, order_line_ids=[line.pk]
    )
    acknowledgement = claim.emails.get()
    label = b"%PDF-1.4 return label"

    with django_capture_on_commit_callbacks(execute=True):
        email = claims.claim_reply(
            claim_id=claim.pk,
            by=cs,
            message="Please use the attached label.",
            attachments=[("label.pdf", "application/pdf", label)],
        )

    received = sent(smtp_inbox[-1])
    assert received["In-Reply-To"] == acknowledgement.message_id  # the customer never wrote: our last email
    assert received["Auto-Submitted"] is None
    [attachment] = list(received.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == ("label.pdf", label)
    assert "Please use the attached label." in received.get_body(("plain",)).get_content()
    event = claim.events.get(action="reply_sent")
    assert (event.actor, event.payload["attachments"], event.payload["email_id"]) == (cs, ["label.pdf"], email.pk)
    assert OutboundEmail.objects.get(pk=email.pk).status == "sent"


def test_a_free_reply_needs_the_triage_permission_and_words(thread_settings, cs, django_user_model):
    line = OrderLineFactory()
    claim = claims.claim_create(
        order=line.order, claim_type="no_reason", description="x", by=cs, order_line_ids=[line.pk]
    )
    picker = staff_user(django_user_model, "picker", ROLES["warehouse"])

    with pytest.raises(PermissionDenied):
        claims.claim_reply(claim_id=claim.pk, by=picker, message="Hello")
    with pytest.raises(ValidationError):
        claims.claim_reply(claim_id=claim.pk, by=cs, message="  ")
    assert claim.emails.count() == 1


def test_sorting_a_message_needs_the_sort_permission(thread_settings, django_user_model):
    message, _ = services.message_store(raw=testing.plain_email("a@example.com", SUPPORT, "x", "y"), mailbox="test")
    line = OrderLineFactory()
    claim = claims.claim_create(
        order=line.order,
        claim_type="no_reason",
        description="x",
        by=staff_user(django_user_model, "cs", ROLES["cs"]),
        order_line_ids=[line.pk],
    )
    finance = staff_user(django_user_model, "payer", ROLES["finance"])

    with pytest.raises(PermissionDenied):
        services.message_attach_to_claim(message_id=message.pk, claim_id=claim.pk, by=finance)
    assert InboundMessage.objects.get().claim is None


def test_agent_attaches_an_unsorted_message_and_its_photo_to_an_open_claim(thread_settings, cs):
    line = OrderLineFactory(order__customer_email="ann@example.com")
    claim = claims.claim_create(
        order=line.order, claim_type="no_reason", description="x", by=cs, order_line_ids=[line.pk]
    )
    raw = testing.iphone_photo_email("ann.work@example.com", SUPPORT, "my claim", "Photo of the box.")
    message, _ = services.message_store(raw=raw, mailbox="test")

    services.message_attach_to_claim(message_id=message.pk, claim_id=claim.pk, by=cs, shows_whole_package=True)

    message.refresh_from_db()
    assert (message.claim, message.matched_by) == (claim, "agent")
    evidence = claim.evidence.get()
    assert evidence.shows_whole_package and evidence.uploaded_by == cs
    assert claim.events.get(action="attach_message").actor == cs
    with pytest.raises(claims.states.InvalidTransition):
        services.message_attach_to_claim(message_id=message.pk, claim_id=claim.pk, by=cs)
