"""Private files and upload limits in Chromium: photos shown through the file view, a refusal in words."""

import pytest
from django.core.files import File
from PIL import Image

from returns import services
from returns.models import Evidence
from returns.tests.factories import ROLES, ClaimItemFactory, staff_user
from returns.tests.test_upload_limits import solid_png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("#login-form [type=submit]")


def test_the_claim_page_shows_photos_through_the_file_view(page, live_server, django_user_model, tmp_path, shoot):
    agent = staff_user(django_user_model, "cs", ROLES["cs"])
    staff_user(django_user_model, "nobody", None)
    claim = ClaimItemFactory().claim
    photo = tmp_path / "box.jpg"
    Image.new("RGB", (640, 480), "steelblue").save(photo, "JPEG")
    with photo.open("rb") as upload:
        services.evidence_add(claim_id=claim.pk, by=agent, upload=File(upload, name="box.jpg"))
    evidence = Evidence.objects.get()
    assert evidence.thumbnail  # made on commit (the task runs eagerly in tests)

    log_in(page, live_server, "cs")
    page.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    thumbnail = page.locator("#claim-evidence img").first
    thumbnail.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    shoot(page, "files-claim-photos")
    src = thumbnail.get_attribute("src")
    href = page.locator("#claim-evidence a:has(img)").first.get_attribute("href")

    assert src.startswith("/admin/files/") and href.startswith("/admin/files/")
    original = page.goto(f"{live_server.url}{href}")
    assert original.ok and original.headers["content-type"] == "image/jpeg"
    assert "X-Amz-Signature=" in page.url  # redirected to S3's presigned URL

    page.context.clear_cookies()
    log_in(page, live_server, "nobody")
    refused = page.goto(f"{live_server.url}{href}")
    assert refused.status == 403
    assert "You do not have permission to open this file." in page.inner_text("body")
    assert page.goto(f"{live_server.url}/media/{evidence.file.name}").status == 404


def test_too_many_files_at_once_get_a_page_that_says_the_limits(
    page, live_server, django_user_model, tmp_path, settings, shoot
):
    settings.UPLOAD_MAX_FILES = settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    staff_user(django_user_model, "cs", ROLES["cs"])
    claim = ClaimItemFactory().claim
    files = []
    for n in range(3):
        path = tmp_path / f"photo-{n}.png"
        path.write_bytes(solid_png_bytes())
        files.append(str(path))

    log_in(page, live_server, "cs")
    page.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    page.set_input_files("#id_files", files)
    with page.expect_navigation() as sent:
        page.click("#claim-evidence button[type=submit]")

    assert sent.value.status == 413
    text = page.inner_text("body")
    shoot(page, "files-too-many")
    assert "Too much to upload at once" in text
    assert "Send at most 2 files, 250 MB in all, at once." in text
    assert not Evidence.objects.exists()
