"""Demo data for trying the back-office: orders, staff users and claims.

Everything goes through the code the product uses: the orders through the store
importer (``returns.importing``), the claims through ``returns.services`` (so
each has its events and its customer emails). Loading again adds nothing: the
importer updates, users are updated, and every claim has a fixed
``submission_key``, so a claim already made is skipped with all its steps.

The states shipped, inspected, refunded and replaced have no services yet:
the demo stops at requested, awaiting customer, approved, resolved, rejected
and cancelled.
"""

import io
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from backoffice import roles
from returns import importing, services
from returns.models import ClaimType, DoaReason, Order

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
    """demo/orders.csv does not load cleanly."""


@dataclass(frozen=True)
class Step:
    """One service call after the claim is made: ``action`` by the user ``by``."""

    action: str
    by: str = "cs"
    text: dict = field(default_factory=dict)


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


DOA, NO_REASON, WARRANTY = ClaimType.DOA, ClaimType.NO_REASON, ClaimType.WARRANTY

# Each claim type in each state the services reach today, some outside their window.
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
        steps=(approve(returnless_reason="The second plate was never delivered: nothing to send back."),),
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
)  # fmt: skip

_SERVICES = {
    "ask_for_information": services.claim_ask_for_information,
    "record_customer_answer": services.claim_record_customer_answer,
    "resolve": services.claim_resolve,
    "approve": services.claim_approve,
    "reject": services.claim_reject,
    "cancel": services.claim_cancel,
}


@dataclass
class DemoReport:
    orders: importing.ImportReport
    claims_created: list[str] = field(default_factory=list)
    claims_existing: list[str] = field(default_factory=list)


def demo_load() -> DemoReport:
    """Load (or top up) the demo; safe to run again."""
    roles.sync_roles()
    report = DemoReport(orders=demo_orders_import())
    if report.orders.rejected:
        raise DemoDataError(f"{ORDERS_CSV} has bad rows:\n{report.orders.summary()}")
    users = demo_users_ensure()
    for demo in CLAIMS:
        try:
            # One transaction per claim and its steps: a claim exists with all its steps or not at all.
            with transaction.atomic():
                _claim_make(demo, users)
        except services.DuplicateSubmission:
            report.claims_existing.append(demo.key)
        else:
            report.claims_created.append(demo.key)
    return report


def demo_orders_import() -> importing.ImportReport:
    rows = importing.read_order_csv(ORDERS_CSV)
    shift = _date_shift()
    for _, row in rows:
        if row["received_on"].strip():
            row["received_on"] = (date.fromisoformat(row["received_on"].strip()) + shift).isoformat()
    return importing.order_rows_import(rows)


def _date_shift() -> timedelta:
    """From the file's day to the day the demo was first loaded (kept on later loads)."""
    first_loaded = Order.objects.filter(number=_REFERENCE_ORDER).values_list("created_at", flat=True).first()
    day = timezone.localdate(first_loaded) if first_loaded else timezone.localdate()
    return day - ORDERS_CSV_AS_OF


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
    return {user.username: user for user in User.objects.filter(username__in=[u for u, *_ in USERS])}


def _claim_make(demo: DemoClaim, users: dict) -> None:
    order = Order.objects.get(number=demo.order)
    line = order.lines.select_related("product").get(product__sku=demo.sku)
    claim = services.claim_create(
        order=order,
        claim_type=demo.claim_type,
        doa_reason=demo.doa_reason,
        description=demo.description,
        order_line_ids=[line.pk],
        serial_number=line.serial_numbers[0] if line.serial_numbers else "",
        submitted_at=timezone.now() - timedelta(hours=demo.hours_ago),
        submission_key=uuid.uuid5(_SUBMISSION_KEYS, demo.key),
        by=users["cs"],
    )
    if demo.whole_package_photo:
        services.evidence_add(
            claim_id=claim.pk,
            by=users["cs"],
            upload=whole_package_photo(f"{demo.order} / {demo.sku}", name=f"{demo.key}-package.jpg"),
            shows_whole_package=True,
        )
    for step in demo.steps:
        _SERVICES[step.action](claim_id=claim.pk, by=users[step.by], **step.text)


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
