"""Every write to an inspection: start it, record the checklist, add photos, complete it.

Locks are taken in one order everywhere: the claim row first, then the
inspection, so two inspectors finishing a claim's last two items never
deadlock and exactly one of them moves the claim to *inspected*.
"""

import logging
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core import actors
from inspections import outcomes
from inspections.models import Inspection, InspectionPhoto, Outcome
from refunds.models import Refund
from refunds.services import ItemRefund, Remedy, refund_propose_from_inspection
from returns import money, states, uploads
from returns import services as claim_services
from returns.instants import format_instant
from returns.models import Claim, ClaimAction, ClaimItem, ClaimStatus, ClaimType
from shipments import services as shipment_services
from shipments.models import OutboundPurpose, ReturnParcel
from warranty.models import ReplacementKind
from warranty.services import replacement_propose

log = logging.getLogger(__name__)

START = "inspections.add_inspection"
RECORD = "inspections.change_inspection"
ADD_PHOTO = "inspections.add_inspectionphoto"
COMPLETE = states.INSPECT  # "inspections.complete_inspection"


class InspectionRefused(states.InvalidTransition):
    """The inspection cannot be started, changed or completed now; the message says why."""


# --- Start ----------------------------------------------------------------


def inspection_start(*, claim_item_id: int, by) -> Inspection:
    """The inspection of one returned item; a second start returns the one already begun.

    Only an item of a shipped claim whose return parcel the warehouse received
    can be inspected.
    """
    _require_perm(by, START, "inspect returned items")
    item = ClaimItem.objects.only("claim_id").get(pk=claim_item_id)
    with transaction.atomic():
        claim = _lock_claim(item.claim_id)
        existing = Inspection.objects.filter(claim_item_id=claim_item_id).first()
        if existing is not None:
            return existing
        _require_inspectable(claim)
        inspection = Inspection.objects.create(claim_item_id=claim_item_id, inspector=by)
        claim_services.claim_note(
            claim_id=claim.pk,
            by=by,
            action=ClaimAction.INSPECTION_STARTED,
            payload={"inspection_id": inspection.pk, "item": _item_label(inspection)},
        )
        return inspection


# --- Record -----------------------------------------------------------------


def inspection_record(
    *,
    inspection_id: int,
    by,
    is_new_unused: bool | None = None,
    no_installation_marks: bool | None = None,
    original_packaging_sealed: bool | None = None,
    label_present: bool | None = None,
    defect_confirmed: bool | None = None,
    human_or_physical_damage: bool | None = None,
    findings: str = "",
    deduction_amount: Decimal | None = None,
    deduction_percent: Decimal | None = None,
    deduction_reason: str = "",
    outcome: str | None = None,
    outcome_change_reason: str = "",
) -> Inspection:
    """Record the inspection as it stands (every field, as the form shows them) and propose the outcome.

    ``outcome`` empty or None follows the proposal; another outcome needs
    ``outcome_change_reason``. A deduction (an amount or a percentage of what
    the customer paid for the item, with a reason) goes only with a reduced
    refund: "you may not get the full refund".
    """
    _require_perm(by, RECORD, "record inspections")
    with transaction.atomic():
        claim, inspection = _lock(inspection_id)
        _require_open(claim, inspection)
        before = _recorded(inspection)
        for name, value in (
            ("is_new_unused", is_new_unused),
            ("no_installation_marks", no_installation_marks),
            ("original_packaging_sealed", original_packaging_sealed),
            ("label_present", label_present),
            ("defect_confirmed", defect_confirmed),
            ("human_or_physical_damage", human_or_physical_damage),
        ):
            setattr(inspection, name, value)
        inspection.findings = (findings or "").strip()
        proposal = proposal_for(inspection, claim)
        inspection.proposed_outcome = proposal.outcome
        _set_outcome(inspection, claim, outcome or "", outcome_change_reason)
        _set_deduction(inspection, deduction_amount, deduction_percent, deduction_reason)
        inspection.save()
        after = _recorded(inspection)
        changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
        if changes:
            claim_services.claim_note(
                claim_id=claim.pk,
                by=by,
                action=ClaimAction.INSPECTION_RECORDED,
                payload={
                    "inspection_id": inspection.pk,
                    "item": _item_label(inspection),
                    "changes": changes,
                    # For the words: an outcome other than the checklist's, and the deduction's money.
                    "proposed_outcome": inspection.proposed_outcome,
                    "currency": inspection.claim_item.order_line.currency,
                },
            )
    return inspection


# What an inspection's event compares before and after a record: every field a person sets.
_RECORDED_FIELDS = (
    *outcomes.CHECKLIST,
    "findings",
    "outcome",
    "outcome_change_reason",
    "deduction_amount",
    "deduction_percent",
    "deduction_reason",
)


def _recorded(inspection: Inspection) -> dict:
    return {name: getattr(inspection, name) for name in _RECORDED_FIELDS}


def _item_label(inspection: Inspection) -> str:
    item = inspection.claim_item
    return f"{item.order_line.product.sku} × {item.quantity}"


def proposal_for(inspection: Inspection, claim: Claim) -> outcomes.Proposal:
    return outcomes.propose(claim.claim_type, inspection, claim.policy_version.no_reason_return_shipping_reimbursed)


def _set_outcome(inspection: Inspection, claim: Claim, outcome: str, reason: str) -> None:
    reason = (reason or "").strip()
    if not outcome or outcome == inspection.proposed_outcome:
        inspection.outcome, inspection.outcome_change_reason = inspection.proposed_outcome, ""
        return
    allowed = outcomes.ALLOWED_OUTCOMES[claim.claim_type]
    if outcome not in allowed:
        raise ValidationError(
            {
                "outcome": f"A {ClaimType(claim.claim_type).label} claim can end in: "
                + ", ".join(Outcome(value).label.lower() for value in allowed)
                + "."
            }
        )
    if not reason:
        proposed = Outcome(inspection.proposed_outcome).label.lower() if inspection.proposed_outcome else "nothing yet"
        raise ValidationError(
            {"outcome_change_reason": f"The checklist proposes {proposed}: write why the outcome is different."}
        )
    inspection.outcome, inspection.outcome_change_reason = outcome, reason


def _set_deduction(inspection: Inspection, amount: Decimal | None, percent: Decimal | None, reason: str) -> None:
    reason = (reason or "").strip()
    amount = None if amount is None else Decimal(amount)
    percent = None if percent is None else Decimal(percent)
    if amount is None and percent is None:
        if reason:
            raise ValidationError(
                {"deduction_amount": "Enter the deduction's amount or percentage, or clear its reason."}
            )
        inspection.deduction_amount = inspection.deduction_percent = None
        inspection.deduction_reason = ""
        return
    if inspection.outcome != Outcome.REDUCED_REFUND:
        raise ValidationError(
            {
                "deduction_amount": "A deduction goes only with a refund with a deduction; clear it or change the outcome."
            }
        )
    if amount is not None and percent is not None:
        raise ValidationError({"deduction_amount": "Enter the deduction as an amount or as a percentage, not both."})
    paid, currency = inspection.claim_item.paid, inspection.claim_item.order_line.currency
    if amount is not None:
        if amount <= 0:
            raise ValidationError({"deduction_amount": "The deduction must be more than zero."})
        if not amount.is_finite() or amount >= money.MAX_AMOUNT:
            raise ValidationError({"deduction_amount": f"{amount} is far more than any order: check the amount."})
        if amount != money.quantize(amount, currency):
            raise ValidationError({"deduction_amount": f"{amount} has more decimals than {currency} allows."})
        if amount > paid:
            raise ValidationError(
                {
                    "deduction_amount": f"The deduction ({money.format_money(amount, currency)}) is more than "
                    f"the item's price ({money.format_money(paid, currency)})."
                }
            )
    if percent is not None and not (0 < percent <= 100):
        raise ValidationError({"deduction_percent": "The percentage must be more than 0 and at most 100."})
    if percent is not None and percent != percent.quantize(Decimal("0.01")):
        raise ValidationError({"deduction_percent": "Give the percentage with at most two decimals."})
    if not reason:
        raise ValidationError({"deduction_reason": "Write the reason for the deduction (the customer reads it)."})
    inspection.deduction_amount, inspection.deduction_percent, inspection.deduction_reason = amount, percent, reason


def deduction_value(inspection: Inspection) -> Decimal | None:
    """The deduction in money: the amount entered, or the percentage of what was paid (rounded half up).

    The one place a deduction becomes money: the refund gets it from here (``_item_refunds``).
    """
    paid, currency = inspection.claim_item.paid, inspection.claim_item.order_line.currency
    if inspection.deduction_amount is not None:
        return money.quantize(inspection.deduction_amount, currency)
    if inspection.deduction_percent is not None:
        return money.quantize(paid * inspection.deduction_percent / 100, currency)
    return None


# --- Photos -------------------------------------------------------------------


def inspection_photo_add(*, inspection_id: int, by, upload) -> InspectionPhoto:
    """A photo of the returned item, checked like the customer's evidence (content, size, no location)."""
    _require_perm(by, ADD_PHOTO, "add inspection photos")
    checked = uploads.check_evidence(upload, videos=False)
    with transaction.atomic():
        claim, inspection = _lock(inspection_id)
        _require_open(claim, inspection)
        photo = InspectionPhoto(
            inspection=inspection,
            original_name=checked.original_name[:255],
            content_type=checked.content_type,
            uploaded_by=by,
        )
        photo.file.save(checked.storage_name, checked.content, save=False)
        photo.save()
        claim_services.claim_note(
            claim_id=claim.pk,
            by=by,
            action=ClaimAction.INSPECTION_PHOTO_ADDED,
            payload={"inspection_id": inspection.pk, "item": _item_label(inspection), "name": photo.original_name},
        )
    return photo


# --- Complete -----------------------------------------------------------------


def inspection_complete(*, inspection_id: int, by) -> Inspection:
    """Sign the inspection off; the claim's last one moves the claim to *inspected* and emails the customer.

    A warranty claim whose every item failed is rejected in the same
    transaction; every failed warranty item's goods go back to the customer at
    the customer's cost (an outbound parcel to send).
    """
    _require_perm(by, COMPLETE, "complete inspections")
    with transaction.atomic():
        claim, inspection = _lock(inspection_id)
        _require_open(claim, inspection)
        proposal = proposal_for(inspection, claim)
        if proposal.missing:
            raise InspectionRefused(f"Check every item first: {proposal.reasons[0]}.")
        if not inspection.outcome:
            raise InspectionRefused("Choose the outcome first.")
        if inspection.outcome == Outcome.REDUCED_REFUND and deduction_value(inspection) is None:
            raise InspectionRefused(
                "A refund with a deduction needs the deduction: enter its amount or percentage and its reason "
                "(or choose the full refund, with a reason)."
            )
        inspection.inspector = by
        inspection.completed_at = timezone.now()
        inspection.save(update_fields=["inspector", "completed_at"])

        inspections = list(
            Inspection.objects.filter(claim_item__claim=claim, completed_at__isnull=False)
            .select_related("claim_item__order_line__product", "inspector")
            .order_by("claim_item_id")
        )
        if len(inspections) < claim.items.count():
            return inspection
        failed = [done for done in inspections if done.outcome == Outcome.RETURN_TO_CUSTOMER]
        if failed:
            # One parcel carries every failed item back; the shipments app sends it.
            shipment_services.outbound_parcel_open(claim_id=claim.pk, purpose=OutboundPurpose.RETURN_TO_CUSTOMER)
        rejected = len(failed) == len(inspections)
        for done in inspections:
            if done.outcome == Outcome.REPLACEMENT:
                # Whole product unless whoever approves the replacement decides a part will do.
                replacement_propose(
                    claim_item_id=done.claim_item_id,
                    by=by,
                    kind=ReplacementKind.WHOLE_PRODUCT,
                    reason=f"Inspection passed: {done.findings or 'defect confirmed, no human or physical damage'}",
                )
        claim_services.claim_mark_inspected(
            claim_id=claim.pk,
            by=by,
            outcome=outcome_summary(inspections, rejected=rejected),
            details={"items": [_item_details(done) for done in inspections]},
            rejection_reason=_rejection_reason(failed) if rejected else "",
        )
        if not rejected:
            # Proposed to finance at once (None when no item is refunded, e.g. a replacement).
            refund_propose_from_inspection(claim_id=claim.pk, by=by, items=_item_refunds(inspections))
    return inspection


# What each refund outcome refunds (refunds does not know the inspection's outcomes).
_REMEDIES = {
    Outcome.FULL_REFUND_WITH_SHIPPING: Remedy.FULL_WITH_SHIPPING,
    Outcome.FULL_REFUND: Remedy.FULL,
    Outcome.REDUCED_REFUND: Remedy.REDUCED,
}


def _item_refunds(inspections: list[Inspection]) -> list[ItemRefund]:
    refunded = []
    for done in inspections:
        if done.outcome not in _REMEDIES:
            continue
        value = deduction_value(done) if done.outcome == Outcome.REDUCED_REFUND else None
        percent = f" ({done.deduction_percent}%)" if value and done.deduction_percent is not None else ""
        refunded.append(
            ItemRefund(
                claim_item_id=done.claim_item_id,
                remedy=_REMEDIES[done.outcome],
                deduction=value,
                deduction_words=percent,
                deduction_reason=done.deduction_reason if value else "",
            )
        )
    return refunded


def inspection_propose_refund(*, claim_id: int, by) -> Refund | None:
    """The refund an inspected claim's completed inspections call for (the proposal the completion makes)."""
    inspections = list(
        Inspection.objects.filter(claim_item__claim_id=claim_id, completed_at__isnull=False)
        .select_related("claim_item__order_line__product")
        .order_by("claim_item_id")
    )
    return refund_propose_from_inspection(claim_id=claim_id, by=by, items=_item_refunds(inspections))


def inspections_propose_missing_refunds() -> int:
    """Backstop (beat): inspected claims with a refund outcome and no refund, proposed as the system."""
    refundable = Exists(Inspection.objects.filter(claim_item__claim=OuterRef("pk"), outcome__in=list(_REMEDIES)))
    without_refund = ~Exists(Refund.objects.filter(claim=OuterRef("pk")))
    claim_ids = Claim.objects.filter(refundable, without_refund, status=ClaimStatus.INSPECTED).values_list(
        "pk", flat=True
    )
    proposed = 0
    for claim_id in claim_ids:
        try:
            proposed += inspection_propose_refund(claim_id=claim_id, by=actors.SYSTEM) is not None
        except (states.InvalidTransition, ValidationError) as error:  # changed since the query, or nothing owed
            log.warning("refund for inspected claim %s not proposed: %s", claim_id, error)
    return proposed


def outcome_summary(inspections: list[Inspection], *, rejected: bool = False) -> str:
    """The outcome in the customer's words: one sentence, or one clause per item.

    A rejected claim's reason is in the email's own paragraph (``rejection_reason``), so it is not repeated.
    """
    if len(inspections) == 1:
        words = _item_outcome_words(inspections[0], rejected=rejected)
        return words[0].upper() + words[1:] + "."
    return (
        "; ".join(f"{_item_name(done)}: {_item_outcome_words(done, rejected=rejected)}" for done in inspections) + "."
    )


def _item_outcome_words(inspection: Inspection, *, rejected: bool) -> str:
    if inspection.outcome == Outcome.FULL_REFUND_WITH_SHIPPING:
        return "full refund, plus reimbursement of the return shipping"
    if inspection.outcome == Outcome.FULL_REFUND:
        return "full refund (the return shipping is not reimbursed)"
    if inspection.outcome == Outcome.REDUCED_REFUND:
        currency = inspection.claim_item.order_line.currency
        value = deduction_value(inspection)
        share = money.format_money(value, currency)
        if inspection.deduction_percent is not None:
            share = f"{inspection.deduction_percent.normalize():f}% ({share})"
        reason = inspection.deduction_reason.rstrip(".")
        return f"refund with a deduction of {share} for {reason} (the return shipping is on your charge)"
    if inspection.outcome == Outcome.REPLACEMENT:
        return "the part or product will be replaced"
    if rejected:
        return "not covered by the warranty"
    return (
        f"not covered by the warranty ({_failed_warranty_words(inspection)}), and the goods go back to you at your cost"
    )


def _rejection_reason(failed: list[Inspection]) -> str:
    return "; ".join(_failed_warranty_words(done) for done in failed) + "."


def _failed_warranty_words(inspection: Inspection) -> str:
    """Why a warranty item is not covered: the findings are quoted to the customer."""
    findings = inspection.findings.strip().rstrip(".")
    if inspection.human_or_physical_damage:
        cause = "the inspection found human or physical damage"
    elif inspection.defect_confirmed is False:
        cause = "the inspection could not confirm the reported defect"
    else:
        cause = f"the inspection did not confirm the warranty ({inspection.outcome_change_reason.rstrip('.')})"
    return f"{cause}: {findings}" if findings else cause


def _item_name(inspection: Inspection) -> str:
    item = inspection.claim_item
    return f"{item.order_line.product.sku} {item.order_line.product.name} × {item.quantity}"


def _item_details(inspection: Inspection) -> dict:
    """What the claim's event keeps of each item: finance reads the refund's lines from here."""
    currency = inspection.claim_item.order_line.currency
    value = deduction_value(inspection)
    return {
        "inspection_id": inspection.pk,
        "claim_item_id": inspection.claim_item_id,
        "sku": inspection.claim_item.order_line.product.sku,
        "quantity": inspection.claim_item.quantity,
        "inspector": inspection.inspector.get_username(),
        "proposed_outcome": inspection.proposed_outcome,
        "outcome": inspection.outcome,
        "outcome_change_reason": inspection.outcome_change_reason,
        "deduction": None
        if value is None
        else {
            "amount": str(value),
            "currency": currency,
            "percent": None if inspection.deduction_percent is None else str(inspection.deduction_percent),
            "reason": inspection.deduction_reason,
        },
    }


# --- Helpers ------------------------------------------------------------------


def _require_perm(by, permission: str, what: str) -> None:
    if not by.has_perm(permission):
        raise PermissionDenied(f"You do not have permission to {what}; the warehouse does.")


def _lock_claim(claim_id: int) -> Claim:
    # of=("self",): the claim only, not its order or the shared policy version.
    return Claim.objects.select_for_update(of=("self",)).select_related("policy_version").get(pk=claim_id)


def _lock(inspection_id: int) -> tuple[Claim, Inspection]:
    """The claim row, then the inspection's: the one lock order of this app."""
    claim_id = Inspection.objects.filter(pk=inspection_id).values_list("claim_item__claim_id", flat=True).get()
    claim = _lock_claim(claim_id)
    inspection = (
        Inspection.objects.select_for_update(of=("self",))
        .select_related("claim_item__order_line__product")
        .get(pk=inspection_id)
    )
    return claim, inspection


def _require_inspectable(claim: Claim) -> None:
    if claim.status != ClaimStatus.SHIPPED:
        raise InspectionRefused(
            f"{claim} is {claim.get_status_display().lower()}: only a shipped claim's items are inspected."
        )
    if not ReturnParcel.objects.filter(claim=claim, received_at__isnull=False).exists():
        raise InspectionRefused(f"{claim}'s parcel has not been received: receive it before inspecting.")


def _require_open(claim: Claim, inspection: Inspection) -> None:
    if inspection.completed_at is not None:
        raise InspectionRefused(
            f"This inspection was completed on {format_instant(inspection.completed_at)}; it can no longer be changed."
        )
    if claim.status != ClaimStatus.SHIPPED:
        raise InspectionRefused(
            f"{claim} is {claim.get_status_display().lower()}: its inspection can no longer be changed."
        )
