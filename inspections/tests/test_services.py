"""The inspection services on PostgreSQL: each outcome row of the policy table, and what is refused."""

import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from inspections import services
from inspections.models import Inspection, InspectionPhoto, Outcome
from inspections.tests.conftest import DOA_DAMAGE, approved_claim, receive, requested_claim
from returns import services as claim_services
from returns import states, uploads
from returns.models import ClaimAction, ClaimEvent, ClaimStatus, ClaimType, OutboundEmail
from shipments.models import OutboundParcel, OutboundPurpose, ReturnParcel

pytestmark = pytest.mark.django_db

RETURN_CONDITIONS_MET = {
    "is_new_unused": True,
    "no_installation_marks": True,
    "original_packaging_sealed": True,
    "label_present": True,
}
DOA_PASSED = {**RETURN_CONDITIONS_MET, "defect_confirmed": True, "human_or_physical_damage": False}
WARRANTY_PASSED = {"defect_confirmed": True, "human_or_physical_damage": False}


def inspect(claim, by, index=0, **fields):
    """Start and record the inspection of the claim's ``index``-th item."""
    item = claim.items.order_by("pk")[index]
    inspection = services.inspection_start(claim_item_id=item.pk, by=by)
    return services.inspection_record(inspection_id=inspection.pk, by=by, **fields)


def complete(inspection, by):
    return services.inspection_complete(inspection_id=inspection.pk, by=by)


def fresh(claim):
    claim.refresh_from_db()
    return claim


def inspected_email(claim) -> OutboundEmail:
    return OutboundEmail.objects.get(claim=claim, template="claim_inspected")


def inspect_event(claim) -> ClaimEvent:
    return ClaimEvent.objects.get(claim=claim, action="inspect")


def png(name="item.png") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(out, "PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


# --- The policy table, row by row ---------------------------------------------


def test_doa_passed_proposes_full_refund_plus_return_shipping(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE)

    inspection = complete(inspect(claim, warehouse_user, **DOA_PASSED), warehouse_user)

    assert (inspection.proposed_outcome, inspection.outcome) == (Outcome.FULL_REFUND_WITH_SHIPPING,) * 2
    assert fresh(claim).status == ClaimStatus.INSPECTED
    assert inspect_event(claim).payload["items"][0]["outcome"] == Outcome.FULL_REFUND_WITH_SHIPPING
    assert "Outcome: Full refund, plus reimbursement of the return shipping." in inspected_email(claim).body_text


def test_doa_failed_is_a_refund_with_the_inspectors_deduction_and_no_shipping(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE, prices=(Decimal("80.00"),))

    inspection = complete(
        inspect(
            claim,
            warehouse_user,
            **{**DOA_PASSED, "no_installation_marks": False},
            findings="Screw marks on the base plate.",
            deduction_amount=Decimal("20.00"),
            deduction_reason="installation marks on the base plate",
        ),
        warehouse_user,
    )

    assert (inspection.proposed_outcome, inspection.outcome) == (Outcome.REDUCED_REFUND,) * 2
    assert fresh(claim).status == ClaimStatus.INSPECTED
    item = inspect_event(claim).payload["items"][0]
    assert item["outcome"] == Outcome.REDUCED_REFUND
    assert item["deduction"] == {
        "amount": "20.00",
        "currency": "USD",
        "percent": None,
        "reason": "installation marks on the base plate",
    }
    body = inspected_email(claim).body_text
    assert "Refund with a deduction of 20.00 USD for installation marks on the base plate" in body
    assert "the return shipping is on your charge" in body
    assert "reimbursement of the return shipping" not in body


def test_no_reason_passed_is_a_full_refund_without_shipping_by_default(received_claim, warehouse_user):
    claim = received_claim(claim_type=ClaimType.NO_REASON)
    assert claim.policy_version.no_reason_return_shipping_reimbursed is False

    inspection = complete(inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET), warehouse_user)

    assert inspection.outcome == Outcome.FULL_REFUND
    assert fresh(claim).status == ClaimStatus.INSPECTED
    assert "Outcome: Full refund (the return shipping is not reimbursed)." in inspected_email(claim).body_text


def test_no_reason_passed_includes_shipping_when_the_claims_policy_version_says_so(
    received_claim, warehouse_user, no_reason_shipping_reimbursed
):
    claim = received_claim(claim_type=ClaimType.NO_REASON)
    assert claim.policy_version == no_reason_shipping_reimbursed

    inspection = complete(inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET), warehouse_user)

    assert inspection.outcome == Outcome.FULL_REFUND_WITH_SHIPPING
    assert "plus reimbursement of the return shipping" in inspected_email(claim).body_text


def test_no_reason_failed_is_a_refund_with_a_deduction_and_shipping_on_the_customer(
    received_claim, warehouse_user, no_reason_shipping_reimbursed
):
    claim = received_claim(claim_type=ClaimType.NO_REASON, prices=(Decimal("49.90"),))

    inspection = complete(
        inspect(
            claim,
            warehouse_user,
            **{**RETURN_CONDITIONS_MET, "original_packaging_sealed": False},
            deduction_percent=Decimal("10"),
            deduction_reason="opened packaging, resale as open box",
        ),
        warehouse_user,
    )

    assert inspection.outcome == Outcome.REDUCED_REFUND
    assert inspect_event(claim).payload["items"][0]["deduction"] == {
        "amount": "4.99",
        "currency": "USD",
        "percent": "10.00",
        "reason": "opened packaging, resale as open box",
    }
    body = inspected_email(claim).body_text
    assert "Refund with a deduction of 10% (4.99 USD) for opened packaging" in body
    assert "the return shipping is on your charge" in body


def test_warranty_passed_proposes_a_replacement(received_claim, warehouse_user):
    claim = received_claim(claim_type=ClaimType.WARRANTY)

    inspection = complete(inspect(claim, warehouse_user, **WARRANTY_PASSED), warehouse_user)

    assert inspection.outcome == Outcome.REPLACEMENT
    assert fresh(claim).status == ClaimStatus.INSPECTED
    assert not OutboundParcel.objects.filter(claim=claim).exists()
    assert "Outcome: The part or product will be replaced." in inspected_email(claim).body_text


def test_warranty_failed_rejects_the_claim_and_sends_the_goods_back_at_the_customers_cost(
    received_claim, warehouse_user
):
    claim = received_claim(claim_type=ClaimType.WARRANTY)

    inspection = complete(
        inspect(
            claim,
            warehouse_user,
            defect_confirmed=True,
            human_or_physical_damage=True,
            findings="Cracked housing from a drop.",
        ),
        warehouse_user,
    )

    assert inspection.outcome == Outcome.RETURN_TO_CUSTOMER
    claim = fresh(claim)
    assert claim.status == ClaimStatus.REJECTED
    assert claim.rejection_reason == "the inspection found human or physical damage: Cracked housing from a drop."
    assert list(ClaimEvent.objects.filter(claim=claim).values_list("action", flat=True))[-2:] == [
        "inspect",
        "reject_after_inspection",
    ]
    assert OutboundParcel.objects.filter(claim=claim, purpose=OutboundPurpose.RETURN_TO_CUSTOMER).count() == 1
    body = inspected_email(claim).body_text
    assert "Outcome: Not covered by the warranty." in body
    assert "We are sorry: the inspection found human or physical damage: Cracked housing from a drop." in body
    assert "The goods will be sent back to you; the shipping is on your charge." in body


def test_warranty_without_the_reported_defect_is_rejected_saying_so(received_claim, warehouse_user):
    claim = received_claim(claim_type=ClaimType.WARRANTY)

    complete(
        inspect(claim, warehouse_user, defect_confirmed=False, human_or_physical_damage=False, findings="Works."),
        warehouse_user,
    )

    assert fresh(claim).rejection_reason == "the inspection could not confirm the reported defect: Works."


def test_warranty_with_one_item_failed_of_two_is_inspected_and_that_item_goes_back(received_claim, warehouse_user):
    claim = received_claim(claim_type=ClaimType.WARRANTY, prices=(Decimal("30.00"), Decimal("40.00")))
    complete(inspect(claim, warehouse_user, 0, **WARRANTY_PASSED), warehouse_user)

    complete(
        inspect(claim, warehouse_user, 1, defect_confirmed=True, human_or_physical_damage=True, findings="Bent"),
        warehouse_user,
    )

    claim = fresh(claim)
    assert (claim.status, claim.rejection_reason) == (ClaimStatus.INSPECTED, "")
    assert OutboundParcel.objects.filter(claim=claim, purpose=OutboundPurpose.RETURN_TO_CUSTOMER).count() == 1
    body = inspected_email(claim).body_text
    assert "will be replaced" in body
    assert "not covered by the warranty (the inspection found human or physical damage: Bent)" in body


# --- The claim moves once, when every item is inspected ---------------------------


def test_completing_every_item_moves_the_claim_to_inspected_with_one_event_and_one_email(
    received_claim, warehouse_user
):
    claim = received_claim(claim_type=ClaimType.NO_REASON)

    complete(inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET), warehouse_user)

    claim = fresh(claim)
    assert claim.status == ClaimStatus.INSPECTED
    event = inspect_event(claim)
    assert (event.actor, event.from_status, event.to_status) == (warehouse_user, "shipped", "inspected")
    assert event.payload["outcome"] == "Full refund (the return shipping is not reimbursed)."
    assert OutboundEmail.objects.filter(claim=claim, template="claim_inspected").count() == 1


def test_one_item_of_two_completed_leaves_the_claim_shipped(received_claim, warehouse_user):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))

    complete(inspect(claim, warehouse_user, 0, **RETURN_CONDITIONS_MET), warehouse_user)

    assert fresh(claim).status == ClaimStatus.SHIPPED
    assert not ClaimEvent.objects.filter(claim=claim, action="inspect").exists()
    assert not OutboundEmail.objects.filter(claim=claim, template="claim_inspected").exists()


def test_the_second_of_two_items_moves_the_claim_with_both_outcomes(received_claim, warehouse_user):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    complete(inspect(claim, warehouse_user, 0, **RETURN_CONDITIONS_MET), warehouse_user)

    complete(
        inspect(
            claim,
            warehouse_user,
            1,
            **{**RETURN_CONDITIONS_MET, "label_present": False},
            deduction_amount=Decimal("5.00"),
            deduction_reason="label missing",
        ),
        warehouse_user,
    )

    assert fresh(claim).status == ClaimStatus.INSPECTED
    items = inspect_event(claim).payload["items"]
    assert [item["outcome"] for item in items] == [Outcome.FULL_REFUND, Outcome.REDUCED_REFUND]
    skus = [item.order_line.product.sku for item in claim.items.order_by("pk")]
    assert [item["sku"] for item in items] == skus
    assert f"{skus[0]}" in inspected_email(claim).body_text
    assert ClaimEvent.objects.filter(claim=claim, action="inspect").count() == 1


# --- Recording -------------------------------------------------------------------------


def test_record_proposes_the_outcome_and_the_outcome_follows_it(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE)

    inspection = inspect(claim, warehouse_user, **{**DOA_PASSED, "is_new_unused": False})

    stored = Inspection.objects.get(pk=inspection.pk)
    assert (stored.proposed_outcome, stored.outcome, stored.outcome_change_reason) == (
        Outcome.REDUCED_REFUND,
        Outcome.REDUCED_REFUND,
        "",
    )


def test_record_with_an_item_unchecked_proposes_nothing_yet(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE)

    inspection = inspect(claim, warehouse_user, **{**DOA_PASSED, "defect_confirmed": None})

    assert (inspection.proposed_outcome, inspection.outcome) == ("", "")


def test_an_outcome_other_than_the_proposal_needs_a_reason(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE)
    inspection = inspect(claim, warehouse_user, **DOA_PASSED)

    with pytest.raises(ValidationError) as refused:
        services.inspection_record(
            inspection_id=inspection.pk, by=warehouse_user, **DOA_PASSED, outcome=Outcome.FULL_REFUND
        )

    assert "write why the outcome is different" in refused.value.message_dict["outcome_change_reason"][0]
    assert Inspection.objects.get(pk=inspection.pk).outcome == Outcome.FULL_REFUND_WITH_SHIPPING


def test_an_outcome_other_than_the_proposal_is_kept_with_its_reason(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE)
    inspection = inspect(claim, warehouse_user, **DOA_PASSED)

    services.inspection_record(
        inspection_id=inspection.pk,
        by=warehouse_user,
        **DOA_PASSED,
        outcome=Outcome.FULL_REFUND,
        outcome_change_reason="Customer's own courier label, nothing to reimburse",
    )

    stored = Inspection.objects.get(pk=inspection.pk)
    assert (stored.proposed_outcome, stored.outcome, stored.outcome_change_reason) == (
        Outcome.FULL_REFUND_WITH_SHIPPING,
        Outcome.FULL_REFUND,
        "Customer's own courier label, nothing to reimburse",
    )


def test_an_outcome_of_another_claim_types_policy_is_refused(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE)
    inspection = inspect(claim, warehouse_user, **DOA_PASSED)

    with pytest.raises(ValidationError) as refused:
        services.inspection_record(
            inspection_id=inspection.pk,
            by=warehouse_user,
            **DOA_PASSED,
            outcome=Outcome.REPLACEMENT,
            outcome_change_reason="Customer prefers a new one",
        )

    assert refused.value.message_dict["outcome"][0].startswith("A DOA return (7 days) claim can end in:")


@pytest.mark.parametrize(
    ("quantity", "amount", "allowed"),
    [(1, "49.90", True), (1, "49.91", False), (2, "99.80", True), (2, "99.81", False)],
)
def test_a_deduction_is_at_most_what_the_customer_paid_for_the_item(cs, warehouse_user, quantity, amount, allowed):
    claim = receive(approved_claim(cs, quantity=quantity, prices=(Decimal("49.90"),)), warehouse_user)
    failed = {**RETURN_CONDITIONS_MET, "label_present": False}

    def record():
        return inspect(claim, warehouse_user, **failed, deduction_amount=Decimal(amount), deduction_reason="No label")

    if allowed:
        assert record().deduction_amount == Decimal(amount)
    else:
        with pytest.raises(ValidationError) as refused:
            record()
        assert f"is more than the item's price ({Decimal('49.90') * quantity} USD)" in str(refused.value)


@pytest.mark.parametrize(
    ("deduction", "field", "words"),
    [
        ({"deduction_percent": Decimal("0")}, "deduction_percent", "more than 0 and at most 100"),
        ({"deduction_percent": Decimal("100.01")}, "deduction_percent", "more than 0 and at most 100"),
        ({"deduction_percent": Decimal("12.345")}, "deduction_percent", "at most two decimals"),
        ({"deduction_amount": Decimal("0")}, "deduction_amount", "more than zero"),
        ({"deduction_amount": Decimal("1.005")}, "deduction_amount", "more decimals than USD allows"),
        (
            {"deduction_amount": Decimal("1"), "deduction_percent": Decimal("5")},
            "deduction_amount",
            "not both",
        ),
    ],
)
def test_a_deduction_out_of_its_range_is_refused(received_claim, warehouse_user, deduction, field, words):
    claim = received_claim()

    with pytest.raises(ValidationError) as refused:
        inspect(
            claim,
            warehouse_user,
            **{**RETURN_CONDITIONS_MET, "label_present": False},
            **deduction,
            deduction_reason="x",
        )

    assert words in refused.value.message_dict[field][0]


def test_a_deduction_needs_its_reason(received_claim, warehouse_user):
    claim = received_claim()

    with pytest.raises(ValidationError) as refused:
        inspect(claim, warehouse_user, **{**RETURN_CONDITIONS_MET, "label_present": False}, deduction_percent=5)

    assert "reason" in refused.value.message_dict["deduction_reason"][0]


def test_a_deduction_goes_only_with_a_reduced_refund(received_claim, warehouse_user):
    claim = received_claim()

    with pytest.raises(ValidationError) as refused:
        inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET, deduction_amount=Decimal("5"), deduction_reason="x")

    assert "only with a refund with a deduction" in refused.value.message_dict["deduction_amount"][0]


def test_a_reduced_refund_cannot_be_completed_without_its_deduction(received_claim, warehouse_user):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user, **{**RETURN_CONDITIONS_MET, "label_present": False})

    with pytest.raises(services.InspectionRefused, match="needs the deduction"):
        complete(inspection, warehouse_user)

    assert Inspection.objects.get(pk=inspection.pk).completed_at is None
    assert fresh(claim).status == ClaimStatus.SHIPPED


def test_completion_needs_every_item_the_claim_type_needs(received_claim, warehouse_user):
    claim = received_claim(**DOA_DAMAGE)
    inspection = inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET)

    with pytest.raises(services.InspectionRefused) as refused:
        complete(inspection, warehouse_user)

    assert "reported defect confirmed, human or physical damage found" in str(refused.value)
    assert fresh(claim).status == ClaimStatus.SHIPPED


# --- The claim's history of a record ----------------------------------------------------


def recorded_events(claim):
    return list(ClaimEvent.objects.filter(claim=claim, action=ClaimAction.INSPECTION_RECORDED).order_by("id"))


def item_words(claim):
    item = claim.items.get()
    return f"{item.order_line.product.sku} × {item.quantity}"


def test_recording_the_checklist_leaves_an_event_with_what_changed(received_claim, warehouse_user):
    claim = received_claim()

    inspection = inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET)

    [event] = recorded_events(claim)
    assert event.actor == warehouse_user
    assert event.payload["inspection_id"] == inspection.pk
    assert event.payload["changes"]["label_present"] == [None, True]
    assert event.payload["changes"]["outcome"] == ["", Outcome.FULL_REFUND]
    assert str(event.describe()) == (
        f"Inspection of {item_words(claim)}: new condition, no signs of use: yes; no installation marks: yes; "
        "sealed in the original packaging: yes; label present: yes; outcome full refund."
    )


def test_an_outcome_override_with_a_deduction_leaves_an_event_in_words(received_claim, warehouse_user):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET)

    services.inspection_record(
        inspection_id=inspection.pk,
        by=warehouse_user,
        **RETURN_CONDITIONS_MET,
        outcome=Outcome.REDUCED_REFUND,
        outcome_change_reason="box opened",
        deduction_percent=Decimal("20"),
        deduction_reason="box opened",
    )

    _first, override = recorded_events(claim)
    assert override.payload["changes"]["outcome"] == [Outcome.FULL_REFUND, Outcome.REDUCED_REFUND]
    assert override.payload["proposed_outcome"] == Outcome.FULL_REFUND
    assert str(override.describe()) == (
        f"Inspection of {item_words(claim)}: outcome changed from full refund to refund with deduction 20 %, "
        "reason: box opened."
    )


def test_recording_the_same_answers_again_leaves_no_second_event(received_claim, warehouse_user):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET)

    services.inspection_record(inspection_id=inspection.pk, by=warehouse_user, **RETURN_CONDITIONS_MET)

    assert len(recorded_events(claim)) == 1


# --- After completion ---------------------------------------------------------------


def test_a_completed_inspection_cannot_be_edited(received_claim, warehouse_user):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    inspection = complete(inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET), warehouse_user)

    with pytest.raises(services.InspectionRefused, match="can no longer be changed"):
        services.inspection_record(
            inspection_id=inspection.pk, by=warehouse_user, **{**RETURN_CONDITIONS_MET, "label_present": False}
        )

    assert Inspection.objects.get(pk=inspection.pk).label_present is True


def test_a_completed_inspection_cannot_be_completed_again(received_claim, warehouse_user):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    inspection = complete(inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET), warehouse_user)

    with pytest.raises(services.InspectionRefused, match="was completed on"):
        complete(inspection, warehouse_user)


def test_a_completed_inspection_takes_no_more_photos(received_claim, warehouse_user):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    inspection = complete(inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET), warehouse_user)

    with pytest.raises(services.InspectionRefused):
        services.inspection_photo_add(inspection_id=inspection.pk, by=warehouse_user, upload=png())

    assert not InspectionPhoto.objects.exists()


def test_a_cancelled_claims_inspection_cannot_be_changed(received_claim, warehouse_user, cs):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET)
    claim_services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer withdrew")

    with pytest.raises(services.InspectionRefused, match="is cancelled"):
        complete(inspection, warehouse_user)


# --- Starting ---------------------------------------------------------------------------


def test_start_twice_returns_the_inspection_already_begun(received_claim, warehouse_user, django_user_model):
    claim = received_claim()
    item = claim.items.get()
    first = services.inspection_start(claim_item_id=item.pk, by=warehouse_user)

    second = services.inspection_start(claim_item_id=item.pk, by=warehouse_user)

    assert second.pk == first.pk
    assert Inspection.objects.filter(claim_item=item).count() == 1


def test_start_needs_the_parcel_received(cs, warehouse_user):
    claim = approved_claim(cs)
    ReturnParcel.objects.create(claim=claim, entered_via="staff", carrier="DHL", tracking_number="1Z")
    claim_services.claim_mark_shipped(claim_id=claim.pk, by=cs, details={})

    with pytest.raises(services.InspectionRefused, match="parcel has not been received"):
        services.inspection_start(claim_item_id=claim.items.get().pk, by=warehouse_user)

    assert not Inspection.objects.exists()


def test_start_needs_a_shipped_claim(cs, warehouse_user):
    claim = approved_claim(cs)

    with pytest.raises(services.InspectionRefused, match="is approved: only a shipped claim"):
        services.inspection_start(claim_item_id=claim.items.get().pk, by=warehouse_user)


# --- Permissions -----------------------------------------------------------------------


def test_customer_service_cannot_complete_an_inspection(received_claim, warehouse_user, cs):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user, **RETURN_CONDITIONS_MET)

    with pytest.raises(PermissionDenied, match="You do not have permission to complete inspections"):
        complete(inspection, cs)

    assert Inspection.objects.get(pk=inspection.pk).completed_at is None
    assert fresh(claim).status == ClaimStatus.SHIPPED


@pytest.mark.parametrize("role", ["cs", "finance_user", "manager"])
def test_only_the_warehouse_starts_and_records_inspections(received_claim, warehouse_user, request, role):
    other = request.getfixturevalue(role)
    claim = received_claim()
    item = claim.items.get()

    with pytest.raises(PermissionDenied, match="inspect returned items"):
        services.inspection_start(claim_item_id=item.pk, by=other)
    inspection = services.inspection_start(claim_item_id=item.pk, by=warehouse_user)
    with pytest.raises(PermissionDenied, match="record inspections"):
        services.inspection_record(inspection_id=inspection.pk, by=other, **RETURN_CONDITIONS_MET)


def test_the_warehouse_cannot_approve_claims(cs, warehouse_user):
    """Warehouse users receive and inspect; approving claims is customer service's."""
    claim = requested_claim(cs)

    with pytest.raises(states.NotPermitted, match="permission to approve claims"):
        claim_services.claim_approve(claim_id=claim.pk, by=warehouse_user)

    assert fresh(claim).status == ClaimStatus.REQUESTED


def test_the_warehouse_may_only_look_at_refunds(warehouse_user):
    assert warehouse_user.has_perm(services.COMPLETE)
    assert {perm for perm in warehouse_user.get_all_permissions() if perm.startswith("refunds.")} == {
        "refunds.view_refund"
    }


# --- Photos ------------------------------------------------------------------------------


def test_photo_is_stored_checked_by_content(received_claim, warehouse_user, s3_objects):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user)

    photo = services.inspection_photo_add(inspection_id=inspection.pk, by=warehouse_user, upload=png("scratch.PNG"))

    assert (photo.original_name, photo.content_type, photo.uploaded_by) == ("scratch.PNG", "image/png", warehouse_user)
    assert photo.file.name.startswith(f"inspections/{inspection.pk}/")
    assert photo.file.name.endswith(".png")
    assert photo.file.name in s3_objects()


def test_photo_that_is_not_an_image_is_refused(received_claim, warehouse_user):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user)

    with pytest.raises(
        uploads.RejectedUpload, match=r"not a photo we can read; we accept JPEG, PNG, WebP or HEIC photos\.$"
    ):
        services.inspection_photo_add(
            inspection_id=inspection.pk,
            by=warehouse_user,
            upload=SimpleUploadedFile("x.jpg", b"<html>", content_type="image/jpeg"),
        )


def test_a_video_is_refused_as_an_inspection_photo(received_claim, warehouse_user):
    claim = received_claim()
    inspection = inspect(claim, warehouse_user)
    mp4 = b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\x00\x00\x00\x08moov"

    with pytest.raises(uploads.RejectedUpload, match="is a video; this page takes photos only"):
        services.inspection_photo_add(
            inspection_id=inspection.pk, by=warehouse_user, upload=SimpleUploadedFile("clip.mp4", mp4)
        )
    assert not InspectionPhoto.objects.exists()


def test_customer_service_cannot_add_inspection_photos(received_claim, warehouse_user, cs):
    inspection = inspect(received_claim(), warehouse_user)

    with pytest.raises(PermissionDenied):
        services.inspection_photo_add(inspection_id=inspection.pk, by=cs, upload=png())


def test_a_passed_warranty_inspection_proposes_a_replacement(received_claim, warehouse_user):
    from warranty.models import Replacement, ReplacementKind, ReplacementStatus

    claim = received_claim(claim_type=ClaimType.WARRANTY)

    complete(inspect(claim, warehouse_user, **WARRANTY_PASSED), warehouse_user)

    replacement = Replacement.objects.get(claim=claim)
    assert (replacement.status, replacement.kind) == (ReplacementStatus.PROPOSED, ReplacementKind.WHOLE_PRODUCT)
    assert replacement.claim_item == claim.items.get()


def test_a_passed_doa_inspection_proposes_the_refund_to_finance(received_claim, warehouse_user):
    from refunds.models import LineKind, Refund, RefundStatus

    claim = received_claim(**DOA_DAMAGE)

    complete(inspect(claim, warehouse_user, **DOA_PASSED), warehouse_user)

    refund = Refund.objects.get(claim=claim)
    assert refund.status == RefundStatus.PROPOSED
    assert sorted(refund.lines.values_list("kind", flat=True)) == sorted([LineKind.GOODS, LineKind.RETURN_SHIPPING])
