"""The customer's tracking page: reached from the approval email, no login, a signed token."""

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from returns import links
from returns import services as claim_services
from returns.models import ClaimEvent, ClaimStatus, OutboundEmail
from shipments import services
from shipments.models import EnteredVia, ParcelCondition, ReturnParcel
from shipments.tests.conftest import approved_claim

pytestmark = pytest.mark.django_db


def tracking_path(claim) -> str:
    return urlsplit(links.tracking_url(claim)).path


def form_data(**overrides):
    return {"carrier": "DHL", "tracking_number": "JD0146000012345", "sent_on": timezone.localdate(), **overrides}


def test_approval_email_link_takes_the_customer_to_the_form_and_ships_the_claim(cs, client):
    # given a claim approved by customer service, whose email carries the link
    claim = approved_claim(cs)
    email = OutboundEmail.objects.get(claim=claim, template="claim_approved")
    url = links.tracking_url(claim)
    assert url in email.body_text

    # when the customer opens it, without logging in, and sends the form
    page = client.get(urlsplit(url).path)
    response = client.post(urlsplit(url).path, form_data())

    # then the page named the return, and the claim is shipped by the customer
    assert page.status_code == 200
    html = page.content.decode()
    assert claim.rma_number in html and claim.order_number in html
    assert 'name="tracking_number"' in html and "csrfmiddlewaretoken" in html
    assert response.status_code == 200
    assert "we have your tracking number" in response.content.decode()
    assert "What happens next" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED
    event = ClaimEvent.objects.get(claim=claim, action="ship")
    assert (event.actor, event.to_status) == (None, ClaimStatus.SHIPPED)
    parcel = ReturnParcel.objects.get(claim=claim)
    assert (parcel.entered_via, parcel.tracking_number) == (EnteredVia.CUSTOMER_LINK, "JD0146000012345")


def test_tracking_page_does_not_leak_its_address(cs, client):
    response = client.get(tracking_path(approved_claim(cs)))

    assert response["Referrer-Policy"] == "same-origin"  # not no-referrer: browsers would send Origin: null
    assert '<meta name="referrer" content="same-origin">' in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    # nothing loaded from elsewhere, no link out that could carry the address as a Referer
    assert "<script" not in html and "src=" not in html and 'href="http' not in html


def test_tampered_link_gets_a_clear_page_not_an_error(cs, client):
    path = tracking_path(approved_claim(cs))

    response = client.get(path[:-4] + "abc/")

    assert response.status_code == 400
    assert "This link is not valid" in response.content.decode()
    assert ReturnParcel.objects.count() == 0


def test_tampered_link_cannot_be_posted_either(cs, client):
    claim = approved_claim(cs)

    response = client.post(tracking_path(claim)[:-4] + "abc/", form_data())

    assert response.status_code == 400
    assert ReturnParcel.objects.count() == 0


def test_expired_link_gets_a_clear_page(cs, client, settings, monkeypatch):
    claim = approved_claim(cs)
    too_old = time.time() - (settings.RETURN_LINK_MAX_AGE_DAYS + 1) * 86400
    with monkeypatch.context() as at_that_time:
        at_that_time.setattr(time, "time", lambda: too_old)
        path = tracking_path(claim)

    response = client.post(path, form_data())

    assert response.status_code == 400
    html = response.content.decode()
    assert f"This link has expired (links last {settings.RETURN_LINK_MAX_AGE_DAYS} days)" in html
    assert settings.RMA_SUPPORT_EMAIL in html
    assert not ReturnParcel.objects.filter(claim=claim).exists()


def test_reused_link_shows_what_we_have_and_records_nothing_more(cs, client):
    claim = approved_claim(cs)
    path = tracking_path(claim)
    client.post(path, form_data())

    again = client.post(path, form_data(tracking_number="ANOTHER-ONE"))
    later = client.get(path)

    for response in (again, later):
        assert response.status_code == 200
        html = response.content.decode()
        assert "We already have your tracking number JD0146000012345 (DHL)" in html
        assert "ANOTHER-ONE" not in html
        assert 'name="tracking_number"' not in html
    assert ReturnParcel.objects.filter(claim=claim).count() == 1
    assert ReturnParcel.objects.get(claim=claim).tracking_number == "JD0146000012345"
    assert ClaimEvent.objects.filter(claim=claim, action="ship").count() == 1


def test_link_after_the_parcel_arrived_says_so(cs, warehouse_user, client):
    claim = approved_claim(cs)
    services.parcel_receive(code=claim.rma_number, by=warehouse_user, condition=ParcelCondition.INTACT)

    response = client.get(tracking_path(claim))

    assert response.status_code == 200
    assert "We received your parcel on" in response.content.decode()


def test_link_of_a_cancelled_return_says_nothing_is_expected(cs, client):
    claim = approved_claim(cs)
    path = tracking_path(claim)
    claim_services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer kept it.")

    page = client.get(path)
    posted = client.post(path, form_data())

    for response in (page, posted):
        assert response.status_code == 200
        assert "This return was cancelled, so there is no parcel to send." in response.content.decode()
    assert not ReturnParcel.objects.filter(claim=claim).exists()


def test_form_errors_are_shown_and_the_claim_stays_approved(cs, client):
    claim = approved_claim(cs)

    response = client.post(
        tracking_path(claim), form_data(carrier="", sent_on=timezone.localdate() + timedelta(days=5))
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "This field is required." in html
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED


def test_sent_date_in_the_future_is_refused_in_words(cs, client):
    claim = approved_claim(cs)

    response = client.post(tracking_path(claim), form_data(sent_on=timezone.localdate() + timedelta(days=5)))

    assert "The sent date cannot be in the future." in response.content.decode()
    assert 'value="JD0146000012345"' in response.content.decode()  # what was typed stays
    assert not ReturnParcel.objects.filter(claim=claim).exists()


def test_tracking_form_is_csrf_protected(cs):
    claim = approved_claim(cs)
    strict = Client(enforce_csrf_checks=True)

    refused = strict.post(tracking_path(claim), form_data())
    page = strict.get(tracking_path(claim))
    token = page.cookies["csrftoken"].value
    accepted = strict.post(tracking_path(claim), {**form_data(), "csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert ReturnParcel.objects.filter(claim=claim).count() == 1


def test_tracking_page_needs_no_login_and_ignores_staff_sessions(cs, client):
    claim = approved_claim(cs)
    client.force_login(cs)

    client.post(tracking_path(claim), form_data())

    parcel = ReturnParcel.objects.get(claim=claim)
    assert (parcel.entered_via, parcel.entered_by) == (EnteredVia.CUSTOMER_LINK, None)
