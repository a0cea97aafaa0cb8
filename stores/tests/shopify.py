"""The recorded Shopify payloads (``webhooks/``, see its README) and how Shopify signs and sends them."""

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path

PAYLOADS = Path(__file__).parent / "webhooks"
SECRET = "test-webhook-secret-not-for-production"
URL = "/stores/shopify/webhooks/"
SHOP = "camera-accessories.myshopify.com"

ORDER_ID = 820982911946154508
ORDERS_CREATE = "orders_create.json"
ORDERS_UPDATED = "orders_updated.json"
ORDERS_CANCELLED = "orders_cancelled.json"
REFUNDS_CREATE = "refunds_create.json"
DELIVERED = "fulfillment_events_create_delivered.json"
TOPICS = {
    ORDERS_CREATE: "orders/create",
    ORDERS_UPDATED: "orders/updated",
    ORDERS_CANCELLED: "orders/cancelled",
    REFUNDS_CREATE: "refunds/create",
    DELIVERED: "fulfillment_events/create",
}


def recorded(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def payload(name: str) -> dict:
    return json.loads(recorded(name))


def body_of(data: dict) -> bytes:
    return json.dumps(data, indent=2).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_headers(topic: str, body: bytes, *, webhook_id: str | None = None, signature: str | None = None) -> dict:
    """The headers Shopify sends with a delivery (``X-Shopify-Hmac-Sha256`` left out when ``signature=""``)."""
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body) if signature is None else signature,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-20T15:15:07.123456789Z",
        "X-Shopify-Event-Id": str(uuid.uuid4()),
    }
    if signature == "":
        del headers["X-Shopify-Hmac-Sha256"]
    return headers
