import datetime
import io
import re
import uuid
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from core import events
from returns import services
from returns.instants import format_instant
from returns.models import (
    Claim,
    ClaimItem,
    ClaimStatus,
    ClaimType,
    DoaReason,
    Evidence,
    OrderAction,
    OrderEvent,
    OutboundEmail,
)
from returns.tests.factories import ClaimFactory, ClaimItemFactory, OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:returns_claim_changelist")


def png(name="package.png", size=(40, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, "orange").save(out, "PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


def new_claim(cs, **kwargs):
    line = OrderLineFactory(**kwargs)
    return services.claim_create(
        order=line.order,
        claim_type=ClaimType.NO_REASON,
        description="Changed my mind",
        order_line_ids=[line.pk],
        by=cs,
    )


def page_messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def claim_page(client, claim):
    return client.get(reverse("admin:returns_claim_change", args=[claim.pk]))


# --- the list -------------------------------------------------------------


def test_claim_list_query_count_does_not_grow_with_rows(client, cs, django_assert_num_queries):
    client.force_login(cs)
    ClaimItemFactory.create_batch(3)
    # session, user, 2 permission loads, the sidebar's queue badges (one query, backoffice/navigation.py), the row estimate or bounded count, the rows
    with django_assert_num_queries(7) as few:
        assert client.get(CHANGELIST).status_code == 200
    ClaimItemFactory.create_batch(40)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(CHANGELIST)
    assert response.context["cl"].result_count == 43


@pytest.mark.parametrize("params", [{}, {"status__exact": "approved"}])
def test_claim_list_runs_no_count_over_the_whole_table(client, cs, params, django_assert_num_queries):
    client.force_login(cs)
    ClaimFactory.create_batch(3, status=ClaimStatus.APPROVED)
    # session, user, 2 permission loads, the sidebar's queue badges (one query, backoffice/navigation.py), the row estimate or bounded count, the rows
    with django_assert_num_queries(7) as captured:
        client.get(CHANGELIST, params)
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"]]
    # every count the page runs stops at a LIMIT: none reads the whole table
    assert counts and all("LIMIT" in sql for sql in counts)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "approved"}, {"approved-doa"}),
        ({"claim_type__exact": "warranty"}, {"old-warranty"}),
        ({"is_electronic__exact": "1"}, {"old-warranty"}),
    ],
)
def test_claim_list_filters(client, cs, params, expected):
    client.force_login(cs)
    ClaimFactory(description="approved-doa", status=ClaimStatus.APPROVED, claim_type=ClaimType.DOA, doa_reason="damage")
    ClaimFactory(description="old-warranty", claim_type=ClaimType.WARRANTY, is_electronic=True)
    ClaimFactory(description="plain")
    response = client.get(CHANGELIST, params)
    assert {claim.description for claim in response.context["cl"].result_list} == expected


def test_claims_to_answer_are_listed_most_urgent_first_with_their_clock(client, cs):
    # given claims whose first response is due at different times, one overdue, and two answered
    client.force_login(cs)
    now = timezone.now()
    ClaimFactory(description="due-later", first_response_due_at=now + datetime.timedelta(hours=20))
    ClaimFactory(description="overdue", first_response_due_at=now - datetime.timedelta(hours=2, minutes=5))
    ClaimFactory(description="due-soon", first_response_due_at=now + datetime.timedelta(hours=3))
    ClaimFactory(description="answered", first_response_due_at=None, first_response_met=True)
    ClaimFactory(description="answered-late", first_response_due_at=None, first_response_met=False)

    # when customer service opens its queue (the sidebar's "Claims to answer")
    response = client.get(CHANGELIST, {"first_response": "waiting"})

    # then the most urgent comes first, each with its clock in a few words, the overdue one in red
    assert [claim.description for claim in response.context["cl"].result_list] == ["overdue", "due-soon", "due-later"]
    rows = unescape(response.content.decode())
    assert re.search(r'<span class="problem">overdue by 2 h 0[45] min</span>', rows)
    assert re.search(r"2 h 5[89] min left|3 h 00 min left", rows) and "19 h 59 min left" in rows
    # the whole list stays newest first, and says how the answered ones went
    everything = client.get(CHANGELIST)
    assert [claim.description for claim in everything.context["cl"].result_list][:2] == ["answered-late", "answered"]
    assert "answered late" in everything.content.decode() and "answered in time" in everything.content.decode()
    # a column the person sorts by still wins: the queue by order number when asked
    asked = client.get(CHANGELIST, {"first_response": "waiting", "o": "1"})
    assert [claim.description for claim in asked.context["cl"].result_list] == ["due-later", "overdue", "due-soon"]


def test_an_empty_list_says_why_in_words(client, cs):
    client.force_login(cs)
    ClaimFactory(description="answered", first_response_due_at=None)

    queue = unescape(client.get(CHANGELIST, {"first_response": "waiting"}).content.decode())
    search = unescape(client.get(CHANGELIST, {"q": "RMA-1999-000001"}).content.decode())
    filtered = unescape(client.get(CHANGELIST, {"status__exact": "shipped"}).content.decode())

    assert "All caught up" in queue and "Nothing is waiting in Claims to answer." in queue
    assert "Nothing found for “RMA-1999-000001”" in search
    assert "Nothing matches these filters" in filtered and "No claims match this list's filters." in filtered
    for page in (queue, search, filtered):
        assert "Show all claims" in page and "yielded into no results" not in page


def test_claim_list_filters_by_received_date(client, cs):
    client.force_login(cs)
    today = timezone.localdate()
    ClaimFactory(description="recent", order=OrderFactory(received_on=today))
    ClaimFactory(description="old", order=OrderFactory(received_on=today - datetime.timedelta(days=90)))
    response = client.get(CHANGELIST, {"order__received_on__gte": str(today - datetime.timedelta(days=6))})
    assert [claim.description for claim in response.context["cl"].result_list] == ["recent"]


@pytest.mark.parametrize("term", ["rma-2026-000042", "SO-777", "Jane@Example.com"])
def test_claim_search_finds_by_rma_order_or_email(client, cs, term):
    client.force_login(cs)
    wanted = ClaimFactory(
        rma_number="RMA-2026-000042",
        status=ClaimStatus.APPROVED,
        order=OrderFactory(number="SO-777", customer_email="jane@example.com"),
        customer_email="jane@example.com",
    )
    ClaimFactory()
    response = client.get(CHANGELIST, {"q": term})
    assert list(response.context["cl"].result_list) == [wanted]


def test_claim_search_can_use_an_index(client, cs):
    client.force_login(cs)
    ClaimFactory.create_batch(5)
    response = client.get(CHANGELIST, {"q": "SO-1"})
    queryset = response.context["cl"].queryset
    with connection.cursor() as cursor:
        # statistics of these five claims, not of whatever earlier tests committed and autovacuum read
        cursor.execute("ANALYZE")
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    assert "Seq Scan" not in plan, plan
    # one index lookup per searched column (backoffice/search.py); which of the RMA number's two indexes
    # (unique, ``_like``) and how the claims are then read is the planner's choice
    for column in ("rma_number", "order_number", "customer_email", "tracking_number", "serial_number"):
        assert f"Index Cond: (({column})" in plan, (column, plan)


# --- the claim page -------------------------------------------------------


def test_claim_page_shows_verdict_buttons_and_history(client, cs):
    claim = new_claim(cs)
    client.force_login(cs)
    response = claim_page(client, claim)
    html = response.content.decode()
    assert "Eligible: claim made" in html
    assert "No photo of the whole package is attached" in html
    # the upload's help in the words its refusals use (returns.uploads.EVIDENCE)
    assert "JPEG, PNG, WebP or HEIC photos, or MP4 or MOV videos." in html
    assert [a["transition"].action for a in response.context["claim_actions"]] == [
        "ask_for_information",
        "resolve",
        "approve",
        "reject",
        "cancel",
    ]
    assert "create" in html  # the history inline


def test_claim_page_shows_expired_window_with_days(client, cs):
    claim = new_claim(cs, order=OrderFactory(received_on=timezone.localdate() - datetime.timedelta(days=60)))
    client.force_login(cs)
    html = claim_page(client, claim).content.decode()
    assert "Expired: the 45-day no-reason return window ended on" in html
    assert "15 days before the claim was made" in html


def test_warehouse_sees_the_claim_but_no_buttons(client, cs, warehouse_user):
    claim = new_claim(cs)
    client.force_login(warehouse_user)
    response = claim_page(client, claim)
    assert response.status_code == 200
    assert response.context["claim_actions"] == []
    assert not response.context["can_add_evidence"]


def test_approve_from_the_page_gives_rma_number(client, cs):
    claim = new_claim(cs)
    client.force_login(cs)
    client.post(
        reverse("admin:returns_claim_evidence", args=[claim.pk]), {"files": [png()], "shows_whole_package": "on"}
    )
    response = client.post(reverse("admin:returns_claim_act", args=[claim.pk, "approve"]), follow=True)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert f"Approved: {claim.rma_number}." in " ".join(page_messages(response))
    assert claim.rma_number in response.content.decode()


def test_refused_approval_explains_why_and_changes_nothing(client, cs):
    claim = new_claim(cs)
    client.force_login(cs)
    response = client.post(reverse("admin:returns_claim_act", args=[claim.pk, "approve"]), follow=True)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED
    assert any("No photo of the whole package" in message for message in page_messages(response))


def test_rejection_without_reason_is_refused_with_a_message(client, cs):
    claim = new_claim(cs)
    client.force_login(cs)
    response = client.post(reverse("admin:returns_claim_act", args=[claim.pk, "reject"]), {"reason": "  "}, follow=True)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED
    assert "Write the reason the customer will read." in page_messages(response)


def test_illegal_action_is_explained(client, cs):
    claim = new_claim(cs)
    client.force_login(cs)
    client.post(reverse("admin:returns_claim_act", args=[claim.pk, "cancel"]), {"reason": "customer asked"})
    response = client.post(
        reverse("admin:returns_claim_act", args=[claim.pk, "reject"]), {"reason": "a long explanation"}, follow=True
    )
    assert any("A claim that is cancelled cannot be rejected" in m for m in page_messages(response))
    assert Claim.objects.get(pk=claim.pk).events.filter(action="cancel").count() == 1


def test_refused_approval_gives_back_the_typed_reason(client, cs):
    line = OrderLineFactory()
    claim = services.claim_create(
        order=line.order,
        claim_type=ClaimType.DOA,
        doa_reason=DoaReason.MISSING_ITEM,
        description="The battery was not in the box",
        order_line_ids=[line.pk],
        by=cs,
    )
    client.force_login(cs)
    client.post(
        reverse("admin:returns_claim_act", args=[claim.pk, "approve"]),
        {"returnless_reason": "Nothing to send back: the item never arrived"},
    )
    response = claim_page(client, claim)
    approve = next(a for a in response.context["claim_actions"] if a["transition"].action == "approve")
    assert approve["fields"] == [
        {
            "name": "returnless_reason",
            "label": "Approve without a return because… (missing item only)",
            "required": False,
            "value": "Nothing to send back: the item never arrived",
        }
    ]
    assert "Nothing to send back: the item never arrived</textarea>" in response.content.decode()


def test_upload_names_the_refused_file_and_keeps_the_good_one(client, cs):
    claim = new_claim(cs)
    client.force_login(cs)
    bad = SimpleUploadedFile("notes.jpg", b"this is text, not a photo", content_type="image/jpeg")
    response = client.post(
        reverse("admin:returns_claim_evidence", args=[claim.pk]),
        {"files": [png(), bad], "shows_whole_package": "on"},
        follow=True,
    )
    shown = page_messages(response)
    assert "Stored “package.png”." in shown
    assert any(message.startswith("Not stored: “notes.jpg”") for message in shown)
    assert list(Evidence.objects.filter(claim=claim).values_list("original_name", flat=True)) == ["package.png"]


# --- a new claim ------------------------------------------------------------


def create_form_data(line, **overrides):
    data = {
        "order_number": line.order.number,
        "submission_key": str(uuid.uuid4()),
        f"units_{line.pk}": line.quantity,
        "claim_type": ClaimType.DOA,
        "doa_reason": DoaReason.DAMAGE,
        "description": "Arrived scratched",
        "serial_number": "",
        "submitted_at": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"),
    }
    return {**data, **overrides}


def test_new_claim_finds_the_order_and_creates_the_claim_with_photos(client, cs):
    line = OrderLineFactory(product=ProductFactory(sku="CAGE-1"))
    client.force_login(cs)
    add = reverse("admin:returns_claim_add")
    assert "CAGE-1" in client.get(add, {"order": line.order.number}).content.decode()
    response = client.post(add, {**create_form_data(line), "files": [png()], "shows_whole_package": "on"}, follow=True)
    claim = Claim.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:returns_claim_change", args=[claim.pk])
    assert claim.doa_reason == DoaReason.DAMAGE
    assert claim.evidence.get().shows_whole_package


def test_new_claim_for_unknown_order_says_so(client, cs):
    client.force_login(cs)
    response = client.get(reverse("admin:returns_claim_add"), {"order": "NOPE-1"})
    assert "No order NOPE-1" in response.content.decode()


def test_new_claim_with_missing_reason_keeps_the_form(client, cs):
    line = OrderLineFactory()
    client.force_login(cs)
    response = client.post(reverse("admin:returns_claim_add"), create_form_data(line, doa_reason=""))
    assert Claim.objects.count() == 0
    assert "A DOA claim needs its reason" in response.content.decode()
    assert "Arrived scratched" in response.content.decode()


def test_double_submitted_claim_is_created_once(client, cs):
    line = OrderLineFactory()
    client.force_login(cs)
    data = create_form_data(line)
    client.post(reverse("admin:returns_claim_add"), data)
    response = client.post(reverse("admin:returns_claim_add"), data, follow=True)
    claim = Claim.objects.get()
    assert any(f"already created as {claim}" in message for message in page_messages(response))


def test_warehouse_cannot_open_the_new_claim_form(client, warehouse_user):
    client.force_login(warehouse_user)
    assert client.get(reverse("admin:returns_claim_add")).status_code == 403


def test_new_claim_takes_some_units_of_a_line(client, cs):
    # given a line of three cages
    line = OrderLineFactory(quantity=3)
    client.force_login(cs)

    # when customer service claims one of them
    client.post(reverse("admin:returns_claim_add"), create_form_data(line, **{f"units_{line.pk}": 1}))

    # then the claim holds one unit
    assert ClaimItem.objects.get().quantity == 1


def test_new_claim_form_shows_units_already_in_an_open_claim_and_offers_that_claim(client, cs):
    # given an open claim on the only unit of a line
    line = OrderLineFactory(product=ProductFactory(sku="SR-1195"))
    first = services.claim_create(
        order=line.order, claim_type=ClaimType.NO_REASON, description="Too big", order_line_ids=[line.pk], by=cs
    )
    client.force_login(cs)

    # when the agent opens the new-claim form for the order
    html = client.get(reverse("admin:returns_claim_add"), {"order": line.order.number}).content.decode()

    # then the clash is named next to the line, and the open claim is offered instead
    assert f"SR-1195 × 1 is already in open claim #{first.pk}." in html
    assert "0 free to claim" in html
    assert f'name="attach_to" value="{first.pk}"' in html


def test_a_second_claim_on_the_same_unit_is_refused_next_to_its_line_and_keeps_the_text(client, cs):
    line = OrderLineFactory(product=ProductFactory(sku="SR-1195"))
    first = services.claim_create(
        order=line.order, claim_type=ClaimType.NO_REASON, description="Too big", order_line_ids=[line.pk], by=cs
    )
    client.force_login(cs)

    response = client.post(reverse("admin:returns_claim_add"), create_form_data(line, description="Still too big"))

    assert Claim.objects.count() == 1
    assert response.context["form"].errors[f"units_{line.pk}"] == [
        "SR-1195: 1 unit(s) asked, 0 of 1 free.",
        f"SR-1195 × 1 is already in open claim #{first.pk}.",
    ]
    assert "Still too big" in response.content.decode()


def test_the_customers_new_message_and_photo_join_the_open_claim_instead(client, cs):
    # given an open claim on the line, acknowledged once
    line = OrderLineFactory()
    first = services.claim_create(
        order=line.order, claim_type=ClaimType.NO_REASON, description="Too big", order_line_ids=[line.pk], by=cs
    )
    events_before = set(first.events.values_list("pk", flat=True))
    client.force_login(cs)

    # when the agent adds the customer's second email and its photo to that claim
    response = client.post(
        reverse("admin:returns_claim_add"),
        {
            **create_form_data(line, description="Here is the photo of the box you asked for."),
            "attach_to": str(first.pk),
            "files": [png()],
            "shows_whole_package": "on",
        },
        follow=True,
    )

    # then no second claim, the message is on the first as one event, the photo as another, no second email
    assert response.redirect_chain[-1][0] == reverse("admin:returns_claim_change", args=[first.pk])
    assert list(Claim.objects.values_list("pk", flat=True)) == [first.pk]
    new_events = first.events.exclude(pk__in=events_before).order_by("id")
    assert [(e.action, e.actor) for e in new_events] == [("attach_message", cs), ("add_evidence", cs)]
    assert new_events[0].payload["message"] == "Here is the photo of the box you asked for."
    assert first.evidence.get().shows_whole_package
    assert OutboundEmail.objects.filter(claim=first, template="claim_received").count() == 1
    assert any("no second claim was opened" in m for m in page_messages(response))


def test_a_message_cannot_be_attached_to_a_claim_of_another_order(client, cs):
    line, other = OrderLineFactory(), OrderLineFactory()
    stranger = services.claim_create(
        order=other.order, claim_type=ClaimType.NO_REASON, description="x", order_line_ids=[other.pk], by=cs
    )
    client.force_login(cs)

    response = client.post(reverse("admin:returns_claim_add"), {**create_form_data(line), "attach_to": stranger.pk})

    assert response.status_code == 403
    assert not stranger.events.filter(action="attach_message").exists()


def test_the_claim_page_shows_the_lines_other_open_claim(client, cs):
    # given two claims, one unit each, on a line of two
    line = OrderLineFactory(quantity=2, product=ProductFactory(sku="SR-1195"))
    first = services.claim_create(
        order=line.order, claim_type=ClaimType.NO_REASON, description="One", units={line.pk: 1}, by=cs
    )
    second = services.claim_create(
        order=line.order, claim_type=ClaimType.NO_REASON, description="Two", units={line.pk: 1}, by=cs
    )
    client.force_login(cs)

    html = client.get(reverse("admin:returns_claim_change", args=[second.pk])).content.decode()

    assert f"SR-1195 × 1 is already in open claim #{first.pk}." in html


# --- the history, in words ------------------------------------------------


def history_of(html: str, group: str = "events") -> str:
    """The text of a history (its HTML tags taken out): an inline's table, or the claim page's timeline."""
    marker, closing = ('id="timeline"', "</section>") if group == "timeline" else (f'id="{group}-group"', "</fieldset>")
    start = html.rindex("<", 0, html.index(marker))
    end = html.index(closing, start)
    return " ".join(re.sub(r"<[^>]+>", " ", unescape(html[start:end])).split())


def assert_no_dict_or_code(text: str) -> None:
    for mark in ("{", "}", "[", "]", "None", "payload"):
        assert mark not in text, f"{mark!r} in {text!r}"
    assert not re.search(r"[a-z]_[a-z]", text), text


def test_claim_history_says_when_who_and_what_in_words(client, cs, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    claim = new_claim(cs)
    due = claim.first_response_due_at
    services.sla_sweep(now=due + datetime.timedelta(minutes=1))  # the system escalates it
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Please send a photo of the box.")
    client.force_login(cs)

    # the claim page's history is its timeline (backoffice/claim_page.py)
    history = history_of(claim_page(client, claim).content.decode(), "timeline")

    sku = claim.items.get().order_line.product.sku
    assert f"Claim created for {sku} × 1. Status: Requested." in history
    assert f"system First response overdue: it was due {format_instant(due)}; managers were told." in history
    assert (
        "agent Asked the customer: “Please send a photo of the box.” Status: Requested → Awaiting customer." in history
    )
    assert "(Asia/Shanghai)" in history  # when: the instant with its zone named
    assert_no_dict_or_code(history)


def test_order_page_shows_the_received_dates_history(client, cs):
    order = OrderFactory(received_on=datetime.date(2026, 11, 21))
    events.record(
        OrderEvent,
        order=order,
        by=cs,
        action=OrderAction.RECEIVED_DATE_CHANGED,
        payload={
            "old_received_on": datetime.date(2026, 11, 23),
            "new_received_on": order.received_on,
            "old_source": "store",
            "new_source": "carrier",
            "reason": "Scan",
        },
    )
    client.force_login(cs)

    response = client.get(reverse("admin:returns_order_change", args=[order.pk]))

    history = history_of(response.content.decode())
    assert (
        "agent Received date changed from 23 Nov 2026 to 21 Nov 2026 (source: the carrier's delivery event). "
        "Reason: Scan." in history
    )
    assert_no_dict_or_code(history)
