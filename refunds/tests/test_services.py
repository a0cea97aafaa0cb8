"""The refund services on PostgreSQL: proposals, the money rule, approvals, execution, sweeps."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backoffice.tasks import propose_missing_refunds
from core import actors
from inspections.services import inspection_propose_refund
from refunds import services, states
from refunds.models import LineKind, Provider, Refund, RefundEvent, RefundPurpose, RefundStatus
from refunds.services import LineChange
from refunds.tests.conftest import inspected_claim, returnless_claim
from returns import services as claim_services
from returns import states as claim_states
from returns.models import Claim, ClaimEvent, ClaimStatus, DoaReason, EmailStatus, OutboundEmail
from returns.tests.factories import ROLES, ClaimFactory, staff_user

pytestmark = pytest.mark.django_db


def kinds(refund):
    return [(line.kind, line.amount) for line in refund.lines.order_by("pk")]


# --- Proposals -------------------------------------------------------------------------


def test_full_refund_with_shipping_proposes_goods_and_a_shipping_line_to_enter(inspector):
    claim = inspected_claim(inspector, ["full_refund_with_shipping"], unit_price="49.90", quantity=2)

    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)

    assert kinds(refund) == [(LineKind.GOODS, Decimal("99.800")), (LineKind.RETURN_SHIPPING, Decimal("0.000"))]
    shipping = refund.lines.get(kind=LineKind.RETURN_SHIPPING)
    assert shipping.amount_to_enter and "customer's receipt" in shipping.description
    assert refund.total == Decimal("99.80") and refund.currency == "USD" and refund.status == RefundStatus.PROPOSED


def test_full_refund_proposes_the_goods_at_the_paid_amount(inspector):
    claim = inspected_claim(inspector, ["full_refund", "full_refund"], unit_price="10.005")

    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)

    assert kinds(refund) == [(LineKind.GOODS, Decimal("10.010")), (LineKind.GOODS, Decimal("10.010"))]  # half up
    assert refund.total == Decimal("20.02")


def test_reduced_refund_deducts_the_inspections_amount_with_its_reason(inspector):
    claim = inspected_claim(
        inspector, ["reduced_refund"], unit_price="80.00", deduction_amount=Decimal("15"), deduction_reason="Scratched"
    )

    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)

    assert kinds(refund) == [(LineKind.GOODS, Decimal("80.000")), (LineKind.DEDUCTION, Decimal("15.000"))]
    assert refund.lines.get(kind=LineKind.DEDUCTION).reason == "Scratched"
    assert refund.total == Decimal("65.00")


def test_reduced_refund_deducts_a_percent_of_the_goods(inspector):
    claim = inspected_claim(inspector, ["reduced_refund"], unit_price="33.33", deduction_percent=Decimal("15"))

    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)

    assert refund.lines.get(kind=LineKind.DEDUCTION).amount == Decimal("5.00")  # 4.9995 rounded half up
    assert refund.total == Decimal("28.33")


@pytest.mark.parametrize("outcome", ["replacement", "return_to_customer"])
def test_replacement_and_return_to_customer_propose_no_refund(inspector, outcome):
    claim = inspected_claim(inspector, [outcome])

    assert inspection_propose_refund(claim_id=claim.pk, by=inspector) is None
    assert not Refund.objects.exists()


def test_proposing_twice_returns_the_same_refund(inspector):
    claim = inspected_claim(inspector, ["full_refund"])

    first = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    second = inspection_propose_refund(claim_id=claim.pk, by=actors.SYSTEM)

    assert first.pk == second.pk and Refund.objects.count() == 1


def test_one_refund_per_claim_and_purpose_in_the_database(inspector):
    claim = inspected_claim(inspector, ["full_refund"])
    inspection_propose_refund(claim_id=claim.pk, by=inspector)

    with pytest.raises(IntegrityError), transaction.atomic():
        Refund.objects.create(claim=claim, purpose=RefundPurpose.INSPECTION, currency="USD")


def test_returnless_claim_gets_its_goods_refunded_without_shipping():
    claim = returnless_claim(unit_price="19.99", quantity=3)

    refund = services.refund_propose_returnless(claim_id=claim.pk, by=actors.SYSTEM)

    assert kinds(refund) == [(LineKind.GOODS, Decimal("59.970"))]
    assert refund.purpose == RefundPurpose.RETURNLESS


def approved_with_a_return():
    """A missing item approved with a return to send (not returnless): its refund waits for the inspection."""
    claim = returnless_claim()
    Claim.objects.filter(pk=claim.pk).update(is_returnless=False, returnless_reason="")
    claim.refresh_from_db()
    assert (claim.status, claim.doa_reason, claim.is_returnless) == (
        ClaimStatus.APPROVED,
        DoaReason.MISSING_ITEM,
        False,
    )
    return claim


def test_an_approved_claim_with_a_return_gets_no_returnless_refund():
    claim = approved_with_a_return()

    with pytest.raises(states.InvalidTransition, match="is not an approved returnless claim for a missing item"):
        services.refund_propose_returnless(claim_id=claim.pk, by=actors.SYSTEM)

    assert not Refund.objects.filter(claim=claim).exists()
    assert not RefundEvent.objects.filter(refund__claim=claim).exists()


def test_an_approved_claim_with_a_return_cannot_be_marked_refunded():
    claim = approved_with_a_return()

    with pytest.raises(
        claim_states.InvalidTransition, match="Only a returnless claim is refunded before its parcel is inspected"
    ):
        claim_services.claim_mark_refunded(claim_id=claim.pk, details={"refund_id": 1})

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert not ClaimEvent.objects.filter(claim=claim, action="refund").exists()


def test_the_backstop_proposes_refunds_for_returnless_and_inspected_claims_as_the_system(inspector):
    returnless = returnless_claim()
    inspected = inspected_claim(inspector, ["full_refund"])
    replaced = inspected_claim(inspector, ["replacement"])

    assert propose_missing_refunds() == 2
    assert propose_missing_refunds() == 0

    assert set(Refund.objects.values_list("claim_id", flat=True)) == {returnless.pk, inspected.pk}
    assert not Refund.objects.filter(claim=replaced).exists()
    assert set(RefundEvent.objects.filter(action="propose").values_list("actor_kind", flat=True)) == {"system"}


def test_provider_is_manual_when_the_order_has_no_payment_reference(inspector, stripe_settings):
    with_reference = inspected_claim(inspector, ["full_refund"], payment_reference="pi_123")
    without = inspected_claim(inspector, ["full_refund"])

    assert inspection_propose_refund(claim_id=with_reference.pk, by=actors.SYSTEM).provider == Provider.STRIPE
    assert inspection_propose_refund(claim_id=without.pk, by=actors.SYSTEM).provider == Provider.MANUAL


# --- The money rule and adjustments -------------------------------------------------------


def proposed(inspector, outcomes=("full_refund",), **kwargs):
    claim = inspected_claim(inspector, list(outcomes), **kwargs)
    return inspection_propose_refund(claim_id=claim.pk, by=inspector)


def test_finance_enters_the_shipping_from_the_receipt_with_a_reason(inspector, finance):
    refund = proposed(inspector, ["full_refund_with_shipping"], unit_price="49.90")
    shipping = refund.lines.get(kind=LineKind.RETURN_SHIPPING)

    refund = services.refund_adjust_lines(
        refund_id=refund.pk,
        by=finance,
        changes=[LineChange(line_id=shipping.pk, amount=Decimal("8.50"))],
        reason="DHL receipt attached to the customer's email",
    )

    assert refund.total == Decimal("58.40")
    shipping.refresh_from_db()
    assert shipping.amount == Decimal("8.50") and not shipping.amount_to_enter
    event = refund.events.get(action="adjust")
    assert event.actor == finance and event.payload["reason"].startswith("DHL receipt")
    assert event.payload["total_from"] == "49.900" and event.payload["total_to"] == "58.400"
    assert str(event.describe()) == (
        "Refund adjusted: return shipping 0.00 → 8.50 USD; total 49.90 → 58.40 USD. "
        "Reason: DHL receipt attached to the customer&#x27;s email."
    )


def test_an_adjustment_needs_a_reason(inspector, finance):
    refund = proposed(inspector)
    line = refund.lines.get()

    with pytest.raises(ValidationError, match="why"):
        services.refund_adjust_lines(
            refund_id=refund.pk, by=finance, changes=[LineChange(line_id=line.pk, amount=1)], reason=" "
        )


def test_goods_can_never_be_refunded_above_what_was_paid(inspector, finance):
    refund = proposed(inspector, unit_price="49.90")
    line = refund.lines.get()

    with pytest.raises(ValidationError, match="more than the customer paid"):
        services.refund_adjust_lines(
            refund_id=refund.pk,
            by=finance,
            changes=[LineChange(line_id=line.pk, amount=Decimal("49.91"))],
            reason="typo",
        )
    refund.refresh_from_db()
    assert refund.total == Decimal("49.90")


def test_the_total_never_exceeds_paid_plus_shipping_and_stays_above_zero(inspector, finance):
    refund = proposed(inspector, unit_price="20.00")

    with pytest.raises(ValidationError, match="above zero"):
        services.refund_adjust_lines(
            refund_id=refund.pk,
            by=finance,
            changes=[LineChange(kind=LineKind.DEDUCTION, description="Missing strap", amount=Decimal("20.00"))],
            reason="strap missing",
        )
    refund = proposed(inspector, ["full_refund_with_shipping"], unit_price="20.00")
    shipping = refund.lines.get(kind=LineKind.RETURN_SHIPPING)
    refund = services.refund_adjust_lines(
        refund_id=refund.pk,
        by=finance,
        changes=[LineChange(line_id=shipping.pk, amount=Decimal("6.00"))],
        reason="receipt",
    )
    assert refund.total == Decimal("26.00")  # 20 paid + 6 shipping, and no more


def test_more_decimals_than_the_currency_has_are_refused(inspector, finance):
    refund = proposed(inspector, currency="JPY", unit_price="1500")
    line = refund.lines.get()

    with pytest.raises(ValidationError, match="decimals"):
        services.refund_adjust_lines(
            refund_id=refund.pk, by=finance, changes=[LineChange(line_id=line.pk, amount=Decimal("1499.5"))], reason="x"
        )


def test_lines_cannot_be_adjusted_after_approval(inspector, finance):
    refund = proposed(inspector)
    services.refund_approve(refund_id=refund.pk, by=finance)

    with pytest.raises(states.InvalidTransition, match="cannot be adjusted"):
        services.refund_adjust_lines(
            refund_id=refund.pk, by=finance, changes=[LineChange(line_id=refund.lines.get().pk, amount=1)], reason="x"
        )


# --- Approvals --------------------------------------------------------------------------------


def test_a_refund_waiting_for_the_shipping_amount_cannot_be_approved(inspector, finance):
    refund = proposed(inspector, ["full_refund_with_shipping"])

    with pytest.raises(ValidationError, match="Enter the amount"):
        services.refund_approve(refund_id=refund.pk, by=finance)


def test_at_or_below_the_threshold_one_finance_approval_sends_it(inspector, finance, settings):
    settings.REFUND_SECOND_APPROVAL_ABOVE = {"USD": Decimal("49.90")}
    refund = proposed(inspector, unit_price="49.90")

    refund = services.refund_approve(refund_id=refund.pk, by=finance)

    assert (
        refund.status == RefundStatus.APPROVED and refund.approved_by == finance and refund.second_approved_by is None
    )


def test_above_the_threshold_a_second_different_finance_user_must_approve(inspector, finance, finance2, settings):
    settings.REFUND_SECOND_APPROVAL_ABOVE = {"USD": Decimal("49.89")}
    refund = proposed(inspector, unit_price="49.90")

    refund = services.refund_approve(refund_id=refund.pk, by=finance)
    assert refund.status == RefundStatus.AWAITING_SECOND_APPROVAL

    with pytest.raises(states.InvalidTransition, match="second, different finance user"):
        services.refund_approve(refund_id=refund.pk, by=finance)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.AWAITING_SECOND_APPROVAL

    refund = services.refund_approve(refund_id=refund.pk, by=finance2)
    assert refund.status == RefundStatus.APPROVED
    assert (refund.approved_by, refund.second_approved_by) == (finance, finance2)
    assert list(refund.events.values_list("action", flat=True)) == ["propose", "approve_first_of_two", "second_approve"]


def test_a_currency_without_a_threshold_always_needs_two_approvals(inspector, finance, settings):
    settings.REFUND_SECOND_APPROVAL_ABOVE = {"EUR": Decimal("500")}
    refund = proposed(inspector, unit_price="1.00")

    assert services.refund_approve(refund_id=refund.pk, by=finance).status == RefundStatus.AWAITING_SECOND_APPROVAL


def test_the_database_refuses_one_user_as_both_approvers(inspector, finance):
    refund = proposed(inspector)

    with pytest.raises(IntegrityError), transaction.atomic():
        Refund.objects.filter(pk=refund.pk).update(approved_by=finance, second_approved_by=finance)


def test_approving_an_approved_refund_again_changes_nothing(inspector, finance):
    refund = proposed(inspector)
    services.refund_approve(refund_id=refund.pk, by=finance)

    with pytest.raises(states.InvalidTransition, match="This refund is already approved, not sent yet; nothing was"):
        services.refund_approve(refund_id=refund.pk, by=finance)
    assert refund.events.filter(action="approve").count() == 1


@pytest.mark.parametrize("role", ["cs", "warehouse", "manager"])
def test_customer_service_warehouse_and_managers_cannot_approve_refunds(inspector, django_user_model, role):
    refund = proposed(inspector)
    user = staff_user(django_user_model, f"someone-{role}", ROLES[role])

    with pytest.raises(states.NotPermitted):
        services.refund_approve(refund_id=refund.pk, by=user)
    with pytest.raises(states.NotPermitted):
        services.refund_adjust_lines(
            refund_id=refund.pk, by=user, changes=[LineChange(line_id=refund.lines.get().pk, amount=1)], reason="x"
        )


def test_finance_cannot_change_claims_or_inspections(finance):
    claim = ClaimFactory()  # requested: customer service could reject it

    with pytest.raises(claim_states.NotPermitted):
        claim_services.claim_reject(claim_id=claim.pk, by=finance, reason="no")
    assert not any(
        finance.has_perm(p)
        for p in (
            "returns.triage_claim",
            "returns.change_claim",
            "inspections.change_inspection",
            "inspections.complete_inspection",
            "inspections.add_inspection",
        )
    )


# --- Execution: manual --------------------------------------------------------------------------


def test_manual_refund_waits_for_finance_to_enter_the_reference(inspector, finance, django_capture_on_commit_callbacks):
    refund = proposed(inspector)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, by=finance)  # eager: the task runs on commit
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING and refund.provider == Provider.MANUAL
    assert refund.processing_started_at is None  # no attempt holds it: the sweep leaves it alone

    with django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_record_manual_payment(refund_id=refund.pk, by=finance, provider_reference="BANK-77812")

    assert refund.status == RefundStatus.SUCCEEDED and refund.provider_reference == "BANK-77812"
    claim = refund.claim
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REFUNDED
    # finance recorded the payment (the refund's event); the claim followed as the system
    assert refund.events.get(action="record_manual_payment").actor == finance
    event = ClaimEvent.objects.get(claim=claim, action="refund")
    assert (event.actor, event.actor_kind) == (None, "system")
    email = OutboundEmail.objects.get(claim=claim, template="refund_sent")
    assert "49.90 USD" in email.body_text
    assert "BANK-77812" not in email.body_text + email.body_html  # finance's reference stays in the back-office
    assert email.subject == f"Your refund was sent ({claim.rma_number})"


def test_a_manual_payment_reference_is_required(inspector, finance, django_capture_on_commit_callbacks):
    refund = proposed(inspector)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, by=finance)

    with pytest.raises(ValidationError):
        services.refund_record_manual_payment(refund_id=refund.pk, by=finance, provider_reference="  ")


# --- Execution: Stripe through the fake ----------------------------------------------------------


def stripe_refund(inspector, fake, unit_price="49.90", outcomes=("full_refund",)):
    pi = fake.add_payment_intent(100_000, "usd")
    refund = proposed(inspector, outcomes, unit_price=unit_price, payment_reference=pi)
    assert refund.provider == Provider.STRIPE
    return refund, pi


def approve_without_running(refund, finance):
    """Approve; the execution task queued on commit is dropped (this test runs it itself)."""
    services.refund_approve(refund_id=refund.pk, by=finance)


def test_stripe_refund_succeeds_the_claim_is_refunded_and_the_customer_emailed(
    inspector, finance, stripe_settings, stripe_fake, django_capture_on_commit_callbacks
):
    refund, _ = stripe_refund(inspector, stripe_fake)

    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, by=finance)

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.provider_reference.startswith("re_")
    assert stripe_fake.refunds[0]["amount"] == 4990
    assert stripe_fake.requests_to("POST", "/v1/refunds")[0]["key"] == refund.idempotency_key
    refund.claim.refresh_from_db()
    assert refund.claim.status == ClaimStatus.REFUNDED
    assert OutboundEmail.objects.filter(claim=refund.claim, template="refund_sent").count() == 1


def test_executing_twice_pays_once(inspector, finance, stripe_settings, stripe_fake):
    refund, pi = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)

    assert services.refund_execute(refund_id=refund.pk) == "succeeded"
    assert services.refund_execute(refund_id=refund.pk) == "skipped"
    assert stripe_fake.refunds_created(pi) == 1 and len(stripe_fake.requests_to("POST", "/v1/refunds")) == 1


def test_an_attempt_in_flight_is_left_alone_and_an_expired_one_is_resumed_with_the_same_key(
    inspector, finance, stripe_settings, stripe_fake
):
    refund, pi = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    # A worker took the attempt and died before the provider answered.
    Refund.objects.filter(pk=refund.pk).update(
        status=RefundStatus.PROCESSING, attempts=1, processing_started_at=timezone.now()
    )

    assert services.refund_execute(refund_id=refund.pk) == "in_flight"
    Refund.objects.filter(pk=refund.pk).update(
        processing_started_at=timezone.now() - timedelta(seconds=stripe_settings.REFUND_ATTEMPT_LEASE_SECONDS + 1)
    )
    assert services.refund_execute(refund_id=refund.pk) == "succeeded"

    refund.refresh_from_db()
    assert refund.attempts == 2 and refund.events.filter(action="resume").count() == 1
    assert stripe_fake.refunds_created(pi) == 1


def test_a_provider_fault_keeps_it_processing_then_the_last_attempt_fails_it_with_the_reason(
    inspector, finance, stripe_settings, stripe_fake
):
    refund, pi = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    stripe_fake.fail_before(10, 500)

    with pytest.raises(services.ProviderUnavailable):
        services.refund_execute(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING and "500" in refund.last_error
    assert refund.processing_started_at is None  # the task's retry may take it at once

    assert services.refund_execute(refund_id=refund.pk, final_attempt=True) == "failed"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert refund.failure_reason.startswith("Stripe answered 500 api_error")
    assert stripe_fake.refunds_created(pi) == 0


def test_a_refund_stripe_reports_failed_fails_with_stripes_failure_reason(
    inspector, finance, stripe_settings, stripe_fake
):
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    stripe_fake.refund_status, stripe_fake.failure_reason = "failed", "expired_or_canceled_card"

    assert services.refund_execute(refund_id=refund.pk) == "failed"

    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED and "expired_or_canceled_card" in refund.failure_reason
    refund.claim.refresh_from_db()
    assert refund.claim.status == ClaimStatus.INSPECTED


def test_a_person_retries_a_failed_refund_in_a_new_round(inspector, finance, stripe_settings, stripe_fake):
    refund, pi = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    stripe_fake.refund_status = "failed"
    services.refund_execute(refund_id=refund.pk)
    first_key = Refund.objects.get(pk=refund.pk).idempotency_key
    stripe_fake.refund_status = "succeeded"

    with pytest.raises(ValidationError):
        services.refund_retry(refund_id=refund.pk, by=finance, reason="")
    refund = services.refund_retry(refund_id=refund.pk, by=finance, reason="Customer's card replaced")
    assert refund.status == RefundStatus.APPROVED and refund.idempotency_key != first_key
    assert services.refund_execute(refund_id=refund.pk) == "succeeded"
    assert stripe_fake.refunds_created(pi) == 1


def test_a_retry_after_a_500_that_hid_a_refund_does_not_pay_twice(inspector, finance, stripe_settings, stripe_fake):
    refund, pi = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    stripe_fake.create_then_fail(1)  # Stripe refunded, then answered 500 (saved, replayed to this key)
    services.refund_execute(refund_id=refund.pk, final_attempt=True)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED

    services.refund_retry(refund_id=refund.pk, by=finance, reason="Stripe had an incident")
    assert services.refund_execute(refund_id=refund.pk) == "succeeded"

    refund.refresh_from_db()
    assert refund.provider_reference == stripe_fake.refunds[0]["id"]
    assert stripe_fake.refunds_created(pi) == 1


def test_cancel_needs_a_reason_and_finance(inspector, finance, django_user_model):
    refund = proposed(inspector)
    agent = staff_user(django_user_model, "agent", ROLES["cs"])

    with pytest.raises(states.NotPermitted):
        services.refund_cancel(refund_id=refund.pk, by=agent, reason="no")
    refund = services.refund_cancel(refund_id=refund.pk, by=finance, reason="Customer kept the goods")
    assert refund.status == RefundStatus.CANCELLED


def test_a_manual_refund_waiting_for_its_reference_can_be_cancelled(
    inspector, finance, django_capture_on_commit_callbacks
):
    # given a manual refund approved and processing: it waits for finance to pay it and enter the reference
    refund = proposed(inspector)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, by=finance)
    refund.refresh_from_db()
    assert (refund.status, refund.provider) == (RefundStatus.PROCESSING, Provider.MANUAL)

    # when finance cancels it
    refund = services.refund_cancel(refund_id=refund.pk, by=finance, reason="Customer kept the goods")

    # then it is cancelled, with the reason in its event, and the claim is not refunded
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.CANCELLED
    event = RefundEvent.objects.get(refund=refund, action="cancel")
    assert (event.actor, event.payload["reason"]) == (finance, "Customer kept the goods")
    refund.claim.refresh_from_db()
    assert refund.claim.status == ClaimStatus.INSPECTED


def test_a_stripe_refund_being_sent_cannot_be_cancelled(inspector, finance, stripe_settings, stripe_fake):
    # given a Stripe refund whose attempt a worker holds: the request to Stripe may be on its way
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    Refund.objects.filter(pk=refund.pk).update(
        status=RefundStatus.PROCESSING, attempts=1, processing_started_at=timezone.now()
    )
    before = Refund.objects.values().get(pk=refund.pk)
    events_before = list(RefundEvent.objects.filter(refund=refund).values_list("pk", flat=True))

    # when finance tries to cancel it
    with pytest.raises(states.InvalidTransition) as refused:
        services.refund_cancel(refund_id=refund.pk, by=finance, reason="Customer kept the goods")

    # then it is refused in words, and nothing changed
    assert str(refused.value) == "A refund being sent to the provider cannot be cancelled; wait for its result."
    assert Refund.objects.values().get(pk=refund.pk) == before
    assert list(RefundEvent.objects.filter(refund=refund).values_list("pk", flat=True)) == events_before


def test_a_refund_that_succeeds_on_a_claim_no_longer_refundable_still_succeeds(
    inspector, finance, stripe_settings, stripe_fake
):
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    refund.claim.__class__.objects.filter(pk=refund.claim_id).update(status=ClaimStatus.CANCELLED)

    assert services.refund_execute(refund_id=refund.pk) == "succeeded"

    assert RefundEvent.objects.filter(refund=refund, action="claim_not_marked_refunded").exists()


def test_a_refund_that_succeeds_on_a_claim_no_longer_refundable_still_emails_the_customer(
    inspector, finance, stripe_settings, stripe_fake, django_capture_on_commit_callbacks, mailoutbox
):
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    Claim.objects.filter(pk=refund.claim_id).update(status=ClaimStatus.CANCELLED)

    with django_capture_on_commit_callbacks(execute=True):
        services.refund_execute(refund_id=refund.pk)

    assert [message.to for message in mailoutbox] == [[refund.claim.customer_email]]


# --- The customer's email, sent by the execution itself -----------------------------------------


@pytest.fixture
def queued_emails(monkeypatch):
    """The ``send_email`` tasks queued, recorded instead of run."""
    from returns import tasks

    queued = []
    monkeypatch.setattr(tasks.send_email, "delay", queued.append)
    return queued


def test_the_execution_sends_the_customers_email_once_it_commits_without_a_send_email_task(
    inspector, finance, stripe_settings, stripe_fake, django_capture_on_commit_callbacks, mailoutbox, queued_emails
):
    # given an approved Stripe refund
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)

    # when the execution runs, and its transactions commit
    with django_capture_on_commit_callbacks(execute=True):
        assert services.refund_execute(refund_id=refund.pk) == "succeeded"

    # then the customer's email is sent by it, marked sent, and no send_email task was queued
    email = OutboundEmail.objects.get(claim=refund.claim, template="refund_sent")
    assert email.status == EmailStatus.SENT and email.sent_at is not None and email.attempts == 1
    assert [(message.to, message.subject) for message in mailoutbox] == [([email.to], email.subject)]
    assert queued_emails == []


def test_nothing_is_sent_before_the_executions_transaction_commits(
    inspector, finance, stripe_settings, stripe_fake, django_capture_on_commit_callbacks, mailoutbox
):
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.refund_execute(refund_id=refund.pk)

    assert mailoutbox == [] and len(callbacks) == 1
    assert OutboundEmail.objects.get(claim=refund.claim, template="refund_sent").status == EmailStatus.READY


def test_a_retried_and_redelivered_execution_emails_the_customer_once(
    inspector, finance, stripe_settings, stripe_fake, django_capture_on_commit_callbacks, mailoutbox
):
    # given a refund whose first attempt meets a provider fault (the task retries it)
    refund, pi = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    stripe_fake.fail_before(1, 503)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(services.ProviderUnavailable):
        services.refund_execute(refund_id=refund.pk)

    # when the retry succeeds, and the same message is delivered twice more
    with django_capture_on_commit_callbacks(execute=True):
        results = [services.refund_execute(refund_id=refund.pk) for _ in range(3)]

    # then the money left once and the customer got one email
    assert results == ["succeeded", "skipped", "skipped"]
    assert stripe_fake.refunds_created(pi) == 1
    assert OutboundEmail.objects.filter(claim=refund.claim, template="refund_sent").count() == 1
    assert len(mailoutbox) == 1


def test_the_outbox_sweep_and_the_execution_send_the_email_once_whichever_comes_first(
    inspector, finance, settings, stripe_settings, stripe_fake, django_capture_on_commit_callbacks, mailoutbox
):
    # given an execution that committed, whose own send has not run yet (its worker is slow)
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.refund_execute(refund_id=refund.pk)

    # when the outbox sweep finds the row ready first (its send_email task runs eagerly), then the execution's
    # own send runs
    settings.EMAIL_REQUEUE_AFTER_SECONDS = 0
    assert claim_services.email_requeue_stale() == 1
    for callback in callbacks:
        callback()

    # then the email was sent once
    assert len(mailoutbox) == 1
    assert OutboundEmail.objects.get(claim=refund.claim, template="refund_sent").status == EmailStatus.SENT


def test_an_email_the_execution_cannot_send_is_left_to_the_send_email_task(
    inspector, finance, stripe_settings, stripe_fake, django_capture_on_commit_callbacks, queued_emails, monkeypatch
):
    # given an SMTP server that is down
    def refused(self, *args, **kwargs):
        raise ConnectionRefusedError("Connection refused")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refused)
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)

    # when the execution succeeds and tries to send the email
    with django_capture_on_commit_callbacks(execute=True):
        assert services.refund_execute(refund_id=refund.pk) == "succeeded"

    # then the refund stands, the attempt is counted on the email and its task is queued to retry it
    email = OutboundEmail.objects.get(claim=refund.claim, template="refund_sent")
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCEEDED
    assert email.status == EmailStatus.READY and email.attempts == 1 and "Connection refused" in email.last_error
    assert queued_emails == [email.pk]


def test_a_manual_payment_recorded_by_finance_leaves_the_email_to_the_send_email_task(
    inspector, finance, django_capture_on_commit_callbacks, queued_emails
):
    refund = proposed(inspector)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, by=finance)  # eager: the task marks it processing

    with django_capture_on_commit_callbacks(execute=True):
        services.refund_record_manual_payment(refund_id=refund.pk, by=finance, provider_reference="BANK-1")

    assert queued_emails == [OutboundEmail.objects.get(claim=refund.claim, template="refund_sent").pk]


# --- Sweeps --------------------------------------------------------------------------------------


def test_the_sweep_requeues_approved_never_started_and_processing_with_an_expired_lease(
    inspector, finance, settings, stripe_settings, stripe_fake, monkeypatch
):
    from refunds import tasks

    queued = []
    monkeypatch.setattr(tasks.execute_refund, "delay", lambda refund_id: queued.append(refund_id))
    old = timezone.now() - timedelta(seconds=settings.REFUND_REQUEUE_AFTER_SECONDS + 5)
    expired = timezone.now() - timedelta(seconds=settings.REFUND_ATTEMPT_LEASE_SECONDS + 5)
    lost, fresh, dead_worker, live_worker, manual = (stripe_refund(inspector, stripe_fake)[0] for _ in range(5))
    Refund.objects.filter(pk=lost.pk).update(status=RefundStatus.APPROVED, updated_at=old)
    Refund.objects.filter(pk=fresh.pk).update(status=RefundStatus.APPROVED)
    Refund.objects.filter(pk=dead_worker.pk).update(status=RefundStatus.PROCESSING, processing_started_at=expired)
    Refund.objects.filter(pk=live_worker.pk).update(
        status=RefundStatus.PROCESSING, processing_started_at=timezone.now()
    )
    Refund.objects.filter(pk=manual.pk).update(status=RefundStatus.PROCESSING, provider=Provider.MANUAL, updated_at=old)

    assert services.refunds_requeue_stuck() == 2
    assert sorted(queued) == sorted([lost.pk, dead_worker.pk])


def test_the_sweep_is_one_query(inspector, django_assert_num_queries, monkeypatch):
    from refunds import tasks

    monkeypatch.setattr(tasks.execute_refund, "delay", lambda refund_id: None)
    with django_assert_num_queries(1):
        services.refunds_requeue_stuck()


# --- Concurrency (real threads, PostgreSQL) ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_finance_clicks_at_once_approve_and_pay_once(inspector, finance, stripe_settings, stripe_fake):
    refund, pi = stripe_refund(inspector, stripe_fake)
    barrier = threading.Barrier(2)
    outcomes = []

    def click():
        try:
            barrier.wait()
            services.refund_approve(refund_id=refund.pk, by=finance)  # eager: executes on commit
            outcomes.append("approved")
        except states.InvalidTransition:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["approved", "refused"]
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert stripe_fake.refunds_created(pi) == 1 and len(stripe_fake.requests_to("POST", "/v1/refunds")) == 1


@pytest.mark.django_db(transaction=True)
def test_two_executions_at_once_call_the_provider_once(inspector, finance, stripe_settings, stripe_fake):
    refund, pi = stripe_refund(inspector, stripe_fake)
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.APPROVED, approved_by=finance)
    stripe_fake.slow(0.5)
    barrier = threading.Barrier(2)
    results = []

    def run():
        barrier.wait()
        try:
            results.append(services.refund_execute(refund_id=refund.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == ["in_flight", "succeeded"]
    assert stripe_fake.refunds_created(pi) == 1 and len(stripe_fake.requests_to("POST", "/v1/refunds")) == 1


def test_the_customers_email_quotes_the_inspectors_reason_not_finances_or_the_payment_reference(
    inspector, finance, django_capture_on_commit_callbacks
):
    # given a reduced refund whose deduction finance corrected, with an internal reason, then paid by hand
    claim = inspected_claim(
        inspector, ["reduced_refund"], unit_price="80.00", deduction_amount=Decimal("15"), deduction_reason="Scratched"
    )
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    deduction = refund.lines.get(kind=LineKind.DEDUCTION)
    internal = "Supervisor Wei agreed, ticket FIN-5521"
    services.refund_adjust_lines(
        refund_id=refund.pk, by=finance, changes=[LineChange(line_id=deduction.pk, amount="10.00")], reason=internal
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, by=finance)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_record_manual_payment(refund_id=refund.pk, by=finance, provider_reference="HSBC-88123 by Wei")

    # then the customer reads the amounts and the inspector's reason, and none of finance's words
    email = OutboundEmail.objects.get(claim=claim, template="refund_sent")
    both = email.body_text + email.body_html
    assert "70.00 USD" in both and "Scratched" in both
    assert internal not in both and "HSBC-88123" not in both
    # finance's reason stays in the refund's history, for staff
    assert refund.events.get(action="adjust").payload["reason"] == internal
