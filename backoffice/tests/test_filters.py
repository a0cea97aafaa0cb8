"""The claim list's period filters: a crafted period is removed with a message, never a 500."""

import pytest

from returns.tests.factories import ROLES, ClaimFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client, django_user_model):
    client.force_login(staff_user(django_user_model, "boss", ROLES["manager"]))
    return client


@pytest.mark.parametrize(
    ("param", "words"),
    [
        ("made=9999-12-31..9999-12-31", "“9999-12-31..9999-12-31” is not a period between 2000 and 2099."),
        ("made=0001-01-01..0001-01-02", "is not a period between 2000 and 2099."),
        ("made=yesterday", "“yesterday” is not a period like 2026-01-05..2026-01-11."),
        ("made=2026-02-01..2026-01-01", "ends before it starts."),
        ("refund_paid=9999-12-31..9999-12-31:EUR", "is not a period between 2000 and 2099."),
    ],
)
def test_a_crafted_period_on_the_claim_list_is_removed_with_a_message(manager_client, param, words):
    ClaimFactory()

    response = manager_client.get(f"/admin/returns/claim/?{param}", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("?e=1")
    [message] = [m.message for m in response.context["messages"]]
    assert message.startswith("The filter was removed: ")
    assert words in message


def test_a_crafted_period_exports_nothing(manager_client):
    response = manager_client.get("/admin/returns/claim/export/csv/?made=9999-12-31..9999-12-31")

    assert response.status_code == 302
    assert "text/csv" not in response.get("Content-Type", "")


def test_a_valid_period_still_filters(manager_client):
    ClaimFactory()

    response = manager_client.get("/admin/returns/claim/?made=2000-01-01..2000-01-02")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
