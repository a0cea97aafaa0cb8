"""Two agents at once, on PostgreSQL, each in its own thread with its own connection.

The row lock taken by ``claim_approve`` is what keeps two clicks from giving two
RMA numbers; these tests would fail without it. To make sure the second agent
really arrives while the first one holds the lock, ``claim_review`` (which runs
inside the locked transaction) is slowed down.
"""

import time
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from core.testing import at_once
from returns import selectors, services, states
from returns.models import (
    Claim,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    Evidence,
    EvidenceKind,
    OutboundEmail,
    PolicyVersion,
    RmaSequence,
)
from returns.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db(transaction=True)


def approvable_claim(by) -> Claim:
    order = OrderFactory(received_on=timezone.localdate() - timedelta(days=2))
    line = OrderLineFactory(order=order)
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.NO_REASON,
        description="Not what I expected.",
        order_line_ids=[line.pk],
        by=by,
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


@pytest.fixture
def slow_review(monkeypatch):
    """Hold the claim's lock a little longer, so the other agent runs into it."""
    review = selectors.claim_review

    def slow(claim, **kwargs):
        time.sleep(0.3)
        return review(claim, **kwargs)

    monkeypatch.setattr(selectors, "claim_review", slow)


@pytest.fixture
def slow_counter(monkeypatch):
    """Pause between reading the RMA counter and writing it back, so the other agent reads it meanwhile."""
    save = RmaSequence.save

    def slow(self, *args, **kwargs):
        time.sleep(0.3)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(RmaSequence, "save", slow)


def test_two_agents_approving_one_claim_at_once_give_one_rma_number(cs, manager, slow_review, mailoutbox):
    # given one approvable claim
    claim = approvable_claim(cs)

    # when two agents approve it at the same moment
    results = at_once(
        lambda: services.claim_approve(claim_id=claim.pk, by=cs).rma_number,
        lambda: services.claim_approve(claim_id=claim.pk, by=manager).rma_number,
    )

    # then one succeeds and the other is told, in words, that the claim is already approved
    outcomes = sorted(outcome for outcome, _ in results)
    assert outcomes == ["error", "ok"], results
    (rma_number,) = [value for outcome, value in results if outcome == "ok"]
    (error,) = [value for outcome, value in results if outcome == "error"]
    assert type(error) is states.InvalidTransition
    assert str(error) == "This claim is already approved; nothing was changed."

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert claim.rma_number == rma_number
    assert ClaimEvent.objects.filter(claim=claim, action="approve").count() == 1
    assert OutboundEmail.objects.filter(claim=claim, template="claim_approved").count() == 1
    assert [message.subject for message in mailoutbox if rma_number in message.subject] == [
        f"Your return is approved: {rma_number}"
    ]


def test_two_claims_approved_at_once_get_two_different_rma_numbers(cs, manager, slow_review):
    # given two approvable claims
    first, second = approvable_claim(cs), approvable_claim(cs)

    # when two agents approve one each at the same moment
    results = at_once(
        lambda: services.claim_approve(claim_id=first.pk, by=cs).rma_number,
        lambda: services.claim_approve(claim_id=second.pk, by=manager).rma_number,
    )

    # then both are approved, with two numbers that follow each other
    assert [outcome for outcome, _ in results] == ["ok", "ok"], results
    numbers = sorted(value for _, value in results)
    assert numbers[0] != numbers[1]
    prefix, last = numbers[0].rsplit("-", 1)
    assert numbers[1] == f"{prefix}-{int(last) + 1:06d}"
    assert sorted(Claim.objects.filter(pk__in=[first.pk, second.pk]).values_list("rma_number", flat=True)) == numbers


def test_two_claims_approved_at_once_after_earlier_numbers_this_year_get_the_next_two(cs, manager, slow_counter):
    """The year's counter row already exists: only its row lock keeps both agents from reading the same value."""
    # given 41 RMA numbers already given this year, and two approvable claims
    year = timezone.localdate(timezone=timezone.get_default_timezone()).year
    RmaSequence.objects.create(year=year, last_value=41)
    first, second = approvable_claim(cs), approvable_claim(cs)

    # when two agents approve one each at the same moment
    results = at_once(
        lambda: services.claim_approve(claim_id=first.pk, by=cs).rma_number,
        lambda: services.claim_approve(claim_id=second.pk, by=manager).rma_number,
    )

    # then both are approved, numbered 42 and 43, and the counter is at 43
    assert [outcome for outcome, _ in results] == ["ok", "ok"], results
    expected = [f"RMA-{year}-000042", f"RMA-{year}-000043"]
    assert sorted(value for _, value in results) == expected
    assert sorted(Claim.objects.filter(pk__in=[first.pk, second.pk]).values_list("rma_number", flat=True)) == expected
    assert RmaSequence.objects.get(year=year).last_value == 43


def test_approving_and_rejecting_one_claim_at_once_leaves_one_outcome(cs, manager, slow_review):
    # given one approvable claim
    claim = approvable_claim(cs)

    # when one agent approves it while another rejects it
    results = at_once(
        lambda: services.claim_approve(claim_id=claim.pk, by=cs).status,
        lambda: services.claim_reject(claim_id=claim.pk, by=manager, reason="Signs of use.").status,
    )

    # then exactly one of them happened, and the events say which
    assert sorted(outcome for outcome, _ in results) == ["error", "ok"], results
    (error,) = [value for outcome, value in results if outcome == "error"]
    assert isinstance(error, states.InvalidTransition)
    claim.refresh_from_db()
    events = list(ClaimEvent.objects.filter(claim=claim).exclude(action="create").values_list("action", "to_status"))
    assert len(events) == 1
    assert events[0][1] == claim.status
    assert (claim.rma_number is not None) == (claim.status == ClaimStatus.APPROVED)


def test_one_form_submitted_twice_at_once_creates_one_claim(cs):
    # given one order and one form submission, arriving twice at the same moment
    order = OrderFactory()
    line = OrderLineFactory(order=order)
    key = uuid.uuid4()

    def submit():
        return services.claim_create(
            order=order,
            claim_type=ClaimType.NO_REASON,
            description="Not what I expected.",
            order_line_ids=[line.pk],
            by=cs,
            submission_key=key,
        ).pk

    # when both are handled at once
    results = at_once(submit, submit)

    # then one claim is created, and the other submission is told which one
    assert sorted(outcome for outcome, _ in results) == ["error", "ok"], results
    (claim_id,) = [value for outcome, value in results if outcome == "ok"]
    (error,) = [value for outcome, value in results if outcome == "error"]
    assert isinstance(error, services.DuplicateSubmission)
    assert error.claim.pk == claim_id
    assert list(Claim.objects.values_list("pk", flat=True)) == [claim_id]
    assert ClaimEvent.objects.filter(claim_id=claim_id).count() == 1
    assert OutboundEmail.objects.count() == 1


# --- the received date and an approval at once ----------------------------------------------------


def later(call, seconds=0.15):
    """Start ``call`` a little after the other thread, so it arrives while the other holds its locks."""

    def run():
        time.sleep(seconds)
        return call()

    return run


@pytest.fixture
def slow_date_change(monkeypatch):
    """Hold the order's claims locked a little longer inside ``order_set_received_on``."""
    lock_claims = services._lock_claims_of

    def slow(order_id):
        claims = lock_claims(order_id)
        time.sleep(0.4)
        return claims

    monkeypatch.setattr(services, "_lock_claims_of", slow)


def test_an_approval_arriving_during_a_received_date_change_judges_the_new_date(cs, slow_date_change):
    # given an approvable claim, its goods received two days ago
    claim = approvable_claim(cs)
    sixty_days_ago = timezone.localdate() - timedelta(days=60)

    # when customer service corrects the date to sixty days ago while another agent approves
    results = at_once(
        lambda: services.order_set_received_on(
            order_id=claim.order_id, by=cs, received_on=sixty_days_ago, source="customer_proof", reason="Invoice"
        ),
        later(lambda: services.claim_approve(claim_id=claim.pk, by=cs)),
    )

    # then the approval waited and judged the new date: the window has passed, and only a manager may override
    (change, approval) = results
    assert change[0] == "ok", change
    assert approval[0] == "error" and isinstance(approval[1], services.ApprovalRefused), approval
    assert "Expired: the 45-day no-reason return window ended on" in str(approval[1])
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.REQUESTED


def test_a_received_date_change_arriving_during_an_approval_sees_the_approval(cs, slow_review):
    # given an approvable claim
    claim = approvable_claim(cs)

    # when an agent approves it while customer service changes the order's received date
    results = at_once(
        lambda: services.claim_approve(claim_id=claim.pk, by=cs),
        later(
            lambda: services.order_set_received_on(
                order_id=claim.order_id,
                by=cs,
                received_on=timezone.localdate() - timedelta(days=60),
                source="staff",
                reason="Customer phoned",
            )
        ),
    )

    # then the change waited for the approval, and customer service may no longer change the date
    (approval, change) = results
    assert approval[0] == "ok", approval
    assert change[0] == "error" and isinstance(change[1], states.NotPermitted), change
    assert "only a manager can change the received date" in str(change[1])
    assert Claim.objects.get(pk=claim.pk).order.received_on == timezone.localdate() - timedelta(days=2)


def test_an_approval_arriving_during_a_claim_time_change_to_another_policy_version_approves(cs, monkeypatch):
    # given a claim made under a version in force since twelve hours ago
    claim = approvable_claim(cs)
    PolicyVersion.objects.create(effective_from=timezone.now() - timedelta(hours=12), note="stricter")
    Claim.objects.filter(pk=claim.pk).update(policy_version=PolicyVersion.objects.latest())
    # and the claim-time change holding the claim's lock a little longer
    policy_in_force = services.policy_in_force

    def slow(moment):
        time.sleep(0.4)
        return policy_in_force(moment)

    monkeypatch.setattr(services, "policy_in_force", slow)

    # when its time is corrected to a day ago (the published version) while an agent approves it
    results = at_once(
        lambda: services.claim_set_submitted_at(
            claim_id=claim.pk, by=cs, submitted_at=timezone.now() - timedelta(days=1), reason="Email header"
        ),
        later(lambda: services.claim_approve(claim_id=claim.pk, by=cs)),
    )

    # then the approval waited and went through, judged by the version now in force for the claim
    assert [outcome for outcome, _ in results] == ["ok", "ok"], results
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert claim.policy_version.note == "After-Sales Service Policy as published"
