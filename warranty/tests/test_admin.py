"""The replacements' admin: the list and its query count, the buttons and their errors, and the claim page's
warranty inline and panel."""

import re
from datetime import date
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.urls import reverse

from returns.models import ClaimStatus
from warranty import services
from warranty.admin import warranty_panel
from warranty.models import Replacement, ReplacementKind, ReplacementStatus

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:warranty_replacement_changelist")


def page(replacement):
    return reverse("admin:warranty_replacement_change", args=[replacement.pk])


def act(replacement, action):
    return reverse("admin:warranty_replacement_act", args=[replacement.pk, action])


def page_messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def proposed(warranty_claim, inspector):
    def make(**kwargs):
        claim = warranty_claim(**kwargs)
        item = claim.items.get()
        return services.replacement_propose(claim_item_id=item.pk, by=inspector, kind=ReplacementKind.WHOLE_PRODUCT)

    return make


@pytest.fixture
def shipped(proposed, agent, shipper):
    """``make(n)``: n shipped replacements, each on its own claim."""

    def make(count):
        done = []
        for _ in range(count):
            replacement = proposed(lines=[(f"CAGE-{Replacement.objects.count() + 1:04d}", False)])
            serial = f"NEW-{replacement.pk:05d}"
            services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial=serial)
            done.append(
                services.replacement_ship(
                    replacement_id=replacement.pk, by=shipper, carrier="DHL", tracking_number=f"JD{replacement.pk:08d}"
                )
            )
        return done

    return make


# --- the list ------------------------------------------------------------------------


def test_replacement_list_query_count_does_not_grow_with_rows(client, viewer, shipped, django_assert_num_queries):
    client.force_login(viewer)
    shipped(2)
    with django_assert_num_queries(6) as few:
        assert client.get(CHANGELIST).status_code == 200
    shipped(8)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(CHANGELIST)
    assert response.context["cl"].result_count == 10


def test_replacement_list_shows_the_claim_sku_serials_and_tracking(client, viewer, shipped):
    client.force_login(viewer)
    (replacement,) = shipped(1)

    response = client.get(CHANGELIST)

    text = response.content.decode()
    for shown in (
        replacement.claim.rma_number,
        replacement.claim_item.order_line.product.sku,
        replacement.faulty_serial,
        replacement.replacement_serial,
        f"DHL JD{replacement.pk:08d}",
    ):
        assert shown in text


@pytest.mark.parametrize("field", ["faulty_serial", "replacement_serial", "rma"])
def test_replacement_search_finds_by_serial_or_rma_number(client, viewer, shipped, field):
    client.force_login(viewer)
    wanted, _ = shipped(2)
    term = wanted.claim.rma_number.lower() if field == "rma" else getattr(wanted, field)

    response = client.get(CHANGELIST, {"q": term})

    assert list(response.context["cl"].result_list) == [wanted]


def test_replacement_list_filters_by_status(client, viewer, shipped, proposed):
    client.force_login(viewer)
    shipped(1)
    waiting = proposed()

    response = client.get(CHANGELIST, {"status__exact": "proposed"})

    assert list(response.context["cl"].result_list) == [waiting]


# --- the buttons ---------------------------------------------------------------------


def test_customer_service_sees_approve_and_cancel_on_a_proposed_replacement(client, agent, proposed):
    client.force_login(agent)
    replacement = proposed()

    response = client.get(page(replacement))

    assert [a["transition"].action for a in response.context["replacement_actions"]] == ["approve", "cancel"]
    assert act(replacement, "approve") in response.content.decode()


def test_the_warehouse_sees_only_ship_on_an_approved_replacement(client, shipper, agent, proposed):
    client.force_login(shipper)
    replacement = proposed()
    assert client.get(page(replacement)).context["replacement_actions"] == []
    services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="NEW-1")

    response = client.get(page(replacement))

    assert [a["transition"].action for a in response.context["replacement_actions"]] == ["ship"]


def test_approve_button_approves_with_the_typed_serial(client, agent, proposed):
    client.force_login(agent)
    replacement = proposed()

    response = client.post(
        act(replacement, "approve"), {"replacement_serial": "NEW-1", "kind": "whole_product", "part_description": ""}
    )

    assert response.status_code == 302
    assert response.url == page(replacement)
    replacement.refresh_from_db()
    assert (replacement.status, replacement.replacement_serial) == (ReplacementStatus.APPROVED, "NEW-1")
    assert page_messages(response) == [
        f"Approved with serial NEW-1: it is in {replacement.claim}'s replacement parcel, for the warehouse to ship."
    ]


def test_approve_refused_shows_the_reason_and_keeps_the_typed_serial(client, agent, proposed):
    client.force_login(agent)
    replacement = proposed(inspected=False)

    response = client.post(
        act(replacement, "approve"), {"replacement_serial": "NEW-1", "kind": "whole_product", "part_description": ""}
    )

    assert "received and inspected" in page_messages(response)[0]
    assert Replacement.objects.get().status == ReplacementStatus.PROPOSED
    again = client.get(page(replacement))
    (approve, _) = again.context["replacement_actions"]
    assert {f["name"]: f["value"] for f in approve["fields"]}["replacement_serial"] == "NEW-1"
    assert 'value="NEW-1"' in again.content.decode()


def test_ship_button_replaces_the_claim(client, shipper, agent, proposed):
    client.force_login(shipper)
    replacement = proposed()
    services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="NEW-1")

    response = client.post(act(replacement, "ship"), {"carrier": "DHL", "tracking_number": "JD0146000012345"})

    replacement.refresh_from_db()
    assert replacement.status == ReplacementStatus.SHIPPED
    assert replacement.claim.status == ClaimStatus.REPLACED
    assert "JD0146000012345" in page_messages(response)[0]


def test_the_replacement_page_shows_its_history_in_words(client, viewer, shipped):
    [replacement] = shipped(1)
    client.force_login(viewer)

    html = client.get(page(replacement)).content.decode()

    start = html.rindex("<", 0, html.index('id="events-group"'))
    history = " ".join(re.sub(r"<[^>]+>", " ", unescape(html[start : html.index("</fieldset>", start)])).split())
    assert "Proposed: the whole product. Status: Proposed." in history
    assert f"Approved: serial {replacement.replacement_serial} goes in the replacement parcel." in history
    assert f"Shipped with DHL, tracking JD{replacement.pk:08d}." in history
    assert "Status: Approved → Shipped." in history
    for mark in ("{", "}", "[", "]", "None", "_"):
        assert mark not in history, f"{mark!r} in {history!r}"


def test_finance_posting_approve_is_refused_and_changes_nothing(client, finance_user, proposed):
    client.force_login(finance_user)
    replacement = proposed()

    response = client.post(
        act(replacement, "approve"), {"replacement_serial": "NEW-1", "kind": "whole_product", "part_description": ""}
    )

    assert "permission" in page_messages(response)[0]
    replacement.refresh_from_db()
    assert (replacement.status, replacement.replacement_serial) == (ReplacementStatus.PROPOSED, "")


def test_an_action_by_get_is_refused(client, agent, proposed):
    client.force_login(agent)
    replacement = proposed()

    assert client.get(act(replacement, "approve")).status_code == 403
    assert Replacement.objects.get().status == ReplacementStatus.PROPOSED


# --- the claim page ---------------------------------------------------------------------


def test_claim_page_lists_its_replacements(client, agent, shipped):
    client.force_login(agent)
    (replacement,) = shipped(1)

    response = client.get(reverse("admin:returns_claim_change", args=[replacement.claim_id]))

    text = response.content.decode()
    assert reverse("admin:warranty_replacement_change", args=[replacement.pk]) in text
    assert replacement.replacement_serial in text
    assert f"DHL JD{replacement.pk:08d}" in text


def test_warranty_panel_shows_the_claims_flags(warranty_claim):
    claim = warranty_claim(lines=[("CAGE-1001", False)], serial="CAGE-7777")

    title, lines = warranty_panel(claim)

    assert title == "Warranty coverage"
    assert lines == [
        f"{claim.items.get().order_line.product.sku}: serial CAGE-7777 is not on order {claim.order_number}, "
        "nor on any order we know."
    ]
    html = render_to_string("admin/returns/claim/extra_panels.html", {"extra_panels": [(title, lines)]})
    assert "Warranty coverage" in html
    assert "serial CAGE-7777 is not on order" in html


def test_warranty_panel_says_nothing_to_flag(warranty_claim):
    claim = warranty_claim()

    html = render_to_string("admin/returns/claim/extra_panels.html", {"extra_panels": [warranty_panel(claim)]})

    assert warranty_panel(claim) == ("Warranty coverage", [])
    assert "Nothing to flag." in html


def test_no_warranty_panel_on_a_claim_of_another_type(warranty_claim):
    claim = warranty_claim()
    claim.claim_type, claim.doa_reason = "doa", "quality_issue"

    assert warranty_panel(claim) is None


def test_a_received_date_changes_the_flags(warranty_claim):
    claim = warranty_claim(received_days_ago=30)
    claim.order.received_on = date(2020, 1, 1)
    claim.order.save()

    (_, lines) = warranty_panel(claim)

    assert "outside its 2-year warranty" in lines[0]


def test_claim_page_shows_the_warranty_panel(client, agent, warranty_claim):
    claim = warranty_claim(lines=[("CAGE-1001", False)], serial="CAGE-7777")
    client.force_login(agent)

    html = client.get(reverse("admin:returns_claim_change", args=[claim.pk])).content.decode()

    assert "Warranty coverage" in html
    assert "serial CAGE-7777 is not on order" in html
