"""Bad input at the door: an unsafe ?next= after login goes to the admin home; a NUL character is refused."""

import pytest

from returns.tests.factories import ROLES, staff_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/admin/", "javascript:alert(1)", ""])
def test_an_unsafe_next_goes_to_the_admin_home(client, django_user_model, next_url):
    staff_user(django_user_model, "agent", ROLES["cs"])

    response = client.post(
        f"/admin/login/?next={next_url}", {"username": "agent", "password": "pw-agent", "next": next_url}, follow=True
    )

    assert [url for url, _ in response.redirect_chain] == ["/admin/"]
    assert response.status_code == 200


def test_a_safe_next_is_followed(client, django_user_model):
    staff_user(django_user_model, "agent", ROLES["cs"])

    response = client.post(
        "/admin/login/", {"username": "agent", "password": "pw-agent", "next": "/admin/returns/claim/"}
    )

    assert response["Location"] == "/admin/returns/claim/"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/returns/claim/?sku=%00",
        "/admin/returns/product/?sku=A%00B",
        "/admin/returns/claim/?q=%00",
        "/admin/dashboard/?sku=%00",
    ],
)
def test_a_nul_character_in_a_query_is_refused_in_words(admin_client, url):
    response = admin_client.get(url)

    assert response.status_code == 400
    assert "No field accepts the NUL character" in response.content.decode()


def test_a_nul_character_in_a_form_is_refused_and_nothing_saved(admin_client):
    from refunds.models import RefundEvent

    response = admin_client.post("/admin/refunds/refund/1/act/cancel/", {"reason": "bad\x00reason"})

    assert response.status_code == 400
    assert not RefundEvent.objects.exists()


CRAFTED_QUERIES = [
    "p=99999999999999999999",
    "p=-1",
    "o=zzz",
    "o=1.2.99",
    "q=" + "x" * 5000,
    "all=",
    "made=9999-12-31..9999-12-31",
    "refund_paid=9999-12-31..9999-12-31:EUR",
    "submitted_at__gte=9999-99-99",
    "id__in=a,b",
    "status__exact=%0d%0a",
    "start=9999-12-31",
    "start=1900-01-01",
    "weeks=99999999999999999999",
    "claim_type=zzz",
]


def test_no_crafted_query_on_any_admin_page_is_a_server_error(admin_client):
    """Every list the admin registers, and the managers' pages, with each crafted query: an answer, never a 500."""
    from django.contrib import admin
    from django.urls import reverse

    from returns.tests.factories import ClaimFactory

    ClaimFactory()
    lists = [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin.site._registry]
    pages = [*lists, "/admin/dashboard/", "/admin/sla/", "/admin/attention/", "/admin/inspections/inspection/queue/"]

    answers = {
        (url, query): admin_client.get(f"{url}?{query}").status_code for url in pages for query in CRAFTED_QUERIES
    }

    assert {key: code for key, code in answers.items() if code >= 500} == {}
    assert set(answers.values()) <= {200, 302}
