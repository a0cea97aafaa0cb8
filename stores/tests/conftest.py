import pytest

from returns.tests.factories import ROLES, staff_user
from stores.tests.shopify import SECRET, TOPICS, URL, recorded, shopify_headers


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.SHOPIFY_WEBHOOK_SECRET = SECRET


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


@pytest.fixture
def manager(django_user_model):
    return staff_user(django_user_model, "boss", ROLES["manager"])


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """deliver(name or body, topic=…, **headers): post through the real URL as Shopify does; the task the
    view queues on commit runs (eagerly, as the suite sets Celery)."""

    def post(name_or_body, *, topic=None, webhook_id=None, signature=None):
        body = recorded(name_or_body) if isinstance(name_or_body, str) else name_or_body
        topic = topic or TOPICS[name_or_body]
        headers = shopify_headers(topic, body, webhook_id=webhook_id, signature=signature)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=body, content_type="application/json", headers=headers)

    return post
