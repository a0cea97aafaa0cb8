"""The warehouse's pages: the inspection queue, the inspection form, the claim page's inspections."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from inspections import services
from inspections.models import Inspection, InspectionPhoto, Outcome
from inspections.tests.conftest import DOA_DAMAGE, approved_claim, receive
from returns import services as claim_services
from returns.models import ClaimStatus, ClaimType
from shipments.models import ReturnParcel

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:inspections_queue")
PASSED_NO_REASON = {
    "is_new_unused": "yes",
    "no_installation_marks": "yes",
    "original_packaging_sealed": "yes",
    "label_present": "yes",
    "human_or_physical_damage": "",
}


def form_url(claim, index=0):
    return reverse("admin:inspections_inspection_item", args=[claim.items.order_by("pk")[index].pk])


def page_messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def post(client, claim, action="save", **fields):
    data = {
        **PASSED_NO_REASON,
        "findings": "",
        "outcome": "",
        "outcome_change_reason": "",
        "deduction_amount": "",
        "deduction_percent": "",
        "deduction_reason": "",
        "action": action,
        **fields,
    }
    return client.post(form_url(claim), data)


def queue_rmas(response) -> list[str]:
    return [row.claim.rma_number for row in response.context["rows"]]


# --- The queue --------------------------------------------------------------------


def test_queue_lists_received_parcels_waiting_for_inspection_oldest_first(client, cs, warehouse_user, received_claim):
    now = timezone.now()
    newer = received_claim(received_at=now - timedelta(days=1))
    older = received_claim(received_at=now - timedelta(days=4))
    client.force_login(warehouse_user)

    response = client.get(QUEUE)

    assert queue_rmas(response) == [older.rma_number, newer.rma_number]
    assert [row.days_waiting for row in response.context["rows"]] == [4, 1]


def test_queue_leaves_out_everyone_elses_work(client, cs, warehouse_user, received_claim):
    waiting = received_claim()
    approved_claim(cs)  # approved, no parcel yet: customer service's and the customer's
    in_transit = approved_claim(cs)
    ReturnParcel.objects.create(claim=in_transit, entered_via="staff", carrier="DHL", tracking_number="1")
    claim_services.claim_mark_shipped(claim_id=in_transit.pk, by=cs, details={})  # shipped, not received
    cancelled = received_claim()
    claim_services.claim_cancel(claim_id=cancelled.pk, by=cs, reason="Customer withdrew")
    inspected = received_claim()
    inspection = services.inspection_start(claim_item_id=inspected.items.get().pk, by=warehouse_user)
    services.inspection_record(
        inspection_id=inspection.pk,
        by=warehouse_user,
        is_new_unused=True,
        no_installation_marks=True,
        original_packaging_sealed=True,
        label_present=True,
    )
    services.inspection_complete(inspection_id=inspection.pk, by=warehouse_user)
    client.force_login(warehouse_user)

    response = client.get(QUEUE)

    assert queue_rmas(response) == [waiting.rma_number]


def test_queue_keeps_a_claim_until_every_item_is_inspected(client, warehouse_user, received_claim):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    first = services.inspection_start(claim_item_id=claim.items.order_by("pk")[0].pk, by=warehouse_user)
    services.inspection_record(
        inspection_id=first.pk,
        by=warehouse_user,
        is_new_unused=True,
        no_installation_marks=True,
        original_packaging_sealed=True,
        label_present=True,
    )
    services.inspection_complete(inspection_id=first.pk, by=warehouse_user)
    client.force_login(warehouse_user)

    response = client.get(QUEUE)

    (row,) = response.context["rows"]
    assert (len(row.items), row.items_inspected) == (2, 1)
    assert "(done)" in response.text


def test_queue_row_shows_rma_type_items_and_links_to_each_items_form(client, warehouse_user, received_claim):
    claim = received_claim(claim_type=ClaimType.WARRANTY, prices=(Decimal("10.00"), Decimal("20.00")))
    client.force_login(warehouse_user)

    response = client.get(QUEUE)

    assert claim.rma_number in response.text
    assert "Warranty" in response.text
    for index in (0, 1):
        assert f'href="{form_url(claim, index)}"' in response.text


def test_queue_query_count_does_not_grow_with_rows(client, warehouse_user, received_claim, django_assert_num_queries):
    for _ in range(2):
        received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    client.force_login(warehouse_user)
    # session, user, the user's and the groups' permissions, the sidebar's queue badges (one query, backoffice/navigation.py), the parcels, their claims' items
    with django_assert_num_queries(7):
        response = client.get(QUEUE)
    assert len(response.context["rows"]) == 2

    for _ in range(8):
        received_claim(prices=(Decimal("10.00"), Decimal("20.00"), Decimal("30.00")))
    with django_assert_num_queries(7):
        response = client.get(QUEUE)
    assert len(response.context["rows"]) == 10


def test_queue_is_closed_to_a_user_without_the_view_permission(client, django_user_model):
    stranger = django_user_model.objects.create_user(username="temp", password="x", is_staff=True)
    client.force_login(stranger)

    assert client.get(QUEUE).status_code == 403


# --- The inspection form ----------------------------------------------------------------


def test_form_shows_the_checklist_as_yes_no_not_checked(client, warehouse_user, received_claim):
    claim = received_claim(**DOA_DAMAGE)
    client.force_login(warehouse_user)

    response = client.get(form_url(claim))

    assert response.status_code == 200
    html = response.text
    for name in ("is_new_unused", "original_packaging_sealed", "label_present", "no_installation_marks"):
        assert f'name="{name}" value="yes"' in html
        assert f'name="{name}" value="no"' in html
        assert f'name="{name}" value=""' in html
    assert 'name="defect_confirmed"' in html
    assert 'name="human_or_physical_damage"' in html
    assert 'value="complete"' in html
    assert 'name="photos"' in html
    assert "JPEG, PNG, WebP or HEIC; stored when you save." in html  # photos only: no video named


def test_warranty_form_asks_only_the_warrantys_questions(client, warehouse_user, received_claim):
    claim = received_claim(claim_type=ClaimType.WARRANTY)
    client.force_login(warehouse_user)

    html = client.get(form_url(claim)).text

    assert 'name="defect_confirmed"' in html
    assert 'name="original_packaging_sealed"' not in html


def test_save_starts_the_inspection_and_shows_the_proposal(client, warehouse_user, received_claim):
    claim = received_claim()
    client.force_login(warehouse_user)

    response = post(client, claim, findings="All sealed.")

    assert response.status_code == 302
    inspection = Inspection.objects.get(claim_item__claim=claim)
    assert (inspection.inspector, inspection.findings, inspection.outcome) == (
        warehouse_user,
        "All sealed.",
        Outcome.FULL_REFUND,
    )
    assert page_messages(response)[0].startswith("Saved. Proposed: Full refund")
    page = client.get(form_url(claim)).text
    assert "Proposed: Full refund" in page
    assert fresh_status(claim) == ClaimStatus.SHIPPED


def test_an_error_comes_back_as_a_message_with_the_typed_values_kept(client, warehouse_user, received_claim):
    claim = received_claim()
    client.force_login(warehouse_user)

    response = post(client, claim, findings="Box crushed", label_present="no", outcome=Outcome.FULL_REFUND)

    assert response.status_code == 200
    assert any("write why the outcome is different" in message for message in page_messages(response))
    html = response.text
    assert re.search(r'name="label_present" value="no"[^>]*checked', html)
    assert "Box crushed</textarea>" in html
    assert re.search(r'<option value="full_refund" selected>', html)
    assert not Inspection.objects.filter(outcome=Outcome.FULL_REFUND).exists()


def test_an_invalid_number_comes_back_as_a_message(client, warehouse_user, received_claim):
    claim = received_claim()
    client.force_login(warehouse_user)

    response = post(client, claim, label_present="no", deduction_amount="ten", deduction_reason="No label")

    assert response.status_code == 200
    assert any(message.startswith("Deduction amount (USD): ") for message in page_messages(response))
    assert 'value="ten"' in response.text


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("1e30", "Ensure that there are no more than 14 digits in total."),
        ("100000000000", "Ensure that there are no more than 11 digits before the decimal point."),
        ("١٠", "Write the number with the digits 0-9."),
        ("١٠٫٥", "Write the number with the digits 0-9."),
    ],
)
def test_a_crafted_deduction_comes_back_as_a_message(client, warehouse_user, received_claim, amount, words):
    claim = received_claim()
    client.force_login(warehouse_user)

    response = post(client, claim, label_present="no", deduction_amount=amount, deduction_reason="No label")

    assert response.status_code == 200
    assert f"Deduction amount (USD): {words}" in page_messages(response)
    assert not Inspection.objects.filter(deduction_amount__isnull=False).exists()


def test_complete_moves_the_claim_to_inspected_and_shows_the_claim(client, warehouse_user, received_claim):
    claim = received_claim()
    client.force_login(warehouse_user)

    response = post(client, claim, action="complete")

    assert response.status_code == 302
    assert response.url == reverse("admin:returns_claim_change", args=[claim.pk])
    assert fresh_status(claim) == ClaimStatus.INSPECTED
    assert page_messages(response) == [
        f"{claim.rma_number} is inspected: Full refund. The customer was emailed the outcome."
    ]


def test_complete_with_an_unchecked_item_saves_and_says_what_is_missing(client, warehouse_user, received_claim):
    claim = received_claim()
    client.force_login(warehouse_user)

    response = post(client, claim, action="complete", label_present="")

    assert response.status_code == 200
    assert page_messages(response) == ["Saved, not completed: Check every item first: not checked yet: label present."]
    assert Inspection.objects.get(claim_item__claim=claim).completed_at is None


def test_photos_are_stored_with_the_save(client, warehouse_user, received_claim):
    claim = received_claim()
    client.force_login(warehouse_user)
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), "red").save(buffer, "JPEG")
    photo = SimpleUploadedFile("dent.jpg", buffer.getvalue(), content_type="image/jpeg")

    post(client, claim, photos=[photo])

    assert list(InspectionPhoto.objects.values_list("original_name", flat=True)) == ["dent.jpg"]
    assert "dent.jpg" in client.get(form_url(claim)).text


def test_a_completed_inspection_is_shown_read_only(client, warehouse_user, received_claim):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    client.force_login(warehouse_user)
    post(client, claim, action="complete")

    html = client.get(form_url(claim)).text

    assert 'value="complete"' not in html
    assert "This inspection is completed and can no longer be changed." in html
    assert re.search(r'name="label_present" value="yes"[^>]*disabled', html)


# --- Customer service reads ---------------------------------------------------------------


def test_customer_service_sees_the_form_read_only(client, cs, received_claim):
    claim = received_claim()
    client.force_login(cs)

    response = client.get(form_url(claim))

    assert response.status_code == 200
    assert 'value="complete"' not in response.text
    assert 'value="save"' not in response.text
    assert re.search(r'name="label_present" value="yes"[^>]*disabled', response.text)


def test_customer_service_cannot_complete_an_inspection_from_the_form(client, cs, warehouse_user, received_claim):
    claim = received_claim()
    services.inspection_start(claim_item_id=claim.items.get().pk, by=warehouse_user)
    client.force_login(cs)

    response = post(client, claim, action="complete")

    assert response.status_code == 403
    assert page_messages(response) == ["You do not have permission to complete inspections; the warehouse does."]
    assert fresh_status(claim) == ClaimStatus.SHIPPED


def test_customer_service_cannot_save_an_inspection(client, cs, received_claim):
    claim = received_claim()
    client.force_login(cs)

    response = post(client, claim)

    assert response.status_code == 403
    assert page_messages(response) == ["You do not have permission to inspect returned items; the warehouse does."]
    assert not Inspection.objects.exists()


# --- On the claim page ------------------------------------------------------------------


def test_claim_page_shows_each_items_inspection(client, cs, warehouse_user, received_claim):
    claim = received_claim(**DOA_DAMAGE, prices=(Decimal("80.00"),))
    inspection = services.inspection_start(claim_item_id=claim.items.get().pk, by=warehouse_user)
    services.inspection_record(
        inspection_id=inspection.pk,
        by=warehouse_user,
        is_new_unused=False,
        no_installation_marks=True,
        original_packaging_sealed=True,
        label_present=True,
        defect_confirmed=True,
        human_or_physical_damage=False,
        deduction_percent=Decimal("25"),
        deduction_reason="signs of use",
    )
    services.inspection_complete(inspection_id=inspection.pk, by=warehouse_user)
    client.force_login(cs)

    html = client.get(reverse("admin:returns_claim_change", args=[claim.pk])).text

    assert "Refund with a deduction; return shipping on the customer" in html
    assert "25% (20.00 USD): signs of use" in html
    assert warehouse_user.username in html


def test_inspection_list_links_to_the_queue(client, warehouse_user):
    client.force_login(warehouse_user)

    response = client.get(reverse("admin:inspections_inspection_changelist"))

    assert response.status_code == 200
    assert f'href="{QUEUE}"' in response.text


def fresh_status(claim):
    claim.refresh_from_db(fields=["status"])
    return claim.status


def test_receive_helper_sets_the_parcel_received(cs, warehouse_user):
    """The tests' own set-up: what the queue reads is what the shipments app writes."""
    claim = receive(approved_claim(cs), warehouse_user)

    assert claim.status == ClaimStatus.SHIPPED
    assert ReturnParcel.objects.get(claim=claim).received_at is not None
