"""After logging in, an unsafe ?next= goes to the admin's home, a safe one is followed."""

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
