"""The staff console as each role uses it, in Debian's Chromium through Playwright: the sidebar and its badges, the
home's queues, the claim page's header, stepper and timeline, and the search box.

Saves ``var/screenshots/console-*-desktop.png`` and ``-phone.png`` (1280 and 390 px wide, whole page).
"""

import datetime as dt

import pytest
from django.utils import timezone

from backoffice.tests.test_browser_history import a_claim_with_a_history
from inspections.tests.conftest import approved_claim, receive, requested_claim
from refunds.tests.conftest import finance_user
from returns.models import Claim
from returns.tests.factories import ROLES, staff_user
from shipments.models import ReturnParcel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(django_user_model):
    return {
        "cs": staff_user(django_user_model, "agent", ROLES["cs"]),
        "warehouse": staff_user(django_user_model, "picker", ROLES["warehouse"]),
        "finance": finance_user(django_user_model, "payer"),
        "manager": staff_user(django_user_model, "boss", ROLES["manager"]),
    }


@pytest.fixture
def work(staff):
    """A refunded claim with its whole history, one overdue claim to answer, one parcel awaited, one to inspect."""
    cs, warehouse = staff["cs"], staff["warehouse"]
    refunded, _ = a_claim_with_a_history(cs, warehouse, staff["finance"])
    late = requested_claim(cs)
    Claim.objects.filter(pk=late.pk).update(first_response_due_at=timezone.now() - dt.timedelta(hours=1))
    awaited = approved_claim(cs)
    ReturnParcel.objects.create(
        claim=awaited, entered_via="customer_link", carrier="DHL", tracking_number="JD0123456789"
    )
    receive(approved_claim(cs), warehouse)
    refunded.refresh_from_db()
    return {"refunded": refunded, "late": late, "awaited": awaited}


def log_in(page, live_server, user):
    page.context.clear_cookies()  # whoever was logged in before
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", f"pw-{user.username}")
    page.click("#login-form [type=submit]")
    page.wait_for_selector("#home")


def sidebar_item(page, title: str):
    return page.locator("#nav-sidebar-apps li", has_text=title)


# role → (its sidebar group, {queue title: badge}, its home queues' ids)
ROLE_HOMES = {
    "cs": ("Customer service", {"Claims to answer": "1"}, ["queue-to_answer", "queue-awaiting_customer"]),
    "warehouse": (
        "Warehouse",
        {"Parcels to receive": "1", "Items to inspect": "1"},
        ["queue-parcels_to_receive", "queue-items_to_inspect", "queue-replacements_to_ship"],
    ),
    "finance": ("Finance", {}, ["queue-refunds_to_approve", "queue-refunds_failed"]),
    "manager": ("Manager", {"Claims to answer": "1"}, ["queue-to_answer", "queue-unmatched_parcels"]),
}


@pytest.mark.parametrize("role", list(ROLE_HOMES))
def test_each_role_starts_its_day_on_its_own_queues(page, live_server, staff, work, shoot, role):
    group, expected_badges, home_queues = ROLE_HOMES[role]
    log_in(page, live_server, staff[role])

    assert page.locator("#nav-sidebar-apps h2", has_text=group).is_visible()
    for title, badge in expected_badges.items():
        assert sidebar_item(page, title).inner_text().split()[-1] == badge, title
    for queue in home_queues:
        assert page.locator(f"#{queue}").is_visible(), queue
    if role in ("cs", "manager"):
        # the overdue answer: red in the sidebar and on the home card
        assert "bg-red-500" in sidebar_item(page, "Claims to answer").locator("span").last.get_attribute("class")
        assert "queue-urgent" in page.locator("#queue-to_answer").get_attribute("class")
    other_groups = {"cs": "Finance", "warehouse": "Customer service", "finance": "Warehouse"}
    if role in other_groups:
        assert page.locator("#nav-sidebar-apps h2", has_text=other_groups[role]).count() == 0
    shoot(page, f"console-home-{role}")

    # one click from the home to the queue's page
    page.click(f"#{home_queues[0]}")
    page.wait_for_load_state()
    assert page.url != f"{live_server.url}/admin/"
    shoot(page, f"console-queue-{role}")


def test_the_claim_page_reads_in_five_seconds(page, live_server, staff, work, shoot):
    claim = work["refunded"]
    log_in(page, live_server, staff["manager"])

    page.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")

    header = page.locator("#claim-header")
    assert claim.rma_number in header.locator("#claim-number").inner_text()
    assert header.locator("#claim-status").inner_text() == "Refunded"
    steps = page.locator("#claim-stepper .step")
    assert steps.count() == 5
    assert page.locator("#claim-stepper .step-done").count() == 5
    assert page.locator("#claim-stepper .step-label").all_inner_texts() == [
        "Requested",
        "Approved",
        "Shipped",
        "Inspected",
        "Refunded",
    ]
    # the verdict and the actions side by side on a desktop, the order card beside them
    verdict, actions = page.locator("#policy-verdict").bounding_box(), page.locator("#claim-actions").bounding_box()
    assert actions["x"] > verdict["x"] + verdict["width"] - 1 and abs(actions["y"] - verdict["y"]) < 5
    assert claim.order.number in page.locator("#claim-order").inner_text()
    timeline = page.locator("#timeline").inner_text()
    assert f"Approved: {claim.rma_number} given." in timeline
    assert "Email to the customer" in timeline and "Manual payment recorded" in timeline
    shoot(page, "console-claim-refunded")
    # on a phone the related tables scroll inside their panels; no panel is wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    widths = page.eval_on_selector_all(".read-only-rows", "panels => panels.map(p => p.getBoundingClientRect().right)")
    assert len(widths) >= 3 and max(widths) <= 390, widths
    page.set_viewport_size({"width": 1280, "height": 800})

    new = work["late"]
    page.goto(f"{live_server.url}/admin/returns/claim/{new.pk}/change/")
    assert page.locator("#claim-stepper .step-current .step-label").inner_text() == "Requested"
    assert page.locator("#return_parcel-group, #refunds-group, #inspections-group").count() == 0
    shoot(page, "console-claim-new")


@pytest.mark.parametrize(
    ("how", "term"),
    [("RMA number", "rma"), ("tracking number", "JD0123456789"), ("email", "email"), ("order number", "order")],
)
def test_the_search_box_finds_a_claim(page, live_server, staff, work, shoot, how, term):
    claim = work["awaited"]
    term = {"rma": claim.rma_number, "email": claim.customer_email.upper(), "order": claim.order_number}.get(term, term)
    log_in(page, live_server, staff["warehouse"])

    page.fill("#sidebar-claim-search-input", term)
    page.press("#sidebar-claim-search-input", "Enter")
    page.wait_for_selector("#result_list")

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1, how
    assert claim.rma_number in rows.first.inner_text()
    if how == "tracking number":
        shoot(page, "console-search")
    rows.first.locator("a").first.click()
    page.wait_for_selector("#claim-header")
    assert claim.rma_number in page.locator("#claim-number").inner_text()


def test_the_custom_pages_and_forms_in_the_theme(page, live_server, staff, work, shoot):
    """The pages each role works on, each error beside its field: new claim, receive parcel, inspection, refund,
    and the managers' dashboard, SLA report and attention page."""
    log_in(page, live_server, staff["cs"])
    page.goto(f"{live_server.url}/admin/returns/claim/add/?order=SO-404")
    problem = page.locator("#order-not-found").inner_text()
    assert "No order SO-404 in the back-office." in problem and "manage.py" not in problem
    shoot(page, "console-new-claim-unknown-order")
    page.goto(f"{live_server.url}/admin/returns/claim/add/?order={work['late'].order_number}")
    page.fill("#id_description", "")
    page.click("#create-claim")
    page.wait_for_selector(".console-field.errors")
    # the error sits in the field's own block, right after its input
    described = page.locator(".console-field.field-description")
    assert described.locator("textarea + .errorlist").count() == 1
    shoot(page, "console-new-claim-errors")

    log_in(page, live_server, staff["warehouse"])
    page.click("#nav-sidebar-apps >> text=Receive parcel")
    page.wait_for_selector("#receive-form")
    page.fill("#id_code", work["awaited"].rma_number)
    page.set_input_files("#id_photos", files=[{"name": "box.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}])
    page.click("#receive-form [type=submit]")
    page.wait_for_selector(".console-field.field-photos.errors")
    assert page.locator(".console-field.field-photos input + .errorlist").count() == 1
    assert page.input_value("#id_code") == work["awaited"].rma_number  # what was typed is kept
    shoot(page, "console-receive-errors")
    page.click("#nav-sidebar-apps >> text=Items to inspect")
    page.wait_for_selector("#inspection-queue")
    shoot(page, "console-inspection-queue")
    page.locator("#inspection-queue tr.queue-row a").last.click()
    page.wait_for_selector("#inspection-form")
    shoot(page, "console-inspection-form")

    log_in(page, live_server, staff["finance"])
    refund = work["refunded"].refunds.get()
    page.goto(f"{live_server.url}/admin/refunds/refund/{refund.pk}/change/")
    assert page.locator("#refund-summary").is_visible()
    shoot(page, "console-refund")

    log_in(page, live_server, staff["manager"])
    for name, url in (("dashboard", "/admin/dashboard/"), ("sla", "/admin/sla/"), ("attention", "/admin/attention/")):
        page.goto(f"{live_server.url}{url}")
        assert page.locator("#nav-sidebar-apps").is_visible()
        shoot(page, f"console-{name}")


def test_the_claim_and_order_lists_show_the_received_date_short_with_the_sentence_on_hover(
    page, live_server, staff, work, shoot
):
    log_in(page, live_server, staff["cs"])
    for name, url in (("claims", "/admin/returns/claim/"), ("orders", "/admin/returns/order/")):
        page.goto(f"{live_server.url}{url}")
        cell = page.locator("#result_list td[class*='field-received'] span[title]").first
        assert "company calendar" in cell.get_attribute("title")
        assert "company calendar" not in cell.inner_text()  # the sentence is the tooltip, not the cell
        shoot(page, f"console-list-{name}")


@pytest.mark.parametrize(
    ("name", "url", "term"),
    [
        ("orders", "/admin/returns/order/", "email"),  # the customer's email in capitals
        ("orders", "/admin/returns/order/", "order"),
        ("emails", "/admin/returns/outboundemail/", "email"),
        ("inspections", "/admin/inspections/inspection/", "rma"),  # the RMA number in lower case
    ],
)
def test_the_lists_search_boxes_find_exactly_in_any_case(page, live_server, staff, work, shoot, name, url, term):
    """The searches that now read indexes (an order, an email sent, an inspection) still find what a person
    types, whatever its case, and only that."""
    claim = work["refunded"]
    term = {
        "email": claim.customer_email.upper(),
        "order": claim.order_number,
        "rma": claim.rma_number.lower(),
    }[term]
    log_in(page, live_server, staff["manager"])
    page.goto(f"{live_server.url}{url}")
    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")

    rows = page.locator("#result_list tbody tr")
    assert rows.count() >= 1
    for row in range(rows.count()):
        text = rows.nth(row).inner_text()
        assert claim.order_number in text or claim.customer_email in text or claim.rma_number in text, text
    shoot(page, f"console-search-{name}")
