"""The two dates a policy window counts between, on PostgreSQL: the order's received date and the
claim's "made at". Each changes only through its service, with a reason and events, and once a claim
is approved only a manager may move it."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone

from core import actors
from returns import policy, selectors, services
from returns.models import (
    Claim,
    ClaimAction,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    Evidence,
    EvidenceKind,
    Order,
    OrderEvent,
    PolicyVersion,
    ReceivedDateSource,
)
from returns.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def days_ago(days: int) -> dt.date:
    return policy.claim_day(timezone.now()) - dt.timedelta(days=days)


@pytest.fixture
def order():
    """Received ten days ago according to the store, with one camera cage on it."""
    order = OrderFactory(received_on=days_ago(10), received_on_source=ReceivedDateSource.STORE)
    OrderLineFactory(order=order)
    return order


def new_claim(by, order, *, submitted_at=None) -> Claim:
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.NO_REASON,
        description="Not what I expected.",
        order_line_ids=list(order.lines.values_list("pk", flat=True)),
        by=by,
        submitted_at=submitted_at,
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"box", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=3,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return claim


def approved_claim(cs, order) -> Claim:
    claim = new_claim(cs, order)
    return services.claim_approve(claim_id=claim.pk, by=cs)


def set_received_on(
    by, order, received_on, *, source=ReceivedDateSource.CUSTOMER_PROOF, reason="Photo of the delivery note"
):
    return services.order_set_received_on(
        order_id=order.pk, by=by, received_on=received_on, source=source, reason=reason
    )


def set_submitted_at(by, claim, submitted_at, *, reason="The customer's email arrived then"):
    return services.claim_set_submitted_at(claim_id=claim.pk, by=by, submitted_at=submitted_at, reason=reason)


def order_state(order) -> tuple:
    fresh = Order.objects.get(pk=order.pk)
    return fresh.received_on, fresh.received_on_source, fresh.updated_at


def date_events(order) -> tuple[int, int]:
    return (
        OrderEvent.objects.filter(order=order).count(),
        ClaimEvent.objects.filter(claim__order=order, action=ClaimAction.RECEIVED_DATE_CHANGED).count(),
    )


# --- order_set_received_on: what is refused -----------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_received_date_change_without_a_reason_is_refused_and_changes_nothing(cs, order, reason):
    before = order_state(order)

    with pytest.raises(ValidationError) as refused:
        set_received_on(cs, order, days_ago(8), reason=reason)

    assert refused.value.message_dict == {"reason": ["Write why the received date changes (what shows the day)."]}
    assert order_state(order) == before
    assert date_events(order) == (0, 0)


def test_received_date_change_needs_one_of_the_sources(cs, order):
    with pytest.raises(ValidationError) as refused:
        set_received_on(cs, order, days_ago(8), source="a hunch")

    assert list(refused.value.message_dict) == ["source"]
    assert Order.objects.get(pk=order.pk).received_on == days_ago(10)


@pytest.mark.parametrize("source", ReceivedDateSource.values)
def test_received_date_may_come_from_each_source(cs, order, source):
    set_received_on(cs, order, days_ago(8), source=source)

    assert order_state(order)[:2] == (days_ago(8), source)


def test_received_date_in_the_future_of_the_company_zone_is_refused(cs, order, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    # 01:00 on 2 November in Shanghai is still 1 November in UTC
    with time_machine.travel(dt.datetime(2026, 11, 2, 1, 0, tzinfo=SHANGHAI), tick=False):
        set_received_on(cs, order, dt.date(2026, 11, 2))  # today, in the company's zone
        with pytest.raises(ValidationError) as refused:
            set_received_on(cs, order, dt.date(2026, 11, 3))

    assert refused.value.message_dict == {
        "received_on": [
            "03 Nov 2026 is in the future (today is 02 Nov 2026 in the company's time zone): "
            "the goods cannot have been received yet."
        ]
    }
    assert Order.objects.get(pk=order.pk).received_on == dt.date(2026, 11, 2)


def test_received_date_after_a_claim_of_the_order_was_made_is_refused(cs, order):
    claim = new_claim(cs, order, submitted_at=timezone.now() - dt.timedelta(days=5))
    made_on = policy.claim_day(claim.submitted_at)

    with pytest.raises(ValidationError) as refused:
        set_received_on(cs, order, made_on + dt.timedelta(days=1))

    assert refused.value.message_dict == {
        "received_on": [
            f"{claim} was made on {made_on:%d %b %Y}: the goods were received on or before that day, "
            f"not on {made_on + dt.timedelta(days=1):%d %b %Y}."
        ]
    }
    assert date_events(order) == (0, 0)


def test_received_date_on_the_day_the_claim_was_made_is_accepted(cs, order):
    claim = new_claim(cs, order, submitted_at=timezone.now() - dt.timedelta(days=5))

    set_received_on(cs, order, policy.claim_day(claim.submitted_at))

    assert Order.objects.get(pk=order.pk).received_on == policy.claim_day(claim.submitted_at)


# --- order_set_received_on: who may, before and after an approval ------------------------------


def test_customer_service_changes_the_received_date_while_no_claim_is_approved(cs, order):
    new_claim(cs, order)

    set_received_on(cs, order, days_ago(6))

    assert Order.objects.get(pk=order.pk).received_on == days_ago(6)


def test_customer_service_cannot_change_the_received_date_once_a_claim_is_approved(cs, order):
    claim = approved_claim(cs, order)
    before = order_state(order)

    with pytest.raises(PermissionDenied) as refused:
        set_received_on(cs, order, days_ago(30))

    assert str(refused.value) == (
        f"{claim.rma_number} was approved: once a claim is approved only a manager can change the received date."
    )
    assert order_state(order) == before
    assert date_events(order) == (0, 0)


def test_an_approved_then_cancelled_claim_still_counts_as_approved(cs, order):
    claim = approved_claim(cs, order)
    services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer kept it")

    with pytest.raises(PermissionDenied):
        set_received_on(cs, order, days_ago(30))


def test_a_rejected_claim_leaves_the_received_date_to_customer_service(cs, order):
    claim = new_claim(cs, order)
    services.claim_reject(claim_id=claim.pk, by=cs, reason="Used")

    set_received_on(cs, order, days_ago(6))

    assert Order.objects.get(pk=order.pk).received_on == days_ago(6)


def test_a_manager_changes_the_received_date_after_an_approval(cs, manager, order):
    approved_claim(cs, order)

    set_received_on(manager, order, days_ago(30), reason="Carrier's proof of delivery, sent by the customer")

    assert order_state(order)[:2] == (days_ago(30), ReceivedDateSource.CUSTOMER_PROOF)
    assert date_events(order) == (1, 1)


@pytest.mark.parametrize("user", ["warehouse_user", "finance_user"])
def test_other_roles_cannot_change_the_received_date(request, order, user):
    with pytest.raises(PermissionDenied, match="You do not have permission to change received dates"):
        set_received_on(request.getfixturevalue(user), order, days_ago(6))

    assert date_events(order) == (0, 0)


def test_the_customer_cannot_change_the_received_date(order):
    with pytest.raises(PermissionDenied, match="Only staff can do this"):
        set_received_on(actors.CUSTOMER, order, days_ago(6))


def test_the_system_sets_an_unknown_received_date(cs):
    order = OrderLineFactory(order__received_on=None).order
    new_claim(cs, order)

    set_received_on(actors.SYSTEM, order, days_ago(4), source=ReceivedDateSource.CARRIER, reason="Delivered scan")

    assert order_state(order)[:2] == (days_ago(4), ReceivedDateSource.CARRIER)
    event = OrderEvent.objects.get(order=order)
    assert (event.actor_kind, event.actor) == (actors.ActorKind.SYSTEM, None)


def test_the_system_changes_a_known_received_date_before_any_approval(cs, order):
    new_claim(cs, order)

    set_received_on(actors.SYSTEM, order, days_ago(9), source=ReceivedDateSource.STORE, reason="store export")

    assert Order.objects.get(pk=order.pk).received_on == days_ago(9)


def test_the_system_cannot_change_the_received_date_once_a_claim_is_approved(cs, order):
    claim = approved_claim(cs, order)

    with pytest.raises(PermissionDenied) as refused:
        set_received_on(actors.SYSTEM, order, days_ago(9), source=ReceivedDateSource.STORE, reason="store export")

    assert str(refused.value) == (
        f"{claim.rma_number} was approved: the system may not change the received date now; "
        "once a claim is approved a manager decides."
    )
    assert Order.objects.get(pk=order.pk).received_on == days_ago(10)


# --- order_set_received_on: what is recorded ---------------------------------------------------


def test_received_date_change_is_recorded_on_the_order_and_on_every_claim(cs, manager, order):
    # given two claims of the order, one approved
    approved = approved_claim(cs, order)
    services.claim_cancel(claim_id=approved.pk, by=cs, reason="Customer kept it")
    requested = new_claim(cs, order)

    # when a manager changes the received date
    set_received_on(manager, order, days_ago(12), reason="Delivery note photo")

    # then the order's history and each claim's history say who, old and new date, source and reason
    payload = {
        "old_received_on": days_ago(10).isoformat(),
        "new_received_on": days_ago(12).isoformat(),
        "old_source": ReceivedDateSource.STORE,
        "new_source": ReceivedDateSource.CUSTOMER_PROOF,
        "reason": "Delivery note photo",
    }
    order_event = OrderEvent.objects.get(order=order)
    assert (order_event.action, order_event.actor, order_event.payload) == ("received_date_changed", manager, payload)
    claim_events = ClaimEvent.objects.filter(action=ClaimAction.RECEIVED_DATE_CHANGED).order_by("claim_id")
    assert [(e.claim_id, e.actor, e.from_status, e.to_status, e.payload) for e in claim_events] == [
        (approved.pk, manager, ClaimStatus.CANCELLED, ClaimStatus.CANCELLED, payload),
        (requested.pk, manager, ClaimStatus.REQUESTED, ClaimStatus.REQUESTED, payload),
    ]


def test_received_date_change_keeps_the_reason_trimmed_and_the_claims_status(cs, order):
    claim = new_claim(cs, order)

    set_received_on(cs, order, days_ago(9), reason="  Customer's photo  ")

    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.REQUESTED
    assert OrderEvent.objects.get(order=order).payload["reason"] == "Customer's photo"


def test_the_same_received_date_again_writes_nothing(cs, order):
    approved_claim(cs, order)
    before = order_state(order)

    # not even the system, after an approval: nothing changes, so nothing is refused
    set_received_on(actors.SYSTEM, order, days_ago(10), source=ReceivedDateSource.STORE, reason="store export")
    set_received_on(cs, order, days_ago(10), source=ReceivedDateSource.STAFF)

    assert order_state(order) == before
    assert date_events(order) == (0, 0)


def test_a_new_received_date_changes_the_policy_verdict_of_the_claim(cs, manager, order):
    claim = approved_claim(cs, order)

    set_received_on(manager, order, days_ago(60), reason="The carrier delivered it two months ago")

    review = selectors.claim_review(Claim.objects.select_related("order", "policy_version").get(pk=claim.pk))
    assert review.window_expired
    assert review.judgement.days_over == 15


# --- claim_set_submitted_at ---------------------------------------------------------------------


def moment(days_ago_: float) -> dt.datetime:
    return (timezone.now() - dt.timedelta(days=days_ago_)).replace(microsecond=0)


@pytest.mark.parametrize("reason", ["", "  "])
def test_claim_time_change_without_a_reason_is_refused(cs, order, reason):
    claim = new_claim(cs, order)

    with pytest.raises(ValidationError) as refused:
        set_submitted_at(cs, claim, moment(2), reason=reason)

    assert refused.value.message_dict == {"reason": ["Write why the claim's time changes (what shows the moment)."]}
    assert Claim.objects.get(pk=claim.pk).submitted_at == claim.submitted_at


def test_claim_time_in_the_future_is_refused(cs, order):
    claim = new_claim(cs, order)

    with pytest.raises(ValidationError) as refused:
        set_submitted_at(cs, claim, timezone.now() + dt.timedelta(hours=1))

    assert refused.value.message_dict == {"submitted_at": ["The claim cannot be made in the future."]}


def test_claim_time_before_the_goods_were_received_is_refused(cs, order):
    claim = new_claim(cs, order)
    received = days_ago(10)
    before_receipt = dt.datetime.combine(received - dt.timedelta(days=1), dt.time(12), tzinfo=SHANGHAI)

    with pytest.raises(ValidationError) as refused:
        set_submitted_at(cs, claim, before_receipt)

    assert list(refused.value.message_dict) == ["submitted_at"]
    assert f"was received on {received:%d %b %Y}" in refused.value.message_dict["submitted_at"][0]


def test_customer_service_changes_the_claim_time_before_approval(cs, order):
    claim = new_claim(cs, order)

    claim = set_submitted_at(cs, claim, moment(2))

    assert Claim.objects.get(pk=claim.pk).submitted_at == moment(2)


def test_customer_service_cannot_change_the_claim_time_after_approval(cs, order):
    claim = approved_claim(cs, order)

    with pytest.raises(PermissionDenied) as refused:
        set_submitted_at(cs, claim, moment(2))

    assert str(refused.value) == (
        f"{claim.rma_number} was approved: once a claim is approved only a manager can change "
        "the time the claim was made."
    )
    assert Claim.objects.get(pk=claim.pk).submitted_at == claim.submitted_at
    assert not ClaimEvent.objects.filter(claim=claim, action=ClaimAction.SUBMITTED_AT_CHANGED).exists()


def test_a_manager_changes_the_claim_time_after_approval(cs, manager, order):
    claim = approved_claim(cs, order)
    two_days_ago = moment(2)

    set_submitted_at(manager, claim, two_days_ago)

    assert Claim.objects.get(pk=claim.pk).submitted_at == two_days_ago


def test_the_system_may_change_the_claim_time_only_before_approval(cs, order):
    claim = new_claim(cs, order)
    set_submitted_at(actors.SYSTEM, claim, moment(2))
    services.claim_approve(claim_id=claim.pk, by=cs)

    with pytest.raises(PermissionDenied, match="the system may not change the time the claim was made"):
        set_submitted_at(actors.SYSTEM, claim, moment(1))


def test_the_warehouse_cannot_change_the_claim_time(cs, warehouse_user, order):
    claim = new_claim(cs, order)

    with pytest.raises(PermissionDenied, match="You do not have permission to change claims' times"):
        set_submitted_at(warehouse_user, claim, moment(2))


def test_claim_time_change_picks_the_policy_version_in_force_then_and_records_both(cs, order):
    # given a claim made now, under a stricter version in force since three days ago
    stricter = PolicyVersion.objects.create(effective_from=timezone.now() - dt.timedelta(days=3), no_reason_days=5)
    claim = new_claim(cs, order)
    assert claim.policy_version == stricter
    published = PolicyVersion.objects.exclude(pk=stricter.pk).get()

    # when the email is found to have arrived five days ago
    set_submitted_at(cs, claim, moment(5), reason="Email header: Date")

    # then the claim is judged by the published version, and the event keeps both moments and versions
    claim.refresh_from_db()
    assert claim.policy_version == published
    event = ClaimEvent.objects.get(claim=claim, action=ClaimAction.SUBMITTED_AT_CHANGED)
    assert event.actor == cs
    assert (event.from_status, event.to_status) == (ClaimStatus.REQUESTED, ClaimStatus.REQUESTED)
    assert dt.datetime.fromisoformat(event.payload["new_submitted_at"]) == moment(5)
    assert event.payload["old_policy_version"] == f"{stricter} (#{stricter.pk})"
    assert event.payload["new_policy_version"] == f"{published} (#{published.pk})"
    assert event.payload["reason"] == "Email header: Date"


def test_the_same_claim_time_again_writes_nothing(cs, order):
    claim = new_claim(cs, order)
    events_before = ClaimEvent.objects.filter(claim=claim).count()

    set_submitted_at(cs, claim, claim.submitted_at)

    assert ClaimEvent.objects.filter(claim=claim).count() == events_before
    assert Claim.objects.get(pk=claim.pk).updated_at == claim.updated_at


# --- claim_set_submitted_at and the first-response clock --------------------------------------------


def test_claim_time_change_moves_the_running_first_response_clock(cs, order):
    claim = new_claim(cs, order)
    earlier = timezone.now() - dt.timedelta(hours=3)

    set_submitted_at(cs, claim, earlier)

    claim.refresh_from_db()
    assert claim.first_response_due_at == earlier + dt.timedelta(hours=24)
    event = ClaimEvent.objects.get(claim=claim, action=ClaimAction.SUBMITTED_AT_CHANGED)
    assert dt.datetime.fromisoformat(event.payload["new_first_response_due_at"]) == claim.first_response_due_at


def test_claim_time_moved_later_clears_an_escalation_that_no_longer_holds(cs, order):
    # given a claim entered as made two days ago, escalated as overdue by the sweep
    claim = new_claim(cs, order, submitted_at=timezone.now() - dt.timedelta(days=2))
    services.sla_sweep()
    assert Claim.objects.get(pk=claim.pk).sla_breached_at is not None

    # when its email is found to have arrived an hour ago
    set_submitted_at(cs, claim, timezone.now() - dt.timedelta(hours=1))

    # then the clock is due in 23 hours, and neither marker stands
    claim.refresh_from_db()
    assert claim.sla_breached_at is None
    assert claim.sla_reminded_at is None


def test_claim_time_change_leaves_a_clock_restarted_by_the_customers_answer(cs, order):
    claim = new_claim(cs, order)
    services.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Your serial number, please")
    services.claim_record_customer_answer(claim_id=claim.pk, by=cs, answer="SN-1")
    due = Claim.objects.get(pk=claim.pk).first_response_due_at

    set_submitted_at(cs, claim, moment(1))

    assert Claim.objects.get(pk=claim.pk).first_response_due_at == due
    event = ClaimEvent.objects.get(claim=claim, action=ClaimAction.SUBMITTED_AT_CHANGED)
    assert "new_first_response_due_at" not in event.payload


def test_claim_time_change_leaves_an_answered_claim_answered(cs, manager, order):
    claim = approved_claim(cs, order)

    set_submitted_at(manager, claim, moment(1))

    claim.refresh_from_db()
    assert (claim.first_response_due_at, claim.first_response_met) == (None, True)
