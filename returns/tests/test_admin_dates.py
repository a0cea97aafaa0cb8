"""The received date and the claim's time in the admin, by direct POSTs as the role that tried it:
the order's own form writes nothing, the date forms go through the services."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from returns import policy, services
from returns.models import (
    Claim,
    ClaimAction,
    ClaimEvent,
    ClaimType,
    Evidence,
    EvidenceKind,
    Order,
    OrderEvent,
    ReceivedDateSource,
)
from returns.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def days_ago(days: int) -> dt.date:
    return policy.claim_day(timezone.now()) - dt.timedelta(days=days)


@pytest.fixture
def order():
    order = OrderFactory(received_on=days_ago(10), received_on_source=ReceivedDateSource.STORE)
    OrderLineFactory(order=order)
    return order


def new_claim(cs, order) -> Claim:
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.NO_REASON,
        description="Not what I expected.",
        order_line_ids=list(order.lines.values_list("pk", flat=True)),
        by=cs,
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"box", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=3,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return claim


def approved_claim(cs, order) -> Claim:
    return services.claim_approve(claim_id=new_claim(cs, order).pk, by=cs)


def order_url(order) -> str:
    return reverse("admin:returns_order_change", args=[order.pk])


def received_date_url(order) -> str:
    return reverse("admin:returns_order_received_date", args=[order.pk])


def claim_url(claim) -> str:
    return reverse("admin:returns_claim_change", args=[claim.pk])


def submitted_at_url(claim) -> str:
    return reverse("admin:returns_claim_submitted_at", args=[claim.pk])


def page_messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def order_state(order) -> tuple:
    fresh = Order.objects.get(pk=order.pk)
    return fresh.received_on, fresh.received_on_source, fresh.updated_at, OrderEvent.objects.filter(order=order).count()


def local_input(moment: dt.datetime) -> str:
    """What a datetime-local input sends, in the company zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


# --- the order page -----------------------------------------------------------------------------


def test_order_page_shows_the_received_date_and_its_source_read_only(client, cs, order):
    client.force_login(cs)

    response = client.get(order_url(order))

    assert response.status_code == 200
    admin_form = response.context["adminform"]
    assert "received" in admin_form.readonly_fields  # the day with its source, in words
    html = response.content.decode()
    assert f"Received on {days_ago(10):%d %b %Y} (the store&#x27;s export; company calendar, Asia/Shanghai)" in html
    assert f'action="{received_date_url(order)}"' in html


def test_customer_service_posting_a_received_date_to_the_order_change_page_changes_nothing(client, cs, order):
    new_claim(cs, order)
    client.force_login(cs)
    before = order_state(order)

    response = client.post(
        order_url(order),
        {
            "number": order.number,
            "customer_name": order.customer_name,
            "customer_email": order.customer_email,
            "received_on": days_ago(60).isoformat(),
            "received_on_source": ReceivedDateSource.STAFF,
        },
    )

    assert response.status_code == 403
    assert order_state(order) == before
    assert not ClaimEvent.objects.filter(action=ClaimAction.RECEIVED_DATE_CHANGED).exists()


def test_customer_service_changes_the_received_date_before_any_approval(client, cs, order):
    claim = new_claim(cs, order)
    client.force_login(cs)

    response = client.post(
        received_date_url(order),
        {
            "received_on": days_ago(8).isoformat(),
            "source": ReceivedDateSource.CUSTOMER_PROOF,
            "reason": "Delivery photo",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0] == order_url(order)
    assert Order.objects.get(pk=order.pk).received_on == days_ago(8)
    assert page_messages(response) == [
        f"Order {order.number} is now received on {days_ago(8):%d %b %Y} (the customer's proof; company calendar, Asia/Shanghai). "
        "The change is in the order's history and in the history of its 1 claim(s)."
    ]
    assert OrderEvent.objects.get(order=order).actor == cs
    assert ClaimEvent.objects.get(claim=claim, action=ClaimAction.RECEIVED_DATE_CHANGED).actor == cs


def test_a_refused_received_date_shows_the_error_next_to_its_field_and_keeps_what_was_typed(client, cs, order):
    client.force_login(cs)
    tomorrow = days_ago(-1)

    response = client.post(
        received_date_url(order),
        {"received_on": tomorrow.isoformat(), "source": ReceivedDateSource.STAFF, "reason": "Customer phoned"},
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == ["received_on"]
    assert "is in the future" in form.errors["received_on"][0]
    html = response.content.decode()
    assert f'value="{tomorrow.isoformat()}"' in html
    assert "Customer phoned</textarea>" in html
    assert '<option value="staff" selected>' in html
    assert order_state(order)[:2] == (days_ago(10), ReceivedDateSource.STORE)


def test_a_received_date_without_a_reason_is_refused_next_to_the_reason(client, cs, order):
    client.force_login(cs)

    response = client.post(
        received_date_url(order), {"received_on": days_ago(8).isoformat(), "source": "staff", "reason": "  "}
    )

    assert response.context["form"].errors == {"reason": ["Write why the received date changes (what shows the day)."]}
    assert Order.objects.get(pk=order.pk).received_on == days_ago(10)


def test_customer_service_posting_a_received_date_after_an_approval_is_refused(client, cs, order):
    claim = approved_claim(cs, order)
    client.force_login(cs)
    before = order_state(order)

    response = client.post(
        received_date_url(order),
        {"received_on": days_ago(30).isoformat(), "source": ReceivedDateSource.STAFF, "reason": "Customer says so"},
    )

    assert response.status_code == 200
    refusal = f"{claim.rma_number} was approved: once a claim is approved only a manager can change the received date."
    assert response.context["form"].non_field_errors() == [refusal]
    assert response.content.decode().count(refusal) == 1
    assert "Customer says so</textarea>" in response.content.decode()
    assert order_state(order) == before
    assert not ClaimEvent.objects.filter(action=ClaimAction.RECEIVED_DATE_CHANGED).exists()


def test_the_order_page_tells_customer_service_the_date_is_a_managers_after_an_approval(client, cs, order):
    claim = approved_claim(cs, order)
    client.force_login(cs)

    response = client.get(order_url(order))

    assert response.context["received_date_refusal"].startswith(f"{claim.rma_number} was approved")
    assert 'id="received-date-form"' not in response.content.decode()


def test_a_manager_changes_the_received_date_after_an_approval_and_the_claim_page_follows(client, cs, manager, order):
    # given an approved claim, in its window
    claim = approved_claim(cs, order)
    client.force_login(manager)
    assert "Eligible: claim made" in client.get(claim_url(claim)).content.decode()

    # when a manager, from the claim page's link, records that the goods arrived 60 days ago
    response = client.post(
        f"{received_date_url(order)}?next={claim_url(claim)}",
        {
            "received_on": days_ago(60).isoformat(),
            "source": ReceivedDateSource.CARRIER,
            "reason": "Carrier's delivery scan",
            "next": claim_url(claim),
        },
        follow=True,
    )

    # then the date is changed, recorded on the order and the claim, and the verdict is the new one
    assert response.redirect_chain[-1][0] == claim_url(claim)
    assert Order.objects.get(pk=order.pk).received_on == days_ago(60)
    payload = {
        "old_received_on": days_ago(10).isoformat(),
        "new_received_on": days_ago(60).isoformat(),
        "old_source": "store",
        "new_source": "carrier",
        "reason": "Carrier's delivery scan",
    }
    assert OrderEvent.objects.get(order=order).payload == payload
    event = ClaimEvent.objects.get(claim=claim, action=ClaimAction.RECEIVED_DATE_CHANGED)
    assert (event.actor, event.payload) == (manager, payload)
    html = response.content.decode()
    assert "Expired: the 45-day no-reason return window ended on" in html
    assert "15 days before the claim was made" in html


def test_next_leading_off_the_site_is_ignored(client, cs, order):
    client.force_login(cs)

    response = client.post(
        received_date_url(order),
        {"received_on": days_ago(8).isoformat(), "source": "staff", "reason": "x", "next": "https://evil.example/"},
    )

    assert response.url == order_url(order)


def test_claim_page_links_to_the_received_date_form_from_customer_and_order(client, cs, order):
    claim = new_claim(cs, order)
    client.force_login(cs)

    html = client.get(claim_url(claim)).content.decode()

    customer_and_order = html.split('id="claim-order"', 1)[1].split("</section>", 1)[0]  # the order card
    assert f'href="{received_date_url(order)}?next={claim_url(claim)}"' in customer_and_order
    assert (
        f"received on {days_ago(10):%d %b %Y} (the store&#x27;s export; company calendar, Asia/Shanghai)"
        in customer_and_order
    )


def test_warehouse_cannot_change_the_received_date(client, cs, warehouse_user, order):
    client.force_login(warehouse_user)

    response = client.post(
        received_date_url(order), {"received_on": days_ago(8).isoformat(), "source": "staff", "reason": "x"}
    )

    assert response.context["form"].non_field_errors() == ["You do not have permission to change received dates."]
    assert order_state(order)[0] == days_ago(10)


# --- the claim's time ---------------------------------------------------------------------------


def test_customer_service_posting_a_claim_time_to_the_claim_change_page_changes_nothing(client, cs, order):
    claim = new_claim(cs, order)
    client.force_login(cs)

    response = client.post(claim_url(claim), {"submitted_at": local_input(timezone.now() - dt.timedelta(days=3))})

    assert response.status_code == 403
    assert Claim.objects.get(pk=claim.pk).submitted_at == claim.submitted_at


def test_customer_service_changes_the_claim_time_before_approval(client, cs, order):
    claim = new_claim(cs, order)
    client.force_login(cs)
    arrived = (timezone.now() - dt.timedelta(days=2)).replace(second=0, microsecond=0)

    response = client.post(
        submitted_at_url(claim), {"submitted_at": local_input(arrived), "reason": "Email header"}, follow=True
    )

    assert response.redirect_chain[-1][0] == claim_url(claim)
    assert Claim.objects.get(pk=claim.pk).submitted_at == arrived
    assert any(message.startswith(f"{claim} is now made at") for message in page_messages(response))
    assert ClaimEvent.objects.get(claim=claim, action=ClaimAction.SUBMITTED_AT_CHANGED).actor == cs


def test_a_refused_claim_time_shows_the_error_next_to_its_field_and_keeps_what_was_typed(client, cs, order):
    claim = new_claim(cs, order)
    client.force_login(cs)
    typed = local_input(timezone.now() - dt.timedelta(days=2))

    response = client.post(submitted_at_url(claim), {"submitted_at": typed, "reason": ""})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "reason": ["Write why the claim's time changes (what shows the moment)."]
    }
    assert f'value="{typed}"' in response.content.decode()


def test_customer_service_posting_a_claim_time_after_approval_is_refused(client, cs, order):
    claim = approved_claim(cs, order)
    client.force_login(cs)

    response = client.post(
        submitted_at_url(claim),
        {"submitted_at": local_input(timezone.now() - dt.timedelta(days=2)), "reason": "Email header"},
    )

    refusal = (
        f"{claim.rma_number} was approved: once a claim is approved only a manager can change the time the claim "
        "was made."
    )
    assert response.context["form"].non_field_errors() == [refusal]
    assert Claim.objects.get(pk=claim.pk).submitted_at == claim.submitted_at
    assert not ClaimEvent.objects.filter(claim=claim, action=ClaimAction.SUBMITTED_AT_CHANGED).exists()


def test_a_manager_changes_the_claim_time_after_approval_and_the_verdict_follows(client, cs, manager, order):
    claim = approved_claim(cs, order)
    client.force_login(manager)
    arrived = (timezone.now() - dt.timedelta(days=6)).replace(second=0, microsecond=0)

    response = client.post(
        submitted_at_url(claim), {"submitted_at": local_input(arrived), "reason": "Email header"}, follow=True
    )

    assert Claim.objects.get(pk=claim.pk).submitted_at == arrived
    event = ClaimEvent.objects.get(claim=claim, action=ClaimAction.SUBMITTED_AT_CHANGED)
    assert (event.actor, event.payload["reason"]) == (manager, "Email header")
    assert f"Eligible: claim made {policy.claim_day(arrived):%d %b %Y}" in response.content.decode()


def test_the_claim_page_offers_the_claim_time_form_to_customer_service_before_approval(client, cs, order):
    claim = new_claim(cs, order)
    client.force_login(cs)

    html = client.get(claim_url(claim)).content.decode()

    assert f'action="{submitted_at_url(claim)}"' in html
