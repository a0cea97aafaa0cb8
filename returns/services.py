"""Every write to a claim: lock the row, check the state table and the user's
permission, write the change and its ``ClaimEvent`` in one transaction, and
queue side effects (emails, thumbnails) to run once it commits.
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from core import actors, events
from core.text import single_line
from returns import ledger, links, notifications, policy, selectors, sla, states, uploads
from returns.models import (
    OPEN_STATUSES,
    Claim,
    ClaimAction,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    ClaimType,
    DoaReason,
    EmailStatus,
    Evidence,
    EvidenceKind,
    Order,
    OrderAction,
    OrderEvent,
    OutboundAttachment,
    OutboundEmail,
    PolicyVersion,
    Product,
    ProductAction,
    ProductEvent,
    ReceivedDateSource,
    RmaSequence,
)

log = logging.getLogger(__name__)


class ApprovalRefused(states.InvalidTransition):
    """The state table allows approval, the policy does not (yet)."""


class DuplicateSubmission(Exception):
    def __init__(self, claim: Claim):
        self.claim = claim
        super().__init__(f"This claim was already created as {claim}; nothing was added twice.")


class UnitsTaken(ValidationError):
    """The units asked for are refunded or in another open claim; ``open_claim_ids`` name the claims that
    hold them, so the agent can add the customer's message to one of those instead; ``by_line`` has the
    words per order line id, for the form to show next to each line."""

    def __init__(self, by_line: dict[int, list[str]], open_claim_ids: list[int]):
        self.open_claim_ids = open_claim_ids
        self.by_line = by_line
        super().__init__({"units": [message for messages in by_line.values() for message in messages]})


# --- Claims -------------------------------------------------------------


def claim_create(
    *,
    order: Order,
    claim_type: str,
    description: str,
    by,
    units: dict[int, int] | None = None,
    order_line_ids: Iterable[int] = (),
    doa_reason: str = "",
    serial_number: str = "",
    submitted_at: datetime | None = None,
    submission_key: uuid.UUID | None = None,
    language: str = "",
    customer_message_id: str = "",
    customer_thread_references: str = "",
) -> Claim:
    """Record a customer's claim as received, and acknowledge it by email.

    ``customer_message_id`` (and its ``customer_thread_references``): the customer's email the claim is made
    from (inbox), so that the acknowledgement answers it in the same thread.

    ``units`` maps order line ids to the units claimed (a customer may return 1 of 3);
    ``order_line_ids`` claims every unit of those lines. Units already refunded or in
    another open claim are refused (``UnitsTaken``), naming where they are.
    ``by`` is customer service, or the customer (``actors.CUSTOMER``) on their own order's
    page, which the signed order link opened (``portal``). ``language`` is the customer's:
    every email about the claim is written in it.
    """
    customer = actors.kind_of(by) == actors.ActorKind.CUSTOMER
    if not customer and not by.has_perm("returns.add_claim"):
        raise PermissionDenied("You do not have permission to create claims.")
    if submission_key and (existing := Claim.objects.filter(submission_key=submission_key).first()):
        raise DuplicateSubmission(existing)
    submitted_at = submitted_at or timezone.now()
    lines = {line.pk: line for line in order.lines.select_related("product")}
    wanted = dict(units or {}) | {line_id: lines[line_id].quantity for line_id in order_line_ids if line_id in lines}
    if set(order_line_ids) - set(lines) or set(wanted) - set(lines):
        raise ValidationError({"units": f"Some of the chosen items are not on order {order.number}."})
    wanted = {line_id: count for line_id, count in wanted.items() if count}
    _check_new_claim(claim_type, doa_reason, description, wanted, lines, submitted_at)
    try:
        with transaction.atomic():
            # The order's lock, then its lines' (the order every writer of orders takes: the importer,
            # the received-date change): two claims entered at once for the same units queue here, and a
            # form submitted twice finds its first submission once it has the locks.
            Order.objects.select_for_update().filter(pk=order.pk).values_list("pk", flat=True).get()
            # The products' locks, then the lines': a category set meanwhile (product_set_category locks the
            # products, then their open claims) is either seen here or sees this claim.
            categories = dict(
                Product.objects.select_for_update()
                .filter(pk__in={lines[line_id].product_id for line_id in wanted})
                .order_by("pk")
                .values_list("pk", "is_electronic")
            )
            ledgers = ledger.for_lines(wanted, lock=True)
            if submission_key and (existing := Claim.objects.filter(submission_key=submission_key).first()):
                raise DuplicateSubmission(existing)
            _check_units_free(ledgers, wanted)
            claim = Claim.objects.create(
                order=order,
                order_number=order.number,
                customer_email=order.customer_email.lower(),
                claim_type=claim_type,
                doa_reason=doa_reason if claim_type == ClaimType.DOA else "",
                description=description.strip(),
                is_electronic=claim_is_electronic(categories[lines[line_id].product_id] for line_id in wanted),
                policy_version=policy_in_force(submitted_at),
                submitted_at=submitted_at,
                submission_key=submission_key,
                created_by=None if customer else by,
                language=language,
                first_response_due_at=sla.first_response_due(submitted_at),
                customer_last_message_id=customer_message_id[:255],
                customer_thread_references=customer_thread_references,
            )
            ClaimItem.objects.bulk_create(
                ClaimItem(claim=claim, order_line_id=line_id, quantity=count, serial_number=serial_number)
                for line_id, count in sorted(wanted.items())
            )
            _record(
                claim,
                by,
                ClaimAction.CREATE,
                "",
                claim.status,
                {"items": [{"sku": lines[i].product.sku, "units": n} for i, n in sorted(wanted.items())]},
            )
            notifications.email_customer(claim=claim, template="claim_received")
    except IntegrityError:
        if submission_key and (existing := Claim.objects.filter(submission_key=submission_key).first()):
            raise DuplicateSubmission(existing) from None
        raise
    return claim


def claim_is_electronic(categories: Iterable[bool | None]) -> bool | None:
    """Electronic when any claimed product is; not when every one is known not to be; else unknown (None)."""
    categories = list(categories)
    if any(categories):
        return True
    return None if None in categories else False


def _check_new_claim(claim_type, doa_reason, description, wanted, lines, submitted_at):
    errors = {}
    if claim_type not in ClaimType.values:
        errors["claim_type"] = "Choose DOA, no-reason return or warranty."
    if claim_type == ClaimType.DOA and doa_reason not in DoaReason.values:
        errors["doa_reason"] = "A DOA claim needs its reason: wrong item, missing item, damage or quality issue."
    if not description.strip():
        errors["description"] = "Write what the customer reported."
    if not wanted:
        errors["units"] = "Choose at least one unit of an item of the order."
    for line_id, count in wanted.items():
        line = lines[line_id]
        if count < 0 or count > line.quantity:
            errors["units"] = f"{line.product.sku}: the order has {line.quantity} unit(s); claim between 1 and that."
    if submitted_at > timezone.now() + timedelta(minutes=5):
        errors["submitted_at"] = "The claim cannot be made in the future."
    if errors:
        raise ValidationError(errors)


def _check_units_free(ledgers: dict, wanted: dict[int, int]) -> None:
    problems, holders = {}, []
    for line_id, count in sorted(wanted.items()):
        line_ledger = ledgers[line_id]
        if count > line_ledger.free_units:
            sku = line_ledger.line.product.sku
            problems[line_id] = [
                f"{sku}: {count} unit(s) asked, {line_ledger.free_units} of {line_ledger.line.quantity} free.",
                *line_ledger.notes(),
            ]
            holders.extend(c.claim_id for c in line_ledger.open_claims)
    if problems:
        raise UnitsTaken(problems, list(dict.fromkeys(holders)))


def claim_attach_message(*, claim_id: int, by, message: str, received_at: datetime | None = None) -> Claim:
    """The customer wrote again about units already in this open claim: their message joins it, not a new claim.

    One event on the claim keeps the message; the evidence that came with it is added with
    ``evidence_add`` (an event each). The first-response clock is not restarted: an agent
    already has the claim.
    """
    require_text(message, "description", "Write what the customer wrote.")
    # The system: the customer's own email, which the inbox matched to the claim (docs/inbox.md).
    if not (actors.is_system(by) or by.has_perm("returns.add_claim")):
        raise PermissionDenied("You do not have permission to add to claims.")
    with transaction.atomic():
        claim = _lock(claim_id)
        if claim.status not in OPEN_STATUSES:
            raise states.InvalidTransition(
                f"{claim} is {claim.get_status_display().lower()}: a message can only join an open claim."
            )
        payload = {"message": message.strip()}
        if received_at is not None:
            payload["received_at"] = received_at
        _record(claim, by, ClaimAction.ATTACH_MESSAGE, claim.status, claim.status, payload)
    return claim


def policy_in_force(moment: datetime) -> PolicyVersion:
    version = PolicyVersion.objects.filter(effective_from__lte=moment).order_by("-effective_from").first()
    if version is None:
        raise ValidationError("No after-sales policy was in force at that time.")
    return version


def claim_ask_for_information(*, claim_id: int, by, message: str) -> Claim:
    """Stop and wait for the customer: missing photos, a serial number, a detail to troubleshoot."""
    require_text(message, "message", "Write what you need from the customer.")
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "ask_for_information", by)
        _move(claim, transition, by, {"message": message})
        notifications.email_customer(claim=claim, template="information_requested", message=message)
    return claim


def claim_record_customer_answer(*, claim_id: int, by, answer: str) -> Claim:
    """Customer service records the answer from the customer's email, or the customer (``actors.CUSTOMER``)
    answers on the claim's page; either way the 24-hour first response starts again (``sla.RESTARTS``)."""
    require_text(answer, "answer", "Write or paste what the customer answered.")
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "record_customer_answer", by)
        _move(claim, transition, by, {"answer": answer})
    return claim


def claim_resolve(*, claim_id: int, by, note: str) -> Claim:
    """The agent "troubleshoots the reported issue" first; a fixed claim closes without a return."""
    require_text(note, "note", "Write what fixed the issue.")
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "resolve", by)
        _move(claim, transition, by, {"note": note})
    return claim


def claim_approve(*, claim_id: int, by, returnless_reason: str = "", window_override_reason: str = "") -> Claim:
    """Approve: give the RMA number and email the return instructions.

    Refused while the policy's conditions are not met: the window has passed
    (a manager may override with a reason), no whole-package photo, the
    received date unknown, or an order line already in another open claim.
    """
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "approve", by)
        # The order read afresh: a received date changed while this claim's lock was awaited
        # (order_set_received_on locks every claim of the order) judges the claim, not the one read before.
        claim.order.refresh_from_db()
        review = selectors.claim_review(claim, lock_lines=True)
        if review.problems:
            raise ApprovalRefused(" ".join(review.problems))
        payload = {}
        if review.window_expired:
            if not by.has_perm("returns.override_claim_window"):
                raise ApprovalRefused(f"{review.judgement.describe()} Only a manager can approve it, with a reason.")
            require_text(window_override_reason, "window_override_reason", "Write why the window is overridden.")
            claim.window_override_reason = window_override_reason.strip()
            payload["window_override_reason"] = claim.window_override_reason
            payload["days_over"] = review.judgement.days_over
        if returnless_reason.strip():
            if claim.doa_reason != DoaReason.MISSING_ITEM:
                raise ApprovalRefused("Only a DOA claim for a missing item can be approved without a return.")
            claim.is_returnless = True
            claim.returnless_reason = returnless_reason.strip()
            payload["returnless_reason"] = claim.returnless_reason
        claim.rma_number = _next_rma_number()
        payload["rma_number"] = claim.rma_number
        _move(claim, transition, by, payload)
        notifications.email_customer(
            claim=claim,
            template="claim_approved",
            judgement=review.judgement,
            tracking_url=None if claim.is_returnless else links.tracking_url(claim),
        )
    return claim


def claim_reject(*, claim_id: int, by, reason: str) -> Claim:
    require_text(reason, "reason", "Write the reason the customer will read.")
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "reject", by)
        claim.rejection_reason = reason.strip()
        _move(claim, transition, by, {"reason": claim.rejection_reason})
        notifications.email_customer(claim=claim, template="claim_rejected", reason=claim.rejection_reason)
    return claim


def claim_cancel(*, claim_id: int, by, reason: str) -> Claim:
    """Customer service cancels; the customer (``actors.CUSTOMER``) may too while nothing was shipped (the
    state table's customer rows: requested, awaiting customer, approved), but not a returnless approval,
    whose refund is already on its way."""
    require_text(reason, "reason", "Write why the claim is cancelled.")
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "cancel", by)
        if claim.is_returnless and actors.kind_of(by) == actors.ActorKind.CUSTOMER:
            raise states.NotPermitted("This return needs nothing sent back and its refund is on its way.")
        _move(claim, transition, by, {"reason": reason.strip()})
    return claim


def claim_expire(*, claim_id: int, by) -> Claim:
    """No parcel news for the policy's ``parcel_expiry_days`` after approval: the system cancels the claim
    and tells the customer (the parcel sweep calls it; the state table lets only the system take it)."""
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "expire", by)
        days = claim.policy_version.parcel_expiry_days
        _move(claim, transition, by, {"approved_at": claim.approved_at, "expiry_days": days})
        notifications.email_customer(claim=claim, template="claim_expired", expiry_days=days)
    return claim


# --- The return parcel and its inspection ----------------------------------
# Called by the shipments and inspections services, inside their transactions:
# those apps own the parcel and the inspection, this one owns the claim's state.


def claim_mark_shipped(*, claim_id: int, by, details: dict) -> Claim:
    """The customer (``actors.CUSTOMER``, through the signed link) or an agent gave the return parcel's tracking."""
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "ship", by)
        _move(claim, transition, by, details)
    return claim


def claim_record_receipt(*, claim_id: int, by, details: dict) -> Claim:
    """The warehouse received the claim's parcel; an approved claim is shipped from then on."""
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "receive", by)
        _move(claim, transition, by, details)
    return claim


def claim_mark_inspected(*, claim_id: int, by, outcome: str, details: dict, rejection_reason: str = "") -> Claim:
    """Every returned item is inspected: the claim is inspected and the customer told the outcome.

    A ``rejection_reason`` (a warranty defect caused by human or physical
    damage) rejects the claim in the same transaction.
    """
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "inspect", by)
        _move(claim, transition, by, {"outcome": outcome, **details})
        if rejection_reason:
            claim = claim_reject_after_inspection(claim_id=claim_id, by=by, reason=rejection_reason)
        notifications.email_customer(
            claim=claim, template="claim_inspected", outcome=outcome, rejection_reason=rejection_reason
        )
    return claim


def claim_reject_after_inspection(*, claim_id: int, by, reason: str) -> Claim:
    """A warranty defect caused by human or physical damage: no replacement, the goods go back."""
    require_text(reason, "reason", "Write what the inspection found.")
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "reject_after_inspection", by)
        claim.rejection_reason = reason.strip()
        _move(claim, transition, by, {"reason": claim.rejection_reason})
    return claim


def claim_mark_refunded(*, claim_id: int, details: dict) -> Claim:
    """The claim's refund succeeded (called by the refunds app, in its transaction).

    Always the system's move: the money left, whoever approved or recorded it, and a
    deactivated approver must not leave the claim behind (the refund's own events say who).
    """
    by = actors.SYSTEM
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "refund", by)
        if claim.status == ClaimStatus.APPROVED and not claim.is_returnless:
            raise states.InvalidTransition("Only a returnless claim is refunded before its parcel is inspected.")
        _move(claim, transition, by, details)
    return claim


def claim_mark_replaced(*, claim_id: int, by, details: dict) -> Claim:
    """The replacement left the warehouse (called by the warranty app, in its transaction)."""
    with transaction.atomic():
        claim, transition = _lock_and_check(claim_id, "replace", by)
        _move(claim, transition, by, details)
    return claim


def claim_note(*, claim_id: int, by, action: str, payload: dict) -> ClaimEvent:
    """A change the claim's history must show that does not move the claim (an inspection recorded, a parcel
    shipped to the customer): the apps above write it here, inside their own transaction, never directly."""
    if action not in ClaimAction.values:
        raise ValueError(f"unknown claim action {action!r}")
    claim = Claim.objects.only("status").get(pk=claim_id)
    return _record(claim, by, action, claim.status, claim.status, payload)


def _lock(claim_id: int) -> Claim:
    # of=("self",): lock the claim only, not the order. The policy version is not joined: the claim's time
    # may change it (claim_set_submitted_at), and a lock that waited for that change re-checks the join
    # against the version read before it waited, finds no row and raises DoesNotExist. It loads when used.
    return Claim.objects.select_for_update(of=("self",)).select_related("order").get(pk=claim_id)


def _lock_and_check(claim_id: int, action: str, by) -> tuple[Claim, states.Transition]:
    claim = _lock(claim_id)
    return claim, states.require(claim.status, action, by)


def _move(claim: Claim, transition: states.Transition, by, payload: dict) -> None:
    claim.status = transition.target
    sla.apply(claim, transition.action, timezone.now())
    claim.save()  # every field: the services change more than the status (RMA number, reasons)
    _record(claim, by, transition.action, transition.source, transition.target, payload)


def _record(claim: Claim, by, action: str, source: str, target: str, payload: dict) -> ClaimEvent:
    return events.record(ClaimEvent, claim=claim, by=by, action=action, source=source, target=target, payload=payload)


def require_text(value: str, field: str, message: str) -> None:
    """A reason, note or reference a person must write: blank or spaces only is refused with ``message``."""
    if not (value or "").strip():
        raise ValidationError({field: message})


def _next_rma_number() -> str:
    """RMA-YYYY-NNNNNN: unique, in order, never given twice (the counter row is locked)."""
    year = timezone.localdate(timezone=timezone.get_default_timezone()).year
    sequence, _ = RmaSequence.objects.select_for_update().get_or_create(year=year)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return f"RMA-{year}-{sequence.last_value:06d}"


# --- The dates a policy window counts between -------------------------------
# Every window counts from the order's received date to the day the claim was made: both move
# only here, with a reason, and once a claim is approved only a manager moves them (docs/claims.md,
# "The received date and the claim's time").

CHANGE_RECEIVED_DATE = "returns.change_order"
CHANGE_RECEIVED_DATE_AFTER_APPROVAL = "returns.change_received_date_after_approval"
CHANGE_CLAIM_TIME = "returns.add_claim"
CHANGE_CLAIM_TIME_AFTER_APPROVAL = "returns.change_claim_time_after_approval"
# Statuses only an approval leads to. An approved claim also keeps its RMA number when cancelled later.
_APPROVED_STATUSES = (
    ClaimStatus.APPROVED,
    ClaimStatus.SHIPPED,
    ClaimStatus.INSPECTED,
    ClaimStatus.REFUNDED,
    ClaimStatus.REPLACED,
)
_CLAIM_TIME_SKEW = timedelta(minutes=5)  # as claim_create: a clock a little ahead is not "the future"


def is_approved(claim: Claim) -> bool:
    """The claim was approved (it may have moved on since, or been cancelled): its window was decided."""
    return claim.rma_number is not None or claim.status in _APPROVED_STATUSES


def order_set_received_on(*, order_id: int, by, received_on: date | None, source: str, reason: str) -> Order:
    """Record the day the customer received the order's goods: every policy window counts from it.

    ``source`` is a ``ReceivedDateSource`` (the customer's proof, the carrier, staff, the store's
    export); ``reason`` is in words for a person. Refused: a day in the future (company time zone), or
    a day after a claim of the order was made (they had the goods by then). Customer service
    (``returns.change_order``) may change it while no claim of the order is approved; once one is, only
    a manager (``returns.change_received_date_after_approval``). The system (the importer, a carrier's
    delivery event) may record an unknown day or change one before any approval; after an approval it
    is refused like customer service: a person decides, not a file or a feed. The same day again is a
    no-op and writes nothing. Who, the old and new day, the source and the reason go in an
    ``OrderEvent`` and in a ``ClaimEvent`` on every claim of the order, in the same transaction.
    """
    require_text(reason, "reason", "Write why the received date changes (what shows the day).")
    customer = actors.kind_of(by) == actors.ActorKind.CUSTOMER
    if customer:
        # The customer (on their order's page, the signed link proving who they are) may state an unknown
        # day with its proof, once, before any approval; a known day is changed by staff only.
        if source != ReceivedDateSource.CUSTOMER_PROOF or received_on is None:
            raise states.NotPermitted("Only staff can do this: the customer states the day with a proof.")
    else:
        _require_date_permission(by, None, CHANGE_RECEIVED_DATE, CHANGE_RECEIVED_DATE_AFTER_APPROVAL, "received dates")
    errors = {}
    if source not in ReceivedDateSource.values:
        errors["source"] = "Choose where the date comes from: the customer's proof, the carrier, staff or the store."
    today = policy.claim_day(timezone.now())
    if received_on is not None and received_on > today:
        errors["received_on"] = (
            f"{received_on:%d %b %Y} is in the future (today is {today:%d %b %Y} in the company's time zone): "
            "the goods cannot have been received yet."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.received_on == received_on:
            return order
        claims = _lock_claims_of(order.pk)
        approved = next((claim for claim in claims if is_approved(claim)), None)
        if customer:
            if order.received_on is not None or approved is not None:
                raise states.NotPermitted("Only staff can do this: the delivery date is already recorded.")
        else:
            _require_date_permission(
                by, approved, CHANGE_RECEIVED_DATE, CHANGE_RECEIVED_DATE_AFTER_APPROVAL, "the received date"
            )
        if received_on is not None:
            made = [(policy.claim_day(claim.submitted_at), claim.pk, claim) for claim in claims]
            later = [(day, claim) for day, _, claim in sorted(made) if received_on > day]
            if later:
                day, claim = later[0]
                raise ValidationError(
                    {
                        "received_on": f"{claim} was made on {day:%d %b %Y}: the goods were received on or "
                        f"before that day, not on {received_on:%d %b %Y}."
                    }
                )
        payload = {
            "old_received_on": order.received_on,
            "new_received_on": received_on,
            "old_source": order.received_on_source,
            "new_source": source,
            "reason": reason.strip(),
        }
        order.received_on = received_on
        order.received_on_source = source if received_on is not None else ""
        order.save(update_fields=["received_on", "received_on_source", "updated_at"])
        events.record(OrderEvent, order=order, by=by, action=OrderAction.RECEIVED_DATE_CHANGED, payload=payload)
        ClaimEvent.objects.bulk_create(
            events.build(
                ClaimEvent,
                claim=claim,
                by=by,
                action=ClaimAction.RECEIVED_DATE_CHANGED,
                source=claim.status,
                target=claim.status,
                payload=payload,
            )
            for claim in claims
        )
    return order


def order_received_on_refusal(*, order: Order, by) -> str:
    """Why ``by`` may not change the order's received date now ("" when they may): for the admin's form.
    Read without locks; ``order_set_received_on`` checks again under them."""
    approved = next((claim for claim in order.claims.order_by("pk") if is_approved(claim)), None)
    try:
        _require_date_permission(
            by, approved, CHANGE_RECEIVED_DATE, CHANGE_RECEIVED_DATE_AFTER_APPROVAL, "the received date"
        )
    except states.NotPermitted as refusal:
        return str(refusal)
    return ""


def claim_set_submitted_at(*, claim_id: int, by, submitted_at: datetime, reason: str) -> Claim:
    """Correct the moment the claim was made (the customer's email arrived): the window counts to its day.

    Customer service (``returns.add_claim``, who types claims in with that moment) before the claim is
    approved, a manager (``returns.change_claim_time_after_approval``) after; the system likewise only
    before. Refused: a moment in the future, or before the day the goods were received. The policy
    version in force at the new moment is picked again. While the first-response clock still runs from
    the claim's arrival (requested, no customer's answer recorded since), its due moment moves with it
    (``sla.move_first_response``); a clock restarted by an answer, stopped or answered is left as it is.
    The old and new moment and policy version go in a ``SUBMITTED_AT_CHANGED`` event with the reason.
    """
    require_text(reason, "reason", "Write why the claim's time changes (what shows the moment).")
    _require_date_permission(by, None, CHANGE_CLAIM_TIME, CHANGE_CLAIM_TIME_AFTER_APPROVAL, "claims' times")
    if submitted_at is None or timezone.is_naive(submitted_at):
        raise ValidationError({"submitted_at": "Give the moment the claim was made, with its time zone."})
    now = timezone.now()
    if submitted_at > now + _CLAIM_TIME_SKEW:
        raise ValidationError({"submitted_at": "The claim cannot be made in the future."})
    with transaction.atomic():
        # The order first, then the claim: the order the received date's service locks them in.
        order_id = Claim.objects.values_list("order_id", flat=True).get(pk=claim_id)
        order = Order.objects.select_for_update().get(pk=order_id)
        claim = _lock(claim_id)
        if claim.submitted_at == submitted_at:
            return claim
        _require_date_permission(
            by,
            claim if is_approved(claim) else None,
            CHANGE_CLAIM_TIME,
            CHANGE_CLAIM_TIME_AFTER_APPROVAL,
            "the time the claim was made",
        )
        made_on = policy.claim_day(submitted_at)
        if order.received_on is not None and made_on < order.received_on:
            raise ValidationError(
                {
                    "submitted_at": f"Order {order.number} was received on {order.received_on:%d %b %Y}: "
                    f"the claim cannot be made before that, on {made_on:%d %b %Y}."
                }
            )
        try:
            version = policy_in_force(submitted_at)
        except ValidationError as error:
            raise ValidationError({"submitted_at": error.messages}) from None
        payload = {
            "old_submitted_at": claim.submitted_at,
            "new_submitted_at": submitted_at,
            "old_policy_version": f"{claim.policy_version} (#{claim.policy_version_id})",
            "new_policy_version": f"{version} (#{version.pk})",
            "reason": reason.strip(),
        }
        if _first_response_runs_from_arrival(claim):
            payload["old_first_response_due_at"] = claim.first_response_due_at
            sla.move_first_response(claim, submitted_at, now)
            payload["new_first_response_due_at"] = claim.first_response_due_at
        claim.submitted_at, claim.policy_version = submitted_at, version
        claim.order = order
        claim.save(
            update_fields=[
                "submitted_at",
                "policy_version",
                "first_response_due_at",
                "sla_reminded_at",
                "sla_breached_at",
                "updated_at",
            ]
        )
        _record(claim, by, ClaimAction.SUBMITTED_AT_CHANGED, claim.status, claim.status, payload)
    return claim


def claim_submitted_at_refusal(*, claim: Claim, by) -> str:
    """Why ``by`` may not change the claim's time now ("" when they may): for the admin's form."""
    try:
        _require_date_permission(
            by,
            claim if is_approved(claim) else None,
            CHANGE_CLAIM_TIME,
            CHANGE_CLAIM_TIME_AFTER_APPROVAL,
            "the time the claim was made",
        )
    except states.NotPermitted as refusal:
        return str(refusal)
    return ""


def _require_date_permission(by, approved: Claim | None, permission: str, after_approval: str, what: str) -> None:
    """Before an approval: staff with ``permission`` (or ``after_approval``), or the system. After
    ``approved`` was approved: staff with ``after_approval`` (managers) only; the system is refused."""
    kind = actors.kind_of(by)
    if kind == actors.ActorKind.CUSTOMER:
        raise states.NotPermitted("Only staff can do this.")
    if approved is None:
        if kind == actors.ActorKind.SYSTEM or by.has_perm(permission) or by.has_perm(after_approval):
            return
        raise states.NotPermitted(f"You do not have permission to change {what}.")
    if kind == actors.ActorKind.SYSTEM:
        raise states.NotPermitted(
            f"{approved} was approved: the system may not change {what} now; "
            "once a claim is approved a manager decides."
        )
    if not by.has_perm(after_approval):
        raise states.NotPermitted(
            f"{approved} was approved: once a claim is approved only a manager can change {what}."
        )


def _lock_claims_of(order_id: int) -> list[Claim]:
    """Every claim of the order, locked in primary-key order: an approval waits for the change, or the
    change sees the approval."""
    return list(
        Claim.objects.select_for_update(of=("self",))
        .filter(order_id=order_id)
        .only("status", "rma_number", "submitted_at", "order_id")
        .order_by("pk")
    )


def _first_response_runs_from_arrival(claim: Claim) -> bool:
    """The 24-hour clock still counts from the claim's arrival: requested, and no customer's answer
    recorded since (an answer restarts it from the answer, ``sla.RESTARTS``)."""
    return (
        claim.status == ClaimStatus.REQUESTED
        and claim.first_response_due_at is not None
        and not claim.events.filter(action=ClaimAction.RECORD_CUSTOMER_ANSWER).exists()
    )


# --- The product catalogue: electronic or not ----------------------------------
# A store's export says nothing of a product's category; the policy gives electronic products the shorter
# windows, so a claim on a product of unknown category waits until someone sets it (docs/claims.md,
# "Product categories"). The category changes only here, with an event on the product and on each open
# claim whose category it changes.

SET_CATEGORY = "returns.set_product_category"
CHANGE_CATEGORY_AFTER_APPROVAL = "returns.change_product"


@dataclass
class CategoryResult:
    """What ``product_set_category`` did: the products whose category it set, and the open claims it changed."""

    products: list[Product] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    unchanged: int = 0


def product_set_category(*, product_ids: Iterable[int], by, electronic: bool, reason: str = "") -> CategoryResult:
    """Set the products' category (electronic or not), and judge their open claims by it from now on.

    Who: customer service (``returns.set_product_category``: the claim page asks them to set an unknown
    category) and the system (a catalogue file is the brand's own word) may set an unknown category, and
    change a known one while no claim on the product is approved; once one is, only a manager
    (``returns.change_product``): the category decided that claim's window. A known category changed
    needs a ``reason``. A product already in that category is left alone and writes nothing.

    The products are locked (by primary key), then their open claims: a claim created meanwhile
    (``claim_create`` locks the products it claims) is either recomputed here or reads the new category.
    Every open claim's ``is_electronic`` is computed again (``claim_is_electronic``); each claim whose
    category changed gets a ``category_set`` event, each product a ``ProductEvent`` with the old and new
    value, the reason, the open claims it changed and the approved claims it had.
    """
    if not isinstance(electronic, bool):
        raise ValidationError({"electronic": "Choose electronic or not electronic."})
    _require_category_permission(by, approved={})
    ids = sorted(set(product_ids))
    reason = (reason or "").strip()
    with transaction.atomic():
        products = list(Product.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        if len(products) != len(ids):
            raise ValidationError({"product_ids": "Some of the chosen products do not exist (any more)."})
        changing = [product for product in products if product.is_electronic is not electronic]
        result = CategoryResult(unchanged=len(products) - len(changing))
        if not changing:
            return result
        known = [product for product in changing if product.is_electronic is not None]
        if known:
            require_text(
                reason, "reason", f"Write why the category of {_skus(known)} changes: it was {known[0].category}."
            )
        open_claims = list(
            Claim.objects.select_for_update(of=("self",))
            .filter(
                status__in=OPEN_STATUSES,
                pk__in=ClaimItem.objects.filter(order_line__product__in=changing).values("claim_id"),
            )
            .order_by("pk")
        )
        approved = _approved_claims_of(known)
        _require_category_permission(by, approved={p.sku: approved[p.pk] for p in known if approved.get(p.pk)})
        old = {product.pk: product.is_electronic for product in changing}
        Product.objects.filter(pk__in=old).update(is_electronic=electronic)
        claims_changed, per_product = _claims_category_recompute(open_claims, old, by, reason)
        ProductEvent.objects.bulk_create(
            events.build(
                ProductEvent,
                product=product,
                by=by,
                action=ProductAction.CATEGORY_SET,
                payload={
                    "sku": product.sku,
                    "old": product.is_electronic,
                    "new": electronic,
                    "reason": reason,
                    "open_claims_changed": per_product.get(product.pk, 0),
                    "approved_claims": approved.get(product.pk, []),
                },
            )
            for product in changing
        )
        for product in changing:
            product.is_electronic = electronic
        result.products, result.claims = changing, claims_changed
    return result


def product_category_refusal(*, product: Product, by) -> str:
    """Why ``by`` may not set this product's category now ("" when they may): for the admin's buttons.
    Read without locks; ``product_set_category`` checks again under them."""
    try:
        _require_category_permission(by, approved={})
        if product.is_electronic is not None:
            labels = _approved_claims_of([product]).get(product.pk)
            _require_category_permission(by, approved={product.sku: labels} if labels else {})
    except states.NotPermitted as refusal:
        return str(refusal)
    return ""


def _require_category_permission(by, *, approved: dict[str, list[str]]) -> None:
    """``approved``: SKU → labels of its approved claims, for the known categories about to change."""
    kind = actors.kind_of(by)
    if kind == actors.ActorKind.CUSTOMER:
        raise states.NotPermitted("Only staff can set a product's category.")
    if not approved:
        if kind == actors.ActorKind.SYSTEM or by.has_perm(SET_CATEGORY) or by.has_perm(CHANGE_CATEGORY_AFTER_APPROVAL):
            return
        raise states.NotPermitted("You do not have permission to set products' categories.")
    which = "; ".join(f"{sku}: {', '.join(labels)}" for sku, labels in approved.items())
    if kind == actors.ActorKind.SYSTEM:
        raise states.NotPermitted(
            f"Claims on these products were approved ({which}): the system may not change their category; "
            "once a claim is approved a manager decides."
        )
    if not by.has_perm(CHANGE_CATEGORY_AFTER_APPROVAL):
        raise states.NotPermitted(
            f"Claims on these products were approved ({which}): once a claim is approved only a manager can "
            "change the product's category."
        )


def _approved_claims_of(products: list[Product]) -> dict[int, list[str]]:
    """Product id → the approved claims on it (``is_approved``: an RMA number given), as "RMA-… / #…"."""
    if not products:
        return {}
    rows = (
        ClaimItem.objects.filter(order_line__product__in=products)
        .filter(Q(claim__rma_number__isnull=False) | Q(claim__status__in=_APPROVED_STATUSES))
        .values_list("order_line__product_id", "claim_id", "claim__rma_number")
        .order_by("claim_id")
    )
    approved: dict[int, list[str]] = {}
    for product_id, claim_id, rma_number in rows:
        label = f"{rma_number} / #{claim_id}" if rma_number else f"#{claim_id}"
        if label not in approved.setdefault(product_id, []):
            approved[product_id].append(label)
    return approved


def _claims_category_recompute(
    claims: list[Claim], old: dict[int, bool | None], by, reason: str
) -> tuple[list[Claim], dict[int, int]]:
    """Each locked open claim's category from its products' (already updated); an event on those that changed.
    Returns the changed claims and, per product whose category was set, how many of them it is in."""
    if not claims:
        return [], {}
    items = ClaimItem.objects.filter(claim__in=claims).values_list(
        "claim_id", "order_line__product_id", "order_line__product__sku", "order_line__product__is_electronic"
    )
    by_claim: dict[int, list[tuple]] = {}
    for claim_id, product_id, sku, electronic in items.order_by("pk"):
        by_claim.setdefault(claim_id, []).append((product_id, sku, electronic))
    changed, per_product, new_events = [], {}, []
    for claim in claims:
        rows = by_claim.get(claim.pk, [])
        category = claim_is_electronic(electronic for _, _, electronic in rows)
        if category is claim.is_electronic:
            continue
        products = [
            {"sku": sku, "old": old[product_id], "new": electronic}
            for product_id, sku, electronic in rows
            if product_id in old
        ]
        new_events.append(
            events.build(
                ClaimEvent,
                claim=claim,
                by=by,
                action=ClaimAction.CATEGORY_SET,
                source=claim.status,
                target=claim.status,
                payload={
                    "products": products,
                    "old_electronic": claim.is_electronic,
                    "new_electronic": category,
                    "reason": reason,
                },
            )
        )
        claim.is_electronic = category
        changed.append(claim)
        for product_id, *_ in rows:
            if product_id in old:
                per_product[product_id] = per_product.get(product_id, 0) + 1
    now = timezone.now()
    for category in (True, False, None):
        ids = [claim.pk for claim in changed if claim.is_electronic is category]
        if ids:
            Claim.objects.filter(pk__in=ids).update(is_electronic=category, updated_at=now)
    ClaimEvent.objects.bulk_create(new_events)
    return changed, per_product


def _skus(products: list[Product]) -> str:
    return ", ".join(product.sku for product in products)


# --- Evidence -----------------------------------------------------------


# The customer adds photos on the claim's page while it waits for a decision.
CUSTOMER_EVIDENCE_STATUSES = (ClaimStatus.REQUESTED, ClaimStatus.AWAITING_CUSTOMER)


def evidence_add(*, claim_id: int, by, upload, shows_whole_package: bool = False) -> Evidence:
    """Store a photo or video the customer sent; raises ``uploads.RejectedUpload`` with the reason.

    Staff need ``returns.add_evidence``. The customer (``actors.CUSTOMER``, on the claim's page) adds their
    own only before the claim is decided (``CUSTOMER_EVIDENCE_STATUSES``). The system may add what came
    attached to the customer's own email (the inbox matched it to this claim; docs/inbox.md). Every file is
    checked like any upload.
    """
    customer = actors.kind_of(by) == actors.ActorKind.CUSTOMER
    if not (customer or actors.is_system(by) or by.has_perm("returns.add_evidence")):
        raise PermissionDenied("You do not have permission to add evidence.")
    checked = uploads.check_evidence(upload)
    with transaction.atomic():
        claim = Claim.objects.select_for_update().get(pk=claim_id)
        if claim.status not in OPEN_STATUSES:
            raise states.InvalidTransition(
                f"{claim} is {claim.get_status_display().lower()}: evidence can only be added to an open claim."
            )
        if customer and claim.status not in CUSTOMER_EVIDENCE_STATUSES:
            raise states.InvalidTransition(
                f"{claim} is {claim.get_status_display().lower()}: photos are added on the claim's page only "
                "before it is decided."
            )
        evidence = Evidence(
            claim=claim,
            kind=checked.kind,
            content_type=checked.content_type,
            size_bytes=checked.size_bytes,
            original_name=checked.original_name[:255],
            shows_whole_package=shows_whole_package,
            uploaded_by=by if actors.kind_of(by) == actors.ActorKind.STAFF else None,
        )
        evidence.file.save(checked.storage_name, checked.content, save=False)
        evidence.save()
        _record(
            claim,
            by,
            "add_evidence",
            claim.status,
            claim.status,
            {"evidence_id": evidence.pk, "name": evidence.original_name, "whole_package": shows_whole_package},
        )
        if evidence.kind == EvidenceKind.PHOTO:
            from returns import tasks

            transaction.on_commit(lambda: tasks.make_evidence_thumbnail.delay(evidence.pk), robust=True)
    return evidence


def evidence_make_thumbnail(*, evidence_id: int) -> None:
    """Make a photo's thumbnail; a failure is counted on the row with its reason, never raised.

    The thumbnail sweep tries again later (the broker may have been down, storage may have failed),
    until ``THUMBNAIL_MAX_ATTEMPTS``: then the error stays on the row and the claim page shows the
    photo without a thumbnail.
    """
    evidence = Evidence.objects.get(pk=evidence_id)
    if evidence.thumbnail or evidence.kind != EvidenceKind.PHOTO:
        return
    if evidence.thumbnail_attempts >= settings.THUMBNAIL_MAX_ATTEMPTS:
        return
    try:
        with evidence.file.open("rb") as original:
            thumbnail = uploads.make_thumbnail(original.read())
        evidence.thumbnail.save("thumb.jpg", ContentFile(thumbnail), save=False)
    except Exception as error:  # a damaged photo, storage down, a bug: all counted, none loops
        Evidence.objects.filter(pk=evidence.pk, thumbnail="").update(
            thumbnail_attempts=F("thumbnail_attempts") + 1,
            thumbnail_error=single_line(f"{type(error).__name__}: {error}")[:2000],
        )
        log.warning("thumbnail of evidence %s not made: %s", evidence_id, error)
        return
    Evidence.objects.filter(pk=evidence.pk, thumbnail="").update(
        thumbnail=evidence.thumbnail.name, thumbnail_attempts=F("thumbnail_attempts") + 1, thumbnail_error=""
    )


def evidence_requeue_thumbnails() -> int:
    """Queue the thumbnails of photos still without one (the broker lost the task, or it failed); how many.

    Photos uploaded within ``THUMBNAIL_REQUEUE_AFTER_SECONDS`` are left to their own task; one that has
    had ``THUMBNAIL_MAX_ATTEMPTS`` attempts is left with its error.
    """
    from returns import tasks

    cutoff = timezone.now() - timedelta(seconds=settings.THUMBNAIL_REQUEUE_AFTER_SECONDS)
    missing = list(
        Evidence.objects.filter(
            kind=EvidenceKind.PHOTO,
            thumbnail="",
            uploaded_at__lt=cutoff,
            thumbnail_attempts__lt=settings.THUMBNAIL_MAX_ATTEMPTS,
        )
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[: settings.THUMBNAIL_REQUEUE_BATCH]
    )
    for evidence_id in missing:
        tasks.make_evidence_thumbnail.delay(evidence_id)
    return len(missing)


# --- Emails -------------------------------------------------------------


def email_send(*, email_id: int, final_attempt: bool = False, written: OutboundEmail | None = None) -> None:
    """Send one outbox row. The row lock makes a redelivered task wait and then skip a sent email.

    A network fault (``OSError``) is retried by the task and fails the row on its last attempt; an email
    that cannot be built (``BadHeaderError``, an address Django refuses: a ``ValueError``) will never send,
    so it fails at once with the reason, and the sweep does not queue it again.

    ``written``: the row as this process has just written and committed it, without attachments
    (``notifications.send_or_queue``): under the lock only its status and attempts are read again, not the whole row.
    """
    with transaction.atomic():
        if written is None:
            email = (
                OutboundEmail.objects.select_for_update()
                # Most emails have none: the attachments are read only when there are some.
                .annotate(has_attachments=Exists(OutboundAttachment.objects.filter(email=OuterRef("pk"))))
                .get(pk=email_id)
            )
        else:
            email = written
            email.has_attachments = False
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT status, attempts FROM {OutboundEmail._meta.db_table} WHERE id = %s FOR UPDATE", [email_id]
                )
                email.status, email.attempts = cursor.fetchone()
        if email.status != EmailStatus.READY:
            return
        try:
            message = EmailMultiAlternatives(
                single_line(email.subject),
                email.body_text,
                settings.DEFAULT_FROM_EMAIL,
                [email.to],
                headers=_thread_headers(email),
                reply_to=[email.reply_to] if email.reply_to else None,
            )
            message.attach_alternative(email.body_html, "text/html")
            for attachment in email.attachments.all() if email.has_attachments else ():
                with attachment.file.open("rb") as content:
                    message.attach(attachment.name, content.read(), attachment.content_type)
            message.send()
        except OSError as error:
            failure = error
        except ValueError as error:  # BadHeaderError is one: the email is wrong, not the network
            email.status, email.attempts = EmailStatus.FAILED, email.attempts + 1
            email.last_error = single_line(f"Cannot be sent: {error}")[:2000]
            email.save(update_fields=["status", "attempts", "last_error", "updated_at"])
            log.warning("email %s failed for good: %s", email_id, error)
            return
        except Exception as error:  # a bug, or storage down: counted, so the sweep gives up after its attempts
            failure = error
        else:
            email.status, email.sent_at, email.attempts = EmailStatus.SENT, timezone.now(), email.attempts + 1
            email.save(update_fields=["status", "sent_at", "attempts", "updated_at"])
            return
    # The lock is released: remember the attempt, then let Celery retry.
    OutboundEmail.objects.filter(pk=email_id, status=EmailStatus.READY).update(
        attempts=email.attempts + 1,
        last_error=str(failure)[:2000],
        status=EmailStatus.FAILED if final_attempt else EmailStatus.READY,
        updated_at=timezone.now(),
    )
    log.warning("email %s not sent: %s", email_id, failure)
    raise failure


def _thread_headers(email: OutboundEmail) -> dict:
    """The headers that thread the email with the customer's (docs/inbox.md). What the software writes on its
    own says so (RFC 3834 ``Auto-Submitted``), so that auto-responders do not answer it: no mail loop."""
    headers = {}
    if email.message_id:
        headers["Message-ID"] = email.message_id
    if email.in_reply_to:
        headers["In-Reply-To"] = email.in_reply_to
        headers["References"] = email.references or email.in_reply_to
    if email.written_by_id is None:
        headers["Auto-Submitted"] = "auto-generated"
    # Message-IDs can come from a customer's email (decoded, they may hold a line break): one line each.
    return {name: single_line(value) for name, value in headers.items()}


def email_requeue_stale() -> int:
    """Queue again the emails still ready after the broker lost their task; how many.

    One that has had ``EMAIL_MAX_ATTEMPTS`` attempts is failed instead, its last error kept: nothing
    is queued for ever.
    """
    from returns import tasks

    cutoff = timezone.now() - timedelta(seconds=settings.EMAIL_REQUEUE_AFTER_SECONDS)
    stale = OutboundEmail.objects.filter(status=EmailStatus.READY, updated_at__lt=cutoff)
    stale.filter(attempts__gte=settings.EMAIL_MAX_ATTEMPTS).update(
        status=EmailStatus.FAILED,
        last_error=Concat(Value(f"Gave up after {settings.EMAIL_MAX_ATTEMPTS} attempts. "), F("last_error")),
        updated_at=timezone.now(),
    )
    queued = list(stale.values_list("pk", flat=True))
    for email_id in queued:
        tasks.send_email.delay(email_id)
    return len(queued)


# --- SLA ----------------------------------------------------------------


def sla_sweep(*, now: datetime | None = None) -> dict:
    """Remind customer service of first responses due soon, escalate overdue ones to managers.

    Each claim is reminded once and escalated once per running clock: the rows
    are locked (``skip_locked``, so a second beat by mistake passes them by)
    and marked in the same transaction as their events and the digests.
    """
    now = now or timezone.now()
    soon = now + timedelta(hours=settings.SLA_REMIND_BEFORE_HOURS)
    running = (
        Claim.objects.select_for_update(skip_locked=True, of=("self",))
        # What the events and the digests need, not every column of thousands of rows.
        .only("status", "rma_number", "order_number", "claim_type", "first_response_due_at")
        .order_by("first_response_due_at")
    )
    with transaction.atomic():
        due_soon = list(
            running.filter(first_response_due_at__gte=now, first_response_due_at__lte=soon, sla_reminded_at=None)
        )
        overdue = list(running.filter(first_response_due_at__lt=now, sla_breached_at=None))
        Claim.objects.filter(pk__in=[c.pk for c in due_soon]).update(sla_reminded_at=now)
        Claim.objects.filter(pk__in=[c.pk for c in overdue]).update(sla_breached_at=now)
        ClaimEvent.objects.bulk_create(
            [_sla_event(claim, "sla_reminded") for claim in due_soon]
            + [_sla_event(claim, "sla_breached") for claim in overdue]
        )
        if due_soon:
            notifications.email_staff(
                group=settings.SLA_REMINDER_GROUP, template="sla_due_soon", claims=due_soon, now=now
            )
        if overdue:
            notifications.email_staff(
                group=settings.SLA_ESCALATION_GROUP, template="sla_overdue", claims=overdue, now=now
            )
    return {"reminded": len(due_soon), "escalated": len(overdue)}


def _sla_event(claim: Claim, action: str) -> ClaimEvent:
    return events.build(
        ClaimEvent,
        claim=claim,
        by=actors.SYSTEM,
        action=action,
        source=claim.status,
        target=claim.status,
        payload={"first_response_due_at": claim.first_response_due_at},
    )


# --- The return parcel's clock ------------------------------------------------


def parcel_sweep(*, now: datetime | None = None) -> dict:
    """An approved claim whose parcel does not arrive must not just sit as "approved" (docs/claims.md, the parcel
    clock). Per the claim's policy version, counted in days of 24 hours from the approval moment:

    - ``parcel_reminder_days``: a claim still approved (no tracking given) — the customer is emailed, once, their
      tracking link;
    - ``parcel_escalation_days``: a claim approved or shipped whose parcel has not been received — customer
      service gets one digest listing them, once per claim;
    - ``parcel_expiry_days``: a claim still approved (no tracking, nothing received) is expired by the system
      (``claim_expire``: cancelled, the customer told). A shipped claim (its parcel is on its way) is never
      expired here: it was escalated, a person decides.

    One transaction, as ``sla_sweep``: the rows are locked (``skip_locked``: a second sweep at once passes them
    by) and marked with their events, emails and digest. The policy versions are few: one indexed range on
    ``awaiting_parcel_since`` per version present among the waiting claims.
    """
    now = now or timezone.now()
    by = actors.SYSTEM
    waiting = Claim.objects.filter(awaiting_parcel_since__isnull=False, is_returnless=False)
    waiting_statuses = (ClaimStatus.APPROVED, ClaimStatus.SHIPPED)
    to_remind, to_escalate, to_expire = [], [], []
    with transaction.atomic():
        for version in PolicyVersion.objects.filter(pk__in=waiting.values("policy_version_id")).order_by("pk"):
            remind_by, escalate_by, expire_by = (
                now - timedelta(days=days)
                for days in (version.parcel_reminder_days, version.parcel_escalation_days, version.parcel_expiry_days)
            )
            approved = Q(status=ClaimStatus.APPROVED)
            claims = list(
                waiting.select_for_update(skip_locked=True, of=("self",))
                .select_related("order")
                .only(*_PARCEL_SWEEP_FIELDS)
                .filter(
                    policy_version=version,
                    status__in=waiting_statuses,
                    awaiting_parcel_since__lte=max(remind_by, escalate_by, expire_by),
                )
                .filter(
                    (approved & Q(parcel_reminded_at=None, awaiting_parcel_since__lte=remind_by))
                    | Q(parcel_escalated_at=None, awaiting_parcel_since__lte=escalate_by)
                    | (approved & Q(awaiting_parcel_since__lte=expire_by))
                )
                .order_by("awaiting_parcel_since", "pk")
            )
            for claim in claims:
                claim.days_waiting = (now - claim.awaiting_parcel_since).days
                if claim.status == ClaimStatus.APPROVED and claim.awaiting_parcel_since <= expire_by:
                    to_expire.append(claim)  # no reminder nor digest for a claim closed in the same sweep
                    continue
                if (
                    claim.status == ClaimStatus.APPROVED
                    and claim.parcel_reminded_at is None
                    and claim.awaiting_parcel_since <= remind_by
                ):
                    to_remind.append(claim)
                if claim.parcel_escalated_at is None and claim.awaiting_parcel_since <= escalate_by:
                    to_escalate.append(claim)
        Claim.objects.filter(pk__in=[c.pk for c in to_remind]).update(parcel_reminded_at=now)
        Claim.objects.filter(pk__in=[c.pk for c in to_escalate]).update(parcel_escalated_at=now)
        ClaimEvent.objects.bulk_create(
            [_parcel_event(claim, ClaimAction.PARCEL_REMINDED) for claim in to_remind]
            + [_parcel_event(claim, ClaimAction.PARCEL_ESCALATED) for claim in to_escalate]
        )
        for claim in to_remind:
            notifications.email_customer(
                claim=claim,
                template="parcel_reminder",
                tracking_url=links.tracking_url(claim),
                days_waiting=claim.days_waiting,
            )
        if to_escalate:
            notifications.email_staff(
                group=settings.SLA_REMINDER_GROUP, template="parcel_overdue", claims=to_escalate, now=now
            )
        for claim in to_expire:
            # The row is locked by this transaction already: claim_expire's own lock is taken at once.
            claim_expire(claim_id=claim.pk, by=by)
    return {"reminded": len(to_remind), "escalated": len(to_escalate), "expired": len(to_expire)}


# What the parcel sweep's events, emails and digest read.
_PARCEL_SWEEP_FIELDS = (
    "status",
    "rma_number",
    "order",
    "order__customer_name",
    "order_number",
    "customer_email",
    "claim_type",
    "approved_at",
    "awaiting_parcel_since",
    "parcel_reminded_at",
    "parcel_escalated_at",
)


def _parcel_event(claim: Claim, action: str) -> ClaimEvent:
    return events.build(
        ClaimEvent,
        claim=claim,
        by=actors.SYSTEM,
        action=action,
        source=claim.status,
        target=claim.status,
        payload={"awaiting_parcel_since": claim.awaiting_parcel_since, "days_waiting": claim.days_waiting},
    )


# --- The claim's email thread (docs/inbox.md) -------------------------------------
# The inbox app reads the customer's emails and calls these; customer service writes from the claim page.


def claim_reply(*, claim_id: int, by, message: str, attachments=()) -> OutboundEmail:
    """Customer service writes to the customer in their own words (with files): the email goes out through
    the outbox like every other, threaded with the customer's last email, and the claim's history says so.
    ``attachments`` are (name, content type, bytes). Any claim, open or closed: a customer may ask later."""
    require_text(message, "message", "Write the message to the customer.")
    if actors.kind_of(by) != actors.ActorKind.STAFF or not by.has_perm("returns.triage_claim"):
        raise PermissionDenied("You do not have permission to write to customers.")
    attachments = list(attachments)
    total = sum(len(data) for _, _, data in attachments)
    if total > settings.REPLY_ATTACHMENTS_MAX_BYTES:
        limit = settings.REPLY_ATTACHMENTS_MAX_BYTES / (1024 * 1024)
        raise ValidationError(
            {"files": f"The files add up to {total / (1024 * 1024):.1f} MB; the limit is {limit:.0f} MB."}
        )
    with transaction.atomic():
        claim = _lock(claim_id)
        email = notifications.email_customer(
            claim=claim, template="free_reply", message=message.strip(), attachments=attachments, written_by=by
        )
        _record(
            claim,
            by,
            ClaimAction.REPLY_SENT,
            claim.status,
            claim.status,
            {"message": message.strip(), "email_id": email.pk, "attachments": [name for name, _, _ in attachments]},
        )
    return email


def claim_thread_note(*, claim_id: int, message_id: str, references: str) -> None:
    """The customer's latest email on the claim (the inbox calls it in the transaction that stores it): our
    next email answers it (``notifications.thread_headers``). Threading data, not a change a person reads:
    the message itself is in the history (``claim_attach_message``, ``claim_record_customer_answer``)."""
    if message_id:
        Claim.objects.filter(pk=claim_id).update(
            customer_last_message_id=message_id[:255], customer_thread_references=references
        )


def evidence_mark_whole_package(*, evidence_id: int, by, shows_whole_package: bool = True) -> Evidence:
    """An agent looked at a photo (one that came by email, say) and says it shows the whole package, as
    the policy requires before approval; or takes that back. Open claims only."""
    if not by.has_perm("returns.add_evidence"):
        raise PermissionDenied("You do not have permission to change evidence.")
    with transaction.atomic():
        claim_id = Evidence.objects.values_list("claim_id", flat=True).get(pk=evidence_id)
        claim = _lock(claim_id)
        evidence = Evidence.objects.select_for_update().get(pk=evidence_id)
        if claim.status not in OPEN_STATUSES:
            raise states.InvalidTransition(
                f"{claim} is {claim.get_status_display().lower()}: its evidence can no longer change."
            )
        if evidence.shows_whole_package == shows_whole_package:
            return evidence
        evidence.shows_whole_package = shows_whole_package
        evidence.save(update_fields=["shows_whole_package"])
        _record(
            claim,
            by,
            ClaimAction.EVIDENCE_MARKED,
            claim.status,
            claim.status,
            {"evidence_id": evidence.pk, "name": evidence.original_name, "whole_package": shows_whole_package},
        )
    return evidence
