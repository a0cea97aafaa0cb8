"""The webhook endpoint through a real HTTP server and client, as Shopify reaches it: no session, no CSRF
cookie or token, no ``Origin`` (the test client sends none either, so only a real request shows that the
CSRF exemption holds where every other POST would be refused)."""

import datetime as dt

import pytest
import requests

from returns.models import Order, ReceivedDateSource
from stores.models import DeliveryStatus, WebhookDelivery
from stores.tests.shopify import DELIVERED, ORDERS_CREATE, TOPICS, URL, recorded, shopify_headers

pytestmark = pytest.mark.django_db(transaction=True)


def post(live_server, name: str, *, body: bytes | None = None, **headers) -> requests.Response:
    signed = recorded(name)
    return requests.post(
        live_server.url + URL,
        data=signed if body is None else body,
        headers={"Content-Type": "application/json", **shopify_headers(TOPICS[name], signed), **headers},
        timeout=30,
    )


def test_a_signed_webhook_posted_by_a_real_client_is_accepted_without_csrf_token_or_origin(live_server):
    response = post(live_server, ORDERS_CREATE)

    assert response.status_code == 200, response.text
    assert "Origin" not in response.request.headers and "Cookie" not in response.request.headers
    assert response.text == "Received.\n"
    order = Order.objects.get(number="#1001")
    assert order.lines.count() == 2
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PROCESSED


def test_a_real_client_posting_from_another_origin_is_judged_by_the_signature_alone(live_server):
    response = post(live_server, ORDERS_CREATE, Origin="https://attacker.example")

    assert response.status_code == 200, response.text
    assert Order.objects.filter(number="#1001").exists()


def test_a_tampered_body_from_a_real_client_gets_401_and_nothing_is_stored(live_server):
    tampered = recorded(ORDERS_CREATE).replace(b"alice.martin@example.com", b"mallory@example.com")

    response = post(live_server, ORDERS_CREATE, body=tampered)

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert not Order.objects.exists()


def test_a_delivery_event_before_its_order_over_http_sets_the_received_date_once_the_order_arrives(live_server):
    waiting = post(live_server, DELIVERED)
    created = post(live_server, ORDERS_CREATE)

    assert (waiting.status_code, created.status_code) == (200, 200)
    order = Order.objects.get(number="#1001")
    assert (order.received_on, order.received_on_source) == (dt.date(2026, 11, 25), ReceivedDateSource.CARRIER)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
