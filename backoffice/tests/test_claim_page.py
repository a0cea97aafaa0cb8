"""The claim page: header and stepper, one timeline in words, no empty sections, a bounded number of queries."""

import re

import pytest

from backoffice import claim_page
from backoffice.tests.test_browser_history import a_claim_with_a_history
from inspections.tests.conftest import requested_claim
from refunds.tests.conftest import finance_user, returnless_claim
from returns import services
from returns.models import ClaimEvent
from returns.tests.factories import ROLES, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


@pytest.fixture
def manager(django_user_model):
    return staff_user(django_user_model, "boss", ROLES["manager"])


@pytest.fixture
def history(django_user_model, cs):
    """A claim's whole life, refunded by hand: (claim, refund). The refund's task runs on commit: the tests that
    use it commit (``transaction=True``)."""
    warehouse = staff_user(django_user_model, "picker", ROLES["warehouse"])
    claim, refund = a_claim_with_a_history(cs, warehouse, finance_user(django_user_model, "payer"))
    claim.refresh_from_db()
    return claim, refund


def steps(claim) -> list[tuple[str, str]]:
    events = list(ClaimEvent.objects.filter(claim=claim).order_by("id"))
    return [(step.label, step.state) for step in claim_page.stepper(claim, events)]


def test_a_new_claim_is_at_its_first_step(cs):
    claim = requested_claim(cs)

    assert steps(claim) == [
        ("Requested", "current"),
        ("Approved", "todo"),
        ("Shipped", "todo"),
        ("Inspected", "todo"),
        ("Refunded", "todo"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_refunded_claim_has_every_step_done_with_its_moment(history):
    claim, _ = history

    events = list(ClaimEvent.objects.filter(claim=claim).order_by("id"))
    stepper = claim_page.stepper(claim, events)

    assert [(s.label, s.state) for s in stepper] == [
        ("Requested", "done"),
        ("Approved", "done"),
        ("Shipped", "done"),
        ("Inspected", "done"),
        ("Refunded", "done"),
    ]
    assert all(step.when for step in stepper)


def test_a_rejected_claim_ends_where_it_was_rejected(cs):
    claim = services.claim_reject(claim_id=requested_claim(cs).pk, by=cs, reason="Outside the window.")

    assert steps(claim) == [("Requested", "done"), ("Rejected", "ended")]


def test_a_claim_cancelled_after_approval_shows_its_approval_then_the_end(cs):
    claim = services.claim_approve(claim_id=requested_claim(cs).pk, by=cs)
    claim = services.claim_cancel(claim_id=claim.pk, by=cs, reason="The customer kept it.")

    assert steps(claim) == [("Requested", "done"), ("Approved", "done"), ("Cancelled", "ended")]


def test_a_warranty_claim_ends_replaced_and_a_returnless_one_skips_the_parcel(cs):
    warranty = requested_claim(cs, claim_type="warranty")
    returnless = returnless_claim()

    assert steps(warranty)[-1] == ("Replaced", "todo")
    assert steps(returnless)[2:] == [("Shipped", "skipped"), ("Inspected", "skipped"), ("Refunded", "todo")]


def test_awaiting_the_customer_is_still_the_request_step_with_a_note(cs):
    claim = services.claim_ask_for_information(claim_id=requested_claim(cs).pk, by=cs, message="Which colour?")
    events = list(ClaimEvent.objects.filter(claim=claim).order_by("id"))

    first = claim_page.stepper(claim, events)[0]

    assert (first.label, first.state, first.note) == ("Requested", "current", "awaiting the customer")


@pytest.mark.django_db(transaction=True)
def test_the_timeline_tells_events_emails_and_refunds_in_words_oldest_first(client, history, manager):
    claim, refund = history
    client.force_login(manager)

    response = client.get(f"/admin/returns/claim/{claim.pk}/change/")

    timeline = response.context["timeline"]
    assert [entry.at for entry in timeline] == sorted(entry.at for entry in timeline)
    kinds = {entry.kind for entry in timeline}
    assert {"event", "email_out", "refund"} <= kinds
    words = " ".join(str(entry.words) for entry in timeline)
    assert f"Approved: {claim.rma_number} given." in words
    assert f"Refund {refund.pk}: Manual payment recorded, reference BANK-2026-1127." in words
    assert "Email to the customer: “" in words
    text = re.sub(r"<[^>]+>", " ", words)
    assert not re.search(r"[{}\[\]]|None|[a-z]_[a-z]", text), text


def test_the_page_has_a_header_with_number_type_status_and_stepper(client, cs):
    claim = services.claim_approve(claim_id=requested_claim(cs).pk, by=cs)
    client.force_login(cs)

    html = client.get(f"/admin/returns/claim/{claim.pk}/change/").content.decode()

    header = html.split('id="claim-header"', 1)[1].split("</section>", 1)[0]
    assert 'id="claim-number"' in header and claim.rma_number in header
    assert ">Approved</span>" in header and "No-reason return" in header
    assert re.search(
        r'class="step step-current" aria-current="step">\s*<span[^>]*></span>\s*'
        r'<span class="step-label">Approved</span>',
        header,
    )


def test_a_new_claims_page_has_no_empty_section(client, cs):
    claim = requested_claim(cs)
    client.force_login(cs)

    html = client.get(f"/admin/returns/claim/{claim.pk}/change/").content.decode()

    # no table of parcels, inspections, refunds, replacements or unmatched parcels: the claim has none
    for empty in ("return_parcel-group", "inspections-group", "refunds-group", "replacements-group"):
        assert f'id="{empty}"' not in html
    assert "Nothing recorded yet" not in html
    # no blank decision rows: no reason was given for anything yet
    for blank in ("field-returnless_reason", "field-rejection_reason", "field-window_override_reason"):
        assert blank not in html
    assert 'id="claim-order"' in html and claim.order.number in html


@pytest.mark.django_db(transaction=True)
def test_the_claim_pages_queries_do_not_grow_with_its_history(client, history, cs, manager):
    """A short history and a long one (a refund with its steps, emails) cost the same number of queries."""
    short = requested_claim(cs)
    long, _ = history
    client.force_login(manager)
    client.get(f"/admin/returns/claim/{short.pk}/change/")  # warm the content types and the permissions' cache

    def queries(claim) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/admin/returns/claim/{claim.pk}/change/").status_code == 200
        return len(captured)

    few, many = queries(short), queries(long)
    # Pinned (issue 17): the claim and its items with their lines read once for the page (review, ledger,
    # panels, Django's own form), the lines' ledgers once; one query per history source and panel; one query
    # asks which related tables have a row, and only those are read (backoffice/admin.py get_inlines).
    # The long history adds only the tables that have rows (return parcel, inspection, refund) and never a
    # query per event, email or step.
    assert (few, many) == (24, 28)
    assert many - few <= 4, (few, many)  # the parcel's, the inspections' and the refunds' tables, shown once rows exist
