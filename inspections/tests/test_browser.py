"""The warehouse's path in a real browser: receive the parcel, inspect it, see the claim inspected."""

import pytest

from inspections.models import Inspection, Outcome
from inspections.tests.conftest import approved_claim
from returns.models import Claim, ClaimStatus, ClaimType
from returns.tests.factories import ROLES, staff_user
from shipments.models import ReturnParcel

# The smallest ISO base media file a browser would send as a video: an ftyp box, then an empty moov.
MP4 = b"\x00\x00\x00\x10ftypmp42\x00\x00\x00\x00" + b"\x00\x00\x00\x08moov"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_warehouse_receives_inspects_and_sees_the_claim_inspected(page, live_server, django_user_model, tmp_path):
    claim = warehouse_at_the_bench(page, live_server, django_user_model)

    # The bench: scan the RMA number and press Enter.
    scan_and_receive(page, claim)

    # The queue, then the item's inspection form.
    row = queue_row(page, live_server, claim)
    assert row.locator("td.days-waiting").inner_text() == "0"
    row.locator("td a", has_text=" × ").first.click()
    for name in ("is_new_unused", "no_installation_marks", "original_packaging_sealed", "label_present"):
        page.check(f"#id_{name} input[value=yes]")
    page.fill("#id_findings", "Sealed, label on, no marks.")
    page.click("#save")
    page.wait_for_selector("#proposal >> text=Proposed: Full refund")
    page.click("#complete")

    page.wait_for_selector(f"text={claim.rma_number} is inspected: Full refund.")
    assert page.locator("#claim-status").inner_text() == "Inspected"
    assert "Full refund" in page.locator("#content-main").inner_text()
    page.screenshot(path=str(tmp_path / "inspected.png"), full_page=True)
    claim = Claim.objects.get(pk=claim.pk)
    assert claim.status == ClaimStatus.INSPECTED
    inspection = Inspection.objects.get(claim_item__claim=claim)
    assert (inspection.outcome, inspection.inspector.username) == (Outcome.FULL_REFUND, "warehouse")
    assert claim.events.filter(action="inspect").count() == 1


def test_the_receiving_page_refuses_a_pdf_and_a_video_naming_photos_only_in_chromium(
    page, live_server, django_user_model, shoot
):
    claim = warehouse_at_the_bench(page, live_server, django_user_model)

    page.fill("#id_code", claim.rma_number)
    page.select_option("#id_condition", "box_damaged")
    page.fill("#id_note", "Dented on two sides.")
    page.set_input_files(
        "#id_photos",
        [
            {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 not a photo"},
            {"name": "unboxing.mp4", "mimeType": "video/mp4", "buffer": MP4},
        ],
    )
    page.click("#receive-form [type=submit]")

    errors = page.locator("#receive-form").inner_text()
    assert "“invoice.pdf” is not a photo we can read; we accept JPEG, PNG, WebP or HEIC photos." in errors
    assert "“unboxing.mp4” is a video; this page takes photos only (JPEG, PNG, WebP or HEIC)." in errors
    assert "MP4" not in errors and "MOV" not in errors
    # What was typed is still there for the second try; nothing was recorded.
    assert page.input_value("#id_code") == claim.rma_number
    assert page.input_value("#id_condition") == "box_damaged"
    assert page.input_value("#id_note") == "Dented on two sides."
    shoot(page, "receive-refused-photos")
    assert not ReturnParcel.objects.exists()
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.APPROVED


def test_the_inspection_form_refuses_a_video_as_a_photo_and_keeps_the_findings_in_chromium(
    page, live_server, django_user_model, shoot
):
    claim = warehouse_at_the_bench(page, live_server, django_user_model)
    scan_and_receive(page, claim)
    queue_row(page, live_server, claim).locator("td a", has_text=" × ").first.click()
    page.fill("#id_findings", "Sealed, label on.")
    page.set_input_files("#id_photos", [{"name": "clip.mp4", "mimeType": "video/mp4", "buffer": MP4}])
    page.click("#save")

    page.wait_for_selector("text=Not stored:")
    messages = page.locator("body").inner_text()
    assert "Not stored: “clip.mp4” is a video; this page takes photos only (JPEG, PNG, WebP or HEIC)." in messages
    assert page.input_value("#id_findings") == "Sealed, label on."  # the findings were saved
    shoot(page, "inspection-refused-video")
    inspection = Inspection.objects.get(claim_item__claim=claim)
    assert inspection.findings == "Sealed, label on." and not inspection.photos.exists()


def warehouse_at_the_bench(page, live_server, django_user_model):
    """A claim approved by customer service, and the warehouse logged in on the receiving page."""
    agent = staff_user(django_user_model, "cs", ROLES["cs"])
    staff_user(django_user_model, "warehouse", ROLES["warehouse"])
    claim = approved_claim(agent, claim_type=ClaimType.NO_REASON)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "warehouse")
    page.fill("#id_password", "pw-warehouse")
    page.click("#login-form [type=submit]")
    page.goto(f"{live_server.url}/admin/shipments/returnparcel/receive/")
    return claim


def scan_and_receive(page, claim) -> None:
    page.fill("#id_code", claim.rma_number)
    page.press("#id_code", "Enter")
    page.wait_for_selector(f"text={claim.rma_number} received")


def queue_row(page, live_server, claim):
    """The claim's row in the inspection queue."""
    page.goto(f"{live_server.url}/admin/inspections/inspection/queue/")
    return page.locator("#inspection-queue tr.queue-row", has_text=claim.rma_number)
