"""The customer-service path in a real browser: Debian's Chromium through Playwright."""

import re

import pytest
from PIL import Image

from returns import services
from returns.models import Claim, ClaimStatus, ClaimType
from returns.tests.factories import ROLES, OrderLineFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_uploads_whole_package_photo_and_approves(page, live_server, django_user_model, tmp_path):
    agent = staff_user(django_user_model, "cs", ROLES["cs"])
    line = OrderLineFactory()
    claim = services.claim_create(
        order=line.order,
        claim_type=ClaimType.NO_REASON,
        description="Does not fit my rig",
        order_line_ids=[line.pk],
        by=agent,
    )
    photo = tmp_path / "whole-package.jpg"
    Image.new("RGB", (640, 480), "steelblue").save(photo, "JPEG")

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "cs")
    page.fill("#id_password", "pw-cs")
    page.click("#login-form [type=submit]")
    page.goto(f"{live_server.url}/admin/returns/claim/")
    page.click(f"text=Claim #{claim.pk}")
    page.set_input_files("#id_files", str(photo))
    page.check("#id_shows_whole_package")
    page.click("#claim-evidence button[type=submit]")
    page.wait_for_selector("text=Stored “whole-package.jpg”.")
    page.click("#claim-actions button[value=approve]")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    message = page.locator(".messagelist .success").first.inner_text()
    assert re.search(rf"Approved: {claim.rma_number}\. The RMA number and return instructions were emailed", message)
    assert page.locator("#claim-evidence img").count() == 1  # the thumbnail, linked to the original
    page.screenshot(path=str(tmp_path / "approved.png"), full_page=True)
    assert Claim.objects.get(pk=claim.pk).events.filter(action="approve").count() == 1
