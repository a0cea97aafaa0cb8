"""Customer service enters a claim in Chromium: units per line, a clash shown, the message joined to the open claim."""

import pytest
from PIL import Image

from returns.models import Claim, ClaimType
from returns.tests.factories import ROLES, OrderLineFactory, ProductFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("#login-form [type=submit]")


def test_agent_claims_one_of_three_units_then_joins_the_customers_second_email_to_it(
    page, live_server, django_user_model, tmp_path, shoot
):
    staff_user(django_user_model, "cs", ROLES["cs"])
    line = OrderLineFactory(quantity=3, product=ProductFactory(sku="SR-1195", name="NATO handle"))
    photo = tmp_path / "box.jpg"
    Image.new("RGB", (640, 480), "peru").save(photo, "JPEG")
    log_in(page, live_server, "cs")

    # the agent opens the new-claim form for the order and claims one unit of three
    page.goto(f"{live_server.url}/admin/returns/claim/add/?order={line.order.number}")
    page.fill(f"#id_units_{line.pk}", "1")
    page.select_option("#id_claim_type", ClaimType.NO_REASON)
    page.fill("#id_description", "One of the three handles does not fit.")
    shoot(page, "claim-new-units")
    page.click("#create-claim")
    page.wait_for_selector(".messagelist .success")
    first = Claim.objects.get()
    assert first.items.get().quantity == 1

    # the customer writes again about the same unit; the form shows the clash and offers the open claim
    page.goto(f"{live_server.url}/admin/returns/claim/add/?order={line.order.number}")
    note = page.locator(".ledger-note").first.inner_text()
    assert note == f"SR-1195 × 1 is already in open claim #{first.pk}."
    assert "2 free to claim" in page.locator("#claim-units").inner_text()
    page.fill("#id_description", "Here is the photo of the whole box.")
    page.set_input_files("#id_files", str(photo))
    page.check("#id_shows_whole_package")
    shoot(page, "claim-new-clash")
    page.click(f"#open-claims button[value='{first.pk}']")

    # it lands on the open claim, with the message and the photo, and no second claim
    page.wait_for_selector("text=no second claim was opened")
    assert page.url.endswith(f"/admin/returns/claim/{first.pk}/change/")
    assert Claim.objects.count() == 1
    assert (
        first.events.filter(action="attach_message").get().payload["message"] == "Here is the photo of the whole box."
    )
    assert first.evidence.get().shows_whole_package
    shoot(page, "claim-after-attach")


def test_needs_attention_page_in_chromium(page, live_server, django_user_model, shoot):
    from django.core.cache import cache

    from backoffice.tests.test_reconcile import succeeded_refund_behind_its_claim
    from backoffice.views import ATTENTION_ASKED_KEY
    from returns.models import ClaimStatus

    staff_user(django_user_model, "cs", ROLES["cs"])
    inspector = staff_user(django_user_model, "picker", ROLES["warehouse"])
    refund = succeeded_refund_behind_its_claim(inspector, ClaimStatus.CANCELLED)
    log_in(page, live_server, "cs")

    page.goto(f"{live_server.url}/admin/")
    page.click("#attention-module a")

    row = page.locator("#attention tbody tr").first
    assert str(refund.claim) in row.inner_text()
    assert "but the claim is cancelled" in row.inner_text()
    assert "Last checked" in page.locator("#attention-checked").inner_text()
    shoot(page, "needs-attention")

    cache.delete(ATTENTION_ASKED_KEY)
    page.click("#attention-check [type=submit]")  # a POST from the browser: its CSRF check passes
    page.wait_for_selector("text=Checking again.")
    shoot(page, "needs-attention-check-again")
