"""Every write to a replacement: lock the claim, then the replacement, check the
replacement's table and the user's permission, write the change and its
``ReplacementEvent`` in one transaction; emails leave once it commits.

"We will send you the replacement at the soonest once we receive your returned
defective item": a replacement is approved only on an *inspected* claim (its
parcel was received and every item inspected), and shipping it moves the claim
to *replaced* (``returns.services.claim_mark_replaced``).

The claim has one replacement parcel (shipments allows one outbound parcel per
claim and purpose): every approved replacement of a claim travels in it, and
shipping one ships them all.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import actors, events
from returns import notifications
from returns import services as claim_services
from returns.models import Claim, ClaimAction, ClaimItem, ClaimStatus, ClaimType
from shipments import services as shipment_services
from shipments.models import OutboundPurpose
from warranty import states
from warranty.models import Replacement, ReplacementAction, ReplacementEvent, ReplacementKind
from warranty.models import ReplacementStatus as R

# A warranty item is inspected while the claim is shipped; the claim is inspected once every item is.
PROPOSABLE_CLAIM_STATUSES = (ClaimStatus.SHIPPED, ClaimStatus.INSPECTED)


class ReplacementRefused(states.InvalidTransition):
    """The table allows the action, the claim or the policy does not (yet); the message says why."""


# --- Propose ------------------------------------------------------------------


def replacement_propose(
    *, claim_item_id: int, by, kind: str, part_description: str = "", reason: str = ""
) -> Replacement:
    """A warranty item passed its inspection: propose replacing a part of it or the whole product.

    Called by the inspections service, inside its transaction, while the claim
    is shipped (the item is being inspected) or inspected. Idempotent: an item
    has one replacement, so a second call returns the first, unchanged.
    """
    if not by.has_perm(states.PROPOSE):
        raise states.NotPermitted("You do not have permission to propose replacements; the warehouse does.")
    kind, part_description = _check_kind(kind, part_description)
    claim_id = ClaimItem.objects.values_list("claim_id", flat=True).get(pk=claim_item_id)
    with transaction.atomic():
        claim = _lock_claim(claim_id)
        existing = Replacement.objects.filter(claim_item_id=claim_item_id).first()
        if existing is not None:
            return existing
        if claim.claim_type != ClaimType.WARRANTY:
            raise ReplacementRefused(
                f"{claim} is a {claim.get_claim_type_display()} claim: only a warranty claim is replaced."
            )
        if claim.status not in PROPOSABLE_CLAIM_STATUSES:
            raise ReplacementRefused(
                f"{claim} is {claim.get_status_display().lower()}: a replacement is proposed after its "
                "returned item was received and inspected."
            )
        item = ClaimItem.objects.select_related("order_line").get(pk=claim_item_id)
        replacement = Replacement.objects.create(
            claim=claim,
            claim_item=item,
            kind=kind,
            part_description=part_description,
            faulty_serial=_faulty_serial(item),
            reason=(reason or "").strip(),
            proposed_by=by,
        )
        _record(
            replacement, by, ReplacementAction.PROPOSE, "", replacement.status, {"kind": kind, "part": part_description}
        )
    return replacement


def _faulty_serial(item: ClaimItem) -> str:
    """The serial the customer gave; else the line's only serial, when the store knows exactly one."""
    if item.serial_number.strip():
        return item.serial_number.strip()
    serials = [str(s).strip() for s in item.order_line.serial_numbers or [] if str(s).strip()]
    return serials[0] if len(serials) == 1 else ""


def _check_kind(kind: str, part_description: str) -> tuple[str, str]:
    if kind not in ReplacementKind.values:
        raise ValidationError({"kind": "Choose a part or the whole product."})
    part_description = (part_description or "").strip()
    if kind == ReplacementKind.PART and not part_description:
        raise ValidationError({"part_description": "Name the part to replace."})
    return kind, part_description if kind == ReplacementKind.PART else ""


# --- Approve ------------------------------------------------------------------


def replacement_approve(
    *,
    replacement_id: int,
    by,
    replacement_serial: str,
    kind: str | None = None,
    part_description: str | None = None,
) -> Replacement:
    """Approve: the replacement's serial goes into the claim's replacement parcel, for the warehouse to ship.

    Refused unless the claim is inspected: "we will send you the replacement ...
    once we receive your returned defective item". The approver may change what
    is replaced (``kind``, ``part_description``); the event keeps both. A whole
    product needs its serial; a part may have none.
    """
    replacement_serial = (replacement_serial or "").strip()
    with transaction.atomic():
        claim, replacement = _lock(replacement_id)
        transition = states.require(replacement.status, "approve", by)
        _require_inspected(claim)
        payload = {}
        if kind is not None and (kind, (part_description or "").strip()) != (
            replacement.kind,
            replacement.part_description,
        ):
            new_kind, new_part = _check_kind(kind, part_description or "")
            payload["changed"] = {
                "kind": [replacement.kind, new_kind],
                "part": [replacement.part_description, new_part],
            }
            replacement.kind, replacement.part_description = new_kind, new_part
        _check_replacement_serial(replacement, replacement_serial)
        parcel = shipment_services.outbound_parcel_open(claim_id=claim.pk, purpose=OutboundPurpose.REPLACEMENT)
        if parcel.shipped_at is not None:
            raise ReplacementRefused(
                f"{claim}'s replacement parcel already left ({parcel.carrier} {parcel.tracking_number}); "
                "a claim has one replacement parcel."
            )
        if replacement_serial:
            shipment_services.outbound_parcel_set_serials(
                parcel_id=parcel.pk, serial_numbers=[*parcel.serial_numbers, replacement_serial]
            )
        replacement.replacement_serial = replacement_serial
        replacement.outbound_parcel = parcel
        replacement.approved_by, replacement.approved_at = by, timezone.now()
        payload.update(replacement_serial=replacement_serial, outbound_parcel_id=parcel.pk)
        try:
            with transaction.atomic():
                _move(replacement, transition, by, payload)
        except IntegrityError:
            # Another transaction took the serial between our check and our write.
            raise ValidationError(
                {"replacement_serial": f"Serial {replacement_serial} is already on another replacement."}
            ) from None
    return replacement


def _check_replacement_serial(replacement: Replacement, serial: str) -> None:
    if len(serial) > 64:
        raise ValidationError({"replacement_serial": "A serial number has at most 64 characters."})
    if not serial:
        if replacement.kind == ReplacementKind.WHOLE_PRODUCT:
            raise ValidationError({"replacement_serial": "Enter the serial number of the unit you will send."})
        return
    if serial == replacement.faulty_serial:
        raise ValidationError({"replacement_serial": "That is the faulty unit's serial; enter the new unit's."})
    taken = (
        Replacement.objects.filter(replacement_serial=serial)
        .exclude(status=R.CANCELLED)
        .exclude(pk=replacement.pk)
        .select_related("claim")
        .first()
    )
    if taken is not None:
        raise ValidationError(
            {"replacement_serial": f"Serial {serial} already goes out as the replacement in {taken.claim}."}
        )


def _require_inspected(claim: Claim) -> None:
    if claim.status != ClaimStatus.INSPECTED:
        raise ReplacementRefused(
            f"{claim} is {claim.get_status_display().lower()}: the replacement is sent once the returned "
            "defective item is received and inspected."
        )


# --- Ship ---------------------------------------------------------------------


def replacement_ship(*, replacement_id: int, by, carrier: str, tracking_number: str) -> Replacement:
    """The claim's replacement parcel left: its replacements are shipped, the claim is replaced,
    and the customer is emailed the carrier and the tracking number.

    Every replacement of the claim travels in its one parcel, so shipping waits
    until none is still only proposed (approve or cancel it first).
    """
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    with transaction.atomic():
        claim, replacement = _lock(replacement_id)
        transition = states.require(replacement.status, "ship", by)
        _require_inspected(claim)
        siblings = list(
            Replacement.objects.select_for_update(of=("self",))
            .filter(claim=claim)
            .exclude(pk=replacement.pk)
            .select_related("claim_item__order_line__product")
            .order_by("pk")
        )
        waiting = [s for s in siblings if s.status == R.PROPOSED]
        if waiting:
            raise ReplacementRefused(
                "Approve or cancel the other proposed replacements of this claim first "
                f"({', '.join(_item_words(s) for s in waiting)}): they travel in one parcel."
            )
        parcel = shipment_services.outbound_parcel_mark_shipped(
            parcel_id=replacement.outbound_parcel_id, by=by, carrier=carrier, tracking_number=tracking_number
        )
        _ship(claim, [replacement, *(s for s in siblings if s.status == R.APPROVED)], parcel, transition, by)
    return replacement


def _ship(claim: Claim, shipped: list[Replacement], parcel, transition: states.Transition, by) -> None:
    """The replacements left in ``parcel``: shipped, the claim replaced, the customer emailed."""
    for each in shipped:
        _move(each, transition, by, {"carrier": parcel.carrier, "tracking_number": parcel.tracking_number})
    claim_services.claim_mark_replaced(
        claim_id=claim.pk,
        by=by,
        details={
            "carrier": parcel.carrier,
            "tracking_number": parcel.tracking_number,
            "outbound_parcel_id": parcel.pk,
            "replacement_ids": [each.pk for each in shipped],
            "replacement_serials": [each.replacement_serial for each in shipped if each.replacement_serial],
        },
    )
    claim.refresh_from_db(fields=["status"])
    notifications.email_customer(
        claim=claim,
        template="replacement_shipped",
        carrier=parcel.carrier,
        tracking_number=parcel.tracking_number,
        replacements=[_email_line(each) for each in shipped],
    )


def replacements_reconcile_shipped_parcel(*, claim_id: int) -> int:
    """Heal a claim whose replacement parcel left while its replacements stayed approved (the parcel was marked
    shipped outside ``replacement_ship``, before ``outbound_parcel_ship`` refused that): as the system, the
    replacements are shipped and the claim replaced, with the customer's email. Returns how many moved.
    """
    with transaction.atomic():
        claim = _lock_claim(claim_id)
        approved = list(
            Replacement.objects.select_for_update(of=("self",))
            .filter(claim=claim, status=R.APPROVED, outbound_parcel__shipped_at__isnull=False)
            .select_related("claim_item__order_line__product", "outbound_parcel")
            .order_by("pk")
        )
        if not approved or claim.status != ClaimStatus.INSPECTED:
            return 0
        transition = states.require(R.APPROVED, "ship", actors.SYSTEM)
        _ship(claim, approved, approved[0].outbound_parcel, transition, actors.SYSTEM)
        claim_services.claim_note(
            claim_id=claim.pk,
            by=actors.SYSTEM,
            action=ClaimAction.RECONCILED,
            payload={"what": "replacement_parcel_shipped", "replacement_ids": [each.pk for each in approved]},
        )
    return len(approved)


def _email_line(replacement: Replacement) -> str:
    item = replacement.claim_item
    what = (
        f"{replacement.part_description} for your {item.order_line.product.name}"
        if replacement.kind == ReplacementKind.PART
        else item.order_line.product.name
    )
    serial = f" (serial {replacement.replacement_serial})" if replacement.replacement_serial else ""
    return f"{what}{serial}"


# --- Cancel -------------------------------------------------------------------


def replacement_cancel(*, replacement_id: int, by, reason: str) -> Replacement:
    """Not replaced after all (no stock, the customer chose otherwise): its serial leaves the parcel.

    The claim stays inspected; customer service decides what follows.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Write why the replacement is cancelled."})
    with transaction.atomic():
        _claim, replacement = _lock(replacement_id)
        transition = states.require(replacement.status, "cancel", by)
        if replacement.outbound_parcel_id and replacement.replacement_serial:
            serials = list(replacement.outbound_parcel.serial_numbers)
            if replacement.replacement_serial in serials:
                serials.remove(replacement.replacement_serial)
                shipment_services.outbound_parcel_set_serials(
                    parcel_id=replacement.outbound_parcel_id, serial_numbers=serials
                )
        replacement.cancelled_by, replacement.cancelled_at = by, timezone.now()
        replacement.cancel_reason = reason
        _move(replacement, transition, by, {"reason": reason})
    return replacement


# --- Helpers ------------------------------------------------------------------


def _lock_claim(claim_id: int) -> Claim:
    # of=("self",): the claim only, not its order or the shared policy version.
    return Claim.objects.select_for_update(of=("self",)).select_related("order").get(pk=claim_id)


def _lock(replacement_id: int) -> tuple[Claim, Replacement]:
    """The claim row, then the replacement's: the one lock order of this app (as returns and inspections)."""
    claim_id = Replacement.objects.values_list("claim_id", flat=True).get(pk=replacement_id)
    claim = _lock_claim(claim_id)
    replacement = (
        Replacement.objects.select_for_update(of=("self",))
        .select_related("claim_item__order_line__product")
        .get(pk=replacement_id)
    )
    return claim, replacement


def _move(replacement: Replacement, transition: states.Transition, by, payload: dict) -> None:
    replacement.status = transition.target
    replacement.save()
    _record(replacement, by, transition.action, transition.source, transition.target, payload)


def _record(replacement: Replacement, by, action: str, source: str, target: str, payload: dict) -> ReplacementEvent:
    return events.record(
        ReplacementEvent, replacement=replacement, by=by, action=action, source=source, target=target, payload=payload
    )


def _item_words(replacement: Replacement) -> str:
    return replacement.claim_item.order_line.product.sku
