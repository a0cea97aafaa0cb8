"""The customer (``actors.CUSTOMER``, on their own pages once a signed link proved who they are) acting
through the claim services, beside the staff path each service already had."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile

from core import actors
from returns import services, states
from returns.models import ClaimStatus, ClaimType, DoaReason, OutboundEmail, ReceivedDateSource
from returns.tests.factories import OrderLineFactory
from shipments.tests.conftest import photo

pytestmark = pytest.mark.django_db
CUSTOMER = actors.CUSTOMER


def new_claim(by, *, order=None, claim_type=ClaimType.NO_REASON, doa_reason="", language=""):
    line = OrderLineFactory(order=order) if order else OrderLineFactory()
    return services.claim_create(
        order=line.order,
        claim_type=claim_type,
        doa_reason=doa_reason,
        description="Does not fit.",
        units={line.pk: 1},
        by=by,
        language=language,
    )


def approvable(by, **kwargs):
    claim = new_claim(by, **kwargs)
    services.evidence_add(claim_id=claim.pk, by=by, upload=photo("box.jpg"), shows_whole_package=True)
    return claim


def test_customer_creates_a_claim_in_their_language(cs):
    claim = new_claim(CUSTOMER, language="en")

    assert (claim.created_by, claim.language, claim.status) == (None, "en", ClaimStatus.REQUESTED)
    event = claim.events.get(action="create")
    assert (event.actor_kind, event.actor) == (actors.ActorKind.CUSTOMER, None)
    assert OutboundEmail.objects.get(claim=claim).template == "claim_received"


def test_staff_without_the_permission_still_cannot_create_claims(warehouse_user):
    with pytest.raises(PermissionDenied):
        new_claim(warehouse_user)


def test_customer_adds_photos_only_before_the_decision(cs):
    claim = approvable(CUSTOMER)
    assert claim.evidence.get().uploaded_by is None
    services.claim_approve(claim_id=claim.pk, by=cs)

    with pytest.raises(states.InvalidTransition, match="only before it is decided"):
        services.evidence_add(claim_id=claim.pk, by=CUSTOMER, upload=photo("late.jpg"))
    services.evidence_add(claim_id=claim.pk, by=cs, upload=photo("from-email.jpg"))  # staff still may

    assert claim.evidence.count() == 2


def test_customer_answers_and_the_clock_starts_again(cs):
    claim = new_claim(CUSTOMER)
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Serial number?")

    services.claim_record_customer_answer(claim_id=claim.pk, by=CUSTOMER, answer="SN-42")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED and claim.first_response_due_at is not None
    assert claim.events.get(action="record_customer_answer").actor_kind == actors.ActorKind.CUSTOMER


@pytest.mark.parametrize("approve", [False, True])
def test_customer_cancels_while_nothing_was_shipped(cs, approve):
    claim = approvable(CUSTOMER)
    if approve:
        services.claim_approve(claim_id=claim.pk, by=cs)

    services.claim_cancel(claim_id=claim.pk, by=CUSTOMER, reason="Changed my mind.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CANCELLED


def test_customer_cannot_cancel_a_shipped_claim_but_staff_can(cs):
    claim = approvable(CUSTOMER)
    services.claim_approve(claim_id=claim.pk, by=cs)
    services.claim_mark_shipped(claim_id=claim.pk, by=CUSTOMER, details={"tracking_number": "1Z"})

    with pytest.raises(states.NotPermitted, match="Only staff"):
        services.claim_cancel(claim_id=claim.pk, by=CUSTOMER, reason="Too late.")
    services.claim_cancel(claim_id=claim.pk, by=cs, reason="Parcel lost, customer keeps nothing.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CANCELLED


def test_customer_cannot_cancel_a_returnless_approval(cs):
    claim = approvable(CUSTOMER, claim_type=ClaimType.DOA, doa_reason=DoaReason.MISSING_ITEM)
    services.claim_approve(claim_id=claim.pk, by=cs, returnless_reason="Nothing to send back.")

    with pytest.raises(states.NotPermitted, match="refund is on its way"):
        services.claim_cancel(claim_id=claim.pk, by=CUSTOMER, reason="Found it.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED


def test_customer_may_not_take_staff_moves(cs):
    claim = approvable(CUSTOMER)

    for call in (
        lambda: services.claim_approve(claim_id=claim.pk, by=CUSTOMER),
        lambda: services.claim_reject(claim_id=claim.pk, by=CUSTOMER, reason="x"),
        lambda: services.claim_ask_for_information(claim_id=claim.pk, by=CUSTOMER, message="x"),
        lambda: services.claim_resolve(claim_id=claim.pk, by=CUSTOMER, note="x"),
    ):
        with pytest.raises(states.NotPermitted):
            call()


def proof() -> SimpleUploadedFile:
    return photo("delivered.jpg")


def test_customer_states_an_unknown_received_date_with_its_proof(cs):
    claim = new_claim(CUSTOMER, order=OrderLineFactory(order__received_on=None).order)
    order = claim.order
    day = claim.submitted_at.date()

    services.order_set_received_on(
        order_id=order.pk, by=CUSTOMER, received_on=day, source=ReceivedDateSource.CUSTOMER_PROOF, reason="Proof #1"
    )

    order.refresh_from_db()
    assert (order.received_on, order.received_on_source) == (day, ReceivedDateSource.CUSTOMER_PROOF)
    assert order.events.get().actor_kind == actors.ActorKind.CUSTOMER


def test_customer_cannot_change_a_known_received_date_nor_state_it_without_proof(cs):
    known = OrderLineFactory().order
    unknown = OrderLineFactory(order__received_on=None).order

    with pytest.raises(PermissionDenied, match="already recorded"):
        services.order_set_received_on(
            order_id=known.pk,
            by=CUSTOMER,
            received_on=known.received_on - timedelta(days=1),
            source=ReceivedDateSource.CUSTOMER_PROOF,
            reason="x",
        )
    with pytest.raises(PermissionDenied, match="with a proof"):
        services.order_set_received_on(
            order_id=unknown.pk, by=CUSTOMER, received_on=known.received_on, source=ReceivedDateSource.STAFF, reason="x"
        )
