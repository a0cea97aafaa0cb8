"""Every write to a refund: lock the row, check ``refunds.states`` and the actor's
permission, write the change and its ``RefundEvent`` in one transaction, and
queue side effects (the execution task, the customer's email) on commit.

The money rules (DESIGN, "Money"):
- a refund's total is derived from its lines (``lines_total``), never typed in;
- money is bounded by the order, not the claim: no refund may take an order line's money paid
  back (every committed refund of any claim, and the store's own refunds) above what was paid
  for it (``returns.ledger``). The final check runs when a refund becomes committed (its first
  approval), under the order lines' row locks, so concurrent approvals queue and the second is
  refused with a message;
- return shipping is reimbursed only where the claim's policy version says so, and only on the
  line the proposal made for it; above the policy's cap it needs a second approver.

What the execution task and the sweeps do, they do as the system actor (``core.actors.SYSTEM``).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from core import actors, events
from refunds import execution, providers, sla, states
from refunds.models import (
    AWAITING_APPROVAL_STATUSES,
    CLOCK_RUNNING_STATUSES,
    COMMITTED_STATUSES,
    LineKind,
    Provider,
    Refund,
    RefundAction,
    RefundEvent,
    RefundLine,
    RefundPurpose,
    RefundStatus,
    idempotency_key,
)
from refunds.providers import ProviderDeclined, ProviderUnavailable
from returns import ledger, money, notifications, policy
from returns import services as claim_services
from returns import states as claim_states
from returns.models import Claim, ClaimAction, ClaimEvent, ClaimItem, ClaimStatus, DoaReason
from returns.services import require_text

log = logging.getLogger(__name__)

__all__ = ["ProviderDeclined", "ProviderUnavailable"]

RETURN_SHIPPING_TO_ENTER = "Return shipping: enter the amount from the customer's receipt"
# DecimalField(max_digits=14, decimal_places=3): no amount a person types may reach it.
_MAX_AMOUNT = Decimal(10) ** 10
# Return shipping above the policy's cap needs a second approver; this many times above it is a typo.
SHIPPING_CAP_TYPO_FACTOR = 10


class Remedy:
    """What an inspected item's outcome refunds: ``inspections`` passes it in (``ItemRefund``)."""

    FULL_WITH_SHIPPING = "full_with_shipping"
    FULL = "full"
    REDUCED = "reduced"


@dataclass(frozen=True)
class ItemRefund:
    """One inspected item to refund, as the inspection decided it."""

    claim_item_id: int
    remedy: str  # a Remedy
    # The deduction in money, computed by the inspection (the one place it is); None without one.
    deduction: Decimal | None = None
    deduction_words: str = ""  # " (20%)", for the line's description
    deduction_reason: str = ""


# --- Amounts ------------------------------------------------------------------


def lines_total(lines: Iterable[RefundLine]) -> Decimal:
    """The refund's total: goods and shipping added, deductions taken off. The one place it is computed."""
    return sum((line.signed_amount for line in lines), Decimal(0))


def net_by_line(lines: Iterable[RefundLine]) -> dict[int, Decimal]:
    """Money paid back per order line: its goods less its deductions."""
    net: dict[int, Decimal] = {}
    for line in lines:
        if line.order_line_id and line.kind in (LineKind.GOODS, LineKind.DEDUCTION):
            net[line.order_line_id] = net.get(line.order_line_id, Decimal(0)) + line.signed_amount
    return net


def check_lines(refund: Refund, lines: list[RefundLine], *, for_approval: bool = False, ledgers=None) -> None:
    """Refuse lines whose total is not above zero, above what was paid plus the shipping reimbursed,
    or that take an order line's money paid back above what was paid for it (``ledgers``: the
    per-line ledger without this refund; read here when not given)."""
    problems = []
    claim_items = {item.order_line_id: item for item in refund.claim.items.select_related("order_line__product")}
    terms = policy.PolicyTerms.from_version(refund.claim.policy_version)
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
            if line.amount > item.paid:
                problems.append(
                    f"“{line.description}” ({money.format_money(line.amount, refund.currency)}) is more than the "
                    f"customer paid for it ({money.format_money(item.paid, refund.currency)})."
                )
            goods += line.amount
        if (
            line.kind == LineKind.RETURN_SHIPPING
            and line.amount
            and not policy.return_shipping_reimbursed(terms, refund.claim.claim_type)
        ):
            problems.append(
                f"The policy in force for this {refund.claim.get_claim_type_display()} claim does not reimburse "
                "return shipping: the customer pays it."
            )
        if for_approval and line.amount_to_enter:
            problems.append(f"Enter the amount of “{line.description}” (or set it to 0 with a reason) first.")
    paid = sum((item.paid for item in claim_items.values()), Decimal(0))
    shipping = sum((line.amount for line in lines if line.kind == LineKind.RETURN_SHIPPING), Decimal(0))
    total = lines_total(lines)
    if goods > paid:
        problems.append(f"The goods lines ({goods}) are more than was paid for the claimed items ({paid}).")
    if total > paid + shipping:
        problems.append(f"The total {total} is more than was paid ({paid}) plus the shipping reimbursed ({shipping}).")
    if total <= 0:
        problems.append(f"The total must be above zero; it is {total} {refund.currency}.")
    cap = return_shipping_cap(refund)
    if cap >= 0 and shipping > cap * SHIPPING_CAP_TYPO_FACTOR:
        problems.append(
            f"The return shipping {shipping} {refund.currency} is more than {SHIPPING_CAP_TYPO_FACTOR} times the "
            f"policy's cap of {cap} {refund.currency}: check the amount on the customer's receipt."
        )
    problems.extend(_over_the_order(refund, lines, ledgers))
    if problems:
        raise ValidationError(problems)


def _over_the_order(refund: Refund, lines: list[RefundLine], ledgers) -> list[str]:
    """Lines that would pay back more on an order line than it is still owed, across every claim."""
    net = net_by_line(lines)
    if ledgers is None:
        ledgers = ledger.for_lines(net, exclude_key=ledger_key(refund), exclude_claim_id=refund.claim_id)
    problems = []
    for order_line_id, amount in sorted(net.items()):
        line_ledger = ledgers[order_line_id]
        if amount > line_ledger.refundable:
            line = line_ledger.line
            problems.append(
                " ".join(
                    [
                        f"{line.product.sku}: {money.quantize(amount, line.currency)} {line.currency} would be paid "
                        f"back, but only {money.quantize(line_ledger.refundable, line.currency)} {line.currency} "
                        f"of the {line.paid} {line.currency} paid is still owed.",
                        *line_ledger.notes(),
                    ]
                )
            )
    return problems


def second_approval_threshold(currency: str) -> Decimal:
    """Above this total a second finance user must approve; without a figure for the currency, always."""
    limit = settings.REFUND_SECOND_APPROVAL_ABOVE.get(currency)
    return Decimal(str(limit)) if limit is not None else Decimal(-1)


def return_shipping_cap(refund: Refund) -> Decimal:
    """Reimbursed return shipping above this needs a second approver (the claim's policy version); no figure: always."""
    cap = (refund.claim.policy_version.return_shipping_cap or {}).get(refund.currency)
    return Decimal(str(cap)) if cap is not None else Decimal(-1)


def needs_second_approval(refund: Refund, lines: list[RefundLine]) -> list[str]:
    """Why a second finance user must approve (empty: one approval sends it)."""
    reasons = []
    if refund.total > second_approval_threshold(refund.currency):
        reasons.append(
            f"the total is above {money.format_money(second_approval_threshold(refund.currency), refund.currency)}"
        )
    shipping = sum((line.amount for line in lines if line.kind == LineKind.RETURN_SHIPPING), Decimal(0))
    if shipping > return_shipping_cap(refund):
        reasons.append(
            f"the return shipping is above the policy's cap of "
            f"{money.format_money(return_shipping_cap(refund), refund.currency)}"
        )
    return reasons


def ledger_key(refund: Refund) -> str:
    return f"refund:{refund.pk}"


def ledger_uses(order_line_ids: list[int]) -> list[ledger.Use]:
    """This app's part of the per-line ledger (registered in ``RefundsConfig.ready``): committed refunds' net money
    and units per order line, whatever claim they belong to."""
    lines = (
        RefundLine.objects.filter(
            order_line_id__in=order_line_ids,
            kind__in=(LineKind.GOODS, LineKind.DEDUCTION),
            refund__status__in=COMMITTED_STATUSES,
        )
        .select_related("refund__claim")
        .order_by("refund_id", "id")
    )
    uses: dict[tuple[int, int], dict] = {}
    for line in lines:
        refund = line.refund
        use = uses.setdefault(
            (refund.pk, line.order_line_id),
            {"units": 0, "amount": Decimal(0), "refund": refund, "order_line_id": line.order_line_id},
        )
        use["units"] += line.units if line.kind == LineKind.GOODS else 0
        use["amount"] += line.signed_amount
    company = timezone.get_default_timezone()
    return [
        ledger.Use(
            order_line_id=use["order_line_id"],
            kind="refund",
            units=use["units"],
            amount=use["amount"],
            claim_id=use["refund"].claim_id,
            claim_label=str(use["refund"].claim),
            on=timezone.localtime(use["refund"].succeeded_at, company).date() if use["refund"].succeeded_at else None,
            key=ledger_key(use["refund"]),
        )
        for use in uses.values()
    ]


# --- Proposals ------------------------------------------------------------------


def refund_propose_from_inspection(*, claim_id: int, by, items: list[ItemRefund]) -> Refund | None:
    """The refund the inspection's outcomes call for (``items``, passed in by ``inspections``), proposed
    for finance; None when no item is refunded or nothing is still owed on the items' order lines.

    Idempotent: a second call returns the refund already proposed (one per claim and purpose).
    Proposing moves no money: the inspection's service calls it as the inspector, the backstop
    sweep as the system. A line already paid back elsewhere (another claim, the store) is
    proposed only for what is still owed, and said so.
    """
    with transaction.atomic():
        claim = _lock_claim(claim_id)
        if existing := Refund.objects.filter(claim=claim, purpose=RefundPurpose.INSPECTION).first():
            return existing
        if claim.status != ClaimStatus.INSPECTED:
            raise states.InvalidTransition(
                f"{claim} is {claim.get_status_display().lower()}: a refund is proposed once it is inspected."
            )
        claim_items = {item.pk: item for item in claim.items.select_related("order_line__product")}
        items = sorted((item for item in items if item.claim_item_id in claim_items), key=lambda i: i.claim_item_id)
        ledgers = ledger.for_lines([claim_items[i.claim_item_id].order_line_id for i in items], lock=True)
        lines, short = [], []
        for decided in items:
            item = claim_items[decided.claim_item_id]
            goods = _goods_line(item, ledgers[item.order_line_id])
            if goods.amount <= 0:
                short.append(item.order_line.product.sku)
                continue
            if goods.amount < item.paid:
                short.append(item.order_line.product.sku)
            lines.append(goods)
            if decided.remedy == Remedy.FULL_WITH_SHIPPING and not any(
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
            if decided.remedy == Remedy.REDUCED and decided.deduction:
                lines.append(
                    RefundLine(
                        kind=LineKind.DEDUCTION,
                        description=f"Deduction on {item.order_line.product.sku}{decided.deduction_words}",
                        amount=min(decided.deduction, goods.amount),
                        order_line=item.order_line,
                        reason=decided.deduction_reason,
                    )
                )
        if not any(line.kind == LineKind.GOODS for line in lines):
            return None
        payload = {"remedies": {str(i.claim_item_id): i.remedy for i in items}}
        if short:
            payload["already_paid_back"] = short
        return _create(claim, RefundPurpose.INSPECTION, lines, by, payload, _inspected_at(claim), ledgers)


def refund_propose_returnless(*, claim_id: int, by) -> Refund:
    """A missing item approved without a return: its goods are refunded in full, no shipping to reimburse."""
    with transaction.atomic():
        claim = _lock_claim(claim_id)
        if existing := Refund.objects.filter(claim=claim, purpose=RefundPurpose.RETURNLESS).first():
            return existing
        if not (
            claim.status == ClaimStatus.APPROVED and claim.is_returnless and claim.doa_reason == DoaReason.MISSING_ITEM
        ):
            raise states.InvalidTransition(f"{claim} is not an approved returnless claim for a missing item.")
        items = list(claim.items.select_related("order_line__product").order_by("pk"))
        ledgers = ledger.for_lines([item.order_line_id for item in items], lock=True)
        lines = [line for item in items if (line := _goods_line(item, ledgers[item.order_line_id])).amount > 0]
        if not lines:
            notes = [note for item in items for note in ledgers[item.order_line_id].notes()]
            raise ValidationError(" ".join(["Nothing is still owed on these items.", *notes]))
        return _create(
            claim,
            RefundPurpose.RETURNLESS,
            lines,
            by,
            {"returnless_reason": claim.returnless_reason},
            claim.approved_at or claim.updated_at,
            ledgers,
        )


def refunds_propose_returnless_missing() -> int:
    """Backstop (beat): approved returnless claims whose refund was not proposed with the approval.

    The approval proposes it in the same flow (``backoffice.flows``); this catches a claim the flow
    missed. Proposed as the system.
    """
    without_refund = ~Exists(Refund.objects.filter(claim=OuterRef("pk")))
    returnless = Claim.objects.filter(
        without_refund, status=ClaimStatus.APPROVED, is_returnless=True, doa_reason=DoaReason.MISSING_ITEM
    ).values_list("pk", flat=True)
    proposed = 0
    for claim_id in returnless:
        try:
            refund_propose_returnless(claim_id=claim_id, by=actors.SYSTEM)
            proposed += 1
        except (states.InvalidTransition, ValidationError) as error:  # changed since the query, or nothing owed
            log.warning("returnless refund for claim %s not proposed: %s", claim_id, error)
    return proposed


def _goods_line(item: ClaimItem, line_ledger: ledger.LineLedger) -> RefundLine:
    """The item's goods at what was paid for its units, or what is still owed on its order line if less."""
    product = item.order_line.product
    amount = min(item.paid, line_ledger.refundable)
    return RefundLine(
        kind=LineKind.GOODS,
        description=f"{product.sku} {product.name} × {item.quantity}",
        amount=amount,
        units=item.quantity,
        order_line=item.order_line,
    )


def _inspected_at(claim: Claim) -> datetime:
    """When the claim's parcel passed inspection: the customer's refund clock starts there."""
    moment = (
        ClaimEvent.objects.filter(claim=claim, action=ClaimAction.INSPECT)
        .order_by("-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return moment or timezone.now()


def _create(
    claim: Claim, purpose: str, lines: list[RefundLine], by, payload: dict, clock_start: datetime, ledgers
) -> Refund:
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
        proposed_by=by if actors.kind_of(by) == actors.ActorKind.STAFF else None,
    )
    for line in lines:
        line.refund = refund
    check_lines(refund, lines, ledgers=ledgers)
    refund.total = lines_total(lines)
    sla.start_clock(refund, clock_start)
    refund.save()
    for line in lines:
        line.refund = refund
    RefundLine.objects.bulk_create(lines)
    _record(
        refund, by, RefundAction.PROPOSE, "", refund.status, {**payload, "total": refund.total, "provider": provider}
    )
    return refund


# --- Finance's decisions ----------------------------------------------------------


@dataclass(frozen=True)
class LineChange:
    """One adjustment: an existing line's new amount (``line_id``), or a new deduction line (``kind``)."""

    amount: Decimal
    line_id: int | None = None
    kind: str = ""
    description: str = ""


def refund_adjust_lines(*, refund_id: int, by, changes: list[LineChange], reason: str) -> Refund:
    """Finance changes amounts (enters the shipping receipt, corrects a deduction), with a reason kept.

    Only a deduction can be added: return shipping is reimbursed on the line the proposal made
    for it, where the claim's policy reimburses it.
    """
    require_text(reason, "reason", "Write why the refund is adjusted.")
    with transaction.atomic():
        refund, transition = _lock_and_check(refund_id, "adjust", by)
        lines = list(refund.lines.select_related("order_line__product"))
        by_id = {line.pk: line for line in lines}
        before = {line.pk: line.amount for line in lines}
        new_lines = []
        for change in changes:
            amount = _amount(change.amount, refund.currency)
            if change.line_id is not None:
                line = by_id.get(change.line_id)
                if line is None:
                    raise ValidationError("That line is not on this refund.")
                # Finance's reason is the adjustment event's, never the line's: the line's reason (the
                # inspector's, written for the customer) is what the refund email quotes.
                line.amount, line.amount_to_enter = amount, False
            else:
                if change.kind == LineKind.RETURN_SHIPPING:
                    raise ValidationError(
                        "Return shipping is reimbursed only on the line the inspection proposed, where the claim's "
                        "policy reimburses it: enter the amount there."
                    )
                if change.kind != LineKind.DEDUCTION:
                    raise ValidationError("Only a deduction line can be added.")
                if not change.description.strip():
                    raise ValidationError("Describe the new line.")
                line = RefundLine(
                    refund=refund,
                    kind=change.kind,
                    description=change.description.strip()[:255],
                    amount=amount,
                )
                new_lines.append(line)
        check_lines(refund, lines + new_lines)
        for line in lines:
            line.save(update_fields=["amount", "amount_to_enter"])
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
                    {
                        "line": line.pk,
                        "description": line.description,
                        "kind": line.kind,
                        "from": before.get(line.pk),
                        "to": line.amount,
                    }
                    for line in lines + new_lines
                    if before.get(line.pk) != line.amount
                ],
                "total_from": old_total,
                "total_to": refund.total,
                "currency": refund.currency,
            },
        )
    return refund


def refund_approve(*, refund_id: int, by) -> Refund:
    """Finance's approval; a second, different finance user's too when ``needs_second_approval`` says so
    (the total above ``REFUND_SECOND_APPROVAL_ABOVE``, or return shipping above the policy's cap).

    The first approval commits the money: under the order lines' locks, the per-line ledger must
    still have room for it (another claim's refund may have been approved meanwhile). On the final
    approval the execution task is queued once the approval commits; a broker that is down loses
    nothing: the refund row is its own outbox, and ``refunds_requeue_stuck`` (beat) queues it.
    """
    with transaction.atomic():
        refund = _lock(refund_id)
        now = timezone.now()
        payload = {"total": refund.total, "currency": refund.currency}
        if refund.status == RefundStatus.AWAITING_SECOND_APPROVAL:
            transition = states.require(refund.status, "second_approve", by)
            if refund.approved_by_id == by.pk:
                raise states.InvalidTransition(
                    "You gave this refund its first approval: a second, different finance user must approve it."
                )
            refund.second_approved_by, refund.second_approved_at = by, now
        else:
            lines = list(refund.lines.select_related("order_line__product"))
            reasons = needs_second_approval(refund, lines)
            transition = states.require(refund.status, "approve_first_of_two" if reasons else "approve", by)
            ledgers = ledger.for_lines(
                net_by_line(lines), lock=True, exclude_key=ledger_key(refund), exclude_claim_id=refund.claim_id
            )
            check_lines(refund, lines, for_approval=True, ledgers=ledgers)
            refund.approved_by, refund.approved_at = by, now
            if reasons:
                payload["second_approval_because"] = reasons
        _move(refund, transition, by, payload)
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
    """Nothing is paid (any more): the refund's money leaves the ledger, the order line is owed it again."""
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

    1. Take the attempt: approved → processing (one statement, ``refunds.execution.start``), or a
       processing refund whose last attempt's lease expired (its worker died: ``_take_attempt``). A refund
       succeeded, failed, cancelled, or held by a live attempt is left alone. Committed.
    2. Call the provider outside any transaction, with the refund's idempotency key.
    3. Record what came back: succeeded (the refund and its claim moved in one statement,
       ``refunds.execution.succeed``; the customer emailed on commit), else under the row lock: failed
       with the provider's reason, or, for a fault worth retrying, the error, the lease given back and
       ``ProviderUnavailable`` raised for the task to retry.
    Returns what happened, for logs and tests.
    """
    now = timezone.now()
    started = execution.start(refund_id, now) or _take_attempt(refund_id, now)
    if isinstance(started, str):
        return started
    attempt = started.attempt
    request = providers.RefundRequest(
        payment_reference=started.payment_reference,
        amount=started.total,
        currency=started.currency,
        idempotency_key=idempotency_key(started.key, started.execution_round),
        refund_key=started.key,
        metadata={"refund_id": refund_id, "rma_number": started.rma_number or "", "claim_id": started.claim_id},
        reconcile=started.execution_round > 1,
    )
    try:
        result = providers.get(started.provider).refund(request)
    except ProviderUnavailable as error:
        _record_unavailable(refund_id, attempt, error, final_attempt)
        if final_attempt:
            return "failed"
        raise
    except ProviderDeclined as error:
        _record_failure(refund_id, attempt, error.reason, {"http_status": error.status, "error": error.body})
        return "failed"
    return _record_result(refund_id, attempt, result)


def _take_attempt(refund_id: int, now: datetime) -> execution.Started | str:
    """The attempt through the ORM, when ``execution.start`` did not take it (not approved, or not on
    PostgreSQL): approved → processing; a processing refund whose last attempt's lease expired (its worker
    died) is resumed; one held by a live attempt is "in_flight"; any other is "skipped"."""
    with transaction.atomic():
        # The request needs the claim's RMA number only: one column joined, not a claim built.
        refund = (
            Refund.objects.select_for_update(of=("self",)).annotate(rma_number=F("claim__rma_number")).get(pk=refund_id)
        )
        if refund.status == RefundStatus.APPROVED:
            transition = states.require(refund.status, "start", actors.SYSTEM)
            refund.attempts += 1
            refund.processing_started_at = now
            _move(
                refund,
                transition,
                actors.SYSTEM,
                {"attempt": refund.attempts, "round": refund.execution_round},
                fields=("attempts", "processing_started_at"),
            )
        elif refund.status == RefundStatus.PROCESSING and refund.provider != Provider.MANUAL:
            lease = timedelta(seconds=settings.REFUND_ATTEMPT_LEASE_SECONDS)
            if refund.processing_started_at and now - refund.processing_started_at < lease:
                return "in_flight"
            refund.attempts += 1
            refund.processing_started_at = now
            refund.save(update_fields=["attempts", "processing_started_at", "updated_at"])
            _record(
                refund, actors.SYSTEM, RefundAction.RESUME, refund.status, refund.status, {"attempt": refund.attempts}
            )
        else:
            return "skipped"
    return execution.Started(
        attempt=refund.attempts,
        execution_round=refund.execution_round,
        payment_reference=refund.payment_reference,
        total=refund.total,
        currency=refund.currency,
        key=str(refund.key),
        provider=refund.provider,
        claim_id=refund.claim_id,
        rma_number=refund.rma_number,
    )


def _record_result(refund_id: int, attempt: int, result: providers.RefundResult) -> str:
    with transaction.atomic():
        if result.status != "awaiting_manual":
            done = execution.succeed(
                refund_id,
                timezone.now(),
                reference=result.reference,
                provider_status=result.detail.get("stripe_status", result.status),
                payload={"provider_reference": result.reference, "attempt": attempt, **result.detail},
            )
            if done is not None:
                if not done.claim_moved:  # the ORM path records why the claim could not follow
                    _claim_follow(Refund.objects.get(pk=refund_id))
                # The thread's last email was read by the success statement: no query for it here.
                thread = notifications.thread_headers(done.claim, last_email=done.last_email)
                _email_refund_sent(done.claim, done.currency, done.total, done.lines, send_here=True, thread=thread)
                return "succeeded"
        # Not processing any more (succeeded by another attempt, failed meanwhile), a manual payment awaited,
        # or not on PostgreSQL.
        refund = _lock(refund_id, ())
        if refund.status == RefundStatus.SUCCEEDED:
            return "already_succeeded"
        if result.status == "awaiting_manual":
            refund.processing_started_at = None
            refund.save(update_fields=["processing_started_at", "updated_at"])
            _record(
                refund,
                actors.SYSTEM,
                RefundAction.AWAIT_MANUAL_PAYMENT,
                refund.status,
                refund.status,
                {"attempt": attempt},
            )
            return "awaiting_manual"
        transition = states.require(refund.status, "succeed", actors.SYSTEM)
        refund.provider_reference = result.reference
        refund.provider_status = result.detail.get("stripe_status", result.status)
        _succeed(
            refund,
            transition,
            actors.SYSTEM,
            {"provider_reference": result.reference, "attempt": attempt, **result.detail},
            send_email_here=True,
        )
    return "succeeded"


def _succeed(
    refund: Refund, transition: states.Transition, by, payload: dict, *, send_email_here: bool = False
) -> None:
    """Record the success, refund the claim and email the customer, all in the caller's transaction.

    The claim is marked refunded by the system (``claim_mark_refunded``), whoever approved or recorded the
    money. Should the claim not be able to follow (a person cancelled it meanwhile), the money still left:
    the refund keeps its success, an event says why the claim did not move, and the reconciliation's
    "needs attention" list shows it.

    ``send_email_here``: the execution task sends the customer's email itself once this commits
    (``notifications.send_or_queue``), rather than queueing one more task per refund; a person's
    click (a manual payment recorded) leaves it to the ``send_email`` task, as every other email.
    """
    refund.succeeded_at = timezone.now()
    refund.processing_started_at = None
    refund.failure_reason = ""
    _move(
        refund,
        transition,
        by,
        payload,
        fields=("succeeded_at", "processing_started_at", "failure_reason", "provider_reference", "provider_status"),
    )
    claim = _claim_follow(refund) or Claim.objects.select_related("order").get(pk=refund.claim_id)
    _email_refund_sent(claim, refund.currency, refund.total, refund.lines.all(), send_here=send_email_here)


def _email_refund_sent(
    claim: Claim,
    currency: str,
    total: Decimal,
    lines: Iterable[RefundLine],
    *,
    send_here: bool,
    thread: dict | None = None,
) -> None:
    """``thread``: the email's thread headers when the caller has them (``notifications.thread_headers``);
    None reads them."""
    notifications.email_customer(
        claim=claim,
        template="refund_sent",
        send_here=send_here,
        thread=thread,
        currency=currency,
        lines=[
            {
                "kind": line.get_kind_display(),
                "description": line.description,
                "amount": money.quantize(line.signed_amount, currency),
                "reason": line.reason if line.kind == LineKind.DEDUCTION else "",
            }
            for line in lines
            if line.amount
        ],
        amount=money.quantize(total, currency),
    )


def claim_follow_refund(refund: Refund, **details) -> bool:
    """The claim of a succeeded refund is refunded, as the system; False (with an event on the refund saying
    why) when the claim cannot follow, e.g. a person cancelled it meanwhile: the money left anyway."""
    return _claim_follow(refund, **details) is not None


def _claim_follow(refund: Refund, **details) -> Claim | None:
    """``claim_follow_refund``, returning the claim refunded (with its order), or None."""
    try:
        # Inside the refund's transaction the service's own atomic block is a savepoint: a refused move
        # is undone alone, and the refund's success stands (the money left, whatever the claim's state).
        return claim_services.claim_mark_refunded(
            claim_id=refund.claim_id,
            details={
                "refund_id": refund.pk,
                "total": refund.total,
                "currency": refund.currency,
                "provider_reference": refund.provider_reference,
                **details,
            },
        )
    except claim_states.InvalidTransition as error:
        log.warning("refund %s succeeded but claim %s not marked refunded: %s", refund.pk, refund.claim_id, error)
        _record(
            refund,
            actors.SYSTEM,
            RefundAction.CLAIM_NOT_MARKED_REFUNDED,
            refund.status,
            refund.status,
            {"reason": str(error)},
        )
        return None


def _record_unavailable(refund_id: int, attempt: int, error: ProviderUnavailable, final_attempt: bool) -> None:
    with transaction.atomic():
        refund = _lock(refund_id, ())
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
            actors.SYSTEM,
            RefundAction.ATTEMPT_FAILED,
            refund.status,
            refund.status,
            {"attempt": attempt, "reason": error.reason, "http_status": error.status, "will_retry": True},
        )


def _record_failure(refund_id: int, attempt: int, reason: str, payload: dict) -> None:
    with transaction.atomic():
        refund = _lock(refund_id, ())
        if refund.status != RefundStatus.PROCESSING:
            return
        refund.last_error = reason[:2000]
        _fail(refund, reason, {**payload, "attempt": attempt})


def _fail(refund: Refund, reason: str, payload: dict) -> None:
    transition = states.require(refund.status, "fail", actors.SYSTEM)
    refund.failure_reason = reason[:2000]
    refund.processing_started_at = None
    _move(refund, transition, actors.SYSTEM, {"reason": reason, **payload})


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
    """Remind finance of refunds still waiting for approval and of refunds at their 5-working-day target,
    escalate those past the 7 to managers. The clock runs from the inspection (``refunds/sla.py``).

    The pattern of ``returns.services.sla_sweep``: the rows are locked (``skip_locked``, so a
    second beat by mistake passes them by) and marked in the same transaction as their claim
    events and the digests, so each refund is reminded once and escalated once.
    """
    now = now or timezone.now()
    running = (
        Refund.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("claim")
        # What the events and the digests need, not every column.
        .only(
            "status",
            "currency",
            "total",
            "clock_started_at",
            "refund_target_at",
            "refund_due_at",
            "claim__status",
            "claim__rma_number",
        )
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
        waiting = [
            refund
            for refund in running.filter(
                status__in=AWAITING_APPROVAL_STATUSES, approval_reminded_at=None, refund_target_at__gt=now
            ).order_by("clock_started_at")
            if sla.approval_reminder_at(refund) <= now
        ]
        Refund.objects.filter(pk__in=[r.pk for r in waiting]).update(approval_reminded_at=now)
        Refund.objects.filter(pk__in=[r.pk for r in at_target]).update(sla_reminded_at=now)
        Refund.objects.filter(pk__in=[r.pk for r in overdue]).update(sla_breached_at=now)
        ClaimEvent.objects.bulk_create(
            [_sla_event(refund, ClaimAction.REFUND_APPROVAL_REMINDED) for refund in waiting]
            + [_sla_event(refund, ClaimAction.REFUND_SLA_REMINDED) for refund in at_target]
            + [_sla_event(refund, ClaimAction.REFUND_SLA_BREACHED) for refund in overdue]
        )
        if waiting:
            notifications.email_staff(
                group=settings.SLA_REFUND_REMINDER_GROUP, template="refund_approval_waiting", items=waiting, now=now
            )
        if at_target:
            notifications.email_staff(
                group=settings.SLA_REFUND_REMINDER_GROUP, template="refund_sla_due_soon", items=at_target, now=now
            )
        if overdue:
            notifications.email_staff(
                group=settings.SLA_ESCALATION_GROUP, template="refund_sla_overdue", items=overdue, now=now
            )
    return {"approval_reminded": len(waiting), "reminded": len(at_target), "escalated": len(overdue)}


def _sla_event(refund: Refund, action: str) -> ClaimEvent:
    """On the claim's history, where customer service and managers look; the claim's status does not move."""
    return events.build(
        ClaimEvent,
        claim_id=refund.claim_id,
        by=actors.SYSTEM,
        action=action,
        source=refund.claim.status,
        target=refund.claim.status,
        payload={
            "refund_id": refund.pk,
            "refund_status": refund.status,
            "refund_target_at": refund.refund_target_at,
            "refund_due_at": refund.refund_due_at,
        },
    )


def refund_deadlines_recompute(*, by, now: datetime | None = None) -> int:
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
        moved, moved_events = [], []
        for refund in refunds:
            target, due = sla.deadlines(refund.clock_started_at, cache)
            if (target, due) == (refund.refund_target_at, refund.refund_due_at):
                continue
            before = {"target": refund.refund_target_at, "due": refund.refund_due_at}
            refund.refund_target_at, refund.refund_due_at = target, due
            if refund.sla_reminded_at is not None and target > now:
                refund.sla_reminded_at = None
            if refund.sla_breached_at is not None and due > now:
                refund.sla_breached_at = None
            moved.append(refund)
            moved_events.append(
                events.build(
                    RefundEvent,
                    refund=refund,
                    by=by,
                    action=RefundAction.DEADLINES_RECOMPUTED,
                    source=refund.status,
                    target=refund.status,
                    payload={"from": before, "to": {"target": target, "due": due}},
                )
            )
        # Not updated_at: the requeue sweep reads it as "last touched by the execution".
        Refund.objects.bulk_update(moved, ["refund_target_at", "refund_due_at", "sla_reminded_at", "sla_breached_at"])
        RefundEvent.objects.bulk_create(moved_events)
    return len(moved)


# --- Helpers -----------------------------------------------------------------------


def _queue_execution(refund_id: int) -> None:
    from refunds import tasks

    # robust: a broker that is down must not undo a committed approval; the sweep queues it later.
    transaction.on_commit(lambda: tasks.execute_refund.delay(refund_id), robust=True)


def _lock(refund_id: int, related: tuple[str, ...] = ("claim__policy_version", "claim__order")) -> Refund:
    """The refund's row, locked, with what the caller reads joined: execution's steps join little or nothing
    (a narrower statement to build and run, for every refund of the queue)."""
    return Refund.objects.select_for_update(of=("self",)).select_related(*related).get(pk=refund_id)


def _lock_and_check(refund_id: int, action: str, by) -> tuple[Refund, states.Transition]:
    refund = _lock(refund_id)
    return refund, states.require(refund.status, action, by)


def _move(refund: Refund, transition: states.Transition, by, payload: dict, fields: tuple[str, ...] = ()) -> None:
    """The transition and its event; ``fields``: the only columns the caller changed besides the status (the
    execution's steps: a narrower UPDATE, for every refund of the queue), else the whole row is written."""
    refund.status = transition.target
    refund.save(update_fields=["status", "updated_at", *fields] if fields else None)
    _record(refund, by, transition.action, transition.source, transition.target, payload)


def _record(refund: Refund, by, action: str, source: str, target: str, payload: dict) -> RefundEvent:
    return events.record(
        RefundEvent, refund=refund, by=by, action=action, source=source, target=target, payload=payload
    )


def _lock_claim(claim_id: int) -> Claim:
    # of=("self",): the claim only, not its order or the shared policy version.
    return Claim.objects.select_for_update(of=("self",)).select_related("order", "policy_version").get(pk=claim_id)


def _amount(value, currency: str) -> Decimal:
    text = str(value).strip()
    if not text.isascii():
        raise ValidationError(f"{text} is not an amount: write it with the digits 0-9.")
    try:
        amount = Decimal(text)
    except ArithmeticError:
        raise ValidationError(f"{value!r} is not an amount.") from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError(f"{value} is not an amount of money (amounts are positive; the kind gives the sign).")
    if amount >= _MAX_AMOUNT:
        raise ValidationError(f"{value} is far more than any order: check the amount.")
    if amount != money.quantize(amount, currency):
        raise ValidationError(f"{value} has more decimals than {currency} allows.")
    return amount
