"""The parcel services on PostgreSQL, with photos stored in the S3 endpoint."""

import io
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from core import actors
from returns import services as claim_services
from returns import states, uploads
from returns.models import Claim, ClaimEvent, ClaimStatus
from returns.tests.factories import ClaimFactory
from shipments import services
from shipments.models import (
    EnteredVia,
    OutboundParcel,
    OutboundPurpose,
    ParcelCondition,
    ParcelPhoto,
    ReturnParcel,
    UnmatchedParcel,
    UnmatchedReason,
)
from shipments.tests.conftest import approved_claim, not_a_photo, parcel_keys, photo

pytestmark = pytest.mark.django_db

GPS_IFD = 0x8825


def today():
    return timezone.localdate()


def register(claim, by=actors.CUSTOMER, **overrides):
    values = {"carrier": "DHL", "tracking_number": "JD0146000012345", "sent_on": today(), **overrides}
    return services.return_parcel_register(claim_id=claim.pk, by=by, **values)


def receive(code, by, **overrides):
    values = {"condition": ParcelCondition.INTACT, "note": "", "photos": [], **overrides}
    return services.parcel_receive(code=code, by=by, **values)


def events(claim, action):
    return list(ClaimEvent.objects.filter(claim=claim, action=action).order_by("id"))


def status(claim):
    return Claim.objects.get(pk=claim.pk).status


def gps_jpeg(name="label-side.jpg") -> SimpleUploadedFile:
    image = Image.new("RGB", (20, 10), "tan")
    exif = image.getexif()
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (22.0, 32.0, 10.0)
    gps[3], gps[4] = "E", (113.0, 56.0, 1.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


# --- return_parcel_register -------------------------------------------------


def test_customer_entering_tracking_ships_the_claim_with_an_event_by_nobody(cs):
    claim = approved_claim(cs)

    parcel = register(claim, by=actors.CUSTOMER)

    assert status(claim) == ClaimStatus.SHIPPED
    assert (parcel.carrier, parcel.tracking_number, parcel.sent_on) == ("DHL", "JD0146000012345", today())
    assert (parcel.entered_via, parcel.entered_by) == (EnteredVia.CUSTOMER_LINK, None)
    (event,) = events(claim, "ship")
    assert (event.actor, event.from_status, event.to_status) == (None, "approved", "shipped")
    assert event.payload == {"carrier": "DHL", "tracking_number": "JD0146000012345", "sent_on": today().isoformat()}


def test_customer_service_entering_tracking_from_an_email_ships_the_claim(cs):
    claim = approved_claim(cs)

    parcel = register(claim, by=cs, carrier="  UPS ", tracking_number=" 1Z999AA10123456784 ")

    assert status(claim) == ClaimStatus.SHIPPED
    assert (parcel.carrier, parcel.tracking_number) == ("UPS", "1Z999AA10123456784")
    assert (parcel.entered_via, parcel.entered_by) == (EnteredVia.STAFF, cs)
    assert events(claim, "ship")[0].actor == cs


def test_entering_tracking_twice_changes_nothing_and_says_what_we_have(cs):
    claim = approved_claim(cs)
    first = register(claim, by=actors.CUSTOMER)

    with pytest.raises(services.ParcelAlreadyRegistered) as refused:
        register(claim, by=actors.CUSTOMER, tracking_number="SOMETHING-ELSE")

    entered_on = timezone.localdate(first.entered_at).strftime("%-d %B %Y")
    assert str(refused.value) == (
        f"We already have your tracking number JD0146000012345 (DHL), entered on {entered_on}. Nothing was changed."
    )
    assert refused.value.parcel == first
    assert list(ReturnParcel.objects.filter(claim=claim)) == [first]
    assert ReturnParcel.objects.get(claim=claim).tracking_number == "JD0146000012345"
    assert len(events(claim, "ship")) == 1


def test_entering_tracking_after_the_warehouse_received_the_parcel_changes_nothing(cs, warehouse_user):
    claim = approved_claim(cs)
    receive(claim.rma_number, warehouse_user)

    with pytest.raises(
        services.ParcelAlreadyRegistered, match=f"We already received the parcel for {claim.rma_number}"
    ):
        register(claim, by=actors.CUSTOMER)

    assert ReturnParcel.objects.get(claim=claim).tracking_number == ""
    assert events(claim, "ship") == []


@pytest.mark.parametrize(
    ("field", "overrides", "message"),
    [
        ("carrier", {"carrier": "  "}, "Enter the carrier"),
        ("tracking_number", {"tracking_number": ""}, "Enter the tracking number"),
        ("sent_on", {"sent_on": None}, "Enter the day the parcel was sent."),
        ("sent_on", {"sent_on": timezone.localdate() + timedelta(days=2)}, "The sent date cannot be in the future."),
        ("sent_on", {"sent_on": timezone.localdate() - timedelta(days=2)}, "before the return was approved"),
    ],
)
def test_entering_tracking_refuses_missing_or_impossible_details(cs, field, overrides, message):
    claim = approved_claim(cs)

    with pytest.raises(ValidationError) as refused:
        register(claim, by=actors.CUSTOMER, **overrides)

    assert message in " ".join(refused.value.message_dict[field])
    assert status(claim) == ClaimStatus.APPROVED
    assert not ReturnParcel.objects.filter(claim=claim).exists()


@pytest.mark.parametrize("days", [-1, 1])
def test_sent_date_may_be_a_day_off_for_a_customer_in_another_time_zone(cs, days):
    claim = approved_claim(cs)

    parcel = register(claim, by=actors.CUSTOMER, sent_on=today() + timedelta(days=days))

    assert parcel.sent_on == today() + timedelta(days=days)


@pytest.mark.parametrize("role", ["warehouse_user", "finance_user"])
def test_only_customer_service_enters_tracking(cs, role, request):
    claim = approved_claim(cs)

    with pytest.raises(states.NotPermitted):
        register(claim, by=request.getfixturevalue(role))

    assert status(claim) == ClaimStatus.APPROVED
    assert not ReturnParcel.objects.filter(claim=claim).exists()


def test_tracking_for_a_cancelled_claim_is_refused(cs):
    claim = approved_claim(cs)
    claim_services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer changed their mind.")

    with pytest.raises(states.InvalidTransition, match="cancelled cannot be marked as shipped"):
        register(claim, by=actors.CUSTOMER)

    assert not ReturnParcel.objects.filter(claim=claim).exists()


def test_tracking_for_a_returnless_claim_is_refused(cs):
    claim = approved_claim(cs, returnless=True)

    with pytest.raises(services.NothingToSend, match="approved without a return"):
        register(claim, by=cs)

    assert status(claim) == ClaimStatus.APPROVED


# --- parcel_receive -----------------------------------------------------------


def test_receiving_a_shipped_claim_records_the_receipt_and_its_photos(cs, warehouse_user, s3_objects):
    claim = approved_claim(cs)
    parcel = register(claim, by=actors.CUSTOMER)

    result = receive(
        claim.rma_number,
        warehouse_user,
        condition=ParcelCondition.BOX_DAMAGED,
        note="Corner crushed.",
        photos=[photo("top.jpg"), photo("side.png", image_format="PNG")],
    )

    assert result.matched and result.unmatched_parcel is None
    assert result.message == f"{claim.rma_number} received (outer box damaged); it is ready for inspection."
    parcel.refresh_from_db()
    assert result.return_parcel == parcel
    assert parcel.received_by == warehouse_user
    assert parcel.received_at is not None
    assert (parcel.condition, parcel.receipt_note) == (ParcelCondition.BOX_DAMAGED, "Corner crushed.")
    assert parcel.entered_via == EnteredVia.CUSTOMER_LINK  # the customer's tracking is kept
    assert status(claim) == ClaimStatus.SHIPPED
    (event,) = events(claim, "receive")
    assert (event.actor, event.from_status, event.to_status) == (warehouse_user, "shipped", "shipped")
    assert event.payload == {"return_parcel_id": parcel.pk, "condition": "box_damaged", "note": "Corner crushed."}
    photos = list(parcel.photos.order_by("id"))
    assert [(p.original_name, p.content_type, p.uploaded_by) for p in photos] == [
        ("top.jpg", "image/jpeg", warehouse_user),
        ("side.png", "image/png", warehouse_user),
    ]
    keys = s3_objects()
    assert {p.file.name for p in photos} <= parcel_keys(keys)
    assert photos[1].file.name.endswith(".png")


def test_receiving_before_the_customer_gave_tracking_makes_the_warehouse_record_and_ships_the_claim(cs, warehouse_user):
    claim = approved_claim(cs)

    result = receive(f"  {claim.rma_number.lower()}\n", warehouse_user, carrier="SF", tracking_number="SF123")

    assert result.matched
    parcel = ReturnParcel.objects.get(claim=claim)
    assert (parcel.entered_via, parcel.entered_by) == (EnteredVia.WAREHOUSE, warehouse_user)
    assert (parcel.carrier, parcel.tracking_number) == ("SF", "SF123")
    assert status(claim) == ClaimStatus.SHIPPED
    assert [(e.from_status, e.to_status) for e in events(claim, "receive")] == [("approved", "shipped")]


def test_unknown_rma_number_becomes_an_unmatched_parcel_with_its_photos_in_s3(warehouse_user, s3_objects):
    before = parcel_keys(s3_objects())

    result = receive(
        "rma-2099-999999",
        warehouse_user,
        condition=ParcelCondition.OPENED,
        note="Handwritten RMA, maybe mistyped.",
        photos=[photo("front.jpg"), photo("label.jpg")],
    )

    assert not result.matched and result.return_parcel is None
    unmatched = result.unmatched_parcel
    assert unmatched == UnmatchedParcel.objects.get()
    assert (unmatched.reason, unmatched.scanned_code, unmatched.claim_found) == (
        UnmatchedReason.UNKNOWN_RMA,
        "RMA-2099-999999",
        None,
    )
    assert (unmatched.condition, unmatched.note, unmatched.received_by) == (
        ParcelCondition.OPENED,
        "Handwritten RMA, maybe mistyped.",
        warehouse_user,
    )
    assert result.message == (
        f"No claim has the RMA number RMA-2099-999999: the parcel is logged as unmatched parcel #{unmatched.pk} "
        "for customer service."
    )
    photos = list(unmatched.photos.order_by("id"))
    assert [p.original_name for p in photos] == ["front.jpg", "label.jpg"]
    stored = parcel_keys(s3_objects()) - before
    assert stored == {p.file.name for p in photos}
    for item in photos:
        assert Image.open(io.BytesIO(s3_objects(item.file.name))).format == "JPEG"


def test_parcel_without_rma_number_becomes_an_unmatched_parcel(warehouse_user):
    result = receive("   ", warehouse_user, note="No paperwork inside.", carrier="DHL", tracking_number="JD01")

    unmatched = result.unmatched_parcel
    assert (unmatched.reason, unmatched.scanned_code) == (UnmatchedReason.NO_RMA, "")
    assert (unmatched.carrier, unmatched.tracking_number, unmatched.note) == ("DHL", "JD01", "No paperwork inside.")
    assert result.message.startswith("No RMA number: the parcel is logged as unmatched parcel #")


def test_parcel_for_a_cancelled_claim_becomes_an_unmatched_parcel(cs, warehouse_user):
    claim = approved_claim(cs)
    claim_services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer kept the item.")

    result = receive(claim.rma_number, warehouse_user, photos=[photo()])

    unmatched = result.unmatched_parcel
    assert (unmatched.reason, unmatched.claim_found) == (UnmatchedReason.CANCELLED, claim)
    assert unmatched.photos.count() == 1
    assert result.message.startswith(f"{claim.rma_number} is cancelled: the parcel is logged as unmatched parcel #")
    assert status(claim) == ClaimStatus.CANCELLED
    assert not ReturnParcel.objects.filter(claim=claim).exists()
    assert events(claim, "receive") == []


def test_second_parcel_for_an_already_received_claim_is_logged_and_the_first_receipt_kept(
    cs, warehouse_user, other_warehouse_user
):
    claim = approved_claim(cs)
    first = receive(claim.rma_number, warehouse_user, note="First box.")

    second = receive(claim.rma_number, other_warehouse_user, note="Second box, same RMA.")

    unmatched = second.unmatched_parcel
    assert (unmatched.reason, unmatched.claim_found, unmatched.received_by) == (
        UnmatchedReason.ALREADY_RECEIVED,
        claim,
        other_warehouse_user,
    )
    received_at = timezone.localtime(first.return_parcel.received_at).strftime("%-d %B %Y %H:%M")
    assert second.message == (
        f"{claim.rma_number} was already received by picker at {received_at}: "
        f"the parcel is logged as unmatched parcel #{unmatched.pk} for customer service."
    )
    parcel = ReturnParcel.objects.get(claim=claim)
    assert (parcel.received_by, parcel.receipt_note) == (warehouse_user, "First box.")
    assert len(events(claim, "receive")) == 1


def test_parcel_for_a_returnless_claim_is_logged_as_not_expected(cs, warehouse_user):
    claim = approved_claim(cs, returnless=True)

    result = receive(claim.rma_number, warehouse_user)

    assert result.unmatched_parcel.reason == UnmatchedReason.NOT_APPROVED
    assert "approved without a return, so no parcel was expected" in result.message
    assert status(claim) == ClaimStatus.APPROVED


def test_refused_photo_is_named_and_nothing_is_recorded(cs, warehouse_user, s3_objects):
    claim = approved_claim(cs)
    before = parcel_keys(s3_objects())

    with pytest.raises(uploads.RejectedUpload) as refused:
        receive(claim.rma_number, warehouse_user, photos=[photo("good.jpg"), not_a_photo("scan.pdf")])

    assert str(refused.value) == "“scan.pdf” is not a photo we can read; we accept JPEG, PNG, WebP or HEIC photos."
    assert "good.jpg" not in str(refused.value)
    assert status(claim) == ClaimStatus.APPROVED
    assert not ReturnParcel.objects.exists()
    assert not UnmatchedParcel.objects.exists()
    assert not ParcelPhoto.objects.exists()
    assert parcel_keys(s3_objects()) == before


def test_video_is_refused_as_a_parcel_photo(cs, warehouse_user):
    claim = approved_claim(cs)
    video = SimpleUploadedFile(
        "unboxing.mp4", b"\x00\x00\x00\x10ftypmp42\x00\x00\x00\x00" + b"\x00\x00\x00\x08moov", content_type="video/mp4"
    )

    refusal = "“unboxing.mp4” is a video; this page takes photos only (JPEG, PNG, WebP or HEIC)."
    with pytest.raises(uploads.RejectedUpload, match=f"^{re.escape(refusal)}$"):
        receive(claim.rma_number, warehouse_user, photos=[video])

    assert status(claim) == ClaimStatus.APPROVED


def test_parcel_photo_is_stored_without_its_location(cs, warehouse_user, s3_objects):
    claim = approved_claim(cs)
    original = gps_jpeg()
    assert Image.open(io.BytesIO(original.read())).getexif().get_ifd(GPS_IFD)
    original.seek(0)

    result = receive(claim.rma_number, warehouse_user, photos=[original])

    stored = Image.open(io.BytesIO(s3_objects(result.photos[0].file.name)))
    assert stored.getexif().get_ifd(GPS_IFD) == {}


def test_storage_failure_inside_the_receipt_leaves_no_file_behind(cs, warehouse_user, s3_objects, monkeypatch):
    claim = approved_claim(cs)
    before = parcel_keys(s3_objects())

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(claim_services, "claim_record_receipt", broken)
    with pytest.raises(RuntimeError):
        receive(claim.rma_number, warehouse_user, photos=[photo()])

    assert parcel_keys(s3_objects()) == before
    assert not ReturnParcel.objects.exists()


@pytest.mark.parametrize("role", ["cs", "finance_user"])
def test_only_the_warehouse_receives_parcels(role, request):
    user = request.getfixturevalue(role)

    with pytest.raises(PermissionDenied):
        receive("", user)

    assert not UnmatchedParcel.objects.exists()


def test_receiving_needs_a_condition(warehouse_user):
    with pytest.raises(ValidationError) as refused:
        receive("", warehouse_user, condition="")

    assert "condition" in refused.value.message_dict
    assert not UnmatchedParcel.objects.exists()


# --- unmatched_parcel_attach ------------------------------------------------------


def test_attaching_an_unmatched_parcel_to_a_waiting_claim_makes_it_the_receipt(cs, warehouse_user):
    claim = approved_claim(cs)
    unmatched = receive(
        "", warehouse_user, condition=ParcelCondition.WET, note="No RMA inside.", photos=[photo("wet.jpg")]
    ).unmatched_parcel

    result = services.unmatched_parcel_attach(
        unmatched_id=unmatched.pk, claim_id=claim.pk, by=cs, note="Customer emailed the photo of the label."
    )

    assert result.is_receipt
    assert result.message == (
        f"Unmatched parcel #{unmatched.pk} is now the receipt of {claim.rma_number}; the claim is shipped by customer."
    )
    unmatched.refresh_from_db()
    assert (unmatched.attached_to, unmatched.attached_by) == (claim, cs)
    assert unmatched.attached_at is not None
    parcel = ReturnParcel.objects.get(claim=claim)
    assert (parcel.received_at, parcel.received_by, parcel.condition) == (
        unmatched.received_at,
        warehouse_user,
        ParcelCondition.WET,
    )
    assert parcel.receipt_note == "No RMA inside.\nCustomer emailed the photo of the label."
    assert [p.file.name for p in parcel.photos.all()] == [p.file.name for p in unmatched.photos.all()]
    assert unmatched.photos.count() == 1  # the unmatched parcel keeps its own
    assert status(claim) == ClaimStatus.SHIPPED
    (event,) = events(claim, "receive")
    assert event.actor == warehouse_user
    assert event.payload["attached_by"] == "agent"
    assert event.payload["unmatched_parcel_id"] == unmatched.pk


def test_attaching_to_a_claim_already_received_is_for_information_only(cs, warehouse_user):
    claim = approved_claim(cs)
    receive(claim.rma_number, warehouse_user, note="The real one.")
    unmatched = receive(claim.rma_number, warehouse_user, note="A second box.").unmatched_parcel
    events_before = list(ClaimEvent.objects.filter(claim=claim).values_list("pk", flat=True))

    result = services.unmatched_parcel_attach(unmatched_id=unmatched.pk, claim_id=claim.pk, by=cs)

    assert not result.is_receipt
    assert result.message == (
        f"Unmatched parcel #{unmatched.pk} is attached to {claim.rma_number} for information; the claim did not change."
    )
    assert UnmatchedParcel.objects.get(pk=unmatched.pk).attached_to == claim
    assert ReturnParcel.objects.get(claim=claim).receipt_note == "The real one."
    (event,) = ClaimEvent.objects.filter(claim=claim).exclude(pk__in=events_before)
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "unmatched_parcel_attached",
        ClaimStatus.SHIPPED,
        ClaimStatus.SHIPPED,
        cs,
    )
    assert event.payload["unmatched_parcel_id"] == unmatched.pk


def test_attaching_a_parcel_twice_is_refused_and_names_the_first(cs, warehouse_user):
    first_claim, second_claim = approved_claim(cs), approved_claim(cs)
    unmatched = receive("", warehouse_user).unmatched_parcel
    services.unmatched_parcel_attach(unmatched_id=unmatched.pk, claim_id=first_claim.pk, by=cs)

    with pytest.raises(services.AlreadyDone, match=f"already attached to {first_claim.rma_number} by agent"):
        services.unmatched_parcel_attach(unmatched_id=unmatched.pk, claim_id=second_claim.pk, by=cs)

    assert UnmatchedParcel.objects.get(pk=unmatched.pk).attached_to == first_claim
    assert status(second_claim) == ClaimStatus.APPROVED


def test_attaching_to_a_claim_without_an_rma_number_is_for_information(cs, warehouse_user):
    claim = ClaimFactory()
    unmatched = receive("", warehouse_user).unmatched_parcel

    result = services.unmatched_parcel_attach(unmatched_id=unmatched.pk, claim_id=claim.pk, by=cs)

    assert not result.is_receipt
    assert status(claim) == ClaimStatus.REQUESTED


def test_the_warehouse_cannot_attach_unmatched_parcels(cs, warehouse_user):
    claim = approved_claim(cs)
    unmatched = receive("", warehouse_user).unmatched_parcel

    with pytest.raises(PermissionDenied):
        services.unmatched_parcel_attach(unmatched_id=unmatched.pk, claim_id=claim.pk, by=warehouse_user)

    assert UnmatchedParcel.objects.get(pk=unmatched.pk).attached_to is None


# --- outbound_parcel_ship ---------------------------------------------------------


@pytest.fixture
def goods_back(cs, warehouse_user):
    """The parcel taking a failed warranty item back to the customer."""
    claim = approved_claim(cs)
    receive(claim.rma_number, warehouse_user)
    return OutboundParcel.objects.create(claim=claim, purpose=OutboundPurpose.RETURN_TO_CUSTOMER)


@pytest.fixture
def replacement(cs, warehouse_user):
    claim = approved_claim(cs)
    receive(claim.rma_number, warehouse_user)
    return OutboundParcel.objects.create(claim=claim, purpose=OutboundPurpose.REPLACEMENT, serial_numbers=["SN-9"])


def test_shipping_an_outbound_parcel_records_carrier_tracking_who_and_an_event(goods_back, warehouse_user):
    parcel = services.outbound_parcel_ship(
        parcel_id=goods_back.pk, by=warehouse_user, carrier=" DHL ", tracking_number=" JD99 "
    )

    parcel.refresh_from_db()
    assert (parcel.carrier, parcel.tracking_number, parcel.shipped_by) == ("DHL", "JD99", warehouse_user)
    assert parcel.shipped_at is not None
    assert status(parcel.claim) == ClaimStatus.SHIPPED  # the claim's status is the warranty work's to change
    (event,) = events(parcel.claim, "outbound_shipped")
    assert (event.actor, event.payload["tracking_number"], event.payload["purpose"]) == (
        warehouse_user,
        "JD99",
        OutboundPurpose.RETURN_TO_CUSTOMER,
    )
    assert str(event.describe()) == (
        "Parcel to the customer shipped (goods sent back after a failed warranty inspection) with DHL, tracking JD99."
    )


def test_a_replacement_parcel_is_not_shipped_outside_its_replacement(replacement, warehouse_user):
    """Shipping it here would leave the replacement approved and the claim inspected: one way to ship it."""
    with pytest.raises(states.InvalidTransition, match="shipped from its replacement"):
        services.outbound_parcel_ship(parcel_id=replacement.pk, by=warehouse_user, carrier="DHL", tracking_number="1")

    assert OutboundParcel.objects.get(pk=replacement.pk).shipped_at is None
    assert not events(replacement.claim, "outbound_shipped")


def test_shipping_an_outbound_parcel_twice_is_refused(goods_back, warehouse_user):
    services.outbound_parcel_ship(parcel_id=goods_back.pk, by=warehouse_user, carrier="DHL", tracking_number="JD99")

    with pytest.raises(services.AlreadyDone, match="already shipped by picker"):
        services.outbound_parcel_ship(parcel_id=goods_back.pk, by=warehouse_user, carrier="UPS", tracking_number="1Z")

    assert OutboundParcel.objects.get(pk=goods_back.pk).tracking_number == "JD99"


def test_shipping_an_outbound_parcel_needs_carrier_and_tracking(goods_back, warehouse_user):
    with pytest.raises(ValidationError) as refused:
        services.outbound_parcel_ship(parcel_id=goods_back.pk, by=warehouse_user, carrier="", tracking_number=" ")

    assert set(refused.value.message_dict) == {"carrier", "tracking_number"}
    assert OutboundParcel.objects.get(pk=goods_back.pk).shipped_at is None


def test_customer_service_cannot_ship_outbound_parcels(replacement, cs):
    with pytest.raises(PermissionDenied):
        services.outbound_parcel_ship(parcel_id=replacement.pk, by=cs, carrier="DHL", tracking_number="JD99")


# --- roles ---------------------------------------------------------------------------


def test_warehouse_cannot_approve_claims(cs, warehouse_user):
    claim = approved_claim(cs)
    requested = ClaimFactory(order=claim.order, status=ClaimStatus.REQUESTED)

    with pytest.raises(states.NotPermitted):
        claim_services.claim_approve(claim_id=requested.pk, by=warehouse_user)

    assert status(requested) == ClaimStatus.REQUESTED


def test_warehouse_may_only_look_at_refunds_and_cannot_triage(warehouse_user):
    granted = warehouse_user.get_all_permissions()

    assert {p for p in granted if p.startswith("refunds.")} == {"refunds.view_refund"}
    assert states.TRIAGE not in granted
    assert {services.RECEIVE_PERMISSION, "shipments.add_unmatchedparcel", "shipments.add_parcelphoto"} <= granted
