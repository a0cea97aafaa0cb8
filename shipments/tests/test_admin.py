"""The parcels' admin pages: who may open them, what they do through the services, and their queries."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import actors
from returns.models import ClaimStatus
from shipments import services
from shipments.models import (
    OutboundParcel,
    OutboundPurpose,
    ParcelCondition,
    ParcelPhoto,
    ReturnParcel,
    UnmatchedParcel,
    UnmatchedReason,
)
from shipments.tests.conftest import approved_claim, not_a_photo, photo

pytestmark = pytest.mark.django_db

RECEIVE = reverse("admin:shipments_returnparcel_receive")
ENTER_TRACKING = reverse("admin:shipments_returnparcel_add")
RETURN_PARCELS = reverse("admin:shipments_returnparcel_changelist")
UNMATCHED = reverse("admin:shipments_unmatchedparcel_changelist")
OUTBOUND = reverse("admin:shipments_outboundparcel_changelist")


def page_messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def attach_url(unmatched):
    return reverse("admin:shipments_unmatchedparcel_attach", args=[unmatched.pk])


def ship_url(parcel):
    return reverse("admin:shipments_outboundparcel_ship", args=[parcel.pk])


def log_unmatched(by, count=1, photos=1):
    return [
        services.parcel_receive(
            code=f"RMA-2099-{index:06d}",
            by=by,
            condition=ParcelCondition.INTACT,
            photos=[photo(f"p{index}-{n}.jpg") for n in range(photos)],
        ).unmatched_parcel
        for index in range(count)
    ]


# --- customer service enters the tracking from an email ---------------------------


def test_customer_service_enters_tracking_from_an_email_and_the_claim_is_shipped(cs, client):
    claim = approved_claim(cs)
    client.force_login(cs)

    response = client.post(
        ENTER_TRACKING,
        {
            "rma_number": f" {claim.rma_number.lower()} ",
            "carrier": "UPS",
            "tracking_number": "1Z999",
            "sent_on": timezone.localdate().isoformat(),
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:returns_claim_change", args=[claim.pk])
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED
    assert ReturnParcel.objects.get(claim=claim).entered_by == cs
    assert page_messages(response) == [f"{claim.rma_number} is shipped: UPS 1Z999, sent {timezone.localdate()}."]


def test_entering_tracking_for_an_unknown_rma_keeps_the_form(cs, client):
    client.force_login(cs)

    response = client.post(
        ENTER_TRACKING,
        {"rma_number": "RMA-2099-000001", "carrier": "UPS", "tracking_number": "1Z999", "sent_on": "2026-01-05"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "No claim has the RMA number RMA-2099-000001." in html
    assert 'value="1Z999"' in html
    assert ReturnParcel.objects.count() == 0


def test_entering_tracking_with_a_date_before_approval_shows_the_reason(cs, client):
    claim = approved_claim(cs)
    client.force_login(cs)
    too_early = timezone.localdate() - timezone.timedelta(days=10)

    response = client.post(
        ENTER_TRACKING,
        {"rma_number": claim.rma_number, "carrier": "UPS", "tracking_number": "1Z999", "sent_on": too_early},
    )

    assert response.status_code == 200
    assert "The sent date is before the return was approved" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED


def test_entering_tracking_a_second_time_says_what_we_have(cs, client):
    claim = approved_claim(cs)
    services.return_parcel_register(
        claim_id=claim.pk, by=actors.CUSTOMER, carrier="DHL", tracking_number="JD01", sent_on=timezone.localdate()
    )
    client.force_login(cs)

    response = client.post(
        ENTER_TRACKING,
        {"rma_number": claim.rma_number, "carrier": "UPS", "tracking_number": "1Z999", "sent_on": timezone.localdate()},
    )

    assert response.status_code == 302
    (message,) = page_messages(response)
    assert message.startswith(f"{claim.rma_number}: We already have your tracking number JD01 (DHL), entered on")
    assert ReturnParcel.objects.get(claim=claim).tracking_number == "JD01"


# --- the Receive parcel page -------------------------------------------------------


def test_receive_page_has_one_autofocused_field_for_the_scanner(warehouse_user, client):
    client.force_login(warehouse_user)

    response = client.get(RECEIVE)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("autofocus") == 1
    assert "autofocus" in re.search(r'<input[^>]*name="code"[^>]*>', html).group(0)
    assert 'enctype="multipart/form-data"' in html
    assert "multiple" in re.search(r'<input[^>]*name="photos"[^>]*>', html).group(0)


def test_receiving_a_parcel_says_so_and_gives_an_empty_form_for_the_next(cs, warehouse_user, client):
    claim = approved_claim(cs)
    client.force_login(warehouse_user)

    response = client.post(
        RECEIVE,
        {"code": claim.rma_number, "condition": "intact", "note": "", "photos": [photo("a.jpg"), photo("b.jpg")]},
        follow=True,
    )

    assert response.redirect_chain == [(RECEIVE, 302)]
    assert page_messages(response) == [
        f"{claim.rma_number} received (intact); it is ready for inspection. 2 photos stored."
    ]
    assert response.context["form"].is_bound is False
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED
    assert ReturnParcel.objects.get(claim=claim).photos.count() == 2


def test_receiving_an_unknown_rma_warns_it_was_logged_as_unmatched(warehouse_user, client, s3_objects):
    client.force_login(warehouse_user)

    response = client.post(
        RECEIVE,
        {"code": "RMA-2099-000777", "condition": "opened", "note": "Torn tape.", "photos": [photo("tape.jpg")]},
        follow=True,
    )

    unmatched = UnmatchedParcel.objects.get()
    (message,) = list(get_messages(response.wsgi_request))
    assert message.level_tag == "warning"
    assert str(message) == (
        f"No claim has the RMA number RMA-2099-000777: the parcel is logged as unmatched parcel #{unmatched.pk} "
        "for customer service. 1 photo stored."
    )
    assert (unmatched.reason, unmatched.note) == (UnmatchedReason.UNKNOWN_RMA, "Torn tape.")
    assert unmatched.photos.get().file.name in s3_objects()


def test_refused_photo_keeps_what_was_typed_and_records_nothing(cs, warehouse_user, client):
    claim = approved_claim(cs)
    client.force_login(warehouse_user)

    response = client.post(
        RECEIVE,
        {
            "code": claim.rma_number,
            "condition": "box_damaged",
            "note": "Dented on two sides.",
            "photos": [photo("ok.jpg"), not_a_photo("invoice.pdf")],
        },
    )

    assert response.status_code == 200
    html = response.content.decode()
    # The receiving page takes photos only: its refusal names what it takes, not videos.
    assert "“invoice.pdf” is not a photo we can read; we accept JPEG, PNG, WebP or HEIC photos." in html
    assert "MP4" not in html.split("invoice.pdf", 1)[1].split("</", 1)[0]
    assert "Nothing was recorded yet" in html
    form = response.context["form"]
    assert (form["code"].value(), form["condition"].value(), form["note"].value()) == (
        claim.rma_number,
        "box_damaged",
        "Dented on two sides.",
    )
    assert "Dented on two sides." in html
    assert not ReturnParcel.objects.exists() and not UnmatchedParcel.objects.exists()
    assert not ParcelPhoto.objects.exists()


# --- who may open what ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["cs", "finance_user"])
def test_only_the_warehouse_opens_the_receive_page(role, request, client):
    client.force_login(request.getfixturevalue(role))

    assert client.get(RECEIVE).status_code == 403
    assert client.post(RECEIVE, {"code": "", "condition": "intact"}).status_code == 403
    assert not UnmatchedParcel.objects.exists()


def test_warehouse_gets_403_on_customer_service_pages(cs, warehouse_user, client):
    claim = approved_claim(cs)
    (unmatched,) = log_unmatched(warehouse_user)
    client.force_login(warehouse_user)

    assert client.get(ENTER_TRACKING).status_code == 403
    assert (
        client.post(
            ENTER_TRACKING,
            {"rma_number": claim.rma_number, "carrier": "UPS", "tracking_number": "1", "sent_on": timezone.localdate()},
        ).status_code
        == 403
    )
    assert client.get(attach_url(unmatched)).status_code == 403
    assert client.post(attach_url(unmatched), {"claim": claim.rma_number}).status_code == 403
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert UnmatchedParcel.objects.get().attached_to is None


def test_warehouse_cannot_approve_from_the_claim_page(cs, warehouse_user, client):
    claim = approved_claim(cs)
    requested = type(claim).objects.create(
        order=claim.order,
        order_number=claim.order_number,
        customer_email=claim.customer_email,
        claim_type=claim.claim_type,
        doa_reason=claim.doa_reason,
        description="Again.",
        policy_version=claim.policy_version,
        submitted_at=timezone.now(),
    )
    client.force_login(warehouse_user)

    response = client.post(reverse("admin:returns_claim_act", args=[requested.pk, "approve"]))

    requested.refresh_from_db()
    assert requested.status == ClaimStatus.REQUESTED
    assert page_messages(response) == ["You do not have permission to approve claims."]


def test_customer_service_cannot_mark_our_parcels_shipped(cs, client):
    claim = approved_claim(cs)
    parcel = OutboundParcel.objects.create(claim=claim, purpose=OutboundPurpose.REPLACEMENT)
    client.force_login(cs)

    assert client.post(ship_url(parcel), {"carrier": "DHL", "tracking_number": "JD"}).status_code == 403
    assert OutboundParcel.objects.get().shipped_at is None


def test_receive_parcel_is_linked_for_the_warehouse_only(cs, warehouse_user, client):
    client.force_login(warehouse_user)
    app_index = client.get(reverse("admin:app_list", args=["shipments"])).content.decode()
    changelist = client.get(RETURN_PARCELS).content.decode()
    client.force_login(cs)
    cs_changelist = client.get(RETURN_PARCELS).content.decode()

    assert RECEIVE in app_index and RECEIVE in changelist
    assert RECEIVE not in cs_changelist
    assert "Enter tracking from an email" in cs_changelist and "Enter tracking from an email" not in changelist


# --- unmatched parcels for customer service ---------------------------------------------


def test_unmatched_list_query_count_does_not_grow_with_rows_or_photos(
    cs, warehouse_user, client, django_assert_num_queries
):
    log_unmatched(warehouse_user, count=2, photos=1)
    client.force_login(cs)
    # +1 since the theme: the sidebar's queue badges (one query, backoffice/navigation.py)
    with django_assert_num_queries(8) as few:
        assert client.get(UNMATCHED).status_code == 200

    log_unmatched(warehouse_user, count=6, photos=3)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(UNMATCHED)

    assert len(response.context["cl"].result_list) == 8
    assert response.content.decode().count("p5-2.jpg") == 1  # photos are listed, as links


def test_unmatched_list_shows_open_parcels_first_and_filters(cs, warehouse_user, client):
    claim = approved_claim(cs)
    older, newer, attached = log_unmatched(warehouse_user, count=3)
    services.unmatched_parcel_attach(unmatched_id=older.pk, claim_id=claim.pk, by=cs)
    client.force_login(cs)

    everything = client.get(UNMATCHED).context["cl"].result_list
    open_only = client.get(UNMATCHED, {"attached": "no"}).context["cl"].result_list
    attached_only = client.get(UNMATCHED, {"attached": "yes"}).context["cl"].result_list
    by_reason = client.get(UNMATCHED, {"reason__exact": "no_rma"}).context["cl"].result_list

    assert [p.pk for p in everything] == [attached.pk, newer.pk, older.pk]
    assert [p.pk for p in open_only] == [attached.pk, newer.pk]
    assert [p.pk for p in attached_only] == [older.pk]
    assert list(by_reason) == []


def test_customer_service_attaches_an_unmatched_parcel_by_rma_number(cs, warehouse_user, client):
    claim = approved_claim(cs)
    (unmatched,) = log_unmatched(warehouse_user)
    client.force_login(cs)

    page = client.get(attach_url(unmatched))
    response = client.post(attach_url(unmatched), {"claim": claim.rma_number.lower(), "note": "Label photo matched."})

    assert page.status_code == 200
    assert "p0-0.jpg" in page.content.decode()  # its photos, to recognise it
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:returns_claim_change", args=[claim.pk])
    assert page_messages(response) == [
        f"Unmatched parcel #{unmatched.pk} is now the receipt of {claim.rma_number}; the claim is shipped by customer."
    ]
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED


def test_attaching_to_an_unknown_claim_or_twice_keeps_the_form_with_the_reason(cs, warehouse_user, client):
    claim = approved_claim(cs)
    (unmatched,) = log_unmatched(warehouse_user)
    client.force_login(cs)

    unknown = client.post(attach_url(unmatched), {"claim": "RMA-2099-123456", "note": "typed"})
    client.post(attach_url(unmatched), {"claim": f"#{claim.pk}"})
    twice = client.post(attach_url(unmatched), {"claim": str(claim.pk)})

    assert unknown.status_code == 200 and "No claim RMA-2099-123456." in unknown.content.decode()
    assert twice.status_code == 200
    assert f"was already attached to {claim.rma_number} by agent" in twice.content.decode()
    assert UnmatchedParcel.objects.get().attached_to == claim


# --- the claim page and outbound parcels ---------------------------------------------------


def test_claim_page_shows_the_return_parcel_and_its_photos_in_constant_queries(
    cs, warehouse_user, client, django_assert_num_queries
):
    claim = approved_claim(cs)
    services.return_parcel_register(
        claim_id=claim.pk, by=actors.CUSTOMER, carrier="DHL", tracking_number="JD0146", sent_on=timezone.localdate()
    )
    services.parcel_receive(code=claim.rma_number, by=warehouse_user, condition="intact", photos=[photo("one.jpg")])
    client.force_login(cs)
    url = reverse("admin:returns_claim_change", args=[claim.pk])
    response = client.get(url)
    html = response.content.decode()
    assert "JD0146" in html and "one.jpg" in html and "by picker" in html
    with CaptureQueriesContext(connection) as few:
        client.get(url)

    parcel = ReturnParcel.objects.get(claim=claim)
    for n in range(3):
        ParcelPhoto.objects.create(
            return_parcel=parcel,
            file=f"parcels/extra{n}.jpg",
            original_name=f"extra{n}.jpg",
            content_type="image/jpeg",
            uploaded_by=warehouse_user,
        )
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert "extra2.jpg" in response.content.decode()


def test_warehouse_marks_our_parcel_shipped(cs, warehouse_user, client):
    claim = approved_claim(cs)
    parcel = OutboundParcel.objects.create(claim=claim, purpose=OutboundPurpose.RETURN_TO_CUSTOMER)
    client.force_login(warehouse_user)

    listed = client.get(OUTBOUND).content.decode()
    response = client.post(ship_url(parcel), {"carrier": "SF", "tracking_number": "SF0001"})

    assert ship_url(parcel) in listed
    assert response.status_code == 302
    parcel.refresh_from_db()
    assert (parcel.carrier, parcel.tracking_number, parcel.shipped_by) == ("SF", "SF0001", warehouse_user)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED


# --- the return parcels list ----------------------------------------------------------------


def test_return_parcel_list_finds_by_tracking_or_rma_and_filters_waiting_ones(cs, warehouse_user, client):
    waiting, arrived = approved_claim(cs), approved_claim(cs)
    for claim, tracking in ((waiting, "JD-WAIT"), (arrived, "JD-HERE")):
        services.return_parcel_register(
            claim_id=claim.pk, by=actors.CUSTOMER, carrier="DHL", tracking_number=tracking, sent_on=timezone.localdate()
        )
    services.parcel_receive(code=arrived.rma_number, by=warehouse_user, condition="intact")
    client.force_login(cs)

    def listed(params):
        return [parcel.claim_id for parcel in client.get(RETURN_PARCELS, params).context["cl"].result_list]

    assert listed({"q": " JD-WAIT "}) == [waiting.pk]
    assert listed({"q": arrived.rma_number.lower()}) == [arrived.pk]
    assert listed({"q": "JD"}) == []  # exact, so it can use the index
    assert listed({"received": "no"}) == [waiting.pk]
    assert listed({"received": "yes"}) == [arrived.pk]


def test_return_parcel_list_query_count_does_not_grow_with_rows(cs, warehouse_user, client, django_assert_num_queries):
    def parcels(count):
        for _ in range(count):
            claim = approved_claim(cs)
            services.parcel_receive(code=claim.rma_number, by=warehouse_user, condition="intact")

    parcels(2)
    client.force_login(cs)
    with CaptureQueriesContext(connection) as few:
        client.get(RETURN_PARCELS)

    parcels(5)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(RETURN_PARCELS)
    assert len(response.context["cl"].result_list) == 7
