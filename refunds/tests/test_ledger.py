"""Money is bounded by the order, not the claim: the per-line ledger across claims, refunds and the store."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core import actors
from core.testing import at_once
from inspections.services import inspection_propose_refund
from refunds import services
from refunds.models import LineKind, Refund, RefundStatus
from refunds.tests.conftest import inspected_claim, returnless_claim
from returns import ledger, selectors
from returns import services as claim_services
from returns.models import ClaimStatus, ClaimType
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, OrderLineFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


def second_claim_on(line, inspector, outcome="full_refund", *, units=1):
    """Another inspected claim on the same order line, written past the entry check (as older data was)."""
    claim = ClaimFactory(order=line.order, claim_type=ClaimType.DOA, doa_reason="damage", status=ClaimStatus.INSPECTED)
    item = ClaimItemFactory(claim=claim, order_line=line, quantity=units)
    from inspections.models import Inspection

    Inspection.objects.create(
        claim_item=item, inspector=inspector, outcome=outcome, proposed_outcome=outcome, completed_at=timezone.now()
    )
    return claim


def paid(refund, finance):
    """Approve, execute (manual provider) and record the payment: the money left."""
    services.refund_approve(refund_id=refund.pk, by=finance)
    services.refund_execute(refund_id=refund.pk)
    return services.refund_record_manual_payment(refund_id=refund.pk, by=finance, provider_reference="BANK-1")


def test_a_refunded_line_cannot_be_claimed_again(inspector, finance, cs):
    # given a line refunded in full under one claim
    claim = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    line = claim.items.get().order_line
    paid(inspection_propose_refund(claim_id=claim.pk, by=inspector), finance)
    claim.refresh_from_db()
    line.order.received_on = timezone.localdate()
    line.order.save()

    # when the customer claims the same unit again
    with pytest.raises(claim_services.UnitsTaken) as refused:
        claim_services.claim_create(
            order=line.order, claim_type=ClaimType.NO_REASON, description="Again", order_line_ids=[line.pk], by=cs
        )

    # then it is refused, saying where and when it was refunded
    today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    assert refused.value.by_line[line.pk] == [
        f"{line.product.sku}: 1 unit(s) asked, 0 of 1 free.",
        f"{line.product.sku} × 1 refunded under {claim.rma_number} on {today:%d %b %Y}: 49.90 USD.",
    ]


def test_a_refunded_claims_own_refund_is_not_elsewhere_but_another_claim_on_the_line_sees_it(inspector, finance):
    # given a claim refunded in full
    first = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    line = first.items.get().order_line
    paid(inspection_propose_refund(claim_id=first.pk, by=inspector), finance)
    first.refresh_from_db()
    assert first.status == ClaimStatus.REFUNDED

    # then its review and page say nothing of "its units refunded" (its own refund is not elsewhere)
    assert selectors.units_taken_elsewhere(first) == []
    assert selectors.ledger_notes(first) == []
    assert not any("refunded" in problem for problem in selectors.claim_review(first).problems)

    # while another claim on the line is told where the unit went
    second = second_claim_on(line, inspector)
    today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    refunded = f"{line.product.sku} × 1 refunded under {first.rma_number} on {today:%d %b %Y}: 49.90 USD."
    assert selectors.ledger_notes(second) == [refunded]
    assert refunded in selectors.units_taken_elsewhere(second)


def test_a_second_refund_on_a_line_already_paid_back_is_refused_at_approval(inspector, finance):
    # given two claims on one line, the first refunded
    first = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    line = first.items.get().order_line
    second = second_claim_on(line, inspector)
    paid(inspection_propose_refund(claim_id=first.pk, by=inspector), finance)

    # when the second claim's refund is proposed and approved
    refund = inspection_propose_refund(claim_id=second.pk, by=inspector)

    # then nothing is proposed (nothing is still owed on the line)
    assert refund is None
    assert not Refund.objects.filter(claim=second).exists()


def test_approval_refuses_a_refund_that_takes_a_line_above_what_was_paid(inspector, finance):
    # given two proposed refunds on one line of 49.90, proposed before either was approved
    first = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    line = first.items.get().order_line
    second = second_claim_on(line, inspector)
    one = inspection_propose_refund(claim_id=first.pk, by=inspector)
    two = inspection_propose_refund(claim_id=second.pk, by=inspector)
    services.refund_approve(refund_id=one.pk, by=finance)

    # when the second is approved
    with pytest.raises(ValidationError) as refused:
        services.refund_approve(refund_id=two.pk, by=finance)

    # then it is refused in words, and stays proposed
    assert refused.value.messages == [
        f"{line.product.sku}: 49.90 USD would be paid back, but only 0.00 USD of the 49.90 USD paid is still owed. "
        f"{line.product.sku} × 1 refunded under {first.rma_number} (not sent yet): 49.90 USD."
    ]
    assert Refund.objects.get(pk=two.pk).status == RefundStatus.PROPOSED


@pytest.mark.django_db(transaction=True)
def test_two_claims_on_one_line_refunded_at_once_pay_it_once(inspector, finance, django_user_model):
    # given two claims on the same line, each with its refund proposed
    from refunds.tests.conftest import finance_user

    other_finance = finance_user(django_user_model, "payer-b")
    first = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    line = first.items.get().order_line
    second = second_claim_on(line, inspector)
    one = inspection_propose_refund(claim_id=first.pk, by=inspector)
    two = inspection_propose_refund(claim_id=second.pk, by=inspector)

    # when two finance users approve them at the same moment
    results = at_once(
        lambda: services.refund_approve(refund_id=one.pk, by=finance),
        lambda: services.refund_approve(refund_id=two.pk, by=other_finance),
    )

    # then one is approved and the other refused with a message; the line is paid back once
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    (error,) = [value for kind, value in results if kind == "error"]
    assert isinstance(error, ValidationError)
    assert "is still owed" in error.messages[0]
    statuses = sorted(Refund.objects.filter(pk__in=[one.pk, two.pk]).values_list("status", flat=True))
    # the approved one went on to its (manual) execution at once
    assert statuses == [RefundStatus.PROCESSING, RefundStatus.PROPOSED]
    assert ledger.for_lines([line.pk])[line.pk].paid_back == Decimal("49.90")


def test_units_of_one_line_refunded_under_two_claims_each_get_their_share(inspector, finance, cs):
    # given a line of three units at 20.00, one refunded under a first claim
    first = inspected_claim(inspector, ["full_refund"], unit_price="20.00", quantity=3)
    item = first.items.get()
    item.quantity = 1
    item.save()
    line = item.order_line
    paid(inspection_propose_refund(claim_id=first.pk, by=inspector), finance)

    # when a second claim takes the two others and is refunded
    second = second_claim_on(line, inspector, units=2)
    refund = paid(inspection_propose_refund(claim_id=second.pk, by=inspector), finance)

    # then it pays 40.00, the line is paid back in full, and nothing is free any more
    assert refund.total == Decimal("40.00")
    line_ledger = ledger.for_lines([line.pk])[line.pk]
    assert (line_ledger.refunded_units, line_ledger.paid_back, line_ledger.refundable) == (3, Decimal("60.00"), 0)
    assert line_ledger.free_units == 0


def test_the_stores_own_refund_counts_and_the_proposal_says_so(inspector):
    # given the store refunded 30.00 of a 49.90 line itself
    claim = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    line = claim.items.get().order_line
    line.store_refunded_amount = Decimal("30.00")
    line.save()

    # when the inspection's refund is proposed
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)

    # then only what is still owed is proposed, and the proposal says which line was short
    assert refund.lines.get(kind=LineKind.GOODS).amount == Decimal("19.90")
    assert refund.events.get(action="propose").payload["already_paid_back"] == [line.product.sku]


def test_a_cancelled_order_is_not_refundable_again():
    claim = returnless_claim(unit_price="49.90")
    order = claim.order
    order.cancelled_at = timezone.now()
    order.save()

    with pytest.raises(ValidationError, match=r"Nothing is still owed on these items\..*cancelled by the store"):
        services.refund_propose_returnless(claim_id=claim.pk, by=actors.SYSTEM)
    assert not Refund.objects.filter(claim=claim).exists()


def test_deductions_reduce_what_the_line_has_been_paid_back(inspector, finance):
    claim = inspected_claim(
        inspector,
        ["reduced_refund"],
        unit_price="100.00",
        deduction_amount=Decimal("25.00"),
        deduction_reason="Installation marks",
    )
    line = claim.items.get().order_line
    paid(inspection_propose_refund(claim_id=claim.pk, by=inspector), finance)

    line_ledger = ledger.for_lines([line.pk])[line.pk]
    assert (line_ledger.paid_back, line_ledger.refundable) == (Decimal("75.00"), Decimal("25.00"))


def test_a_cancelled_refund_leaves_the_ledger(inspector, finance):
    claim = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    line = claim.items.get().order_line
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    services.refund_approve(refund_id=refund.pk, by=finance)
    services.refund_execute(refund_id=refund.pk)  # manual: processing, waiting for the reference
    assert ledger.for_lines([line.pk])[line.pk].paid_back == Decimal("49.90")

    services.refund_cancel(refund_id=refund.pk, by=finance, reason="Paid by the store instead.")

    assert ledger.for_lines([line.pk])[line.pk].paid_back == 0


def test_the_stores_refund_of_the_whole_order_caps_every_line(inspector, finance):
    """The store's export says how much of the order it refunded, not of which line: no line may take more than
    the order still owes."""
    # given an order of two lines of 50.00, of which the store refunded 60.00 without saying which
    first = inspected_claim(inspector, ["full_refund"], unit_price="50.00")
    order = first.order
    second_line = OrderLineFactory(order=order, unit_price=Decimal("50.00"), currency="USD")
    order.store_refunded_total = Decimal("60.00")
    order.save()

    # when the first claim's refund is proposed, and another claim on the second line later
    refund = inspection_propose_refund(claim_id=first.pk, by=inspector)
    paid(refund, finance)
    second = second_claim_on(second_line, inspector)

    # then the first gets the 40.00 the order still owed, the second nothing
    assert refund.total == Decimal("40.00")
    assert inspection_propose_refund(claim_id=second.pk, by=inspector) is None
    notes = ledger.for_lines([second_line.pk])[second_line.pk].notes()
    assert f"The store refunded 60.00 USD of order {order.number} in all." in notes
