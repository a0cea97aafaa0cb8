"""Money and state that disagree: healed by the reconciliation as the system, or listed for a person."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from backoffice import reconcile
from backoffice.models import AttentionCheck
from backoffice.tasks import reconcile as reconcile_task
from backoffice.views import ATTENTION_ASKED_KEY
from inspections.services import inspection_propose_refund
from refunds.models import Refund, RefundStatus
from refunds.tests.conftest import finance_user, inspected_claim
from returns.models import ClaimStatus, ClaimType, OutboundEmail
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, staff_user
from shipments.models import OutboundParcel, OutboundPurpose
from warranty.models import Replacement, ReplacementKind, ReplacementStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def inspector(django_user_model):
    return staff_user(django_user_model, "picker", ROLES["warehouse"])


@pytest.fixture
def finance(django_user_model):
    return finance_user(django_user_model, "payer")


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


def succeeded_refund_behind_its_claim(inspector, claim_status=ClaimStatus.INSPECTED):
    """A refund that succeeded while its claim did not follow (as a deactivated approver once left it)."""
    claim = inspected_claim(inspector, ["full_refund"], unit_price="49.90")
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.SUCCEEDED, succeeded_at=timezone.now())
    type(claim).objects.filter(pk=claim.pk).update(status=claim_status)
    return refund


def shipped_parcel_with_approved_replacement(inspector):
    """The stuck claim: its replacement parcel marked shipped from the parcel's page, the replacement left approved."""
    claim = ClaimFactory(claim_type=ClaimType.WARRANTY, status=ClaimStatus.INSPECTED, rma_number="RMA-2026-000777")
    item = ClaimItemFactory(claim=claim)
    parcel = OutboundParcel.objects.create(
        claim=claim,
        purpose=OutboundPurpose.REPLACEMENT,
        serial_numbers=["NEW-1"],
        carrier="DHL",
        tracking_number="JD777",
        shipped_at=timezone.now(),
        shipped_by=inspector,
    )
    Replacement.objects.create(
        claim=claim,
        claim_item=item,
        kind=ReplacementKind.WHOLE_PRODUCT,
        status=ReplacementStatus.APPROVED,
        replacement_serial="NEW-1",
        outbound_parcel=parcel,
    )
    return claim


def test_a_succeeded_refund_gets_its_claim_refunded_by_the_system(inspector):
    refund = succeeded_refund_behind_its_claim(inspector)

    assert reconcile_task.apply().get() == {"claims_refunded": 1, "replacements_shipped": 0}
    assert reconcile.reconcile_sweep() == {"claims_refunded": 0, "replacements_shipped": 0}

    claim = refund.claim
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REFUNDED
    refunded, reconciled = claim.events.filter(action__in=["refund", "reconciled"]).order_by("id")
    assert (refunded.actor_kind, refunded.payload["refund_id"]) == ("system", refund.pk)
    assert (reconciled.actor_kind, reconciled.payload) == (
        "system",
        {"what": "refund_succeeded", "refund_id": refund.pk},
    )


def test_a_replacement_parcel_shipped_outside_its_replacement_is_put_right(inspector):
    claim = shipped_parcel_with_approved_replacement(inspector)

    assert reconcile.reconcile_sweep() == {"claims_refunded": 0, "replacements_shipped": 1}

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REPLACED
    assert Replacement.objects.get(claim=claim).status == ReplacementStatus.SHIPPED
    assert claim.events.get(action="replace").actor_kind == "system"
    email = OutboundEmail.objects.get(claim=claim, template="replacement_shipped")
    assert "JD777" in email.body_text
    assert reconcile.needs_attention() == []


def test_what_only_a_person_can_put_right_is_listed(inspector):
    paid_but_cancelled = succeeded_refund_behind_its_claim(inspector, ClaimStatus.CANCELLED)
    refunded_without_money = ClaimFactory(status=ClaimStatus.REFUNDED, rma_number="RMA-2026-000500")
    replaced_without_shipment = ClaimFactory(status=ClaimStatus.REPLACED, rma_number="RMA-2026-000501")
    over = inspected_claim(inspector, ["full_refund"], unit_price="10.00")
    refund = inspection_propose_refund(claim_id=over.pk, by=inspector)
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.APPROVED)
    line = over.items.get().order_line
    type(line).objects.filter(pk=line.pk).update(store_refunded_amount=Decimal("5.00"))

    found = {(item.kind, item.subject) for item in reconcile.needs_attention()}

    assert found == {
        ("refund_claim", str(paid_but_cancelled.claim)),
        ("claim_refund", "RMA-2026-000500"),
        ("claim_replacement", "RMA-2026-000501"),
        ("line_over", f"{line.order.number} · {line.product.sku}"),
    }
    assert reconcile.reconcile_sweep() == {"claims_refunded": 0, "replacements_shipped": 0}
    assert str(refunded_without_money) and str(replaced_without_shipment)


def test_the_needs_attention_page_lists_them_for_staff(client, cs, inspector):
    refund = succeeded_refund_behind_its_claim(inspector, ClaimStatus.CANCELLED)
    client.force_login(cs)

    response = client.get(reverse("attention"))

    assert response.status_code == 200
    html = response.content.decode()
    assert str(refund.claim) in html and "paid 49.90 USD, but the claim is cancelled" in html
    assert reverse("attention") in client.get(reverse("admin:index")).content.decode()


def test_the_needs_attention_page_says_when_all_is_well(client, cs):
    client.force_login(cs)

    assert "Nothing needs attention." in client.get(reverse("attention")).content.decode()


def test_the_outbound_parcel_page_refuses_to_ship_a_replacement_parcel(client, inspector, django_user_model):
    """Item 7: shipping a replacement's parcel from the parcel's admin used to leave a stuck claim."""
    warehouse = staff_user(django_user_model, "shipper", ROLES["warehouse"])
    claim = ClaimFactory(claim_type=ClaimType.WARRANTY, status=ClaimStatus.INSPECTED)
    parcel = OutboundParcel.objects.create(claim=claim, purpose=OutboundPurpose.REPLACEMENT)
    client.force_login(warehouse)

    response = client.post(
        reverse("admin:shipments_outboundparcel_ship", args=[parcel.pk]),
        {"carrier": "DHL", "tracking_number": "JD1"},
        follow=True,
    )

    assert "shipped from its replacement" in response.content.decode()
    parcel.refresh_from_db()
    assert (parcel.shipped_at, parcel.tracking_number) == (None, "")
    assert not claim.events.filter(action="outbound_shipped").exists()


# --- The page shows the last check, not a scan of the tables (issue 17) ---------------------------------------


def test_the_page_shows_the_stored_check_without_running_one(client, cs, inspector, monkeypatch):
    refund = succeeded_refund_behind_its_claim(inspector, ClaimStatus.CANCELLED)
    check = reconcile.attention_check()
    AttentionCheck.objects.filter(pk=check.pk).update(took_ms=1234)

    def scan():
        raise AssertionError("the page ran the checks")

    monkeypatch.setattr(reconcile, "needs_attention", scan)
    client.force_login(cs)
    html = client.get(reverse("attention")).content.decode()

    assert str(refund.claim) in html and "paid 49.90 USD, but the claim is cancelled" in html
    assert "Last checked " in html and "(the check took 1.2 s)" in html
    assert "every 10 minutes" in html


def test_the_reconcile_task_stores_its_check_and_keeps_only_the_newest(inspector):
    reconcile_task()
    refund = succeeded_refund_behind_its_claim(inspector, ClaimStatus.CANCELLED)
    assert AttentionCheck.objects.get().items == []  # the first run found nothing

    reconcile_task()

    [check] = AttentionCheck.objects.all()
    assert [(item["kind"], item["subject"]) for item in check.items] == [("refund_claim", str(refund.claim))]
    assert [reconcile.Mismatch(**item) for item in check.items] == reconcile.needs_attention()


def test_check_again_queues_one_reconciliation_a_minute(
    client, cs, inspector, monkeypatch, django_capture_on_commit_callbacks
):
    cache.delete(ATTENTION_ASKED_KEY)
    queued = []
    monkeypatch.setattr(reconcile_task, "delay", lambda: queued.append("reconcile"))
    client.force_login(cs)
    assert "Nothing needs attention." in client.get(reverse("attention")).content.decode()  # the first check
    refund = succeeded_refund_behind_its_claim(inspector, ClaimStatus.CANCELLED)
    assert str(refund.claim) not in client.get(reverse("attention")).content.decode()  # not checked since

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(reverse("attention"), follow=True)
        second = client.post(reverse("attention"), follow=True)

    assert queued == ["reconcile"]
    assert "Checking again." in first.content.decode()
    assert "A check was asked for less than a minute ago" in second.content.decode()
    reconcile_task()  # what the worker runs
    assert str(refund.claim) in client.get(reverse("attention")).content.decode()
    cache.delete(ATTENTION_ASKED_KEY)
