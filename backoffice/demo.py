"""Demo data for trying the back-office: orders, staff users, claims and parcels.

Everything goes through the code the product uses: the orders through the store
importer (``stores.importing``), the claims and everything after them through
the services (``returns``, ``shipments``, ``inspections``, ``refunds``,
``warranty``), each step by the role that takes it in the back-office, so each
claim has its events, its customer emails and its parcels, inspections, refunds
and replacements. Loading again adds nothing: the importer updates, users are
updated, every claim has a fixed ``submission_key`` (a claim already made is
skipped with all its steps: one transaction each) and every unmatched parcel a
fixed tracking number.

The claims reach every state: requested, awaiting customer, approved, shipped
(the tracking entered by the customer through the email link, or by customer
service), shipped and received (the warehouse's inspection queue, one
inspection half done), inspected (a refund proposed for finance, one waiting
for a second approval, one waiting for its manual payment), refunded (manual
provider: approved, executed, the payment's reference recorded; after an
inspection and for a missing item without a return), replaced (inspection
passed, replacement approved with its serial and shipped), rejected (at triage,
and a warranty claim after its inspection found physical damage), resolved and
cancelled. Two parcels nobody can match wait in customer service's list.
"""

import contextlib
import io
import random
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from backoffice import flows, roles
from core import actors
from inspections import services as inspection_services
from refunds import services as refund_services
from refunds.models import LineKind, Refund
from returns import services
from returns.models import Claim, ClaimItem, ClaimType, DoaReason, Order
from shipments import services as shipment_services
from shipments.models import ParcelCondition, UnmatchedParcel
from stores import importing
from warranty import services as warranty_services
from warranty.models import Replacement

ORDERS_CSV = Path(settings.BASE_DIR) / "demo" / "orders.csv"
# demo/orders.csv is written as of this day; the demo moves its dates so that
# this day is the day the demo is first loaded, and "recent" stays recent.
ORDERS_CSV_AS_OF = date(2026, 11, 25)
_REFERENCE_ORDER = "DEMO-1001"

# Demo logins: (username, password, role); the superuser has no role.
USERS = (
    ("cs", "demo-cs", roles.CUSTOMER_SERVICE),
    ("warehouse", "demo-warehouse", roles.WAREHOUSE),
    ("finance", "demo-finance", roles.FINANCE),
    ("manager", "demo-manager", roles.MANAGER),
    ("admin", "demo-admin", None),
)
_SUBMISSION_KEYS = uuid.UUID("0f6c1c36-5d0e-4c39-9d6a-3f6d1a7c2b10")  # uuid5 namespace of the demo's claims


class DemoDataError(Exception):
    """The demo does not load cleanly: a bad row in demo/orders.csv, or a step that did not do what it should."""


@dataclass(frozen=True)
class Step:
    """One service call after the claim is made: ``action`` by the user ``by``.

    ``by="customer"`` is the customer through the signed link in the approval email;
    ``by="system"`` is what a task does (the refund's execution).
    """

    action: str
    by: str = "cs"
    text: dict = field(default_factory=dict)
    after_hours: float = 0  # a month claim's step: hours after the one before (or after the claim was made)


@dataclass(frozen=True)
class DemoClaim:
    key: str
    order: str
    sku: str
    claim_type: str
    description: str
    doa_reason: str = ""
    hours_ago: int = 3
    whole_package_photo: bool = True
    steps: tuple[Step, ...] = ()
    made_at: datetime | None = None  # a month claim's moment; its steps then run at their own hours,
    until: datetime | None = None  # those before this moment (the first load's): the same steps on every load


def ask(message):
    return Step("ask_for_information", text={"message": message})


def answer(text):
    return Step("record_customer_answer", text={"answer": text})


def approve(by="cs", **text):
    return Step("approve", by=by, text=text)


def resolve(note):
    return Step("resolve", text={"note": note})


def reject(reason):
    return Step("reject", text={"reason": reason})


def cancel(reason):
    return Step("cancel", text={"reason": reason})


def ship_by_customer(carrier, tracking_number):
    """The customer enters the return parcel's tracking through the approval email's link."""
    return Step("register_parcel", by="customer", text={"carrier": carrier, "tracking_number": tracking_number})


def register_parcel(carrier, tracking_number):
    """Customer service enters the tracking the customer sent by email."""
    return Step("register_parcel", by="cs", text={"carrier": carrier, "tracking_number": tracking_number})


def receive(condition=ParcelCondition.INTACT, note="", *, photo=False, **label):
    """The warehouse receives the parcel by its RMA number (``label``: carrier and tracking read off it)."""
    return Step("receive", by="warehouse", text={"condition": condition, "note": note, "photo": photo, **label})


def inspect(*, complete=True, **checklist):
    """The warehouse inspects every item of the claim (``checklist``: ``inspection_record``'s fields)."""
    return Step("inspect", by="warehouse", text={"complete": complete, **checklist})


# The four return conditions, all met.
AS_NEW = {
    "is_new_unused": True,
    "no_installation_marks": True,
    "original_packaging_sealed": True,
    "label_present": True,
}


def enter_return_shipping(amount, reason):
    """Finance enters the return shipping from the customer's receipt (the proposal leaves it at 0)."""
    return Step("enter_return_shipping", by="finance", text={"amount": amount, "reason": reason})


def approve_refund():
    return Step("approve_refund", by="finance")


def execute_refund():
    """What the worker's ``execute_refund`` task does: with the manual provider, the refund waits for finance."""
    return Step("execute_refund", by="system")


def record_manual_payment(reference):
    return Step("record_manual_payment", by="finance", text={"provider_reference": reference})


def pay_manually(reference):
    """The manual provider's flow (docs/refunds.md): approve, execute, record the payment's reference."""
    return (approve_refund(), execute_refund(), record_manual_payment(reference))


def approve_replacement(serial):
    return Step("approve_replacement", by="cs", text={"replacement_serial": serial})


def ship_replacement(carrier, tracking_number):
    return Step("ship_replacement", by="warehouse", text={"carrier": carrier, "tracking_number": tracking_number})


DOA, NO_REASON, WARRANTY = ClaimType.DOA, ClaimType.NO_REASON, ClaimType.WARRANTY

# Each claim type in each state it can reach, some outside their window.
CLAIMS = (
    # DOA: 7 days from receipt.
    DemoClaim(
        "doa-wrong-item-requested", "DEMO-1001", "SR-CAGE-A7IV", DOA,
        "The box holds a cage for the A7S III, not the A7 IV I ordered.", DoaReason.WRONG_ITEM, hours_ago=30,
    ),
    DemoClaim(
        "doa-damage-awaiting", "DEMO-1002", "SR-NATO-HANDLE", DOA,
        "The handle has a deep scratch along the top.", DoaReason.DAMAGE, whole_package_photo=False,
        steps=(ask("Please send a photo of the scratch and one of the whole package, as it arrived."),),
    ),
    DemoClaim(
        "doa-quality-approved", "DEMO-1001", "SR-VMOUNT-99", DOA,
        "The battery does not charge: the LEDs stay off on two different chargers.", DoaReason.QUALITY_ISSUE,
        hours_ago=20, steps=(approve(),),
    ),
    DemoClaim(
        "doa-missing-item-returnless", "DEMO-1003", "SR-QR-PLATE", DOA,
        "I ordered two plates; the box had only one.", DoaReason.MISSING_ITEM, hours_ago=26,
        steps=(
            approve(returnless_reason="The second plate was never delivered: nothing to send back."),
        ),
    ),
    DemoClaim(
        "doa-quality-resolved", "DEMO-1002", "SR-LED-P96", DOA,
        "The light flickers below 10% brightness.", DoaReason.QUALITY_ISSUE, hours_ago=28,
        steps=(resolve("Firmware 1.2 (sent with instructions) fixed the flicker; the customer keeps the lights."),),
    ),
    DemoClaim(
        "doa-wrong-item-rejected", "DEMO-1003", "SR-MIC-MOUNT", DOA,
        "This is not the microphone mount I ordered.", DoaReason.WRONG_ITEM, hours_ago=22,
        steps=(reject("The photos show the cold shoe microphone mount SR-MIC-MOUNT, the item on your order."),),
    ),
    DemoClaim(
        "doa-damage-cancelled", "DEMO-1004", "SR-MAGIC-ARM", DOA,
        "The arm arrived scratched.", DoaReason.DAMAGE, hours_ago=10,
        steps=(cancel("The customer wrote back: only the outer box was scratched, and keeps the arm."),),
    ),
    DemoClaim(
        "doa-damage-expired", "DEMO-1010", "SR-MAGIC-ARM", DOA,
        "One ball head is cracked; I only opened the box now.", DoaReason.DAMAGE, hours_ago=2,
    ),
    DemoClaim(
        "doa-damage-received", "DEMO-1004", "SR-FOLLOW-FOCUS", DOA,
        "The motor's gear housing is cracked; the outer box was dented.", DoaReason.DAMAGE, hours_ago=20,
        steps=(
            approve(),
            ship_by_customer("Royal Mail", "RM123456785GB"),
            receive(ParcelCondition.BOX_DAMAGED, "Outer box dented on one corner; the inner box looks intact.",
                    photo=True),
        ),
    ),
    DemoClaim(
        "doa-quality-inspected-refund-proposed", "DEMO-1015", "SR-FOLLOW-FOCUS", DOA,
        "The motor does not pair with the hand unit.", DoaReason.QUALITY_ISSUE, hours_ago=7,
        steps=(
            approve(),
            ship_by_customer("UPS", "1Z999AA10123456784"),
            receive(),
            inspect(**AS_NEW, defect_confirmed=True, human_or_physical_damage=False,
                    findings="Pairing fails with two hand units: the motor's radio module is faulty."),
        ),
    ),
    DemoClaim(
        "doa-wrong-item-awaiting-manual-payment", "DEMO-1003", "SR-TX-WIRELESS", DOA,
        "The box holds the receiver only, not the transmitter set I ordered.", DoaReason.WRONG_ITEM, hours_ago=16,
        steps=(
            approve(),
            ship_by_customer("SF Express", "SF1402937700"),
            receive(),
            inspect(**AS_NEW, defect_confirmed=True, human_or_physical_damage=False,
                    findings="Receiver-only kit TX-R, sealed: the wrong item was picked."),
            enter_return_shipping("68.00", "The customer's SF Express receipt: 68 CNY."),
            approve_refund(),
            execute_refund(),
        ),
    ),
    DemoClaim(
        "doa-missing-item-refunded", "DEMO-1018", "SR-NATO-HANDLE", DOA,
        "The parcel held the cage but no NATO handle.", DoaReason.MISSING_ITEM, hours_ago=15,
        steps=(
            approve(returnless_reason="The handle never left the warehouse: nothing to send back."),
            *pay_manually("INTERAC-7Q4M2K"),
        ),
    ),
    # No-reason return: 45 days, 30 for electronic products.
    DemoClaim(
        "no-reason-requested", "DEMO-1005", "SR-TRIPOD-MINI", NO_REASON,
        "Too small for my camera; I'd like to return it.", hours_ago=5,
        steps=(
            ask("Is the tripod still sealed in its original packaging?"),
            answer("Yes, I never opened the inner bag. Photo of the box attached."),
        ),
    ),
    DemoClaim(
        "no-reason-awaiting", "DEMO-1006", "SR-QR-PLATE", NO_REASON,
        "Changed my mind.", whole_package_photo=False, hours_ago=8,
        steps=(ask("Please send a photo of the whole package: the policy requires one before we can approve."),),
    ),
    DemoClaim(
        "no-reason-electronic-approved", "DEMO-1006", "SR-LED-P96", NO_REASON,
        "Bought the wrong light for my studio; it is unopened.", hours_ago=9, steps=(approve(),),
    ),
    DemoClaim(
        "no-reason-resolved", "DEMO-1005", "SR-MAGIC-ARM", NO_REASON,
        "It doesn't fit my rig.", hours_ago=6,
        steps=(resolve("Showed the customer how to reverse the ball head; it fits now and they keep it."),),
    ),
    DemoClaim(
        "no-reason-rejected", "DEMO-1005", "SR-CAGE-A7IV", NO_REASON,
        "Not what I expected.", hours_ago=7,
        steps=(reject("The photos show the cage mounted and used: a no-reason return takes back new items only."),),
    ),
    DemoClaim(
        "no-reason-cancelled", "DEMO-1006", "SR-NATO-HANDLE", NO_REASON,
        "Don't need it any more.", hours_ago=12,
        steps=(approve(), cancel("The customer decided to keep the handle after all.")),
    ),
    DemoClaim(
        "no-reason-electronic-expired", "DEMO-1007", "SR-TX-WIRELESS", NO_REASON,
        "I'd like to return the transmitter, it is still like new.", hours_ago=1,
    ),
    DemoClaim(
        "no-reason-override-approved", "DEMO-1008", "SR-CAGE-A7IV", NO_REASON,
        "Wrong cage for my camera; I was travelling and could not write earlier.", hours_ago=4,
        steps=(
            approve(
                by="manager",
                window_override_reason="The parcel was held at customs for two weeks: count from its real arrival.",
            ),
        ),
    ),
    DemoClaim(
        "no-reason-no-received-date", "DEMO-1013", "SR-MIC-MOUNT", NO_REASON,
        "Ordered it twice by mistake.", hours_ago=3,
    ),
    DemoClaim(
        "no-reason-shipped-by-customer", "DEMO-1010", "SR-NATO-HANDLE", NO_REASON,
        "Ordered the wrong handle; it is still sealed.", hours_ago=9,
        steps=(approve(), ship_by_customer("DHL", "JD014600003828")),
    ),
    DemoClaim(
        "no-reason-received-inspection-started", "DEMO-1007", "SR-MIC-MOUNT", NO_REASON,
        "It does not fit my shotgun microphone.", hours_ago=13,
        steps=(
            approve(),
            receive(note="No tracking was given; DHL's label was on the parcel.",
                    carrier="DHL", tracking_number="JD014600004417"),
            inspect(complete=False, is_new_unused=True, no_installation_marks=True,
                    findings="Mount looks unused; the packaging is still to check."),
        ),
    ),
    DemoClaim(
        "no-reason-inspected-second-approval", "DEMO-1016", "SR-VMOUNT-99", NO_REASON,
        "The shoot these four batteries were for was cancelled; all are still sealed.", hours_ago=10,
        steps=(
            approve(),
            ship_by_customer("FedEx", "794612345678"),
            receive(),
            inspect(**AS_NEW, findings="Four batteries, sealed, labels present."),
            approve_refund(),  # 636 USD: above the 500 USD threshold, a second finance user must approve
        ),
    ),
    DemoClaim(
        "no-reason-refunded-with-deduction", "DEMO-1015", "SR-QR-PLATE", NO_REASON,
        "I bought the plates by mistake; I opened one before noticing.", hours_ago=8,
        steps=(
            approve(),
            ship_by_customer("USPS", "9400111899223344556677"),
            receive(ParcelCondition.OPENED, "Both plates inside; one blister opened."),
            inspect(is_new_unused=True, no_installation_marks=True, original_packaging_sealed=False,
                    label_present=True, deduction_percent=10, deduction_reason="the opened packaging",
                    findings="Both plates unused; one blister was opened."),
            *pay_manually("BANK-TRF-2026-0042"),
        ),
    ),
    # Warranty: 2 years, 1 for electronic products.
    DemoClaim(
        "warranty-requested", "DEMO-1009", "SR-FOLLOW-FOCUS", WARRANTY,
        "The motor stopped responding to the hand wheel.", hours_ago=27,
    ),
    DemoClaim(
        "warranty-awaiting", "DEMO-1009", "SR-VMOUNT-99", WARRANTY,
        "The battery shows 100% but the camera turns off after a minute.", whole_package_photo=False, hours_ago=18,
        steps=(ask("Please send a photo of the serial number label and a video of the charge LEDs."),),
    ),
    DemoClaim(
        "warranty-electronic-approved", "DEMO-1011", "SR-LED-P96", WARRANTY,
        "The fan is noisy and the light switches off after ten minutes.", hours_ago=16, steps=(approve(),),
    ),
    DemoClaim(
        "warranty-resolved", "DEMO-1009", "SR-TRIPOD-MINI", WARRANTY,
        "One leg does not lock.", hours_ago=14,
        steps=(resolve("Tightening the leg lock screw, as in our video, fixed it."),),
    ),
    DemoClaim(
        "warranty-rejected", "DEMO-1011", "SR-MAGIC-ARM", WARRANTY,
        "The arm is bent.", hours_ago=15,
        steps=(reject("The photos show the arm bent by a fall: physical damage is not covered by the warranty."),),
    ),
    DemoClaim(
        "warranty-cancelled", "DEMO-1011", "SR-CAGE-A7IV", WARRANTY,
        "A screw is missing from the cage.", whole_package_photo=False, hours_ago=40,
        steps=(
            ask("Which screw is missing? A photo of the cage on the camera would help."),
            cancel("The customer found the screw in the box."),
        ),
    ),
    DemoClaim(
        "warranty-electronic-expired", "DEMO-1012", "SR-TX-WIRELESS", WARRANTY,
        "The transmitter loses the signal after a few metres.", hours_ago=2,
    ),
    DemoClaim(
        "warranty-shipped-entered-by-cs", "DEMO-1012", "SR-NATO-HANDLE", WARRANTY,
        "The handle's locking screw no longer tightens.", hours_ago=11,
        steps=(approve(), register_parcel("PostNord", "00370712345678901234")),
    ),
    DemoClaim(
        "warranty-replaced", "DEMO-1017", "SR-FOLLOW-FOCUS", WARRANTY,
        "The motor stalls and clicks at the end stops.", hours_ago=12,
        steps=(
            approve(),
            ship_by_customer("La Poste", "6A12345678901"),
            receive(),
            inspect(defect_confirmed=True, human_or_physical_damage=False,
                    findings="The motor stalls at the end stops: worn gearbox; no drop or water marks."),
            approve_replacement("FF-93010"),
            ship_replacement("DHL Express", "1234567890"),
        ),
    ),
    DemoClaim(
        "warranty-rejected-after-inspection", "DEMO-1017", "SR-LED-P96", WARRANTY,
        "The light no longer turns on.", hours_ago=12,
        steps=(
            approve(),
            ship_by_customer("La Poste", "6A12345678902"),
            receive(),
            inspect(defect_confirmed=True, human_or_physical_damage=True,
                    findings="The housing is cracked and the power board shows impact damage from a fall."),
        ),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class DemoUnmatchedParcel:
    """A parcel the warehouse received that matches no claim waiting for one; its tracking number is its key."""

    carrier: str
    tracking_number: str
    condition: str
    note: str
    # The demo claim whose RMA number is on the parcel; "" when it carries none.
    rma_of: str = ""
    photo: bool = False


UNMATCHED_PARCELS = (
    DemoUnmatchedParcel(
        "DHL", "JD014600009921", ParcelCondition.INTACT,
        "The customer cancelled the return but sent the handle anyway.", rma_of="no-reason-cancelled",
    ),
    DemoUnmatchedParcel(
        "SF Express", "SF1402937781", ParcelCondition.BOX_DAMAGED,
        "No RMA number and no paperwork inside: a mini tripod. The sender's name on the label is smudged.",
        photo=True,
    ),
)  # fmt: skip


def _refund_of(claim_id: int) -> Refund:
    return Refund.objects.get(claim_id=claim_id)


def _replacement_of(claim_id: int) -> Replacement:
    return Replacement.objects.get(claim_id=claim_id)


def _register_parcel(*, claim_id, by, carrier, tracking_number):
    shipment_services.return_parcel_register(
        claim_id=claim_id, by=by, carrier=carrier, tracking_number=tracking_number, sent_on=timezone.localdate()
    )


def _receive(*, claim_id, by, condition, note, photo, carrier="", tracking_number=""):
    claim = Claim.objects.get(pk=claim_id)
    photos = [whole_package_photo(f"Received: {claim.rma_number}", name="parcel.jpg")] if photo else []
    result = shipment_services.parcel_receive(
        code=claim.rma_number,
        by=by,
        condition=condition,
        note=note,
        photos=photos,
        carrier=carrier,
        tracking_number=tracking_number,
    )
    if not result.matched:
        raise DemoDataError(f"The demo's parcel for {claim} was not matched: {result.message}")


def _inspect(*, claim_id, by, complete, **checklist):
    for item_id in ClaimItem.objects.filter(claim_id=claim_id).order_by("pk").values_list("pk", flat=True):
        inspection = inspection_services.inspection_start(claim_item_id=item_id, by=by)
        inspection_services.inspection_record(inspection_id=inspection.pk, by=by, **checklist)
        if complete:
            inspection_services.inspection_complete(inspection_id=inspection.pk, by=by)


def _enter_return_shipping(*, claim_id, by, amount, reason):
    refund = _refund_of(claim_id)
    line = refund.lines.get(kind=LineKind.RETURN_SHIPPING)
    refund_services.refund_adjust_lines(
        refund_id=refund.pk,
        by=by,
        changes=[refund_services.LineChange(amount=Decimal(amount), line_id=line.pk)],
        reason=reason,
    )


def _execute_refund(*, claim_id, by):
    outcome = refund_services.refund_execute(refund_id=_refund_of(claim_id).pk)
    if outcome != "awaiting_manual":
        raise DemoDataError(f"The demo refunds with the manual provider; its execution answered {outcome!r}.")


_SERVICES = {
    "ask_for_information": services.claim_ask_for_information,
    "record_customer_answer": services.claim_record_customer_answer,
    "resolve": services.claim_resolve,
    "approve": flows.claim_approve,
    "reject": services.claim_reject,
    "cancel": services.claim_cancel,
    "register_parcel": _register_parcel,
    "receive": _receive,
    "inspect": _inspect,
    "enter_return_shipping": _enter_return_shipping,
    "approve_refund": lambda *, claim_id, by: refund_services.refund_approve(refund_id=_refund_of(claim_id).pk, by=by),
    "execute_refund": _execute_refund,
    "record_manual_payment": lambda *, claim_id, by, provider_reference: refund_services.refund_record_manual_payment(
        refund_id=_refund_of(claim_id).pk, by=by, provider_reference=provider_reference
    ),
    "approve_replacement": lambda *, claim_id, by, replacement_serial: warranty_services.replacement_approve(
        replacement_id=_replacement_of(claim_id).pk, by=by, replacement_serial=replacement_serial
    ),
    "ship_replacement": lambda *, claim_id, by, carrier, tracking_number: warranty_services.replacement_ship(
        replacement_id=_replacement_of(claim_id).pk, by=by, carrier=carrier, tracking_number=tracking_number
    ),
}


@dataclass
class DemoReport:
    orders: importing.ImportReport
    claims_created: list[str] = field(default_factory=list)
    claims_existing: list[str] = field(default_factory=list)
    unmatched_created: list[str] = field(default_factory=list)
    unmatched_existing: list[str] = field(default_factory=list)


def demo_load() -> DemoReport:
    """Load (or top up) the demo; safe to run again."""
    roles.sync_roles()
    report = DemoReport(orders=demo_orders_import())
    if report.orders.rejected:
        raise DemoDataError(f"{ORDERS_CSV} has bad rows:\n{report.orders.summary()}")
    users = demo_users_ensure()
    for demo in (*CLAIMS, *month_claims()):
        try:
            # One transaction per claim and its steps: a claim exists with all its steps or not at all.
            with transaction.atomic():
                _claim_make(demo, users)
        except services.DuplicateSubmission:
            report.claims_existing.append(demo.key)
        else:
            report.claims_created.append(demo.key)
    for parcel in UNMATCHED_PARCELS:
        with transaction.atomic():
            created = _unmatched_parcel_receive(parcel, users)
        (report.unmatched_created if created else report.unmatched_existing).append(parcel.tracking_number)
    return report


def claim_key(key: str) -> uuid.UUID:
    """The ``submission_key`` of the demo claim ``key``."""
    return uuid.uuid5(_SUBMISSION_KEYS, key)


def demo_orders_import() -> importing.ImportReport:
    orders_file = importing.read_order_csv(ORDERS_CSV)
    shift = _date_shift()

    def shifted(rows):
        for line, row in rows:
            if row["received_on"].strip():
                row["received_on"] = (date.fromisoformat(row["received_on"].strip()) + shift).isoformat()
            yield line, row

    return importing.order_rows_import(
        shifted(orders_file.rows()), format=orders_file.format.NAME, file_name=ORDERS_CSV.name
    )


def _date_shift() -> timedelta:
    """From the file's day to the day the demo was first loaded (kept on later loads)."""
    return timezone.localdate(_first_loaded()) - ORDERS_CSV_AS_OF


def _first_loaded() -> datetime:
    """When the demo was first loaded (its reference order's import), or now: the month's "today"."""
    first = Order.objects.filter(number=_REFERENCE_ORDER).values_list("created_at", flat=True).first()
    return first or timezone.now()


def demo_users_ensure() -> dict:
    """The demo's staff users with their documented passwords (put back if changed)."""
    User = get_user_model()
    for username, password, role in USERS:
        user, _ = User.objects.get_or_create(username=username)
        user.is_staff = user.is_active = True
        user.is_superuser = role is None
        user.email = f"{username}@example.com"
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get(name=role)] if role else [])
    # Fresh instances: permissions are cached on the user object.
    users = {user.username: user for user in User.objects.filter(username__in=[u for u, *_ in USERS])}
    return {**users, "customer": actors.CUSTOMER, "system": actors.SYSTEM}


def _claim_make(demo: DemoClaim, users: dict) -> None:
    order = Order.objects.get(number=demo.order)
    line = order.lines.select_related("product").get(product__sku=demo.sku)
    with _clock(demo.made_at) if demo.made_at else contextlib.nullcontext():
        claim = services.claim_create(
            order=order,
            claim_type=demo.claim_type,
            doa_reason=demo.doa_reason,
            description=demo.description,
            order_line_ids=[line.pk],
            serial_number=line.serial_numbers[0] if line.serial_numbers else "",
            submitted_at=demo.made_at or timezone.now() - timedelta(hours=demo.hours_ago),
            submission_key=claim_key(demo.key),
            by=users["cs"],
        )
        if demo.whole_package_photo:
            services.evidence_add(
                claim_id=claim.pk,
                by=users["cs"],
                upload=whole_package_photo(f"{demo.order} / {demo.sku}", name=f"{demo.key}-package.jpg"),
                shows_whole_package=True,
            )
    moment = demo.made_at
    for step in demo.steps:
        if moment is None:
            _SERVICES[step.action](claim_id=claim.pk, by=users[step.by], **step.text)
            continue
        moment += timedelta(hours=step.after_hours)
        if moment > demo.until:
            break  # not happened yet: the claim waits in that step's queue
        with _clock(moment):
            _SERVICES[step.action](claim_id=claim.pk, by=users[step.by], **step.text)


@contextmanager
def _clock(moment: datetime):
    """The services' clock (``django.utils.timezone.now``, which every service and ``auto_now`` reads) set to a
    moment of the month, so that a month claim's events, deadlines, refunds and emails carry their own times."""
    with mock.patch.object(timezone, "now", lambda: moment):
        yield


# --- A month of the brand's claims -------------------------------------------------------------------------------

MONTH_ORDERS = "DEMO-2"  # the month's orders in demo/orders.csv: DEMO-2001 (newest) to DEMO-2360
MONTH_CLAIM_EVERY = 16  # one claimed line in sixteen: a few per cent of the units sold come back
MONTH_SEED = 13

_MONTH_TEXTS = {
    (DOA, DoaReason.DAMAGE): "Arrived with a crack in the housing; the outer box was crushed.",
    (DOA, DoaReason.QUALITY_ISSUE): "It stopped working after the first use.",
    (DOA, DoaReason.WRONG_ITEM): "The box holds a different model from the one I ordered.",
    (NO_REASON, ""): "Changed my mind; it is still sealed.",
    (WARRANTY, ""): "It worked for weeks, now it does not switch on.",
}
_CARRIERS = ("DHL", "UPS", "FedEx", "La Poste", "Royal Mail", "Canada Post", "Japan Post")


def month_claims() -> list[DemoClaim]:
    """About one order line in sixteen of the month's orders comes back as a claim, made one to twenty days after
    the goods arrived and moved along by each role at realistic hours: answered within a day (a few late),
    parcels a few days on the road, inspected, refunded or replaced. Steps still in the future are not taken,
    so the newest claims wait in the staff's queues. Deterministic: the same claims on every load."""
    rng = random.Random(MONTH_SEED)
    today = _first_loaded()
    shift = timezone.localdate(today) - ORDERS_CSV_AS_OF
    company = timezone.get_default_timezone()
    lines = [
        row for _, row in importing.read_order_csv(ORDERS_CSV).rows() if row["order_number"].startswith(MONTH_ORDERS)
    ]
    claims = []
    for n, row in enumerate(lines):
        if n % MONTH_CLAIM_EVERY != MONTH_CLAIM_EVERY // 2:
            continue
        claim_type, reason = rng.choices(
            [(DOA, DoaReason.DAMAGE), (DOA, DoaReason.QUALITY_ISSUE), (DOA, DoaReason.WRONG_ITEM), (NO_REASON, ""),
             (WARRANTY, "")],
            [3, 4, 2, 6, 2],
        )[0]  # fmt: skip
        if claim_type == WARRANTY and row["electronic"] != "yes":
            claim_type = NO_REASON  # a replacement needs a serial number: the electronic products have them
        received = date.fromisoformat(row["received_on"]) + shift
        days_after = rng.randint(1, 5) if claim_type == DOA else rng.randint(2, 20)
        made_at = datetime.combine(received + timedelta(days=days_after), time(8), company) + timedelta(
            minutes=rng.randint(0, 12 * 60)
        )
        steps = _month_steps(rng, claim_type, row)
        if made_at > today - timedelta(hours=1):
            continue  # the customer has not written yet
        claims.append(
            DemoClaim(
                f"month-{row['order_number']}-{row['sku']}", row["order_number"], row["sku"], claim_type,
                _MONTH_TEXTS[(claim_type, reason)], reason, made_at=made_at, until=today - timedelta(minutes=30),
                steps=steps,
            )
        )  # fmt: skip
    return claims


def _month_steps(rng: random.Random, claim_type: str, row: dict) -> tuple[Step, ...]:
    def at(step: Step, low: float, high: float) -> Step:
        return Step(step.action, step.by, step.text, after_hours=round(rng.uniform(low, high), 2))

    if rng.random() < 0.1:
        return (at(reject("The photos show the product mounted and used."), 2, 20),)
    if rng.random() < 0.08:
        return (at(resolve("A setting fixed it, as our guide shows; the customer keeps the product."), 2, 20),)
    tracking = f"{rng.choice(_CARRIERS)}", f"DM{rng.randint(10**9, 10**10 - 1)}"
    steps = [
        at(approve(), 1, 30),  # the 24-hour first response: most in time, a few late
        at(ship_by_customer(*tracking), 12, 48),
        at(receive(), 48, 120),
        at(
            inspect(
                **AS_NEW,
                defect_confirmed=claim_type != NO_REASON,
                human_or_physical_damage=False,
                findings="As described; the packaging is complete.",
            ),
            4,
            30,
        ),
    ]
    if claim_type == WARRANTY:
        serial = f"{row['sku'].split('-')[1][:3]}-R{rng.randint(10000, 99999)}"
        steps += [
            at(approve_replacement(serial), 2, 24),
            at(ship_replacement("DHL", f"JD0146{rng.randint(10**7, 10**8 - 1)}"), 12, 48),
        ]
        return tuple(steps)
    if claim_type == DOA:
        shipping = "1500" if row["currency"] == "JPY" else "12.00"
        steps.append(at(enter_return_shipping(shipping, "The customer's postage receipt."), 2, 24))
    steps += [
        at(approve_refund(), 2, 48),
        at(execute_refund(), 0.05, 0.2),
        at(record_manual_payment(f"BANK-{rng.randint(100000, 999999)}"), 20, 70),
    ]
    return tuple(steps)


def _unmatched_parcel_receive(parcel: DemoUnmatchedParcel, users: dict) -> bool:
    """Receive the parcel at the warehouse unless it was already; True when received now."""
    if UnmatchedParcel.objects.filter(tracking_number=parcel.tracking_number).exists():
        return False
    code = ""
    if parcel.rma_of:
        code = Claim.objects.values_list("rma_number", flat=True).get(submission_key=claim_key(parcel.rma_of))
    photos = [whole_package_photo(f"Unmatched: {parcel.tracking_number}", name="parcel.jpg")] if parcel.photo else []
    result = shipment_services.parcel_receive(
        code=code,
        by=users["warehouse"],
        condition=parcel.condition,
        note=parcel.note,
        photos=photos,
        carrier=parcel.carrier,
        tracking_number=parcel.tracking_number,
    )
    if result.matched:
        raise DemoDataError(f"The demo's unmatched parcel {parcel.tracking_number} matched {result.claim}.")
    return True


def whole_package_photo(caption: str, *, name: str) -> SimpleUploadedFile:
    """A drawn parcel standing in for the customer's photo of the whole package."""
    image = Image.new("RGB", (640, 480), (228, 232, 236))
    draw = ImageDraw.Draw(image)
    draw.polygon([(170, 170), (320, 110), (470, 170), (320, 230)], fill=(214, 170, 110))  # lid
    draw.polygon([(170, 170), (320, 230), (320, 400), (170, 340)], fill=(190, 145, 90))  # left side
    draw.polygon([(320, 230), (470, 170), (470, 340), (320, 400)], fill=(165, 120, 70))  # right side
    draw.line([(245, 140), (395, 200)], fill=(240, 230, 200), width=12)  # tape
    draw.rectangle([(345, 260), (445, 310)], fill=(250, 250, 250), outline=(60, 60, 60))  # label
    draw.text((20, 20), "Whole package (demo photo)", fill=(40, 40, 40))
    draw.text((20, 440), caption, fill=(40, 40, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")
