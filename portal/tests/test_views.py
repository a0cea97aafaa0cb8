"""The customer's pages through Django's test client: every refusal, and what the customer never sees.
(The same pages in Chromium, with the links read from the SMTP server: test_browser_portal.py.)"""

import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.urls import reverse

from core import actors
from portal.tests.conftest import days_ago, fake_photo, order_path, order_with_lines, photo, status_path
from returns import links, services
from returns.models import Claim, ClaimStatus, ClaimType, Evidence, OutboundEmail, ReceivedDateSource

pytestmark = pytest.mark.django_db

LOOKUP = "/portal/"


def claim_form(lines, **overrides):
    data = {
        "claim_type": ClaimType.NO_REASON,
        "description": "It does not fit my rig.",
        f"units_{lines[0].pk}": "1",
        "submission_key": str(uuid.uuid4()),
        "whole_package_photo": photo("whole-package.jpg"),
        "files": [photo("detail.jpg")],
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def claim_at(location: str) -> Claim:
    """The claim a status link opens (tokens carry their second, so two links to one claim may differ)."""
    return links.claim_from_status_token(urlsplit(location).path.rstrip("/").rsplit("/", 1)[1])


def submit(client, order, lines, **overrides):
    return client.post(order_path(order) + "claim/", claim_form(lines, **overrides))


# --- Finding the order ---------------------------------------------------------


def test_lookup_answers_the_same_whether_or_not_the_pair_exists(
    client, order_and_lines, django_capture_on_commit_callbacks
):
    order, _ = order_and_lines

    with django_capture_on_commit_callbacks(execute=True):
        right = client.post(LOOKUP, {"order_number": order.number, "email": "ADA@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        wrong = client.post(LOOKUP, {"order_number": order.number, "email": "eve@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        unknown = client.post(LOOKUP, {"order_number": "SO-999999", "email": "ada@example.com"})

    assert right.status_code == wrong.status_code == unknown.status_code == 200
    # each response has its own Content-Security-Policy nonce
    pages = [re.sub(r'nonce="[^"]+"', 'nonce=""', r.content.decode()) for r in (right, wrong, unknown)]
    words = [re.sub(r"\S+@example\.com", "EMAIL", page) for page in pages]
    assert words[0] == words[1] == words[2]
    assert "If this order is ours" in words[0]
    (email,) = OutboundEmail.objects.filter(template="order_link")
    assert email.to == "ada@example.com"
    assert links.order_url(order).split("/order/")[0] in email.body_text
    assert order.number not in right.content.decode()


def test_lookup_of_a_wrong_pair_emails_nobody(client, order_and_lines, django_capture_on_commit_callbacks):
    order, _ = order_and_lines

    with django_capture_on_commit_callbacks(execute=True):
        client.post(LOOKUP, {"order_number": order.number, "email": "eve@example.com"})

    assert not OutboundEmail.objects.exists()


def test_lookups_are_limited_per_email(client, settings, order_and_lines):
    settings.PORTAL_LOOKUPS_PER_EMAIL = 2
    order, _ = order_and_lines
    for address in ("10.0.0.1", "10.0.0.2"):
        assert (
            client.post(LOOKUP, {"order_number": "x", "email": "ada@example.com"}, REMOTE_ADDR=address).status_code
            == 200
        )

    third = client.post(LOOKUP, {"order_number": order.number, "email": "Ada@Example.com"}, REMOTE_ADDR="10.0.0.3")

    assert third.status_code == 429
    assert int(third["Retry-After"]) > 0
    assert "Too many requests for this email address" in third.content.decode()


def test_lookups_are_limited_per_address(client, settings):
    settings.PORTAL_LOOKUPS_PER_ADDRESS = 3
    for n in range(3):
        assert client.post(LOOKUP, {"order_number": "x", "email": f"a{n}@example.com"}).status_code == 200

    fourth = client.post(LOOKUP, {"order_number": "x", "email": "new@example.com"})

    assert fourth.status_code == 429
    assert "Too many requests from your connection" in fourth.content.decode()


def test_lookup_errors_sit_next_to_their_field(client):
    response = client.post(LOOKUP, {"order_number": "", "email": "not-an-email"})

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'id="id_email_errors"[^>]*><ul class="errorlist"><li>Enter a valid email address', html)
    assert 'aria-invalid="true"' in html


# --- Links ---------------------------------------------------------------------------


def test_order_link_opens_the_order_and_nothing_before_it(client, order_and_lines):
    order, _lines = order_and_lines

    page = client.get(order_path(order))

    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"
    assert page["X-Robots-Tag"] == "noindex"
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert order.number in html and "Camera cage" in html


def test_expired_order_link_is_refused_with_a_way_to_a_new_one(client, settings, order_and_lines):
    order, _ = order_and_lines
    path = order_path(order)
    settings.PORTAL_ORDER_LINK_MAX_AGE_HOURS = 0

    response = client.get(path)

    assert response.status_code == 410
    html = response.content.decode()
    assert "This link has expired" in html and 'id="lookup-form"' in html
    assert order.number not in html


def test_tampered_order_link_is_refused(client, order_and_lines):
    order, _ = order_and_lines
    path = order_path(order)
    token = path.rstrip("/").rsplit("/", 1)[1]
    tampered = path.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))

    response = client.get(tampered)

    assert response.status_code == 400
    assert "This link is not valid" in response.content.decode()
    assert order.number not in response.content.decode()


def test_link_for_another_purpose_or_another_order_opens_nothing(client, cs, order_and_lines):
    order, lines = order_and_lines
    other, _ = order_with_lines(number="SO-200200", email="bob@example.com")
    claim = services.claim_create(
        order=order, claim_type=ClaimType.NO_REASON, description="x", units={lines[0].pk: 1}, by=cs
    )
    # a claim's status token and a token made with another salt are not order links
    status_token = status_path(claim).rstrip("/").rsplit("/", 1)[1]
    forged = signing.dumps({"order": other.pk, "email": "ada@example.com"}, salt="returns.tracking-link")
    # an order link made for the order before its address changed
    old_path = order_path(order)
    type(order).objects.filter(pk=order.pk).update(customer_email="new-owner@example.com")

    assert client.get(reverse("portal-order", args=[status_token])).status_code == 400
    assert client.get(reverse("portal-order", args=[forged])).status_code == 400
    moved = client.get(old_path)
    assert moved.status_code == 400 and "no longer matches an order" in moved.content.decode()


def test_claim_form_refuses_lines_of_another_order(client, order_and_lines):
    order, lines = order_and_lines
    _other, other_lines = order_with_lines(number="SO-200200", email="bob@example.com")

    response = submit(client, order, lines, **{f"units_{other_lines[0].pk}": "1", f"units_{lines[0].pk}": "0"})

    assert response.status_code == 400
    assert not Claim.objects.exists()


# --- Claims ---------------------------------------------------------------------------


def test_customer_submits_a_no_reason_return_and_lands_on_its_status_page(client, order_and_lines):
    order, lines = order_and_lines

    response = submit(client, order, lines, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8")

    claim = Claim.objects.get()
    assert response.status_code == 302
    assert claim_at(response["Location"]) == claim
    assert (claim.claim_type, claim.status, claim.created_by, claim.language) == (
        ClaimType.NO_REASON, ClaimStatus.REQUESTED, None, "en",
    )  # fmt: skip
    assert [(i.order_line_id, i.quantity) for i in claim.items.all()] == [(lines[0].pk, 1)]
    assert list(claim.evidence.values_list("original_name", "shows_whole_package", "uploaded_by")) == [
        ("whole-package.jpg", True, None),
        ("detail.jpg", False, None),
    ]
    assert claim.events.get(action="create").actor_kind == actors.ActorKind.CUSTOMER
    page = client.get(status_path(claim))
    assert "Your request is complete: it can be approved as it stands" in page.content.decode()


def test_double_submit_makes_one_claim(client, order_and_lines):
    order, lines = order_and_lines
    key = str(uuid.uuid4())

    first = submit(client, order, lines, submission_key=key)
    second = submit(client, order, lines, submission_key=key)

    claim = Claim.objects.get()
    assert first.status_code == second.status_code == 302
    assert claim_at(first["Location"]) == claim_at(second["Location"]) == claim
    assert claim.evidence.count() == 2


def test_units_already_claimed_are_refused_next_to_their_line(client, cs, order_and_lines):
    order, lines = order_and_lines  # the cage line has 2 units
    services.claim_create(
        order=order, claim_type=ClaimType.DOA, doa_reason="damage", description="x", units={lines[0].pk: 2}, by=cs
    )

    page = client.get(order_path(order))
    response = submit(client, order, lines, **{f"units_{lines[0].pk}": "1"})

    assert "0 units can still be claimed" in page.content.decode()
    assert "2 in your request #" in page.content.decode()
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(rf'id="id_units_{lines[0].pk}_errors"[^>]*><ul class="errorlist"><li>', html)
    assert Claim.objects.count() == 1


def test_units_taken_meanwhile_are_refused_by_the_service(client, cs, order_and_lines):
    order, lines = order_and_lines
    form_page = client.get(order_path(order) + "claim/")  # both units free when the form was drawn
    assert form_page.status_code == 200
    services.claim_create(
        order=order, claim_type=ClaimType.DOA, doa_reason="damage", description="x", units={lines[0].pk: 2}, by=cs
    )

    from portal import services as portal_services
    from portal.services import ClaimSubmission

    with pytest.raises(Exception) as refused:
        portal_services.claim_submit(
            order=order,
            submission=ClaimSubmission(
                claim_type=ClaimType.NO_REASON, doa_reason="", description="x", units={lines[0].pk: 1},
                whole_package_photos=[photo()], other_files=[], submission_key=uuid.uuid4(),
            ),
            language="en",
        )  # fmt: skip
    assert f"units_{lines[0].pk}" in refused.value.message_dict


def test_window_already_closed_is_refused_saying_until_when_it_was_open(client):
    order, lines = order_with_lines(received_days_ago=50)  # the cage's 45-day no-reason window closed 5 days ago

    page = client.get(order_path(order))
    response = submit(client, order, lines)

    closed_on = days_ago(5)
    assert f"no-reason return window closed on {closed_on:%-d %b %Y}" in page.content.decode()
    assert response.status_code == 400
    assert (
        f"window for these items closed on {closed_on:%-d %b %Y}: it was open until then" in response.content.decode()
    )
    assert not Claim.objects.exists()


def test_order_page_shows_each_remedy_until_when(client, order_and_lines):
    order, _lines = order_and_lines  # received 10 days ago

    html = client.get(order_path(order)).content.decode()

    received = days_ago(10)
    assert f"no-reason return until {received + timedelta(days=45):%-d %b %Y}" in html  # the cage
    assert f"no-reason return until {received + timedelta(days=30):%-d %b %Y}" in html  # the monitor: electronic
    assert f"DOA return window closed on {received + timedelta(days=7):%-d %b %Y}" in html
    assert f"warranty until {received.replace(year=received.year + 2):%-d %b %Y}" in html


def test_missing_whole_package_photo_is_refused(client, order_and_lines):
    order, lines = order_and_lines

    response = submit(client, order, lines, whole_package_photo=None)

    assert response.status_code == 400
    assert re.search(
        r'id="id_whole_package_photo_errors"[^>]*><ul class="errorlist"><li>Add a photo of the whole package',
        response.content.decode(),
    )
    assert not Claim.objects.exists()


def test_fake_image_is_refused_by_name_and_the_form_kept(client, order_and_lines, s3_objects):
    order, lines = order_and_lines
    stored_before = s3_objects()

    response = submit(
        client, order, lines, files=[photo("ok.jpg"), fake_photo("holiday.jpg")], description="Kept words"
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "“holiday.jpg” is not a photo or video we can read" in html
    assert "Kept words" in html
    assert re.search(r'value="no_reason"[^>]*checked', html)
    assert not Claim.objects.exists() and not Evidence.objects.exists()
    assert s3_objects() == stored_before


def test_oversized_image_is_refused_by_name(client, settings, order_and_lines):
    settings.EVIDENCE_MAX_IMAGE_BYTES = 2_000
    order, lines = order_and_lines

    response = submit(client, order, lines, whole_package_photo=photo("huge.jpg", size=(800, 600)))

    assert response.status_code == 400
    assert re.search(r"“huge\.jpg” is [0-9.]+ MB; the limit is 0\.0 MB", response.content.decode())
    assert not Claim.objects.exists()


def test_doa_needs_its_reason(client, order_and_lines):
    order, lines = order_and_lines
    order.received_on = days_ago(2)
    order.save()

    response = submit(client, order, lines, claim_type=ClaimType.DOA)

    assert response.status_code == 400
    assert re.search(
        r'id="id_doa_reason_errors"[^>]*><ul class="errorlist"><li>Tell us what is wrong', response.content.decode()
    )


def test_unknown_received_date_is_stated_with_proof_and_recorded_with_its_source(client):
    order, lines = order_with_lines(received_days_ago=None)

    page = client.get(order_path(order), {"received": days_ago(4).isoformat()})
    refused = submit(client, order, lines)
    accepted = submit(
        client, order, lines, received_on=days_ago(4).isoformat(), proof=photo("delivered.png", image_format="PNG")
    )

    assert f"Counted from {days_ago(4):%-d %b %Y}" in page.content.decode()
    assert refused.status_code == 400 and "Tell us the day the parcel reached you" in refused.content.decode()
    assert accepted.status_code == 302
    order.refresh_from_db()
    assert (order.received_on, order.received_on_source) == (days_ago(4), ReceivedDateSource.CUSTOMER_PROOF)
    event = order.events.get()
    assert event.actor_kind == actors.ActorKind.CUSTOMER and "delivered.png" in event.payload["reason"]


# --- Following a claim --------------------------------------------------------------------


def customer_claim(client, order, lines) -> Claim:
    submit(client, order, lines)
    return Claim.objects.get()


def test_status_page_shows_no_staff_data(client, cs, order_and_lines):
    order, lines = order_and_lines
    claim = customer_claim(client, order, lines)
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Please send the serial number.")
    services.claim_record_customer_answer(claim_id=claim.pk, by=cs, answer="SN-42 (typed by the agent)")
    services.claim_attach_message(claim_id=claim.pk, by=cs, message="INTERNAL: customer sounded angry")
    services.claim_approve(claim_id=claim.pk, by=cs)

    html = client.get(status_path(claim)).content.decode()

    claim.refresh_from_db()
    assert claim.rma_number in html
    for staff_only in ("agent", "INTERNAL", "angry", "/admin/", "first response", "SLA"):
        assert staff_only not in html


def test_customer_answers_an_information_request_with_a_photo(client, cs, order_and_lines):
    order, lines = order_and_lines
    claim = customer_claim(client, order, lines)
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Please send the serial number.")
    before = Claim.objects.get(pk=claim.pk).first_response_due_at

    page = client.get(status_path(claim))
    response = client.post(
        status_path(claim) + "answer/", {"answer-answer": "It is SN-42.", "answer-files": [photo("label.jpg")]}
    )

    assert "Please send the serial number." in page.content.decode()
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REQUESTED
    assert claim.first_response_due_at is not None and before is None  # the clock starts again
    assert claim.events.filter(action="record_customer_answer", actor_kind="customer").count() == 1
    assert claim.evidence.filter(original_name="label.jpg").exists()


def test_customer_cancels_while_nothing_was_shipped(client, cs, order_and_lines):
    order, lines = order_and_lines
    claim = customer_claim(client, order, lines)
    services.claim_approve(claim_id=claim.pk, by=cs)

    response = client.post(status_path(claim) + "cancel/", {"reason": "Changed my mind"})

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CANCELLED
    assert claim.events.get(action="cancel").actor_kind == actors.ActorKind.CUSTOMER


def test_customer_cannot_cancel_once_shipped(client, cs, order_and_lines):
    order, lines = order_and_lines
    claim = customer_claim(client, order, lines)
    services.claim_approve(claim_id=claim.pk, by=cs)
    services.claim_mark_shipped(claim_id=claim.pk, by=actors.CUSTOMER, details={"tracking_number": "1Z"})

    page = client.get(status_path(claim))
    response = client.post(status_path(claim) + "cancel/", {"reason": ""})

    assert "Cancel this request" not in page.content.decode()
    assert response.status_code == 409
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED


def test_claim_status_link_of_another_claim_is_not_this_one(client, cs):
    order, lines = order_with_lines()
    claim = services.claim_create(
        order=order, claim_type=ClaimType.NO_REASON, description="x", units={lines[0].pk: 1}, by=cs
    )
    forged = signing.dumps({"claim": claim.pk, "order": claim.order_id + 1}, salt="portal.claim-link")
    order_token = order_path(order).rstrip("/").rsplit("/", 1)[1]

    assert client.get(reverse("portal-claim", args=[forged])).status_code == 400
    assert client.get(reverse("portal-claim", args=[order_token])).status_code == 400


def test_pages_are_branded_from_settings(client, settings):
    settings.BRAND_NAME, settings.BRAND_COLOR, settings.RMA_SUPPORT_EMAIL = "Acme Rigs", "#004400", "help@acme.test"
    settings.BRAND_LOGO = "portal/logo.svg"

    html = client.get(LOOKUP).content.decode()

    assert "--brand: #004400" in html
    assert '<img src="/static/portal/logo.svg" alt="Acme Rigs">' in html
    assert "mailto:help@acme.test" in html
    assert "<script src" not in html and "https://" not in html  # nothing from elsewhere
