import datetime
import io
import itertools

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db.models import F, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from backoffice import dashboard, demo, roles
from inspections.models import Inspection
from inspections.selectors import inspection_queue
from refunds.models import Refund, RefundEvent, RefundStatus
from returns import selectors
from returns.models import (
    Claim,
    ClaimEvent,
    ClaimItem,
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
from shipments.models import EnteredVia, OutboundParcel, OutboundPurpose, ParcelPhoto, ReturnParcel, UnmatchedParcel
from warranty.models import Replacement, ReplacementStatus

pytestmark = pytest.mark.django_db

# The states every claim type reaches at triage; after it, each type has its own (a warranty claim is
# replaced, not refunded; a DOA or no-reason claim is refunded, not replaced).
TRIAGE_STATES = {
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
    models = (
        *(Product, Order, OrderLine, Claim, ClaimEvent, Evidence, OutboundEmail, User, RmaSequence),
        *(ReturnParcel, UnmatchedParcel, ParcelPhoto, OutboundParcel, Inspection, Refund, RefundEvent, Replacement),
    )
    return {model.__name__: model.objects.count() for model in models} | {
        "rma_last_value": sum(RmaSequence.objects.values_list("last_value", flat=True))
    }


def demo_claim(key: str) -> Claim:
    return Claim.objects.get(submission_key=demo.claim_key(key))


def test_loading_twice_adds_nothing_the_second_time(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first_output = load_demo()
    after_first = counts()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second_output = load_demo()

    claims = len(demo.CLAIMS) + len(demo.month_claims())
    assert counts() == after_first
    assert after_first["Claim"] == claims
    assert after_first["UnmatchedParcel"] == len(demo.UNMATCHED_PARCELS)
    assert after_first["Order"] == 378
    assert callbacks == []  # no email, thumbnail or refund execution queued again
    assert f"Claims: {claims} created, 0 already there." in first_output
    assert f"Claims: 0 created, {claims} already there." in second_output
    assert f"Unmatched parcels: {len(demo.UNMATCHED_PARCELS)} received, 0 already there." in first_output
    assert f"Unmatched parcels: 0 received, {len(demo.UNMATCHED_PARCELS)} already there." in second_output
    assert "Order lines: 0 created, 0 updated, 631 unchanged." in second_output
    assert "Claims by state: requested " in second_output


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

    assert "Orders: 0 created, 0 updated, " in output
    assert dict(Order.objects.values_list("number", "received_on")) == received


def test_claims_cover_every_state_and_each_type_in_each_triage_state():
    load_demo()

    # Every state is reachable through the services, and the demo has each one.
    assert set(Claim.objects.values_list("status", flat=True)) == set(ClaimStatus.values)
    seen = set(Claim.objects.values_list("claim_type", "status"))
    assert seen >= set(itertools.product(ClaimType.values, TRIAGE_STATES | {ClaimStatus.SHIPPED}))
    assert seen >= {
        (ClaimType.DOA, ClaimStatus.INSPECTED),
        (ClaimType.NO_REASON, ClaimStatus.INSPECTED),
        (ClaimType.DOA, ClaimStatus.REFUNDED),
        (ClaimType.NO_REASON, ClaimStatus.REFUNDED),
        (ClaimType.WARRANTY, ClaimStatus.REPLACED),
    }
    assert set(Claim.objects.filter(claim_type=ClaimType.DOA).values_list("doa_reason", flat=True)) == set(
        DoaReason.values
    )
    for claim in Claim.objects.filter(status=ClaimStatus.APPROVED):
        assert claim.rma_number.startswith("RMA-")
    assert Claim.objects.filter(status=ClaimStatus.APPROVED, is_returnless=True).count() == 1


def test_parcels_are_tracked_by_the_customer_or_customer_service_and_received_by_the_warehouse():
    load_demo()

    by_link = demo_claim("no-reason-shipped-by-customer")
    assert by_link.status == ClaimStatus.SHIPPED
    assert by_link.return_parcel.entered_via == EnteredVia.CUSTOMER_LINK
    assert by_link.events.get(action="ship").actor is None
    by_cs = demo_claim("warranty-shipped-entered-by-cs")
    assert by_cs.return_parcel.entered_via == EnteredVia.STAFF
    assert by_cs.events.get(action="ship").actor.username == "cs"
    # The warehouse's inspection queue: one parcel untouched, one inspection half done; beside them, a month claim
    # whose parcel came in and whose inspection is still ahead at this hour of the day (the month's steps run
    # at their own hours before the load's moment).
    queue = {parcel.claim.submission_key: parcel for parcel in inspection_queue()}
    fixed = {demo.claim_key("doa-damage-received"), demo.claim_key("no-reason-received-inspection-started")}
    assert fixed <= set(queue)
    assert set(queue) - fixed <= {demo.claim_key(claim.key) for claim in demo.month_claims()}
    assert queue[demo.claim_key("doa-damage-received")].photos.count() == 1
    started = Inspection.objects.get(
        claim_item__claim__submission_key=demo.claim_key("no-reason-received-inspection-started")
    )
    assert started.completed_at is None and started.is_new_unused
    assert demo_claim("no-reason-received-inspection-started").return_parcel.entered_via == EnteredVia.WAREHOUSE
    # Customer service's unmatched parcels: one for a cancelled claim, one without an RMA number.
    unmatched = {parcel.tracking_number: parcel for parcel in UnmatchedParcel.objects.filter(attached_to=None)}
    assert {parcel.reason for parcel in unmatched.values()} == {"cancelled", "no_rma"}
    assert unmatched["JD014600009921"].claim_found == demo_claim("no-reason-cancelled")


def test_refunds_wait_for_finance_or_are_paid_manually():
    load_demo()

    refunds = {refund.claim.submission_key: refund for refund in Refund.objects.select_related("claim")}
    assert {refund.provider for refund in refunds.values()} == {"manual"}

    def refund(key):
        return refunds[demo.claim_key(key)]

    proposed = refund("doa-quality-inspected-refund-proposed")
    assert proposed.status == RefundStatus.PROPOSED
    assert proposed.lines.get(kind="return_shipping").amount_to_enter  # finance enters it from the receipt
    assert refund("doa-missing-item-returnless").status == RefundStatus.PROPOSED
    two = refund("no-reason-inspected-second-approval")
    assert two.status == RefundStatus.AWAITING_SECOND_APPROVAL
    assert two.approved_by.username == "finance" and two.total == 636
    waiting = refund("doa-wrong-item-awaiting-manual-payment")
    assert waiting.status == RefundStatus.PROCESSING and waiting.claim.status == ClaimStatus.INSPECTED
    assert waiting.lines.get(kind="return_shipping").amount == 68
    for key in ("no-reason-refunded-with-deduction", "doa-missing-item-refunded"):
        paid = refund(key)
        assert paid.status == RefundStatus.SUCCEEDED and paid.provider_reference
        assert paid.claim.status == ClaimStatus.REFUNDED
        assert paid.events.get(action="record_manual_payment").actor.username == "finance"
        assert paid.claim.events.get(action="refund").actor_kind == "system"
    assert refund("no-reason-refunded-with-deduction").lines.filter(kind="deduction").exists()
    assert demo_claim("doa-missing-item-refunded").is_returnless


def test_warranty_claims_are_replaced_or_rejected_after_their_inspection():
    load_demo()

    replaced = demo_claim("warranty-replaced")
    assert replaced.status == ClaimStatus.REPLACED
    replacement = Replacement.objects.get(claim=replaced)
    assert replacement.status == ReplacementStatus.SHIPPED
    assert (replacement.faulty_serial, replacement.replacement_serial) == ("FF-89544", "FF-93010")
    assert replacement.approved_by.username == "cs"
    assert (
        replacement.outbound_parcel.tracking_number and replacement.outbound_parcel.shipped_by.username == "warehouse"
    )
    rejected = demo_claim("warranty-rejected-after-inspection")
    assert rejected.status == ClaimStatus.REJECTED
    assert "human or physical damage" in rejected.rejection_reason
    assert list(rejected.events.values_list("action", flat=True))[-2:] == ["inspect", "reject_after_inspection"]
    # The goods go back at the customer's cost: a parcel for the warehouse to send.
    assert OutboundParcel.objects.get(claim=rejected).purpose == OutboundPurpose.RETURN_TO_CUSTOMER


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
    assert templates == {
        "claim_received",
        "information_requested",
        "claim_approved",
        "claim_rejected",
        "claim_inspected",
        "refund_sent",
        "replacement_shipped",
    }
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
    # axes (accounts) checks each authentication against the request's username and address: it needs one.

    assert client.login(request=HttpRequest(), username=username, password=password)
    response = client.get(reverse("admin:returns_claim_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == len(demo.CLAIMS) + len(demo.month_claims())


def test_expired_claim_page_shows_the_expired_verdict(client):
    load_demo()
    client.login(request=HttpRequest(), username="cs", password="demo-cs")
    claim = demo_claim("warranty-electronic-expired")

    response = client.get(reverse("admin:returns_claim_change", args=[claim.pk]))

    assert response.status_code == 200
    assert "Expired: the electronic products&#x27; 1-year warranty ended on" in response.content.decode()


# Each role's own work list: the page it starts from, with the demo's work on it.
QUEUES = {
    "cs": ("/admin/returns/claim/", "/admin/shipments/unmatchedparcel/"),
    "warehouse": ("/admin/inspections/inspection/queue/",),
    "finance": ("/admin/refunds/refund/",),
    "manager": ("/admin/returns/claim/",),
}


@pytest.mark.parametrize(("username", "password", "role"), [user for user in demo.USERS if user[0] in QUEUES])
def test_every_role_sees_its_queue_with_the_demo_work(client, username, password, role):
    load_demo()
    assert client.login(request=HttpRequest(), username=username, password=password)

    for url in QUEUES[username]:
        response = client.get(url)
        assert response.status_code == 200, url

    page = response.content.decode()
    if username == "warehouse":
        for key in ("doa-damage-received", "no-reason-received-inspection-started"):
            assert demo_claim(key).rma_number in page
    if username == "finance":
        for key in ("doa-quality-inspected-refund-proposed", "no-reason-inspected-second-approval"):
            assert demo_claim(key).rma_number in page
    if username == "cs":
        assert response.context["cl"].result_count == len(demo.UNMATCHED_PARCELS)


def test_a_changed_password_is_put_back():
    load_demo()
    cs = get_user_model().objects.get(username="cs")
    cs.set_password("something-else")
    cs.save()

    load_demo()

    cs.refresh_from_db()
    assert cs.check_password("demo-cs")


def test_the_month_sells_far_more_than_comes_back_and_every_chart_has_weeks_to_show():
    load_demo()
    filters = dashboard.Filters.default(timezone.localdate())

    rates, _ = dashboard.sku_claim_rates(filters)
    sold = OrderLine.objects.aggregate(units=Sum("quantity"))["units"]
    claimed = ClaimItem.objects.aggregate(units=Sum("quantity"))["units"]
    assert sold > 10 * claimed  # a month of a brand: about one unit in twenty comes back
    assert rates and all(rate.rate < 0.5 for rate in rates)
    assert len({week for week, _ in dashboard.claims_per_week_by_type(filters)}) >= 4
    assert len({week for week, _ in dashboard.refund_value_per_week(filters)}) >= 2
    days = dashboard.approval_to_refund_per_week(filters)
    # the month's refunds paid days after their approval (the hand-made claims' today, within minutes)
    assert sum(average > 1 for average, _ in days.values()) >= 3
    first_response = dashboard.first_response_per_week(filters, timezone.now())
    assert sum(week["met"] for week in first_response.values()) < sum(
        week["judged"] for week in first_response.values()
    )
