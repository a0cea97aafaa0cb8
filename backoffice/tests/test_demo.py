import datetime
import io
import itertools

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from backoffice import demo, roles
from returns import selectors
from returns.models import (
    Claim,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    DoaReason,
    EmailStatus,
    Evidence,
    Order,
    OrderLine,
    OutboundEmail,
    Product,
    RmaSequence,
)

pytestmark = pytest.mark.django_db

# The states the services reach today; shipped, inspected, refunded and replaced come later.
REACHABLE = {
    ClaimStatus.REQUESTED,
    ClaimStatus.AWAITING_CUSTOMER,
    ClaimStatus.APPROVED,
    ClaimStatus.RESOLVED,
    ClaimStatus.REJECTED,
    ClaimStatus.CANCELLED,
}


def load_demo() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def counts() -> dict:
    User = get_user_model()
    return {
        model.__name__: model.objects.count()
        for model in (Product, Order, OrderLine, Claim, ClaimEvent, Evidence, OutboundEmail, User, RmaSequence)
    } | {"rma_last_value": sum(RmaSequence.objects.values_list("last_value", flat=True))}


def test_loading_twice_adds_nothing_the_second_time(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first_output = load_demo()
    after_first = counts()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second_output = load_demo()

    assert counts() == after_first
    assert after_first["Claim"] == len(demo.CLAIMS)
    assert after_first["Order"] == 15
    assert callbacks == []  # no email or thumbnail queued again
    assert f"Claims: {len(demo.CLAIMS)} created, 0 already there." in first_output
    assert f"Claims: 0 created, {len(demo.CLAIMS)} already there." in second_output
    assert "Order lines: 0 created, 0 updated, 33 unchanged." in second_output


def test_orders_come_through_the_importer_with_dates_moved_to_the_day_of_loading(monkeypatch):
    # given a file written as of 30 days after today: its dates move 30 days back
    monkeypatch.setattr(demo, "ORDERS_CSV_AS_OF", demo.ORDERS_CSV_AS_OF + datetime.timedelta(days=30))

    report = demo.demo_orders_import()

    # DEMO-1001 was received 2 days before the file's day, DEMO-1012 400 days before
    today = timezone.localdate()
    assert Order.objects.get(number="DEMO-1001").received_on == today - datetime.timedelta(days=32)
    assert Order.objects.get(number="DEMO-1012").received_on == today - datetime.timedelta(days=430)
    assert Order.objects.get(number="DEMO-1013").received_on is None
    assert report.rejected == []
    assert Product.objects.filter(is_electronic=True).exists()
    assert Product.objects.filter(is_electronic=False).exists()


def test_loading_days_later_keeps_the_dates_of_the_first_load():
    # given the demo as it was loaded ten days ago
    load_demo()
    ten_days = datetime.timedelta(days=10)
    Order.objects.update(created_at=F("created_at") - ten_days)
    Order.objects.exclude(received_on=None).update(received_on=F("received_on") - ten_days)
    received = dict(Order.objects.values_list("number", "received_on"))

    output = load_demo()

    assert "Orders: 0 created, 0 updated." in output
    assert dict(Order.objects.values_list("number", "received_on")) == received


def test_claims_cover_each_type_in_each_reachable_state():
    load_demo()

    seen = set(Claim.objects.values_list("claim_type", "status"))
    assert seen == set(itertools.product(ClaimType.values, REACHABLE))
    assert set(Claim.objects.filter(claim_type=ClaimType.DOA).values_list("doa_reason", flat=True)) == set(
        DoaReason.values
    )
    for claim in Claim.objects.filter(status=ClaimStatus.APPROVED):
        assert claim.rma_number.startswith("RMA-")
    assert Claim.objects.filter(status=ClaimStatus.APPROVED, is_returnless=True).count() == 1


def test_claims_outside_their_window_stay_requested_but_one_is_overridden_by_the_manager():
    load_demo()

    expired = [claim for claim in Claim.objects.all() if selectors.claim_review(claim).window_expired]
    assert {(claim.claim_type, claim.status) for claim in expired} == {
        (ClaimType.DOA, ClaimStatus.REQUESTED),
        (ClaimType.NO_REASON, ClaimStatus.REQUESTED),
        (ClaimType.WARRANTY, ClaimStatus.REQUESTED),
        (ClaimType.NO_REASON, ClaimStatus.APPROVED),
    }
    [overridden] = [claim for claim in expired if claim.status == ClaimStatus.APPROVED]
    assert overridden.window_override_reason
    approval = overridden.events.get(action="approve")
    assert approval.actor.username == "manager"
    assert approval.payload["days_over"] > 0


def test_claims_were_made_through_the_services_with_events_photos_and_emails(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        load_demo()

    for claim in Claim.objects.all():
        actions = list(claim.events.values_list("action", flat=True))
        assert actions[0] == "create"
        assert claim.events.last().to_status == claim.status
    assert Evidence.objects.filter(shows_whole_package=True).exclude(thumbnail="").count() == Evidence.objects.count()
    assert Evidence.objects.count() >= 18
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {EmailStatus.SENT}
    templates = set(OutboundEmail.objects.values_list("template", flat=True))
    assert templates == {"claim_received", "information_requested", "claim_approved", "claim_rejected"}
    assert len(mail.outbox) == OutboundEmail.objects.count()


def test_users_have_their_roles_and_print_their_logins():
    output = load_demo()

    User = get_user_model()
    for username, password, role in demo.USERS:
        user = User.objects.get(username=username)
        assert user.is_staff
        assert f"{username:<10} password {password}" in output
        if role:
            assert list(user.groups.values_list("name", flat=True)) == [role]
            assert not user.is_superuser
        else:
            assert user.is_superuser
    assert {role for _, _, role in demo.USERS} - {None} == set(roles.ROLE_PERMISSIONS)
    assert "http://127.0.0.1:8000/admin/" in output


@pytest.mark.parametrize(("username", "password", "role"), demo.USERS)
def test_every_demo_user_logs_in_and_sees_the_claim_list(client, username, password, role):
    load_demo()

    assert client.login(username=username, password=password)
    response = client.get(reverse("admin:returns_claim_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == len(demo.CLAIMS)


def test_expired_claim_page_shows_the_expired_verdict(client):
    load_demo()
    client.login(username="cs", password="demo-cs")
    claim = Claim.objects.get(order_number="DEMO-1012")

    response = client.get(reverse("admin:returns_claim_change", args=[claim.pk]))

    assert response.status_code == 200
    assert "Expired: the electronic products&#x27; 1-year warranty ended on" in response.content.decode()


def test_a_changed_password_is_put_back():
    load_demo()
    cs = get_user_model().objects.get(username="cs")
    cs.set_password("something-else")
    cs.save()

    load_demo()

    cs.refresh_from_db()
    assert cs.check_password("demo-cs")
