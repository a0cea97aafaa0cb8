"""Every write to a refund: lock the row, check ``refunds.states`` and the user's
permission, write the change and its ``RefundEvent`` in one transaction, and
queue side effects (the execution task, the customer's email) on commit.

The money rule (DESIGN, "Money"): a refund's total is derived from its lines
(``lines_total``), never typed in, and can never exceed what the customer paid
for the claimed items plus the return shipping reimbursed (``check_lines``).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from refunds import providers, sla, states
from refunds.models import (
    CLOCK_RUNNING_STATUSES,
    LineKind,
    Provider,
    Refund,
    RefundEvent,
    RefundLine,
    RefundPurpose,
    RefundStatus,
)
from refunds.providers import ProviderDeclined, ProviderUnavailable
from returns import money, notifications
from returns import services as claim_services
from returns import states as claim_states
from returns.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, DoaReason
from returns.services import require_text

log = logging.getLogger(__name__)

__all__ = ["ProviderDeclined", "ProviderUnavailable"]

# The inspection outcomes (inspections.models.Outcome values) and what each refunds.
FULL_REFUND_WITH_SHIPPING = "full_refund_with_shipping"
FULL_REFUND = "full_refund"
REDUCED_REFUND = "reduced_refund"
REFUND_OUTCOMES = (FULL_REFUND_WITH_SHIPPING, FULL_REFUND, REDUCED_REFUND)
RETURN_SHIPPING_TO_ENTER = "Return shipping: enter the amount from the customer's receipt"


# --- Amounts ------------------------------------------------------------------


def lines_total(lines: Iterable[RefundLine]) -> Decimal:
    """The refund's total: goods and shipping added, deductions taken off. The one place it is computed."""
    return sum((line.signed_amount for line in lines), Decimal(0))


def paid_for(item: ClaimItem) -> Decimal:
    """What the customer paid for the claimed units of an order line."""
    line = item.order_line
    return money.quantize(line.unit_price * item.quantity, line.currency)


def check_lines(refund: Refund, lines: list[RefundLine], *, for_approval: bool = False) -> None:
    """Refuse lines whose total is not above zero or above what was paid plus shipping reimbursed."""
    problems = []
    claim_items = {item.order_line_id: item for item in refund.claim.items.select_related("order_line")}
    goods = Decimal(0)
    for line in lines:
        if line.amount < 0:
            problems.append(f"“{line.description}” is negative: amounts are positive, the kind gives the sign.")
        if line.amount != money.quantize(line.amount, refund.currency):
            problems.append(f"“{line.description}” has more decimals than {refund.currency} allows.")
        if line.kind == LineKind.GOODS:
            item = claim_items.get(line.order_line_id)
            if item is None:
                problems.append(f"“{line.description}” is not an item of this claim.")
                continue
            if line.amount > paid_for(item):
                problems.append(
                    f"“{line.description}” ({line.amount} {refund.currency}) is more than the customer paid for it "
                    f"({paid_for(item)} {refund.currency})."
                )
            goods += line.amount
        if for_approval and line.amount_to_enter:
            problems.append(f"Enter the amount of “{line.description}” (or set it to 0 with a reason) first.")
    paid = sum((paid_for(item) for item in claim_items.values()), Decimal(0))
    shipping = sum((line.amount for line in lines if line.kind == LineKind.RETURN_SHIPPING), Decimal(0))
    total = lines_total(lines)
    if goods > paid:
        problems.append(f"The goods lines ({goods}) are more than was paid for the claimed items ({paid}).")
    if total > paid + shipping:
        problems.append(f"The total {total} is more than was paid ({paid}) plus the shipping reimbursed ({shipping}).")
    if total <= 0:
        problems.append(f"The total must be above zero; it is {total} {refund.currency}.")
    if problems:
        raise ValidationError(problems)


def second_approval_threshold(currency: str) -> Decimal:
    """Above this total a second finance user must approve; without a figure for the currency, always."""
    limit = settings.REFUND_SECOND_APPROVAL_ABOVE.get(currency)
    return Decimal(str(limit)) if limit is not None else Decimal(-1)


# --- Proposals ------------------------------------------------------------------


def refund_propose_from_inspection(*, claim_id: int, by) -> Refund | None:
    """The refund the inspection outcomes call for, proposed for finance; None when no item is refunded.

    Idempotent: a second call returns the refund already proposed (one per claim and purpose).
    Proposing moves no money, so it needs no finance permission: the inspection's service calls it
    with the inspector, the sweep with no user.
    """
    from inspections.models import Inspection

    with transaction.atomic():
        claim = Claim.objects.select_for_update(of=("self",)).select_related("order").get(pk=claim_id)
        if existing := Refund.objects.filter(claim=claim, purpose=RefundPurpose.INSPECTION).first():
            return existing
        if claim.status != ClaimStatus.INSPECTED:
            raise states.InvalidTransition(
                f"{claim} is {claim.get_status_display().lower()}: a refund is proposed once it is inspected."
            )
        items = list(claim.items.select_related("order_line__product").order_by("pk"))
        inspections = {
            inspection.claim_item_id: inspection for inspection in Inspection.objects.filter(claim_item__claim=claim)
        }
        lines = []
        for item in items:
            inspection = inspections.get(item.pk)
            outcome = inspection.outcome if inspection else ""
            if outcome not in REFUND_OUTCOMES:
                continue
            goods = paid_for(item)
            currency = item.order_line.currency
            lines.append(_goods_line(item))
            if outcome == FULL_REFUND_WITH_SHIPPING and not any(
                line.kind == LineKind.RETURN_SHIPPING for line in lines
            ):
                lines.append(
                    RefundLine(
                        kind=LineKind.RETURN_SHIPPING,
                        description=RETURN_SHIPPING_TO_ENTER,
                        amount=Decimal(0),
                        amount_to_enter=True,
                    )
                )
            if outcome == REDUCED_REFUND:
                if inspection.deduction_amount is not None:
                    deduction = money.quantize(inspection.deduction_amount, currency)
                elif inspection.deduction_percent is not None:
                    deduction = money.quantize(goods * inspection.deduction_percent / 100, currency)
                else:
                    deduction = Decimal(0)
                deduction = min(deduction, goods)
                if deduction:
                    percent = f" ({inspection.deduction_percent}%)" if inspection.deduction_percent is not None else ""
                    lines.append(
                        RefundLine(
                            kind=LineKind.DEDUCTION,
                            description=f"Deduction on {item.order_line.product.sku}{percent}",
                            amount=deduction,
                            order_line=item.order_line,
                            reason=inspection.deduction_reason,
                        )
                    )
        if not lines:
            return None
        return _create(claim, RefundPurpose.INSPECTION, lines, by, {"outcomes": _outcomes(items, inspections)})


def refund_propose_returnless(*, claim_id: int, by) -> Refund:
    """A missing item approved without a return: its goods are refunded in full, no shipping to reimburse."""
    with transaction.atomic():
        claim = Claim.objects.select_for_update(of=("self",)).select_related("order").get(pk=claim_id)
        if existing := Refund.objects.filter(claim=claim, purpose=RefundPurpose.RETURNLESS).first():
            return existing
        if not (
            claim.status == ClaimStatus.APPROVED and claim.is_returnless and claim.doa_reason == DoaReason.MISSING_ITEM
        ):
            raise states.InvalidTransition(f"{claim} is not an approved returnless claim for a missing item.")
        items = list(claim.items.select_related("order_line__product").order_by("pk"))
        lines = [_goods_line(item) for item in items]
        return _create(claim, RefundPurpose.RETURNLESS, lines, by, {"returnless_reason": claim.returnless_reason})


def refunds_propose_missing() -> int:
    """Propose the refunds nobody proposed yet: approved returnless claims, and inspected claims.

    ``returns`` may not import ``refunds`` (the dependencies point one way), so approving a
    returnless claim cannot propose its refund; this sweep (beat, every two minutes) does. It
    also catches an inspected claim whose refund was not proposed with the inspection.
    """
    from inspections.models import Inspection

    without_refund = ~Exists(Refund.objects.filter(claim=OuterRef("pk")))
    returnless = Claim.objects.filter(
        without_refund, status=ClaimStatus.APPROVED, is_returnless=True, doa_reason=DoaReason.MISSING_ITEM
    ).values_list("pk", flat=True)
    refundable_inspection = Exists(
        Inspection.objects.filter(claim_item__claim=OuterRef("pk"), outcome__in=REFUND_OUTCOMES)
    )
    inspected = Claim.objects.filter(without_refund, refundable_inspection, status=ClaimStatus.INSPECTED).values_list(
        "pk", flat=True
    )
    proposed = 0
    for claim_id in returnless:
        try:
            refund_propose_returnless(claim_id=claim_id, by=None)
            proposed += 1
        except (states.InvalidTransition, ValidationError) as error:  # changed since the query
            log.warning("returnless refund for claim %s not proposed: %s", claim_id, error)
    for claim_id in inspected:
        try:
            proposed += refund_propose_from_inspection(claim_id=claim_id, by=None) is not None
        except (states.InvalidTransition, ValidationError) as error:
            log.warning("refund for inspected claim %s not proposed: %s", claim_id, error)
    return proposed


def _goods_line(item: ClaimItem) -> RefundLine:
    product = item.order_line.product
    return RefundLine(
        kind=LineKind.GOODS,
        description=f"{product.sku} {product.name} × {item.quantity}",
        amount=paid_for(item),
        order_line=item.order_line,
    )


def _outcomes(items, inspections) -> dict:
    return {str(item.pk): (inspections[item.pk].outcome if item.pk in inspections else "") for item in items}


def _create(claim: Claim, purpose: str, lines: list[RefundLine], by, payload: dict) -> Refund:
    currencies = {line.order_line.currency for line in lines if line.order_line_id}
    if len(currencies) != 1:
        raise ValidationError(f"The claimed items are in {len(currencies)} currencies; one refund has one currency.")
    currency = currencies.pop()
    provider = settings.REFUND_PROVIDER
    if provider == Provider.STRIPE and not claim.order.payment_reference:
        # Nothing to refund against at the provider: finance pays it by hand.
        provider = Provider.MANUAL
    refund = Refund(
        claim=claim,
        purpose=purpose,
        currency=currency,
        provider=provider,
        payment_reference=claim.order.payment_reference,
        proposed_by=by,
    )
    for line in lines:
        line.refund = refund
    check_lines(refund, lines)
    refund.total = lines_total(lines)
    refund.save()
    for line in lines:
        line.refund = refund
    RefundLine.objects.bulk_create(lines)
    _record(refund, by, "propose", "", refund.status, {**payload, "total": str(refund.total), "provider": provider})
    return refund


# --- Finance's decisions ----------------------------------------------------------


@dataclass(frozen=True)
class LineChange:
    """One adjustment: an existing line's new amount (``line_id``), or a new line (``kind``)."""

    amount: Decimal
    line_id: int | None = None
    kind: str = ""
    description: str = ""


def refund_adjust_lines(*, refund_id: int, by, changes: list[LineChange], reason: str) -> Refund:
    """Finance changes amounts (enters the shipping receipt, corrects a deduction), with a reason kept."""
    require_text(reason, "reason", "Write why the refund is adjusted.")
    with transaction.atomic():
        refund, transition = _lock_and_check(refund_id, "adjust", by)
        lines = list(refund.lines.all())
        by_id = {line.pk: line for line in lines}
        before = {line.pk: str(line.amount) for line in lines}
        new_lines = []
        for change in changes:
            amount = _amount(change.amount, refund.currency)
            if change.line_id is not None:
                line = by_id.get(change.line_id)
                if line is None:
                    raise ValidationError("That line is not on this refund.")
                line.amount, line.amount_to_enter = amount, False
                line.reason = reason.strip()
            else:
                if change.kind not in (LineKind.RETURN_SHIPPING, LineKind.DEDUCTION):
                    raise ValidationError("Only a return-shipping or a deduction line can be added.")
                if not change.description.strip():
                    raise ValidationError("Describe the new line.")
                line = RefundLine(
                    refund=refund,
                    kind=change.kind,
                    description=change.description.strip()[:255],
                    amount=amount,
                    reason=reason.strip(),
                )
                new_lines.append(line)
        check_lines(refund, lines + new_lines)
        for line in lines:
            line.save(update_fields=["amount", "amount_to_enter", "reason"])
        RefundLine.objects.bulk_create(new_lines)
        old_total, refund.total = refund.total, lines_total(lines + new_lines)
        refund.save(update_fields=["total", "updated_at"])
        _move(
            refund,
            transition,
            by,
            {
                "reason": reason.strip(),
                "changes": [
                    {"line": line.pk, "from": before.get(line.pk), "to": str(line.amount), "kind": line.kind}
                    for line in lines + new_lines
                    if before.get(line.pk) != str(line.amount)
                ],
                "total_from": str(old_total),
                "total_to": str(refund.total),
            },
        )
    return refund


def refund_approve(*, refund_id: int, by) -> Refund:
    """Finance's approval; above ``REFUND_SECOND_APPROVAL_ABOVE`` a second, different finance user's too.

    On the final approval the execution task is queued once the approval commits. A broker that
    is down then loses nothing: the refund row is its own outbox, and ``refunds_requeue_stuck``
    (beat, every minute) queues approved refunds that never started.
    """
    with transaction.atomic():
        refund = _lock(refund_id)
        now = timezone.now()
        if refund.status == RefundStatus.AWAITING_SECOND_APPROVAL:
            transition = states.require(refund.status, "second_approve", by)
            if refund.approved_by_id == by.pk:
                raise states.InvalidTransition(
                    "You gave this refund its first approval: a second, different finance user must approve it."
                )
            refund.second_approved_by, refund.second_approved_at = by, now
        else:
            needs_second = refund.total > second_approval_threshold(refund.currency)
            transition = states.require(refund.status, "approve_first_of_two" if needs_second else "approve", by)
            check_lines(refund, list(refund.lines.all()), for_approval=True)
            refund.approved_by, refund.approved_at = by, now
        if transition.target == RefundStatus.APPROVED:
            sla.start_clock(refund, now)  # the final approval starts the 5-7 working days
        _move(
            refund,
            transition,
            by,
            {
                "total": str(refund.total),
                "currency": refund.currency,
                "threshold": str(second_approval_threshold(refund.currency)),
            },
        )
        if refund.status == RefundStatus.APPROVED:
            _queue_execution(refund.pk)
    return refund


def refund_retry(*, refund_id: int, by, reason: str) -> Refund:
    """A person sends a failed refund again: a new round, with a new idempotency key.

    Before paying in the new round the adapter looks for a refund an earlier round made
    (Stripe: listed by PaymentIntent, matched by our refund key in its metadata), so a
    500 that hid a refund Stripe did make is not paid twice.
    """
    require_text(reason, "reason", "Write why the refund is sent again.")
    with transaction.atomic():
        refund, transition = _lock_and_check(refund_id, "retry", by)
        refund.execution_round += 1
        refund.failure_reason = ""
        refund.processing_started_at = None
        _move(refund, transition, by, {"reason": reason.strip(), "round": refund.execution_round})
        _queue_execution(refund.pk)
    return refund


def refund_cancel(*, refund_id: int, by, reason: str) -> Refund:
    require_text(reason, "reason", "Write why the refund is cancelled.")
    with transaction.atomic():
        refund, transition = _lock_and_check(refund_id, "cancel", by)
        if refund.status == RefundStatus.PROCESSING and refund.provider != Provider.MANUAL:
            raise states.InvalidTransition(
                "A refund being sent to the provider cannot be cancelled; wait for its result."
            )
        _move(refund, transition, by, {"reason": reason.strip()})
    return refund


def refund_record_manual_payment(*, refund_id: int, by, provider_reference: str) -> Refund:
    """Finance paid a manual refund elsewhere and enters the provider's reference: the refund succeeded."""
    require_text(provider_reference, "provider_reference", "Enter the payment's reference from the bank or provider.")
    with transaction.atomic():
        refund, transition = _lock_and_check(refund_id, "record_manual_payment", by)
        if refund.provider != Provider.MANUAL:
            raise states.InvalidTransition(
                f"This refund goes through {refund.get_provider_display()}: it records its own reference."
            )
        refund.provider_reference = provider_reference.strip()[:255]
        refund.provider_status = "paid_manually"
        _succeed(refund, transition, by, {"provider_reference": refund.provider_reference})
    return refund


# --- Execution (the task's service) ------------------------------------------------


def refund_execute(*, refund_id: int, final_attempt: bool = False) -> str:
    """Send an approved refund to its provider, once, whatever is retried or redelivered.

    1. Lock the row; take the attempt: approved → processing, or a processing refund whose
       last attempt's lease expired (its worker died). A refund succeeded, failed, cancelled,
       or held by a live attempt is left alone. Commit.
    2. Call the provider outside any transaction, with the refund's idempotency key.
    3. Lock again and record what came back: succeeded (the claim is refunded, the customer
       emailed on commit), failed with the provider's reason, or, for a fault worth retrying,
       the error, the lease given back and ``ProviderUnavailable`` raised for the task to retry.
    Returns what happened, for logs and tests.
    """
    now = timezone.now()
    with transaction.atomic():
        refund = _lock(refund_id)
        if refund.status == RefundStatus.APPROVED:
            transition = states.require(refund.status, "start", None)
            refund.attempts += 1
            refund.processing_started_at = now
            _move(refund, transition, None, {"attempt": refund.attempts, "round": refund.execution_round})
        elif refund.status == RefundStatus.PROCESSING and refund.provider != Provider.MANUAL:
            lease = timedelta(seconds=settings.REFUND_ATTEMPT_LEASE_SECONDS)
            if refund.processing_started_at and now - refund.processing_started_at < lease:
                return "in_flight"
            refund.attempts += 1
            refund.processing_started_at = now
            refund.save(update_fields=["attempts", "processing_started_at", "updated_at"])
            _record(refund, None, "resume", refund.status, refund.status, {"attempt": refund.attempts})
        else:
            return "skipped"
        attempt = refund.attempts
        request = providers.RefundRequest(
            payment_reference=refund.payment_reference,
            amount=refund.total,
            currency=refund.currency,
            idempotency_key=refund.idempotency_key,
            refund_key=str(refund.key),
            metadata={"refund_id": refund.pk, "rma_number": refund.claim.rma_number or "", "claim_id": refund.claim_id},
            reconcile=refund.execution_round > 1,
        )
    try:
        result = providers.get(refund.provider).refund(request)
    except ProviderUnavailable as error:
        _record_unavailable(refund_id, attempt, error, final_attempt)
        if final_attempt:
            return "failed"
        raise
    except ProviderDeclined as error:
        _record_failure(refund_id, attempt, error.reason, {"http_status": error.status, "error": error.body})
        return "failed"
    return _record_result(refund_id, attempt, result)


def _record_result(refund_id: int, attempt: int, result: providers.RefundResult) -> str:
    with transaction.atomic():
        refund = _lock(refund_id)
        if refund.status == RefundStatus.SUCCEEDED:
            return "already_succeeded"
        if result.status == "awaiting_manual":
            refund.processing_started_at = None
            refund.save(update_fields=["processing_started_at", "updated_at"])
            _record(refund, None, "await_manual_payment", refund.status, refund.status, {"attempt": attempt})
            return "awaiting_manual"
        transition = states.require(refund.status, "succeed", None)
        refund.provider_reference = result.reference
        refund.provider_status = result.detail.get("stripe_status", result.status)
        _succeed(
            refund, transition, None, {"provider_reference": result.reference, "attempt": attempt, **result.detail}
        )
    return "succeeded"


def _succeed(refund: Refund, transition: states.Transition, by, payload: dict) -> None:
    """Record the success, refund the claim and email the customer, all in the caller's transaction."""
    refund.succeeded_at = timezone.now()
    refund.processing_started_at = None
    refund.failure_reason = ""
    _move(refund, transition, by, payload)
    approver = by or refund.approver
    try:
        with transaction.atomic():  # a savepoint: the money left, whatever the claim's state says
            claim_services.claim_mark_refunded(
                claim_id=refund.claim_id,
                by=approver,
                details={
                    "refund_id": refund.pk,
                    "total": str(refund.total),
                    "currency": refund.currency,
                    "provider_reference": refund.provider_reference,
                },
            )
    except (claim_states.InvalidTransition, claim_states.NotPermitted) as error:
        log.warning("refund %s succeeded but claim %s not marked refunded: %s", refund.pk, refund.claim_id, error)
        _record(refund, None, "claim_not_marked_refunded", refund.status, refund.status, {"reason": str(error)})
    claim = Claim.objects.select_related("order").get(pk=refund.claim_id)
    notifications.email_customer(
        claim=claim,
        template="refund_sent",
        refund=refund,
        lines=[
            {
                "kind": line.get_kind_display(),
                "description": line.description,
                "amount": money.quantize(line.signed_amount, refund.currency),
                "reason": line.reason if line.kind == LineKind.DEDUCTION else "",
            }
            for line in refund.lines.all()
            if line.amount
        ],
        amount=money.quantize(refund.total, refund.currency),
    )


def _record_unavailable(refund_id: int, attempt: int, error: ProviderUnavailable, final_attempt: bool) -> None:
    with transaction.atomic():
        refund = _lock(refund_id)
        if refund.status != RefundStatus.PROCESSING or refund.attempts != attempt:
            return  # another attempt took over since
        refund.last_error = error.reason[:2000]
        if final_attempt:
            _fail(refund, error.reason, {"http_status": error.status, "error": error.body, "attempt": attempt})
            return
        refund.processing_started_at = None  # give the lease back: the task's retry may take it
        refund.save(update_fields=["last_error", "processing_started_at", "updated_at"])
        _record(
            refund,
            None,
            "attempt_failed",
            refund.status,
            refund.status,
            {"attempt": attempt, "reason": error.reason, "http_status": error.status, "will_retry": True},
        )


def _record_failure(refund_id: int, attempt: int, reason: str, payload: dict) -> None:
    with transaction.atomic():
        refund = _lock(refund_id)
        if refund.status != RefundStatus.PROCESSING:
            return
        refund.last_error = reason[:2000]
        _fail(refund, reason, {**payload, "attempt": attempt})


def _fail(refund: Refund, reason: str, payload: dict) -> None:
    transition = states.require(refund.status, "fail", None)
    refund.failure_reason = reason[:2000]
    refund.processing_started_at = None
    _move(refund, transition, None, {"reason": reason, **payload})


def refunds_requeue_stuck() -> int:
    """Queue again what the broker or a dead worker lost (beat, every minute).

    - approved refunds that never started, older than ``REFUND_REQUEUE_AFTER_SECONDS``
      (the broker was down when they were approved);
    - processing refunds (not manual) whose attempt's lease expired (a worker died mid-call:
      Redis would redeliver its message only after the visibility timeout) or that have no
      attempt running and were last touched longer ago than ``REFUND_REQUEUE_AFTER_SECONDS``
      (their retry message was lost).
    Running one twice is safe: the row lock, the lease and the idempotency key see to it.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.REFUND_REQUEUE_AFTER_SECONDS)
    lease_expired = now - timedelta(seconds=settings.REFUND_ATTEMPT_LEASE_SECONDS)
    ids = list(
        Refund.objects.filter(
            Q(status=RefundStatus.APPROVED, updated_at__lt=stale)
            | (
                Q(status=RefundStatus.PROCESSING)
                & ~Q(provider=Provider.MANUAL)
                & (
                    Q(processing_started_at__lt=lease_expired)
                    | Q(processing_started_at__isnull=True, updated_at__lt=stale)
                )
            )
        ).values_list("pk", flat=True)
    )
    from refunds import tasks

    for refund_id in ids:
        tasks.execute_refund.delay(refund_id)
    return len(ids)


# --- SLA ---------------------------------------------------------------------------


def refund_sla_sweep(*, now: datetime | None = None) -> dict:
    """Remind finance of refunds at their 5-working-day target, escalate those past the 7 to managers.

    The pattern of ``returns.services.sla_sweep``: the rows are locked (``skip_locked``, so a
    second beat by mistake passes them by) and marked in the same transaction as their claim
    events and the digests, so each refund is reminded once and escalated once.
    """
    now = now or timezone.now()
    running = (
        Refund.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("claim")
        # What the events and the digests need, not every column.
        .only("currency", "total", "refund_target_at", "refund_due_at", "claim__status", "claim__rma_number")
        .filter(status__in=CLOCK_RUNNING_STATUSES)
    )
    with transaction.atomic():
        # A refund already past its deadline is escalated, not reminded.
        at_target = list(
            running.filter(refund_target_at__lte=now, refund_due_at__gte=now, sla_reminded_at=None).order_by(
                "refund_target_at"
            )
        )
        overdue = list(running.filter(refund_due_at__lt=now, sla_breached_at=None).order_by("refund_due_at"))
        Refund.objects.filter(pk__in=[r.pk for r in at_target]).update(sla_reminded_at=now)
        Refund.objects.filter(pk__in=[r.pk for r in overdue]).update(sla_breached_at=now)
        ClaimEvent.objects.bulk_create(
            [_sla_event(refund, "refund_sla_reminded") for refund in at_target]
            + [_sla_event(refund, "refund_sla_breached") for refund in overdue]
        )
        if at_target:
            notifications.email_staff(
                group=settings.SLA_REFUND_REMINDER_GROUP, template="refund_sla_due_soon", items=at_target, now=now
            )
        if overdue:
            notifications.email_staff(
                group=settings.SLA_ESCALATION_GROUP, template="refund_sla_overdue", items=overdue, now=now
            )
    return {"reminded": len(at_target), "escalated": len(overdue)}


def _sla_event(refund: Refund, action: str) -> ClaimEvent:
    """On the claim's history, where customer service and managers look; the claim's status does not move."""
    return ClaimEvent(
        claim_id=refund.claim_id,
        action=action,
        from_status=refund.claim.status,
        to_status=refund.claim.status,
        payload={
            "refund_id": refund.pk,
            "refund_target_at": refund.refund_target_at.isoformat(),
            "refund_due_at": refund.refund_due_at.isoformat(),
        },
    )


def refund_deadlines_recompute(*, by=None, now: datetime | None = None) -> int:
    """Recompute the running clocks' deadlines after the calendar changed (a closure day); returns how many moved.

    Called in the transaction that writes the closure day (``backoffice.sla``). Succeeded and
    cancelled refunds keep the deadlines they had: the report judges them by those. A marker
    is reset when its new deadline is later than now, so the sweep reminds or escalates again
    at the new moment; a refund still past its new deadline stays escalated.
    """
    now = now or timezone.now()
    with transaction.atomic():
        refunds = list(
            Refund.objects.select_for_update(of=("self",))
            .filter(status__in=CLOCK_RUNNING_STATUSES, refund_due_at__isnull=False)
            .order_by("pk")  # one lock order, so two recomputes never deadlock
        )
        cache = {}
        moved, events = [], []
        for refund in refunds:
            target, due = sla.deadlines(refund.clock_started_at, cache)
            if (target, due) == (refund.refund_target_at, refund.refund_due_at):
                continue
            before = {"target": refund.refund_target_at.isoformat(), "due": refund.refund_due_at.isoformat()}
            refund.refund_target_at, refund.refund_due_at = target, due
            if refund.sla_reminded_at is not None and target > now:
                refund.sla_reminded_at = None
            if refund.sla_breached_at is not None and due > now:
                refund.sla_breached_at = None
            moved.append(refund)
            events.append(
                RefundEvent(
                    refund=refund,
                    actor=by,
                    action="deadlines_recomputed",
                    from_status=refund.status,
                    to_status=refund.status,
                    payload={"from": before, "to": {"target": target.isoformat(), "due": due.isoformat()}},
                )
            )
        # Not updated_at: the requeue sweep reads it as "last touched by the execution".
        Refund.objects.bulk_update(moved, ["refund_target_at", "refund_due_at", "sla_reminded_at", "sla_breached_at"])
        RefundEvent.objects.bulk_create(events)
    return len(moved)


# --- Helpers -----------------------------------------------------------------------


def _queue_execution(refund_id: int) -> None:
    from refunds import tasks

    # robust: a broker that is down must not undo a committed approval; the sweep queues it later.
    transaction.on_commit(lambda: tasks.execute_refund.delay(refund_id), robust=True)


def _lock(refund_id: int) -> Refund:
    return Refund.objects.select_for_update(of=("self",)).select_related("claim").get(pk=refund_id)


def _lock_and_check(refund_id: int, action: str, by) -> tuple[Refund, states.Transition]:
    refund = _lock(refund_id)
    return refund, states.require(refund.status, action, by)


def _move(refund: Refund, transition: states.Transition, by, payload: dict) -> None:
    refund.status = transition.target
    refund.save()
    _record(refund, by, transition.action, transition.source, transition.target, payload)


def _record(refund: Refund, by, action: str, source: str, target: str, payload: dict) -> RefundEvent:
    return RefundEvent.objects.create(
        refund=refund, actor=by, action=action, from_status=source, to_status=target, payload=_jsonable(payload)
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _amount(value, currency: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValidationError(f"{value!r} is not an amount.") from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError(f"{value} is not an amount of money (amounts are positive; the kind gives the sign).")
    if amount != money.quantize(amount, currency):
        raise ValidationError(f"{value} has more decimals than {currency} allows.")
    return amount
