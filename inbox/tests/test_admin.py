"""The inbox's admin pages through the test client: the unsorted list, the message page (HTML escaped), the
pre-filled new-claim form, the claim page's conversation and its free reply."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox import services, testing
from inbox.models import InboundMessage, MessageState
from inbox.tests.conftest import SUPPORT
from returns import services as claims
from returns.tests.factories import OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, cs, settings):
    settings.INBOUND_REPLY_ADDRESS = SUPPORT
    client.force_login(cs)
    return client


def store(raw) -> InboundMessage:
    return services.message_store(raw=raw, mailbox="test")[0]


def test_unsorted_inbox_lists_only_unsorted_messages(agent_client, django_assert_max_num_queries):
    for n in range(5):
        store(testing.plain_email(f"c{n}@example.com", SUPPORT, f"Question {n}", "Hello"))
    store(testing.out_of_office("bob@example.com", SUPPORT))

    with django_assert_max_num_queries(12):
        response = agent_client.get(reverse("admin:inbox_unsortedmessage_changelist"))

    page = response.content.decode()
    assert page.count("Question ") == 5
    assert "Automatic reply" not in page


def test_message_page_shows_the_html_as_escaped_source_never_live(agent_client):
    from email import message_from_bytes, policy

    email = message_from_bytes(testing.plain_email("eve@example.com", SUPPORT, "hi", "x"), policy=policy.default)
    email.set_content("<p>Hello</p><script>alert('owned')</script><img src=x onerror=alert(1)>", subtype="html")
    message = store(bytes(email))

    response = agent_client.get(reverse("admin:inbox_inboundmessage_change", args=[message.pk]))

    page = response.content.decode()
    assert "<script>alert(&#x27;owned&#x27;)" not in page and "<script>alert('owned')" not in page
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert 'id="turn-into-claim"' in page


def test_turn_into_claim_form_is_prefilled_from_the_email(agent_client):
    line = OrderLineFactory(order__customer_email="ann@example.com", product=ProductFactory(sku="SR-2201"))
    other = OrderLineFactory(order__customer_email="ann@example.com")
    message = store(testing.plain_email("ann@example.com", SUPPORT, "Broken", f"My order {line.order.number} broke."))

    response = agent_client.get(reverse("admin:inbox_message_turn", args=[message.pk]))

    form = response.context["form"]
    assert response.context["order"] == line.order
    assert form.initial["description"] == f"My order {line.order.number} broke."
    assert [c.order for c in response.context["candidates"]] == [line.order, other.order]
    assert response.context["candidates"][0].reasons == ["named in the email", "an order of the sender"]
    assert "SR-2201" in response.content.decode()


def test_turn_into_claim_posts_through_the_service(agent_client):
    line = OrderLineFactory(order__customer_email="ann@example.com")
    message = store(testing.iphone_photo_email("ann@example.com", SUPPORT, line.order.number, "Bent."))
    url = reverse("admin:inbox_message_turn", args=[message.pk])
    form = agent_client.get(url).context["form"]

    response = agent_client.post(
        url,
        {
            "order_number": line.order.number,
            "submission_key": form.initial["submission_key"],
            "claim_type": "no_reason",
            "description": "Bent.",
            "submitted_at": "2026-01-01 10:00",
            f"units_{line.pk}": "1",
            "shows_whole_package": "on",
        },
    )

    message.refresh_from_db()
    assert message.state == MessageState.ON_CLAIM
    assert response.url == reverse("admin:returns_claim_change", args=[message.claim_id])
    assert message.claim.evidence.get().shows_whole_package


def test_claim_page_shows_the_conversation_and_sends_a_free_reply(agent_client, cs):
    line = OrderLineFactory(order__customer_email="ann@example.com")
    claim = claims.claim_create(
        order=line.order, claim_type="no_reason", description="x", by=cs, order_line_ids=[line.pk]
    )
    ack = claim.emails.get()
    store(
        testing.plain_email(
            "ann@example.com",
            SUPPORT,
            "Re: ack",
            "Thanks!\n\nOn Monday you wrote:\n> ack",
            in_reply_to=ack.message_id,
            date=timezone.now() + timedelta(seconds=2),  # the Date header has whole seconds
        )
    )
    page = agent_client.get(reverse("admin:returns_claim_change", args=[claim.pk])).content.decode()
    assert page.index(f'id="mail-out-{ack.pk}"') < page.index('id="mail-in-')
    assert "Thanks!" in page and 'id="reply-form"' in page

    response = agent_client.post(reverse("admin:inbox_claim_reply", args=[claim.pk]), {"reply": "You are welcome."})

    assert response.status_code == 302
    assert claim.emails.filter(template="free_reply", written_by=cs).exists()
