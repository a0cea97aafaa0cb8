"""Orders as the store sends them, photos as a phone makes them, and the links as the customer gets them."""

import io
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from returns import links
from returns.tests.factories import ROLES, OrderFactory, OrderLineFactory, ProductFactory, staff_user


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """The lookup counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


def days_ago(days: int):
    return timezone.localdate() - timedelta(days=days)


def order_with_lines(*, received_days_ago=10, email="ada@example.com", number="SO-200100", quantities=(2, 1)):
    """An order delivered ``received_days_ago`` days ago (None: unknown) with a cage and a monitor (electronic)."""
    order = OrderFactory(
        number=number,
        customer_email=email,
        customer_name="Ada Lovelace",
        received_on=None if received_days_ago is None else days_ago(received_days_ago),
    )
    products = [
        ProductFactory(sku="CAGE-1", name="Camera cage", is_electronic=False),
        ProductFactory(sku="MON-5", name="5-inch monitor", is_electronic=True),
    ]
    lines = [
        OrderLineFactory(order=order, product=product, quantity=quantity)
        for product, quantity in zip(products, quantities, strict=False)
    ]
    return order, lines


@pytest.fixture
def order_and_lines():
    return order_with_lines()


def photo_bytes(size=(64, 48), image_format="JPEG", colour="tan") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, image_format)
    return out.getvalue()


def photo(name="box.jpg", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, photo_bytes(**kwargs), content_type="image/jpeg")


def fake_photo(name="box.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"<html>not a photo</html>", content_type="image/jpeg")


def order_path(order) -> str:
    return urlsplit(links.order_url(order)).path


def status_path(claim) -> str:
    return urlsplit(links.claim_status_url(claim)).path
