"""The claim services on PostgreSQL: each change, its event, its emails, and what is refused."""

import io
import re
import socket
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from returns import selectors, services, states
from returns.apps import FIRST_POLICY_FROM
from returns.models import (
    Claim,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    ClaimType,
    DoaReason,
    EmailStatus,
    Evidence,
    EvidenceKind,
    OutboundEmail,
    PolicyVersion,
    RmaSequence,
)
from returns.tasks import send_email
from returns.tests.factories import ClaimFactory, ClaimItemFactory, OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


# --- Helpers --------------------------------------------------------------


def days_ago(days: int):
    return timezone.localdate() - timedelta(days=days)


@pytest.fixture
def order():
    """An order the customer received three days ago, with one camera cage on it."""
    order = OrderFactory(customer_email="Jane.Doe@Example.COM", received_on=days_ago(3))
    OrderLineFactory(order=order, product=ProductFactory(is_electronic=False))
    return order


def new_claim(by, order, *, claim_type=ClaimType.NO_REASON, doa_reason="", lines=None, **kwargs) -> Claim:
    return services.claim_create(
        order=order,
        claim_type=claim_type,
        doa_reason=doa_reason,
        description="  The cage does not fit my camera.  ",
        order_line_ids=[line.pk for line in (lines if lines is not None else order.lines.all())],
        by=by,
        **kwargs,
    )


def add_whole_package_photo(claim: Claim) -> Evidence:
    """A stored file, straight in the table: uploads have their own tests."""
    return Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"not really a jpeg", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=17,
        original_name="box.jpg",
        shows_whole_package=True,
    )


def approvable_claim(by, order, **kwargs) -> Claim:
    claim = new_claim(by, order, **kwargs)
    add_whole_package_photo(claim)
    return claim


def snapshot(claim: Claim) -> dict:
    """What a refused action must leave as it was."""
    fresh = Claim.objects.get(pk=claim.pk)
    return {
        "status": fresh.status,
        "rma_number": fresh.rma_number,
        "updated_at": fresh.updated_at,
        "is_returnless": fresh.is_returnless,
        "window_override_reason": fresh.window_override_reason,
        "rejection_reason": fresh.rejection_reason,
        "events": list(ClaimEvent.objects.filter(claim=claim).values_list("pk", flat=True)),
        "emails": list(OutboundEmail.objects.filter(claim=claim).values_list("pk", flat=True)),
        "rma_sequence": list(RmaSequence.objects.order_by("year").values_list("year", "last_value")),
    }


def last_event(claim: Claim) -> ClaimEvent:
    return ClaimEvent.objects.filter(claim=claim).latest("id")


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


RMA_NUMBER = re.compile(r"^RMA-(\d{4})-(\d{6})$")


# --- claim_create -----------------------------------------------------------


def test_claim_create_records_the_claim_as_requested(cs, order):
    claim = new_claim(cs, order)

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED
    assert claim.order == order
    assert claim.order_number == order.number
    assert claim.claim_type == ClaimType.NO_REASON
    assert claim.description == "The cage does not fit my camera."
    assert claim.created_by == cs
    assert claim.rma_number is None


def test_claim_create_lowercases_the_customer_email(cs, order):
    claim = new_claim(cs, order)

    assert Claim.objects.get(pk=claim.pk).customer_email == "jane.doe@example.com"


def test_claim_create_creates_one_item_per_chosen_line(cs, order):
    second = OrderLineFactory(order=order, quantity=2)

    claim = new_claim(cs, order)

    items = ClaimItem.objects.filter(claim=claim).order_by("order_line_id")
    assert [(item.order_line_id, item.quantity) for item in items] == [
        (order.lines.first().pk, 1),
        (second.pk, 2),
    ]


def test_claim_create_is_not_electronic_when_no_item_is(cs, order):
    claim = new_claim(cs, order)

    assert Claim.objects.get(pk=claim.pk).is_electronic is False


def test_claim_create_is_electronic_when_any_item_is(cs, order):
    OrderLineFactory(order=order, product=ProductFactory(is_electronic=True))

    claim = new_claim(cs, order)

    assert Claim.objects.get(pk=claim.pk).is_electronic is True


def test_claim_create_records_a_create_event(cs, order):
    claim = new_claim(cs, order)

    event = ClaimEvent.objects.get(claim=claim)
    assert (event.action, event.actor, event.from_status, event.to_status) == ("create", cs, "", "requested")
    line = order.lines.select_related("product").get()
    assert event.payload == {"items": [{"sku": line.product.sku, "units": line.quantity}]}


def test_claim_create_writes_the_acknowledgement_email(cs, order):
    claim = new_claim(cs, order)

    email = OutboundEmail.objects.get(claim=claim)
    assert email.template == "claim_received"
    assert email.to == "jane.doe@example.com"
    assert email.status == EmailStatus.READY
    assert order.number in email.subject
    assert "entire package/box" in email.body_text


def test_claim_create_sends_the_acknowledgement_once_committed(
    cs, order, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        claim = new_claim(cs, order)

    email = OutboundEmail.objects.get(claim=claim)
    assert [(message.to, message.subject) for message in mailoutbox] == [(["jane.doe@example.com"], email.subject)]
    assert email.status == EmailStatus.SENT
    assert email.sent_at is not None
    assert email.attempts == 1


def test_claim_create_sends_nothing_before_commit(cs, order, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        new_claim(cs, order)

    assert len(callbacks) == 1
    assert mailoutbox == []


@pytest.mark.parametrize("reason", DoaReason.values)
def test_claim_create_accepts_each_of_the_four_doa_reasons(cs, order, reason):
    claim = new_claim(cs, order, claim_type=ClaimType.DOA, doa_reason=reason)

    assert Claim.objects.get(pk=claim.pk).doa_reason == reason


def test_claim_create_drops_a_doa_reason_given_to_another_claim_type(cs, order):
    claim = new_claim(cs, order, claim_type=ClaimType.WARRANTY, doa_reason=DoaReason.DAMAGE)

    assert Claim.objects.get(pk=claim.pk).doa_reason == ""


def test_claim_create_uses_the_policy_version_in_force_when_the_claim_was_made(cs, order):
    # given a later policy version, in force since yesterday
    later = PolicyVersion.objects.create(effective_from=timezone.now() - timedelta(days=1), doa_days=10)

    # when one claim is made now and another is recorded as made three days ago
    now_claim = new_claim(cs, order)
    earlier_order = OrderFactory(received_on=days_ago(5))
    OrderLineFactory(order=earlier_order)
    earlier_claim = new_claim(cs, earlier_order, submitted_at=timezone.now() - timedelta(days=3))

    # then each is judged by the version in force at its time
    assert Claim.objects.get(pk=now_claim.pk).policy_version == later
    assert Claim.objects.get(pk=earlier_claim.pk).policy_version.effective_from == FIRST_POLICY_FROM


def test_claim_create_refuses_a_claim_made_before_any_policy(cs, order):
    with pytest.raises(ValidationError, match="No after-sales policy"):
        new_claim(cs, order, submitted_at=datetime(1999, 12, 31, tzinfo=UTC))

    assert not Claim.objects.exists()


def test_claim_create_refuses_a_doa_claim_without_its_reason(cs, order):
    with pytest.raises(ValidationError) as refused:
        new_claim(cs, order, claim_type=ClaimType.DOA)

    assert "doa_reason" in refused.value.message_dict
    assert not Claim.objects.exists()


def test_claim_create_refuses_a_doa_claim_with_an_unknown_reason(cs, order):
    with pytest.raises(ValidationError) as refused:
        new_claim(cs, order, claim_type=ClaimType.DOA, doa_reason="changed_my_mind")

    assert "doa_reason" in refused.value.message_dict


def test_claim_create_refuses_an_unknown_claim_type(cs, order):
    with pytest.raises(ValidationError) as refused:
        new_claim(cs, order, claim_type="exchange")

    assert "claim_type" in refused.value.message_dict


def test_claim_create_refuses_a_claim_without_lines(cs, order):
    with pytest.raises(ValidationError) as refused:
        new_claim(cs, order, lines=[])

    assert refused.value.message_dict["units"] == ["Choose at least one unit of an item of the order."]
    assert not Claim.objects.exists()


def test_claim_create_refuses_a_blank_description(cs, order):
    with pytest.raises(ValidationError) as refused:
        services.claim_create(
            order=order, claim_type=ClaimType.NO_REASON, description="  ", order_line_ids=[order.lines.get().pk], by=cs
        )

    assert "description" in refused.value.message_dict


def test_claim_create_refuses_a_line_of_another_order(cs, order):
    # given a line of someone else's order next to one of this order's
    stranger = OrderLineFactory()

    # when both are claimed on this order
    with pytest.raises(ValidationError) as refused:
        new_claim(cs, order, lines=[order.lines.get(), stranger])

    # then the claim is refused, naming the order
    assert refused.value.message_dict["units"] == [f"Some of the chosen items are not on order {order.number}."]
    assert not Claim.objects.exists()
    assert not ClaimItem.objects.exists()


def test_claim_create_refuses_only_lines_of_another_order(cs, order):
    with pytest.raises(ValidationError) as refused:
        new_claim(cs, order, lines=[OrderLineFactory()])

    assert "units" in refused.value.message_dict
    assert not Claim.objects.exists()


def test_claim_create_refuses_a_claim_made_in_the_future(cs, order):
    with pytest.raises(ValidationError) as refused:
        new_claim(cs, order, submitted_at=timezone.now() + timedelta(days=1))

    assert "submitted_at" in refused.value.message_dict
    assert not Claim.objects.exists()


def test_claim_create_refuses_a_warehouse_user(warehouse_user, order):
    with pytest.raises(PermissionDenied):
        new_claim(warehouse_user, order)

    assert not Claim.objects.exists()
    assert not OutboundEmail.objects.exists()


def test_claim_create_twice_with_one_submission_key_creates_one_claim(cs, order):
    # given a claim created from a form submission
    key = uuid.uuid4()
    first = new_claim(cs, order, submission_key=key)

    # when the same submission arrives again
    with pytest.raises(services.DuplicateSubmission) as duplicate:
        new_claim(cs, order, submission_key=key)

    # then it names the existing claim and adds nothing
    assert duplicate.value.claim == first
    assert str(first) in str(duplicate.value)
    assert Claim.objects.count() == 1
    assert ClaimItem.objects.count() == 1
    assert ClaimEvent.objects.count() == 1
    assert OutboundEmail.objects.count() == 1


# --- ask for information / customer's answer / resolve ----------------------


def test_ask_for_information_waits_for_the_customer(cs, order):
    claim = new_claim(cs, order)

    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Please send a photo of the box.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.AWAITING_CUSTOMER
    event = last_event(claim)
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        "ask_for_information",
        cs,
        "requested",
        "awaiting_customer",
    )
    assert event.payload == {"message": "Please send a photo of the box."}


def test_ask_for_information_emails_the_question_to_the_customer(cs, order):
    claim = new_claim(cs, order)

    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Please send a photo of the box.")

    email = OutboundEmail.objects.get(claim=claim, template="information_requested")
    assert email.to == "jane.doe@example.com"
    assert "Please send a photo of the box." in email.body_text


def test_record_customer_answer_puts_the_claim_back_to_requested(cs, order):
    claim = new_claim(cs, order)
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Serial number?")
    emails_before = OutboundEmail.objects.filter(claim=claim).count()

    services.claim_record_customer_answer(claim_id=claim.pk, by=cs, answer="SN 12345")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED
    event = last_event(claim)
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        "record_customer_answer",
        cs,
        "awaiting_customer",
        "requested",
    )
    assert event.payload == {"answer": "SN 12345"}
    assert OutboundEmail.objects.filter(claim=claim).count() == emails_before


def test_resolve_closes_a_claim_troubleshooting_fixed(cs, order):
    claim = new_claim(cs, order)

    services.claim_resolve(claim_id=claim.pk, by=cs, note="Firmware update fixed it.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED
    assert claim.rma_number is None
    event = last_event(claim)
    assert (event.action, event.actor, event.from_status, event.to_status) == ("resolve", cs, "requested", "resolved")
    assert event.payload == {"note": "Firmware update fixed it."}


def test_resolve_a_claim_awaiting_the_customer(cs, order):
    claim = new_claim(cs, order)
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Which camera?")

    services.claim_resolve(claim_id=claim.pk, by=cs, note="Solved on the phone.")

    assert last_event(claim).from_status == "awaiting_customer"
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.RESOLVED


# --- reject / cancel ----------------------------------------------------------


def test_reject_records_the_reason(cs, order):
    claim = new_claim(cs, order)

    services.claim_reject(claim_id=claim.pk, by=cs, reason="  Damage caused by a fall.  ")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    assert claim.rejection_reason == "Damage caused by a fall."
    event = last_event(claim)
    assert (event.action, event.actor, event.from_status, event.to_status) == ("reject", cs, "requested", "rejected")
    assert event.payload == {"reason": "Damage caused by a fall."}


def test_reject_emails_the_reason_to_the_customer(cs, order):
    claim = new_claim(cs, order)

    services.claim_reject(claim_id=claim.pk, by=cs, reason="Damage caused by a fall.")

    email = OutboundEmail.objects.get(claim=claim, template="claim_rejected")
    assert email.to == "jane.doe@example.com"
    assert "Reason: Damage caused by a fall." in email.body_text
    assert "Damage caused by a fall." in email.body_html


def test_cancel_a_requested_claim(cs, order):
    claim = new_claim(cs, order)

    services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer withdrew the request.")

    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.CANCELLED
    event = last_event(claim)
    assert (event.action, event.actor, event.from_status, event.to_status) == ("cancel", cs, "requested", "cancelled")
    assert event.payload == {"reason": "Customer withdrew the request."}


def test_cancel_an_approved_claim_keeps_its_rma_number(cs, order):
    claim = approvable_claim(cs, order)
    rma_number = services.claim_approve(claim_id=claim.pk, by=cs).rma_number

    services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer kept the item.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CANCELLED
    assert claim.rma_number == rma_number
    assert last_event(claim).from_status == "approved"


TEXT_ACTIONS = [
    pytest.param(services.claim_ask_for_information, "message", id="ask_for_information"),
    pytest.param(services.claim_resolve, "note", id="resolve"),
    pytest.param(services.claim_reject, "reason", id="reject"),
    pytest.param(services.claim_cancel, "reason", id="cancel"),
]


@pytest.mark.parametrize(("service", "field"), TEXT_ACTIONS)
@pytest.mark.parametrize("text", ["", "   \n"], ids=["empty", "blank"])
def test_an_action_without_its_text_is_refused_and_changes_nothing(cs, order, service, field, text):
    claim = new_claim(cs, order)
    before = snapshot(claim)

    with pytest.raises(ValidationError) as refused:
        service(claim_id=claim.pk, by=cs, **{field: text})

    assert field in refused.value.message_dict
    assert snapshot(claim) == before


def test_record_customer_answer_without_the_answer_is_refused_and_changes_nothing(cs, order):
    claim = new_claim(cs, order)
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Serial number?")
    before = snapshot(claim)

    with pytest.raises(ValidationError) as refused:
        services.claim_record_customer_answer(claim_id=claim.pk, by=cs, answer=" ")

    assert "answer" in refused.value.message_dict
    assert snapshot(claim) == before


# --- approve --------------------------------------------------------------------


def test_approve_gives_an_rma_number_of_the_form_rma_year_six_digits(cs, order):
    claim = approvable_claim(cs, order)

    approved = services.claim_approve(claim_id=claim.pk, by=cs)

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert claim.rma_number == approved.rma_number
    match = RMA_NUMBER.match(claim.rma_number)
    assert match, claim.rma_number
    assert int(match.group(1)) == timezone.localdate().year


def test_approve_gives_rma_numbers_in_sequence(cs, order):
    first = approvable_claim(cs, order)
    other_order = OrderFactory(received_on=days_ago(1))
    OrderLineFactory(order=other_order)
    second = approvable_claim(cs, other_order)

    first_number = services.claim_approve(claim_id=first.pk, by=cs).rma_number
    second_number = services.claim_approve(claim_id=second.pk, by=cs).rma_number

    year, first_value = RMA_NUMBER.match(first_number).groups()
    assert second_number == f"RMA-{year}-{int(first_value) + 1:06d}"


def test_approve_records_an_event_with_the_rma_number(cs, order):
    claim = approvable_claim(cs, order)

    services.claim_approve(claim_id=claim.pk, by=cs)

    claim.refresh_from_db()
    event = last_event(claim)
    assert (event.action, event.actor, event.from_status, event.to_status) == ("approve", cs, "requested", "approved")
    assert event.payload == {"rma_number": claim.rma_number}


def test_approve_emails_the_rma_number_and_the_return_instruction(cs, order, settings):
    # given the company's return address
    settings.RMA_RETURN_ADDRESS = "Returns desk\n1 Test Street\nTestville"
    claim = approvable_claim(cs, order)

    # when the claim is approved
    services.claim_approve(claim_id=claim.pk, by=cs)

    # then the approval email gives the RMA number, the address and how to pack the parcel
    claim.refresh_from_db()
    email = OutboundEmail.objects.get(claim=claim, template="claim_approved")
    assert email.to == "jane.doe@example.com"
    assert claim.rma_number in email.subject
    assert claim.rma_number in email.body_text
    assert "Returns desk\n1 Test Street\nTestville" in email.body_text
    assert "sealed" in email.body_text
    assert "label" in email.body_text
    assert claim.rma_number in email.body_html
    assert "Returns desk<br>1 Test Street<br>Testville" in email.body_html


def test_approve_email_of_a_no_reason_return_puts_return_shipping_on_the_customer(cs, order):
    claim = approvable_claim(cs, order)

    services.claim_approve(claim_id=claim.pk, by=cs)

    body = OutboundEmail.objects.get(claim=claim, template="claim_approved").body_text
    assert "you will get a full refund; the return shipping is on your charge" in body


def test_approve_email_of_a_doa_claim_promises_return_shipping_reimbursement(cs, order):
    claim = approvable_claim(cs, order, claim_type=ClaimType.DOA, doa_reason=DoaReason.DAMAGE)

    services.claim_approve(claim_id=claim.pk, by=cs)

    body = OutboundEmail.objects.get(claim=claim, template="claim_approved").body_text
    assert "you will get a full refund and the return shipping cost reimbursement" in body


def test_approve_email_of_a_warranty_claim_promises_a_replacement(cs, order):
    claim = approvable_claim(cs, order, claim_type=ClaimType.WARRANTY)

    services.claim_approve(claim_id=claim.pk, by=cs)

    body = OutboundEmail.objects.get(claim=claim, template="claim_approved").body_text
    assert "we will send you the replacement at the soonest. The return shipping is on your charge." in body


def test_approve_sends_the_email_once_committed(cs, order, mailoutbox, django_capture_on_commit_callbacks):
    claim = approvable_claim(cs, order)

    with django_capture_on_commit_callbacks(execute=True):
        services.claim_approve(claim_id=claim.pk, by=cs)

    claim.refresh_from_db()
    email = OutboundEmail.objects.get(claim=claim, template="claim_approved")
    assert [message.subject for message in mailoutbox] == [email.subject]
    assert claim.rma_number in mailoutbox[0].body
    assert email.status == EmailStatus.SENT


def test_approve_with_a_photo_added_through_evidence_add(cs, order):
    # given a whole-package photo uploaded the real way
    claim = new_claim(cs, order)
    services.evidence_add(
        claim_id=claim.pk,
        by=cs,
        upload=SimpleUploadedFile("box.png", tiny_png(), content_type="image/png"),
        shows_whole_package=True,
    )

    # when the claim is approved
    services.claim_approve(claim_id=claim.pk, by=cs)

    # then it is
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.APPROVED


def test_approve_is_refused_when_the_window_has_passed(cs, order):
    # given a no-reason return of goods received 60 days ago (the 45-day window passed 15 days ago)
    order.received_on = days_ago(60)
    order.save()
    claim = approvable_claim(cs, order)
    before = snapshot(claim)

    # when customer service approves it
    with pytest.raises(services.ApprovalRefused) as refused:
        services.claim_approve(claim_id=claim.pk, by=cs)

    # then the message shows the deadline and how late the claim is, and nothing changed
    deadline = days_ago(60) + timedelta(days=45)
    message = str(refused.value)
    assert f"ended on {deadline:%d %b %Y}" in message
    assert "15 days before the claim was made" in message
    assert "Only a manager can approve it, with a reason." in message
    assert snapshot(claim) == before


def test_approve_is_refused_without_a_whole_package_photo(cs, order):
    # given a claim whose only photo shows the item, not the package
    claim = new_claim(cs, order)
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"x", name="item.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=1,
        original_name="item.jpg",
        shows_whole_package=False,
    )
    before = snapshot(claim)

    with pytest.raises(services.ApprovalRefused, match="No photo of the whole package"):
        services.claim_approve(claim_id=claim.pk, by=cs)

    assert snapshot(claim) == before


def test_approve_is_refused_while_the_received_date_is_unknown(cs, order):
    order.received_on = None
    order.save()
    claim = approvable_claim(cs, order)
    before = snapshot(claim)

    with pytest.raises(services.ApprovalRefused, match=f"Order {order.number} has no received date"):
        services.claim_approve(claim_id=claim.pk, by=cs)

    assert snapshot(claim) == before


def test_approve_is_refused_when_the_goods_were_received_after_the_claim(cs, order):
    claim = approvable_claim(cs, order)
    order.received_on = days_ago(-2)
    order.save()
    before = snapshot(claim)

    with pytest.raises(services.ApprovalRefused, match="after the claim was made"):
        services.claim_approve(claim_id=claim.pk, by=cs)

    assert snapshot(claim) == before


def test_a_manager_cannot_override_a_received_date_after_the_claim(manager, order):
    claim = approvable_claim(manager, order)
    order.received_on = days_ago(-2)
    order.save()

    with pytest.raises(services.ApprovalRefused, match="check the received date"):
        services.claim_approve(claim_id=claim.pk, by=manager, window_override_reason="Loyal customer.")

    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.REQUESTED


def test_a_second_claim_on_units_in_an_open_claim_is_refused_when_entered(cs, order):
    # given an open claim on the order's only unit
    first = approvable_claim(cs, order)

    # when another claim on the same unit is entered
    with pytest.raises(services.UnitsTaken) as refused:
        new_claim(cs, order, claim_type=ClaimType.WARRANTY)

    # then it is refused, naming the claim that holds the unit, so the agent can add to that one instead
    sku = order.lines.get().product.sku
    assert refused.value.message_dict["units"] == [
        f"{sku}: 1 unit(s) asked, 0 of 1 free.",
        f"{sku} × 1 is already in open claim #{first.pk}.",
    ]
    assert refused.value.open_claim_ids == [first.pk]
    assert list(Claim.objects.values_list("pk", flat=True)) == [first.pk]


def test_a_claim_may_take_the_units_another_claim_left_free(cs, order):
    # given a line of three units, one of them in an open claim
    line = order.lines.get()
    line.quantity = 3
    line.save()
    services.claim_create(order=order, claim_type=ClaimType.NO_REASON, description="One", units={line.pk: 1}, by=cs)

    # when another claim takes two units, then a third one more
    second = services.claim_create(
        order=order, claim_type=ClaimType.NO_REASON, description="Two", units={line.pk: 2}, by=cs
    )
    with pytest.raises(services.UnitsTaken, match="1 unit\\(s\\) asked, 0 of 3 free"):
        services.claim_create(
            order=order, claim_type=ClaimType.NO_REASON, description="Three", units={line.pk: 1}, by=cs
        )

    # then the second claim holds two units and the third was refused
    assert second.items.get().quantity == 2
    assert Claim.objects.count() == 2


def test_approve_is_refused_when_the_units_are_in_another_open_claim(cs, order):
    # given two open claims on the same unit (the second written past the entry check, as older data was)
    first = approvable_claim(cs, order)
    second = ClaimFactory(order=order, claim_type=ClaimType.WARRANTY)
    ClaimItemFactory(claim=second, order_line=order.lines.get(), quantity=1)
    add_whole_package_photo(second)
    before = snapshot(second)

    # when the second is approved
    with pytest.raises(services.ApprovalRefused) as refused:
        services.claim_approve(claim_id=second.pk, by=cs)

    # then the message names the line and the other claim
    sku = order.lines.get().product.sku
    assert f"{sku} × 1 is already in open claim #{first.pk}." in str(refused.value)
    assert snapshot(second) == before


def test_approve_is_refused_when_the_units_are_in_another_approved_claim(cs, order):
    first = approvable_claim(cs, order)
    services.claim_approve(claim_id=first.pk, by=cs)
    first.refresh_from_db()
    second = ClaimFactory(order=order, claim_type=ClaimType.WARRANTY)
    ClaimItemFactory(claim=second, order_line=order.lines.get(), quantity=1)
    add_whole_package_photo(second)

    with pytest.raises(services.ApprovalRefused, match=f"already in open claim {first.rma_number} / #{first.pk}"):
        services.claim_approve(claim_id=second.pk, by=cs)


@pytest.mark.parametrize(
    "close",
    [services.claim_reject, services.claim_cancel, services.claim_resolve],
    ids=["rejected", "cancelled", "resolved"],
)
def test_a_closed_claim_frees_its_units_for_a_new_claim(cs, order, close):
    first = approvable_claim(cs, order)
    field = "note" if close is services.claim_resolve else "reason"
    close(claim_id=first.pk, by=cs, **{field: "Filed twice."})

    second = approvable_claim(cs, order, claim_type=ClaimType.WARRANTY)
    services.claim_approve(claim_id=second.pk, by=cs)

    assert Claim.objects.get(pk=second.pk).status == ClaimStatus.APPROVED


def test_approve_lists_every_problem_at_once(cs, order):
    order.received_on = None
    order.save()
    claim = new_claim(cs, order)

    with pytest.raises(services.ApprovalRefused) as refused:
        services.claim_approve(claim_id=claim.pk, by=cs)

    assert "has no received date" in str(refused.value)
    assert "No photo of the whole package" in str(refused.value)


def test_a_refused_approval_does_not_use_up_an_rma_number(cs, order):
    # given a claim refused once for want of a photo
    claim = new_claim(cs, order)
    with pytest.raises(services.ApprovalRefused):
        services.claim_approve(claim_id=claim.pk, by=cs)
    other_order = OrderFactory(received_on=days_ago(1))
    OrderLineFactory(order=other_order)
    earlier = approvable_claim(cs, other_order)
    earlier_number = services.claim_approve(claim_id=earlier.pk, by=cs).rma_number

    # when the photo arrives and it is approved
    add_whole_package_photo(claim)
    number = services.claim_approve(claim_id=claim.pk, by=cs).rma_number

    # then its number follows the last one given, with no gap
    year, value = RMA_NUMBER.match(earlier_number).groups()
    assert number == f"RMA-{year}-{int(value) + 1:06d}"


# --- approve: the policy's windows, by the claim's own policy version --------------

WINDOW_ENDS = [
    pytest.param(ClaimType.DOA, DoaReason.DAMAGE, False, {"days": 7}, id="doa"),
    pytest.param(ClaimType.DOA, DoaReason.DAMAGE, True, {"days": 7}, id="doa_electronic"),
    pytest.param(ClaimType.NO_REASON, "", False, {"days": 45}, id="no_reason"),
    pytest.param(ClaimType.NO_REASON, "", True, {"days": 30}, id="no_reason_electronic"),
    pytest.param(ClaimType.WARRANTY, "", False, {"months": 24}, id="warranty"),
    pytest.param(ClaimType.WARRANTY, "", True, {"months": 12}, id="warranty_electronic"),
]


def order_received(electronic: bool, received_on):
    order = OrderFactory(received_on=received_on)
    OrderLineFactory(order=order, product=ProductFactory(is_electronic=electronic))
    return order


# A fixed claim day, so that no run falls on a day no window can end on (29 February).
CLAIM_DAY = date(2025, 6, 16)


def claim_made_at_noon(day):
    return timezone.make_aware(datetime.combine(day, time(12, 0)))


@pytest.mark.parametrize(("claim_type", "doa_reason", "electronic", "window"), WINDOW_ENDS)
def test_approve_a_claim_made_on_the_last_day_of_the_window(cs, claim_type, doa_reason, electronic, window):
    # given goods received exactly one window before the claim was made
    order = order_received(electronic, CLAIM_DAY - relativedelta(**window))
    claim = approvable_claim(
        cs, order, claim_type=claim_type, doa_reason=doa_reason, submitted_at=claim_made_at_noon(CLAIM_DAY)
    )

    services.claim_approve(claim_id=claim.pk, by=cs)

    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.APPROVED


@pytest.mark.parametrize(("claim_type", "doa_reason", "electronic", "window"), WINDOW_ENDS)
def test_approve_a_claim_made_on_the_day_after_the_window_is_refused(cs, claim_type, doa_reason, electronic, window):
    # given goods received one window and one day before the claim was made
    order = order_received(electronic, CLAIM_DAY - relativedelta(**window) - timedelta(days=1))
    claim = approvable_claim(
        cs, order, claim_type=claim_type, doa_reason=doa_reason, submitted_at=claim_made_at_noon(CLAIM_DAY)
    )

    with pytest.raises(services.ApprovalRefused, match="1 day before the claim was made"):
        services.claim_approve(claim_id=claim.pk, by=cs)

    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.REQUESTED


def test_a_claim_is_judged_by_the_policy_version_in_force_when_it_was_made(cs, manager):
    # given a no-reason claim made an hour ago on day 40, under the published 45-day window
    order = order_received(False, days_ago(40))
    claim = approvable_claim(cs, order, submitted_at=timezone.now() - timedelta(hours=1))
    # and a stricter policy version that came into force after it was made
    PolicyVersion.objects.create(effective_from=timezone.now() - timedelta(minutes=30), no_reason_days=30)

    # when it is approved
    services.claim_approve(claim_id=claim.pk, by=cs)

    # then it was judged by the version in force when it was made
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.APPROVED


def test_approve_email_follows_the_no_reason_shipping_setting_of_the_claims_policy_version(cs, order):
    # given a policy version, in force when the claim is made, that reimburses no-reason return shipping
    PolicyVersion.objects.create(
        effective_from=timezone.now() - timedelta(hours=1), no_reason_return_shipping_reimbursed=True
    )
    claim = approvable_claim(cs, order)

    services.claim_approve(claim_id=claim.pk, by=cs)

    body = OutboundEmail.objects.get(claim=claim, template="claim_approved").body_text
    assert "you will get a full refund and the return shipping cost reimbursement" in body


# --- window override (manager) --------------------------------------------------


@pytest.fixture
def late_order():
    """Received 60 days ago: a no-reason claim is 15 days over its 45-day window."""
    order = OrderFactory(customer_email="late@example.com", received_on=days_ago(60))
    OrderLineFactory(order=order)
    return order


def test_a_manager_approves_a_late_claim_with_a_reason(cs, manager, late_order):
    claim = approvable_claim(cs, late_order)

    services.claim_approve(
        claim_id=claim.pk, by=manager, window_override_reason="  Carrier lost the parcel for weeks. "
    )

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert claim.window_override_reason == "Carrier lost the parcel for weeks."
    event = last_event(claim)
    assert event.actor == manager
    assert event.payload == {
        "window_override_reason": "Carrier lost the parcel for weeks.",
        "days_over": 15,
        "rma_number": claim.rma_number,
    }


def test_customer_service_cannot_override_the_window_even_with_a_reason(cs, late_order):
    claim = approvable_claim(cs, late_order)
    before = snapshot(claim)

    with pytest.raises(services.ApprovalRefused, match="Only a manager can approve it"):
        services.claim_approve(claim_id=claim.pk, by=cs, window_override_reason="Nice customer.")

    assert snapshot(claim) == before


def test_a_manager_overriding_the_window_without_a_reason_is_refused(manager, late_order):
    claim = approvable_claim(manager, late_order)
    before = snapshot(claim)

    with pytest.raises(ValidationError) as refused:
        services.claim_approve(claim_id=claim.pk, by=manager, window_override_reason="   ")

    assert "window_override_reason" in refused.value.message_dict
    assert snapshot(claim) == before


def test_a_claim_in_time_records_no_override(manager, order):
    claim = approvable_claim(manager, order)

    services.claim_approve(claim_id=claim.pk, by=manager, window_override_reason="Not needed.")

    claim.refresh_from_db()
    assert claim.window_override_reason == ""
    assert "window_override_reason" not in last_event(claim).payload


# --- returnless approval ----------------------------------------------------------


def test_a_doa_missing_item_claim_can_be_approved_returnless_with_a_reason(cs, order):
    claim = approvable_claim(cs, order, claim_type=ClaimType.DOA, doa_reason=DoaReason.MISSING_ITEM)

    services.claim_approve(
        claim_id=claim.pk, by=cs, returnless_reason=" Nothing to send back: the lens cap never shipped. "
    )

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert claim.is_returnless is True
    assert claim.returnless_reason == "Nothing to send back: the lens cap never shipped."
    assert last_event(claim).payload["returnless_reason"] == "Nothing to send back: the lens cap never shipped."
    body = OutboundEmail.objects.get(claim=claim, template="claim_approved").body_text
    assert "You do not need to send anything back: Nothing to send back: the lens cap never shipped." in body
    assert "RETURN INSTRUCTION" not in body


@pytest.mark.parametrize(
    ("claim_type", "doa_reason"),
    [
        (ClaimType.DOA, DoaReason.WRONG_ITEM),
        (ClaimType.DOA, DoaReason.DAMAGE),
        (ClaimType.DOA, DoaReason.QUALITY_ISSUE),
        (ClaimType.NO_REASON, ""),
        (ClaimType.WARRANTY, ""),
    ],
)
def test_only_a_doa_missing_item_claim_can_be_approved_returnless(cs, order, claim_type, doa_reason):
    claim = approvable_claim(cs, order, claim_type=claim_type, doa_reason=doa_reason)
    before = snapshot(claim)

    with pytest.raises(services.ApprovalRefused, match="Only a DOA claim for a missing item"):
        services.claim_approve(claim_id=claim.pk, by=cs, returnless_reason="Keep it.")

    assert snapshot(claim) == before


# --- transitions the table does not allow, and users without the permission -------


def test_approving_twice_is_an_invalid_transition(cs, order):
    claim = approvable_claim(cs, order)
    services.claim_approve(claim_id=claim.pk, by=cs)
    before = snapshot(claim)

    with pytest.raises(states.InvalidTransition) as refused:
        services.claim_approve(claim_id=claim.pk, by=cs)

    assert str(refused.value) == "This claim is already approved; nothing was changed."
    assert snapshot(claim) == before


def test_approving_a_rejected_claim_is_an_invalid_transition(cs, order):
    claim = approvable_claim(cs, order)
    services.claim_reject(claim_id=claim.pk, by=cs, reason="Used item.")
    before = snapshot(claim)

    with pytest.raises(states.InvalidTransition) as refused:
        services.claim_approve(claim_id=claim.pk, by=cs)

    assert not isinstance(refused.value, services.ApprovalRefused)
    assert str(refused.value) == "A claim that is rejected cannot be approved; only a claim that is requested can."
    assert snapshot(claim) == before


def test_recording_an_answer_nobody_asked_for_is_an_invalid_transition(cs, order):
    claim = new_claim(cs, order)

    with pytest.raises(states.InvalidTransition, match="only a claim that is awaiting customer can"):
        services.claim_record_customer_answer(claim_id=claim.pk, by=cs, answer="Here it is.")


def test_rejecting_an_approved_claim_is_an_invalid_transition(cs, order):
    claim = approvable_claim(cs, order)
    services.claim_approve(claim_id=claim.pk, by=cs)
    before = snapshot(claim)

    with pytest.raises(states.InvalidTransition, match="only a claim that is requested or awaiting customer can"):
        services.claim_reject(claim_id=claim.pk, by=cs, reason="Changed our mind.")

    assert snapshot(claim) == before


@pytest.mark.parametrize("user", ["warehouse_user", "finance_user"])
def test_approve_is_not_permitted_to_warehouse_or_finance(request, cs, order, user):
    claim = approvable_claim(cs, order)
    before = snapshot(claim)

    with pytest.raises(states.NotPermitted, match="You do not have permission to approve claims"):
        services.claim_approve(claim_id=claim.pk, by=request.getfixturevalue(user))

    assert snapshot(claim) == before


@pytest.mark.parametrize(("service", "field"), TEXT_ACTIONS)
def test_triage_actions_are_not_permitted_to_the_warehouse(cs, warehouse_user, order, service, field):
    claim = new_claim(cs, order)
    before = snapshot(claim)

    with pytest.raises(states.NotPermitted):
        service(claim_id=claim.pk, by=warehouse_user, **{field: "Some text."})

    assert snapshot(claim) == before


# --- email_send / email_requeue_stale --------------------------------------------------


def outbound_email(**fields) -> OutboundEmail:
    return OutboundEmail.objects.create(
        template="claim_received",
        to=fields.pop("to", "customer@example.com"),
        subject=fields.pop("subject", "We received your after-sales request"),
        body_text="Hello",
        body_html="<p>Hello</p>",
        **fields,
    )


@pytest.fixture
def unreachable_smtp(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


def test_email_send_sends_a_ready_email_and_marks_it_sent(mailoutbox):
    email = outbound_email()

    services.email_send(email_id=email.pk)

    email.refresh_from_db()
    assert email.status == EmailStatus.SENT
    assert email.sent_at is not None
    assert email.attempts == 1
    assert [(message.to, message.subject, message.body) for message in mailoutbox] == [
        (["customer@example.com"], "We received your after-sales request", "Hello")
    ]
    assert mailoutbox[0].alternatives[0][0] == "<p>Hello</p>"


def test_email_send_does_not_send_a_sent_email_twice(mailoutbox):
    email = outbound_email()
    services.email_send(email_id=email.pk)

    services.email_send(email_id=email.pk)

    email.refresh_from_db()
    assert len(mailoutbox) == 1
    assert email.attempts == 1


def test_email_send_does_not_send_a_failed_email(mailoutbox):
    email = outbound_email(status=EmailStatus.FAILED)

    services.email_send(email_id=email.pk)

    assert mailoutbox == []


def test_email_send_to_an_unreachable_server_records_the_attempt_and_raises(unreachable_smtp):
    email = outbound_email()

    with pytest.raises(OSError):
        services.email_send(email_id=email.pk)

    email.refresh_from_db()
    assert email.status == EmailStatus.READY
    assert email.attempts == 1
    assert "Connection refused" in email.last_error
    assert email.sent_at is None


def test_email_send_counts_each_failed_attempt(unreachable_smtp):
    email = outbound_email()

    for _ in range(3):
        with pytest.raises(OSError):
            services.email_send(email_id=email.pk)

    email.refresh_from_db()
    assert email.attempts == 3
    assert email.status == EmailStatus.READY


def test_email_send_final_attempt_marks_the_email_failed(unreachable_smtp):
    email = outbound_email()

    with pytest.raises(OSError):
        services.email_send(email_id=email.pk, final_attempt=True)

    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED
    assert email.attempts == 1
    assert email.last_error


def test_send_email_task_gives_up_and_leaves_the_email_failed(
    unreachable_smtp, cs, order, django_capture_on_commit_callbacks
):
    # given an SMTP server that refuses every connection, and tasks run eagerly (retries too)
    # when a claim is created and its acknowledgement queued on commit
    with django_capture_on_commit_callbacks(execute=True):
        claim = new_claim(cs, order)

    # then the email is marked failed with the reason, after the task's retries
    email = OutboundEmail.objects.get(claim=claim)
    assert email.status == EmailStatus.FAILED
    assert "Connection refused" in email.last_error
    assert email.attempts == send_email.max_retries + 1


def test_email_requeue_stale_queues_only_stale_ready_emails(settings, mailoutbox):
    # given emails ready for longer than the requeue delay, one ready just now, and old sent/failed ones
    settings.EMAIL_REQUEUE_AFTER_SECONDS = 900
    long_ago = timezone.now() - timedelta(seconds=1000)
    stale = outbound_email(subject="stale")
    outbound_email(subject="fresh")
    sent = outbound_email(subject="sent", status=EmailStatus.SENT)
    failed = outbound_email(subject="failed", status=EmailStatus.FAILED)
    OutboundEmail.objects.filter(pk__in=[stale.pk, sent.pk, failed.pk]).update(updated_at=long_ago)

    # when the sweep runs (the send task runs eagerly)
    queued = services.email_requeue_stale()

    # then only the stale ready email was queued, and sent
    assert queued == 1
    assert [message.subject for message in mailoutbox] == ["stale"]
    statuses = dict(OutboundEmail.objects.values_list("subject", "status"))
    assert statuses == {"stale": "sent", "fresh": "ready", "sent": "sent", "failed": "failed"}


def test_a_claim_on_a_product_of_unknown_category_waits_for_it_to_be_set(cs, order):
    # given a product the store's export gave no category
    product = order.lines.get().product
    product.is_electronic = None
    product.save()

    # when a claim on it is made and approved
    claim = approvable_claim(cs, order)
    with pytest.raises(services.ApprovalRefused) as refused:
        services.claim_approve(claim_id=claim.pk, by=cs)

    # then the claim's category is unknown, and the policy does not judge it until someone sets it
    assert Claim.objects.get(pk=claim.pk).is_electronic is None
    assert f"The category of {product.sku} is not known (electronic or not)" in str(refused.value)
    assert selectors.claim_review(claim).judgement is None


@pytest.mark.parametrize(
    ("categories", "expected"),
    [([False, False], False), ([True, None], True), ([False, None], None), ([None], None)],
)
def test_a_claim_is_electronic_when_any_product_is_and_unknown_while_any_is_unknown(categories, expected):
    assert services.claim_is_electronic(categories) is expected
