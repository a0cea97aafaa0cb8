"""Parcels in and out: the return parcel's tracking, its receipt at the warehouse, the
parcels nobody can match, and ours going out.

The claim's state belongs to ``returns``: these services lock the claim row first,
write the parcel, and call ``returns.services`` (inside the same transaction) for
the claim's transition and its ``ClaimEvent``.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import formats, timezone

from core import actors
from returns import services as claim_services
from returns import states, uploads
from returns.models import Claim, ClaimAction, ClaimEvent, ClaimStatus
from shipments.models import (
    EnteredVia,
    OutboundParcel,
    OutboundPurpose,
    ParcelCondition,
    ParcelPhoto,
    ReturnParcel,
    UnmatchedParcel,
    UnmatchedReason,
    parcel_photo_path,
)

log = logging.getLogger(__name__)

RECEIVE_PERMISSION = states.RECEIVE
ATTACH_PERMISSION = "shipments.attach_unmatchedparcel"
SHIP_OUTBOUND_PERMISSION = "shipments.change_outboundparcel"
# The claim is waiting for its parcel in these states (approved: the customer gave no tracking).
AWAITING_PARCEL = (ClaimStatus.APPROVED, ClaimStatus.SHIPPED)
# The customer's calendar may be a day ahead of or behind the company's (TIME_ZONE).
_CALENDAR_SLACK = timedelta(days=1)


class ParcelAlreadyRegistered(states.InvalidTransition):
    """A second submission of the tracking (a reused link, a double click): nothing changes."""

    def __init__(self, message: str, parcel: ReturnParcel):
        self.parcel = parcel
        super().__init__(message)


class NothingToSend(states.InvalidTransition):
    """The claim expects no parcel: approved without a return."""


class AlreadyDone(states.InvalidTransition):
    """Attaching a parcel twice, shipping ours twice: the message says who did it first."""


# --- The customer's return parcel: its tracking ---------------------------


def return_parcel_register(
    *, claim_id: int, by, carrier: str, tracking_number: str, sent_on: date | None
) -> ReturnParcel:
    """The return parcel's carrier, tracking number and sent date: the claim is shipped.

    ``by=actors.CUSTOMER`` is the customer, through the signed link in the approval email (the
    view checked the token; the state table's 'ship' row lets the customer take it).
    Staff enter it from the customer's email. A second submission changes nothing and
    says what we already have.
    """
    is_customer = by is actors.CUSTOMER
    if not is_customer and not by.has_perm(states.RECORD_SHIPMENT):
        raise states.NotPermitted("You do not have permission to record return parcels.")
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    with transaction.atomic():
        # The claim first: two submissions at once queue here, and the second sees the first's parcel.
        claim = Claim.objects.select_for_update(of=("self",)).get(pk=claim_id)
        existing = ReturnParcel.objects.filter(claim=claim).first()
        if existing is not None:
            raise _already_registered(claim, existing)
        if claim.is_returnless:
            raise NothingToSend(f"{claim} was approved without a return: nothing needs to be sent back.")
        states.require(claim.status, "ship", by)
        _check_parcel_details(claim, carrier, tracking_number, sent_on)
        parcel = ReturnParcel.objects.create(
            claim=claim,
            carrier=carrier,
            tracking_number=tracking_number,
            sent_on=sent_on,
            entered_via=EnteredVia.CUSTOMER_LINK if is_customer else EnteredVia.STAFF,
            entered_by=None if is_customer else by,
        )
        claim_services.claim_mark_shipped(
            claim_id=claim.pk,
            by=by,
            details={"carrier": carrier, "tracking_number": tracking_number, "sent_on": sent_on.isoformat()},
        )
    return parcel


def _already_registered(claim: Claim, parcel: ReturnParcel) -> ParcelAlreadyRegistered:
    if parcel.tracking_number:
        message = (
            f"We already have your tracking number {parcel.tracking_number}"
            f"{f' ({parcel.carrier})' if parcel.carrier else ''}, entered on {_day(parcel.entered_at)}. "
            "Nothing was changed."
        )
    else:
        # The warehouse received the parcel before anyone gave its tracking.
        message = f"We already received the parcel for {claim} on {_day(parcel.received_at)}. Nothing was changed."
    return ParcelAlreadyRegistered(message, parcel)


def _check_parcel_details(claim: Claim, carrier: str, tracking_number: str, sent_on: date | None) -> None:
    errors = {}
    if not carrier:
        errors["carrier"] = "Enter the carrier (for example DHL, UPS, SF Express)."
    if not tracking_number:
        errors["tracking_number"] = "Enter the tracking number from the carrier's receipt."
    if sent_on is None:
        errors["sent_on"] = "Enter the day the parcel was sent."
    else:
        today = timezone.localdate()
        approved_on = _approval_day(claim)
        if sent_on > today + _CALENDAR_SLACK:
            errors["sent_on"] = "The sent date cannot be in the future."
        elif approved_on and sent_on < approved_on - _CALENDAR_SLACK:
            errors["sent_on"] = (
                f"The sent date is before the return was approved ({_day(approved_on)}). Please check the date."
            )
    if errors:
        raise ValidationError(errors)


def _approval_day(claim: Claim) -> date | None:
    approved_at = claim.approved_at or (
        ClaimEvent.objects.filter(claim=claim, action=ClaimAction.APPROVE)
        .order_by("-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return timezone.localdate(approved_at) if approved_at else None


# --- The warehouse: receiving a parcel --------------------------------------


@dataclass
class ReceiptResult:
    """What the Receive parcel page tells the warehouse: received, or logged as unmatched."""

    message: str
    return_parcel: ReturnParcel | None = None
    unmatched_parcel: UnmatchedParcel | None = None
    claim: Claim | None = None
    photos: list[ParcelPhoto] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return self.return_parcel is not None


def parcel_receive(
    *,
    code: str,
    by,
    condition: str,
    note: str = "",
    photos=(),
    carrier: str = "",
    tracking_number: str = "",
) -> ReceiptResult:
    """Receive a parcel by its RMA number, or log it as unmatched: nothing that arrives is lost.

    The parcel is the claim's receipt when the claim waits for one (approved or
    shipped, not returnless, not yet received). Otherwise (no RMA number, an
    unknown one, a cancelled claim, a parcel already received) it becomes an
    ``UnmatchedParcel`` with its reason, photos and note, for customer service.

    Photos are checked first (``uploads.check_evidence``): if one is refused,
    nothing is recorded and ``uploads.RejectedUpload`` names every refused file.
    The person at the bench still holds the parcel and submits again; recording a
    part would turn the second submission into a false "already received".
    """
    if not by.has_perm(RECEIVE_PERMISSION):
        raise PermissionDenied("You do not have permission to receive parcels.")
    code = (code or "").strip().upper()
    if condition not in ParcelCondition.values:
        raise ValidationError({"condition": "Choose the parcel's condition."})
    checked = check_parcel_photos(photos)
    stored = _store_photos(checked)
    try:
        with transaction.atomic():
            result = _receive_locked(
                code, by, condition, (note or "").strip(), carrier.strip(), tracking_number.strip()
            )
            parcel_kwargs = (
                {"return_parcel": result.return_parcel}
                if result.matched
                else {"unmatched_parcel": result.unmatched_parcel}
            )
            result.photos = ParcelPhoto.objects.bulk_create(
                ParcelPhoto(
                    file=name,
                    original_name=c.original_name[:255],
                    content_type=c.content_type,
                    uploaded_by=by,
                    **parcel_kwargs,
                )
                for name, c in zip(stored, checked, strict=True)
            )
    except BaseException:
        _delete_files(stored)
        raise
    return result


def _receive_locked(code, by, condition, note, carrier, tracking_number) -> ReceiptResult:
    parcel_details = {
        "code": code,
        "by": by,
        "condition": condition,
        "note": note,
        "carrier": carrier,
        "tracking_number": tracking_number,
    }
    if not code:
        return _unmatched(UnmatchedReason.NO_RMA, "No RMA number", claim=None, **parcel_details)
    claim = Claim.objects.select_for_update(of=("self",)).filter(rma_number=code).first()
    if claim is None:
        return _unmatched(
            UnmatchedReason.UNKNOWN_RMA, f"No claim has the RMA number {code}", claim=None, **parcel_details
        )
    parcel = ReturnParcel.objects.select_related("received_by").filter(claim=claim).first()
    reason, why = _why_not_receivable(claim, parcel)
    if reason:
        return _unmatched(reason, why, claim=claim, **parcel_details)
    if parcel is None:
        # The customer never gave the tracking: the warehouse's record is the parcel's.
        parcel = ReturnParcel(
            claim=claim,
            entered_via=EnteredVia.WAREHOUSE,
            entered_by=by,
            carrier=carrier,
            tracking_number=tracking_number,
        )
    parcel.received_at, parcel.received_by = timezone.now(), by
    parcel.condition, parcel.receipt_note = condition, note
    parcel.save()
    claim = claim_services.claim_record_receipt(
        claim_id=claim.pk, by=by, details={"return_parcel_id": parcel.pk, "condition": condition, "note": note}
    )
    message = f"{claim} received ({ParcelCondition(condition).label.lower()}); it is ready for inspection."
    return ReceiptResult(message=message, return_parcel=parcel, claim=claim)


def _why_not_receivable(claim: Claim, parcel: ReturnParcel | None) -> tuple[str, str]:
    """('', '') when the claim waits for this parcel, else the unmatched reason and why, in words."""
    if parcel is not None and parcel.received_at is not None:
        who = parcel.received_by.get_username() if parcel.received_by else "someone"
        return UnmatchedReason.ALREADY_RECEIVED, (
            f"{claim} was already received by {who} at {_moment(parcel.received_at)}"
        )
    if claim.status == ClaimStatus.CANCELLED:
        return UnmatchedReason.CANCELLED, f"{claim} is cancelled"
    if claim.is_returnless:
        # The model has no reason of its own for this; "not approved" reads as "not waiting for a parcel".
        return UnmatchedReason.NOT_APPROVED, f"{claim} was approved without a return, so no parcel was expected"
    if claim.status not in AWAITING_PARCEL:
        return UnmatchedReason.NOT_APPROVED, (
            f"{claim} is {claim.get_status_display().lower()}, not waiting for a parcel"
        )
    return "", ""


def _unmatched(reason, why, *, code, claim, by, condition, note, carrier, tracking_number) -> ReceiptResult:
    unmatched = UnmatchedParcel.objects.create(
        scanned_code=code[:64],
        reason=reason,
        claim_found=claim,
        carrier=carrier,
        tracking_number=tracking_number,
        condition=condition,
        note=note,
        received_by=by,
    )
    message = f"{why}: the parcel is logged as unmatched parcel #{unmatched.pk} for customer service."
    return ReceiptResult(message=message, unmatched_parcel=unmatched, claim=claim)


def check_parcel_photos(photos) -> list[uploads.CheckedFile]:
    """Every photo checked by content (and stripped of location), or ``RejectedUpload`` naming each refused one."""
    checked, refused = [], []
    for upload in photos:
        try:
            checked.append(uploads.check_evidence(upload, videos=False))
        except uploads.RejectedUpload as error:
            refused.append(str(error))
    if refused:
        raise uploads.RejectedUpload(" ".join(refused))
    return checked


def _store_photos(checked: list[uploads.CheckedFile]) -> list[str]:
    """Upload before the transaction: the claim's lock is not held while the files travel."""
    stored = []
    try:
        for item in checked:
            stored.append(default_storage.save(parcel_photo_path(None, item.storage_name), item.content))
    except BaseException:
        _delete_files(stored)
        raise
    return stored


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a file left behind is only storage, never a wrong record
            log.warning("parcel photo %s left in storage after a failed receipt", name, exc_info=True)


# --- Customer service: a parcel nobody could match -------------------------


@dataclass
class AttachResult:
    unmatched_parcel: UnmatchedParcel
    claim: Claim
    # True when the parcel became the claim's receipt; False when attached for information.
    is_receipt: bool

    @property
    def message(self) -> str:
        number = f"Unmatched parcel #{self.unmatched_parcel.pk}"
        if self.is_receipt:
            return (
                f"{number} is now the receipt of {self.claim}; the claim is {self.claim.get_status_display().lower()}."
            )
        return f"{number} is attached to {self.claim} for information; the claim did not change."


def unmatched_parcel_attach(*, unmatched_id: int, claim_id: int, by, note: str = "") -> AttachResult:
    """Customer service found the claim an unmatched parcel belongs to.

    When that claim waits for its parcel (approved or shipped, not returnless, not
    yet received), the unmatched parcel becomes its receipt: the return parcel takes
    the day it arrived, who received it, its condition and note, and its photos
    (new rows pointing at the same stored files, so the unmatched parcel keeps its
    own), and the claim records the receipt. The receipt's ``ClaimEvent`` is the
    warehouse user's who received the parcel, with ``attached_by`` in its details:
    customer service matched the parcel, the warehouse received it.

    Otherwise (a second parcel for a claim already received, a cancelled claim) the
    parcel is attached for information only: the claim does not change.
    """
    if not by.has_perm(ATTACH_PERMISSION):
        raise PermissionDenied("You do not have permission to attach unmatched parcels.")
    note = (note or "").strip()
    with transaction.atomic():
        # Fixed order: the unmatched parcel, then the claim.
        unmatched = (
            UnmatchedParcel.objects.select_for_update(of=("self",))
            .select_related("attached_to", "attached_by")
            .get(pk=unmatched_id)
        )
        if unmatched.attached_to_id is not None:
            who = unmatched.attached_by.get_username() if unmatched.attached_by else "someone"
            raise AlreadyDone(
                f"Unmatched parcel #{unmatched.pk} was already attached to {unmatched.attached_to} "
                f"by {who} on {_moment(unmatched.attached_at)}; nothing was changed."
            )
        claim = Claim.objects.select_for_update(of=("self",)).get(pk=claim_id)
        parcel = ReturnParcel.objects.select_related("received_by").filter(claim=claim).first()
        reason, _ = _why_not_receivable(claim, parcel)
        unmatched.attached_to, unmatched.attached_by, unmatched.attached_at = claim, by, timezone.now()
        unmatched.save(update_fields=["attached_to", "attached_by", "attached_at"])
        if not reason:
            claim = _receive_from_unmatched(claim, parcel, unmatched, by, note)
        else:
            claim_services.claim_note(
                claim_id=claim.pk,
                by=by,
                action=ClaimAction.UNMATCHED_PARCEL_ATTACHED,
                payload={"unmatched_parcel_id": unmatched.pk, "reason": unmatched.reason, "note": note},
            )
    return AttachResult(unmatched_parcel=unmatched, claim=claim, is_receipt=not reason)


def _receive_from_unmatched(
    claim: Claim, parcel: ReturnParcel | None, unmatched: UnmatchedParcel, by, note: str
) -> Claim:
    if parcel is None:
        parcel = ReturnParcel(
            claim=claim,
            entered_via=EnteredVia.WAREHOUSE,
            entered_by=unmatched.received_by,
            carrier=unmatched.carrier,
            tracking_number=unmatched.tracking_number,
        )
    parcel.received_at, parcel.received_by = unmatched.received_at, unmatched.received_by
    parcel.condition = unmatched.condition
    parcel.receipt_note = "\n".join(part for part in (unmatched.note, note) if part)
    parcel.save()
    ParcelPhoto.objects.bulk_create(
        ParcelPhoto(
            return_parcel=parcel,
            file=photo.file.name,
            original_name=photo.original_name,
            content_type=photo.content_type,
            uploaded_by_id=photo.uploaded_by_id,
        )
        for photo in unmatched.photos.all()
    )
    return claim_services.claim_record_receipt(
        claim_id=claim.pk,
        by=unmatched.received_by,
        details={
            "return_parcel_id": parcel.pk,
            "condition": unmatched.condition,
            "note": parcel.receipt_note,
            "unmatched_parcel_id": unmatched.pk,
            "attached_by": by.get_username(),
        },
    )


# --- Our parcels out ---------------------------------------------------------


def outbound_parcel_open(*, claim_id: int, purpose: str) -> OutboundParcel:
    """The claim's parcel of this purpose (one per claim and purpose), made when first needed.

    Called by the apps that decide something goes out (a failed warranty inspection, an approved
    replacement), inside their transaction; returned locked.
    """
    parcel, _ = OutboundParcel.objects.select_for_update(of=("self",)).get_or_create(claim_id=claim_id, purpose=purpose)
    return parcel


def outbound_parcel_set_serials(*, parcel_id: int, serial_numbers: list[str]) -> OutboundParcel:
    """The serials the parcel carries (warranty adds a replacement's, removes a cancelled one's)."""
    parcel = OutboundParcel.objects.select_for_update(of=("self",)).get(pk=parcel_id)
    if parcel.shipped_at is not None:
        raise AlreadyDone(f"{parcel} already left ({parcel.carrier} {parcel.tracking_number}).")
    parcel.serial_numbers = list(serial_numbers)
    parcel.save(update_fields=["serial_numbers"])
    return parcel


def outbound_parcel_ship(*, parcel_id: int, by, carrier: str, tracking_number: str) -> OutboundParcel:
    """The customer's goods, sent back after a failed warranty inspection, left with the carrier.

    A replacement parcel is not shipped here: its replacement's own service ships it
    (``warranty.services.replacement_ship``), which marks the replacements shipped and the claim
    replaced in the same transaction, so parcel, replacement and claim never disagree.
    """
    if not by.has_perm(SHIP_OUTBOUND_PERMISSION):
        raise PermissionDenied("You do not have permission to ship parcels.")
    purpose = OutboundParcel.objects.filter(pk=parcel_id).values_list("purpose", flat=True).get()
    if purpose == OutboundPurpose.REPLACEMENT:
        raise states.InvalidTransition(
            "A replacement parcel is shipped from its replacement (Warranty › Replacements › Ship), which also marks "
            "the replacement shipped and the claim replaced. Nothing was changed."
        )
    return outbound_parcel_mark_shipped(parcel_id=parcel_id, by=by, carrier=carrier, tracking_number=tracking_number)


def outbound_parcel_mark_shipped(*, parcel_id: int, by, carrier: str, tracking_number: str) -> OutboundParcel:
    """Record that one of our parcels left, with an event on the claim; the claim's status is its owner's.

    Replacement parcels come here only through ``warranty.services.replacement_ship``.
    """
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    errors = {}
    if not carrier:
        errors["carrier"] = "Enter the carrier."
    if not tracking_number:
        errors["tracking_number"] = "Enter the tracking number."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        parcel = (
            OutboundParcel.objects.select_for_update(of=("self",))
            .select_related("claim", "shipped_by")
            .get(pk=parcel_id)
        )
        if parcel.shipped_at is not None:
            who = parcel.shipped_by.get_username() if parcel.shipped_by else "someone"
            raise AlreadyDone(
                f"{parcel} was already shipped by {who} on {_moment(parcel.shipped_at)} "
                f"({parcel.carrier} {parcel.tracking_number}); nothing was changed."
            )
        parcel.carrier, parcel.tracking_number = carrier, tracking_number
        parcel.shipped_at, parcel.shipped_by = timezone.now(), by
        parcel.save(update_fields=["carrier", "tracking_number", "shipped_at", "shipped_by"])
        claim_services.claim_note(
            claim_id=parcel.claim_id,
            by=by,
            action=ClaimAction.OUTBOUND_SHIPPED,
            payload={
                "outbound_parcel_id": parcel.pk,
                "purpose": parcel.purpose,
                "carrier": carrier,
                "tracking_number": tracking_number,
                "serial_numbers": parcel.serial_numbers,
            },
        )
    return parcel


# --- Words --------------------------------------------------------------------


def _day(value) -> str:
    if value is None:
        return "an earlier day"
    if hasattr(value, "tzinfo"):
        value = timezone.localdate(value)
    return formats.date_format(value, "j F Y")


def _moment(value) -> str:
    return formats.date_format(timezone.localtime(value), "j F Y H:i") if value else "an earlier time"
