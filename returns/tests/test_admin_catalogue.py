"""The admin shows what is not known as such: a product's category, a claim's, an order's received date; and
what the store did to the order. The category is set from the product list's actions and the claim page."""

import datetime
import re
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from returns import services
from returns.models import Claim, ClaimAction, ClaimEvent, Product, ProductEvent, ReceivedDateSource
from returns.tests.factories import ClaimItemFactory, OrderFactory, OrderLineFactory, ProductFactory
from returns.tests.test_admin import page_messages
from returns.tests.test_services import add_whole_package_photo, days_ago, new_claim

pytestmark = pytest.mark.django_db

PRODUCTS = reverse("admin:returns_product_changelist")
CLAIMS = reverse("admin:returns_claim_changelist")


def text_of(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def claim_url(claim):
    return reverse("admin:returns_claim_change", args=[claim.pk])


RECENTLY = object()


def claim_on(product, cs, *, received_on=RECENTLY, photo=True, **order):
    order = OrderFactory(received_on=days_ago(3) if received_on is RECENTLY else received_on, **order)
    OrderLineFactory(order=order, product=product)
    claim = new_claim(cs, order)
    if photo:
        add_whole_package_photo(claim)
    return claim


def filter_labels(response, title: str) -> list[str]:
    [spec] = [spec for spec in response.context["cl"].filter_specs if spec.title == title]
    return [str(choice["display"]) for choice in spec.choices(response.context["cl"])]


# --- the product list ---------------------------------------------------------------------------


def test_product_list_shows_each_category_in_words_and_filters_unknown_first(client, manager):
    ProductFactory(sku="A-1", is_electronic=True)
    ProductFactory(sku="B-2", is_electronic=False)
    ProductFactory(sku="C-3", is_electronic=None)
    client.force_login(manager)

    response = client.get(PRODUCTS)
    unknown_only = client.get(PRODUCTS, {"is_electronic__isnull": "True"})

    rows = [" ".join(row.split()) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", response.content.decode(), re.S)]
    assert any("A-1" in row and ">electronic<" in row for row in rows)
    assert any("B-2" in row and ">not electronic<" in row for row in rows)
    assert any("C-3" in row and ">unknown<" in row for row in rows)
    assert filter_labels(response, "electronic product") == ["All", "unknown", "electronic", "not electronic"]
    assert [p.sku for p in unknown_only.context["cl"].result_list] == ["C-3"]


def test_mark_as_electronic_sets_unknown_categories_and_says_how_many_claims_changed(client, cs):
    first, second = ProductFactory(is_electronic=None), ProductFactory(is_electronic=None)
    claim = claim_on(first, cs)
    client.force_login(cs)

    response = client.post(
        PRODUCTS, {"action": "mark_electronic", "_selected_action": [first.pk, second.pk]}, follow=True
    )

    assert set(Product.objects.values_list("is_electronic", flat=True)) == {True}
    assert Claim.objects.get(pk=claim.pk).is_electronic is True
    [message] = page_messages(response)
    assert message.startswith(f"2 products marked electronic ({first.sku}, {second.sku}).")
    assert f"1 open claim changed category: {claim} is electronic." in message


def test_mark_as_not_electronic_on_a_known_category_asks_for_a_reason_first(client, cs):
    product = ProductFactory(sku="MON-7", is_electronic=True)
    client.force_login(cs)
    data = {"action": "mark_not_electronic", "_selected_action": [product.pk]}

    asked = client.post(PRODUCTS, data)
    blank = client.post(PRODUCTS, {**data, "reason": " "})
    done = client.post(PRODUCTS, {**data, "reason": "It has no battery"}, follow=True)

    assert asked.status_code == 200 and "MON-7" in text_of(asked) and 'name="reason"' in asked.content.decode()
    assert "Write why the category changes" in text_of(blank)
    assert Product.objects.get(pk=product.pk).is_electronic is False
    assert ProductEvent.objects.get(product=product).payload["reason"] == "It has no battery"
    assert page_messages(done)[0].startswith("1 product marked not electronic (MON-7).")


def test_mark_as_electronic_is_refused_with_the_services_words_after_an_approval(client, cs):
    product = ProductFactory(is_electronic=False)
    claim = services.claim_approve(claim_id=claim_on(product, cs).pk, by=cs)
    client.force_login(cs)

    response = client.post(
        PRODUCTS,
        {"action": "mark_electronic", "_selected_action": [product.pk], "reason": "datasheet"},
        follow=True,
    )

    assert Product.objects.get(pk=product.pk).is_electronic is False
    assert f"({product.sku}: {claim.rma_number} / #{claim.pk})" in page_messages(response)[0]
    assert "only a manager" in page_messages(response)[0]


def test_warehouse_is_offered_no_category_action_and_its_post_changes_nothing(client, warehouse_user):
    product = ProductFactory(is_electronic=None)
    client.force_login(warehouse_user)

    listed = client.get(PRODUCTS)
    client.post(PRODUCTS, {"action": "mark_electronic", "_selected_action": [product.pk]})

    assert "mark_electronic" not in listed.content.decode()
    assert Product.objects.get(pk=product.pk).is_electronic is None


def test_the_product_form_shows_the_category_read_only_and_a_post_does_not_change_it(client, manager):
    product = ProductFactory(sku="CAGE-A7", name="Cage", is_electronic=None)
    client.force_login(manager)
    url = reverse("admin:returns_product_change", args=[product.pk])

    page = client.get(url)
    client.post(
        url,
        {
            "sku": "CAGE-A7",
            "name": "Cage A7",
            "is_electronic": "true",
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
    )

    assert "category" in page.context["adminform"].readonly_fields
    product.refresh_from_db()
    assert product.name == "Cage A7" and product.is_electronic is None


def test_a_product_added_with_its_category_has_it_set_through_the_service(client, manager):
    client.force_login(manager)

    client.post(
        reverse("admin:returns_product_add"),
        {
            "sku": "MON-9",
            "name": "Monitor 9",
            "is_electronic": "true",
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
    )

    product = Product.objects.get(sku="MON-9")
    assert product.is_electronic is True
    [event] = ProductEvent.objects.filter(product=product)
    assert event.actor == manager and event.payload["reason"] == "entered with the new product"


# --- the claim page: a product of unknown category ----------------------------------------------


def test_claim_page_asks_to_set_an_unknown_category_with_two_buttons(client, cs):
    claim = claim_on(ProductFactory(sku="SR-1195", is_electronic=None), cs)
    client.force_login(cs)

    response = client.get(claim_url(claim))

    html, words = response.content.decode(), text_of(response)
    assert "Set the category of SR-1195 before the policy can judge this claim" in words
    assert f'action="{reverse("admin:returns_claim_category", args=[claim.pk])}"' in html
    assert 'name="electronic" value="yes"' in html and 'name="electronic" value="no"' in html
    assert "SR-1195 is electronic" in words and "SR-1195 is not electronic" in words
    assert response.context["review"].judgement is None


def test_setting_the_category_from_the_claim_page_shows_the_verdict(client, cs):
    product = ProductFactory(sku="SR-1195", is_electronic=None)
    claim = claim_on(product, cs)
    client.force_login(cs)

    response = client.post(
        reverse("admin:returns_claim_category", args=[claim.pk]),
        {"product": product.pk, "electronic": "yes"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == claim_url(claim)
    assert Product.objects.get(pk=product.pk).is_electronic is True
    assert Claim.objects.get(pk=claim.pk).is_electronic is True
    assert "Set the category of" not in text_of(response)
    review = response.context["review"]
    assert review.judgement is not None and review.judgement.eligible
    assert "electronic products' 30-day no-reason return window" in text_of(response)
    assert page_messages(response)[0].startswith("1 product marked electronic (SR-1195).")
    event = ClaimEvent.objects.filter(claim=claim, action=ClaimAction.CATEGORY_SET).get()
    assert event.payload["reason"] == f"set on the page of {claim}"


def test_warehouse_sees_the_unknown_category_without_the_buttons(client, cs, warehouse_user):
    claim = claim_on(ProductFactory(sku="SR-1195", is_electronic=None), cs)
    client.force_login(warehouse_user)

    response = client.get(claim_url(claim))
    refused = client.post(
        reverse("admin:returns_claim_category", args=[claim.pk]),
        {"product": claim.items.get().order_line.product_id, "electronic": "no"},
        follow=True,
    )

    assert "Set the category of SR-1195" in text_of(response)
    assert 'name="electronic"' not in response.content.decode()
    assert "Ask customer service or a manager to set it." in text_of(response)
    assert "permission" in page_messages(refused)[0]
    assert Claim.objects.get(pk=claim.pk).is_electronic is None


def test_the_claim_page_sets_only_a_product_of_that_claim(client, cs):
    claim = claim_on(ProductFactory(is_electronic=None), cs)
    other = ProductFactory(is_electronic=None)
    client.force_login(cs)

    response = client.post(
        reverse("admin:returns_claim_category", args=[claim.pk]), {"product": other.pk, "electronic": "yes"}
    )

    assert response.status_code == 404
    assert Product.objects.get(pk=other.pk).is_electronic is None


# --- the claim list -----------------------------------------------------------------------------------


def cell(row: str, field: str) -> str:
    """A list cell's text by its column (the theme adds its own classes after ``field-<name>``)."""
    return re.search(rf'<td class="field-{field}[ "][^>]*>(.*?)</td>', row).group(1).strip()


def test_order_list_shows_the_received_date_as_the_claim_list_does(client, cs):
    unknown = OrderFactory(received_on=None, number="SO-UNKNOWN")
    known = OrderFactory(received_on=datetime.date(2026, 11, 21), received_on_source=ReceivedDateSource.STORE)
    client.force_login(cs)

    page = client.get(reverse("admin:returns_order_changelist")).content.decode()

    rows = {
        order: " ".join(row.split())
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)
        for order in (unknown, known)
        if f"{order.number}<" in row
    }
    assert cell(rows[unknown], "received") == "unknown"
    assert " ".join(re.sub(r"<[^>]+>", " ", cell(rows[known], "received")).split()) == (
        "21 Nov 2026 the store&#x27;s export"
    )
    assert 'title="21 Nov 2026 (the store&#x27;s export; company calendar, Asia/Shanghai)"' in rows[known]


def test_claim_list_shows_unknown_category_and_received_date_and_filters_them(client, cs):
    unknown = claim_on(ProductFactory(is_electronic=None), cs, received_on=None, number="SO-UNKNOWN")
    known = claim_on(ProductFactory(is_electronic=False), cs, received_on=datetime.date(2026, 11, 21))
    known.order.received_on_source = ReceivedDateSource.CARRIER
    known.order.save()
    client.force_login(cs)

    response = client.get(CLAIMS)
    by_category = client.get(CLAIMS, {"is_electronic__isnull": "True"})
    by_date = client.get(CLAIMS, {"order__received_on__isnull": "True"})

    rows = {
        claim: " ".join(row.split())
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", response.content.decode(), re.S)
        for claim in (unknown, known)
        if f"{claim.order.number}<" in row
    }
    assert cell(rows[unknown], "electronic") == "unknown"
    assert cell(rows[unknown], "received_on") == "unknown"
    assert cell(rows[known], "electronic") == "not electronic"
    # The day and its source in the cell, the whole sentence with the calendar as its tooltip.
    assert " ".join(re.sub(r"<[^>]+>", " ", cell(rows[known], "received_on")).split()) == (
        "21 Nov 2026 the carrier&#x27;s delivery event"
    )
    assert 'title="21 Nov 2026 (the carrier&#x27;s delivery event; company calendar, Asia/Shanghai)"' in rows[known]
    assert [c.pk for c in by_category.context["cl"].result_list] == [unknown.pk]
    assert [c.pk for c in by_date.context["cl"].result_list] == [unknown.pk]
    assert filter_labels(response, "electronic")[:2] == ["All", "unknown"]
    assert filter_labels(response, "received date")[:2] == ["Any date", "unknown"]


# --- the received date on the claim page ---------------------------------------------------------------


def test_an_unknown_received_date_says_what_to_ask_for_and_links_its_form(client, cs):
    claim = claim_on(ProductFactory(is_electronic=False), cs, received_on=None)
    client.force_login(cs)

    response = client.get(claim_url(claim))

    words = text_of(response)
    assert (
        f"Order {claim.order.number} has no received date. Ask the customer for the delivery date and a proof: the "
        "carrier's delivery email or a photo of the tracking page; then record it with its source "
        "(Change received date)." in words
    )
    form_url = reverse("admin:returns_order_received_date", args=[claim.order_id])
    assert f'href="{form_url}?next={claim_url(claim)}" id="verdict-change-received-date"' in response.content.decode()
    assert "received date unknown · Change received date" in words


def test_a_known_received_date_is_shown_with_its_source_in_the_verdict(client, cs):
    claim = claim_on(ProductFactory(is_electronic=False), cs, received_on=days_ago(3))
    services.order_set_received_on(
        order_id=claim.order_id,
        by=cs,
        received_on=days_ago(4),
        source=ReceivedDateSource.CUSTOMER_PROOF,
        reason="photo of the tracking page",
    )
    client.force_login(cs)

    words = text_of(client.get(claim_url(claim)))

    day = f"{days_ago(4):%d %b %Y}"
    assert f"Counted from the received date: {day} (the customer's proof; company calendar, Asia/Shanghai)." in words
    assert f"received on {day} (the customer's proof; company calendar, Asia/Shanghai) · Change received date" in words


# --- the store's side -----------------------------------------------------------------------------------


def store_touched_claim(cs):
    product = ProductFactory(sku="SR-1195", is_electronic=False)
    order = OrderFactory(
        received_on=days_ago(3),
        cancelled_at=timezone.now() - datetime.timedelta(hours=2),
        store_refunded_total=Decimal("30.00"),
        note="Gift wrap <b>please</b>\nLeave at the door",
    )
    line = OrderLineFactory(
        order=order, product=product, quantity=2, store_refunded_quantity=1, store_refunded_amount=Decimal("10.00")
    )
    OrderLineFactory(order=order, product=ProductFactory(is_electronic=False))
    claim = ClaimItemFactory(claim__order=order, order_line=line).claim
    return claim


def test_order_page_shows_the_stores_cancellation_refunds_and_note_escaped(client, cs):
    claim = store_touched_claim(cs)
    client.force_login(cs)

    response = client.get(reverse("admin:returns_order_change", args=[claim.order_id]))

    html, words = response.content.decode(), text_of(response)
    assert "Cancelled by the store on" in words and "nothing of the order can be returned or refunded" in words
    assert "The store refunded 30.00 USD of the order in all." in words
    assert "SR-1195: the store refunded 1 unit, 10.00 USD." in words
    assert "Gift wrap &lt;b&gt;please&lt;/b&gt;<br>Leave at the door" in html
    assert "<b>please</b>" not in html


def test_claim_page_shows_the_stores_side_and_the_ledger_says_each_order_note_once(client, cs):
    claim = store_touched_claim(cs)
    ClaimItemFactory(claim=claim, order_line=claim.order.lines.order_by("pk")[1])  # both lines claimed
    client.force_login(cs)

    response = client.get(claim_url(claim))

    words = text_of(response)
    assert "The store's side" in words and "The store refunded 30.00 USD of the order in all." in words
    assert "&lt;b&gt;please" in response.content.decode()
    notes = response.context["ledger_notes"]
    assert notes.count(f"The store refunded 30.00 USD of order {claim.order.number} in all.") == 1
    assert notes.count(f"Order {claim.order.number} was cancelled by the store: nothing of it is refundable.") == 1


def test_claim_page_has_no_store_panel_when_the_store_did_nothing(client, cs):
    claim = claim_on(ProductFactory(is_electronic=False), cs)
    client.force_login(cs)

    response = client.get(claim_url(claim))

    assert 'id="store-state"' not in response.content.decode()
