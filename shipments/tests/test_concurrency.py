"""Two people at once on one claim, on PostgreSQL, each in a thread with its own connection.

The claim's row lock, taken before anything is read or written, is what keeps two
scans of one RMA number from making two receipts, and two submissions of the
tracking link from making two parcels. To be sure the second one really arrives
while the first holds the lock, the claim's transition (which runs inside the
locked transaction) is slowed down.
"""

import time

import pytest
from django.utils import timezone

from core import actors
from core.testing import at_once
from returns import services as claim_services
from returns.models import ClaimEvent, ClaimStatus
from shipments import services
from shipments.models import ParcelCondition, ParcelPhoto, ReturnParcel, UnmatchedParcel, UnmatchedReason
from shipments.tests.conftest import approved_claim, photo

pytestmark = pytest.mark.django_db(transaction=True)


def slowed(monkeypatch, name):
    original = getattr(claim_services, name)

    def slow(**kwargs):
        time.sleep(0.3)
        return original(**kwargs)

    monkeypatch.setattr(claim_services, name, slow)


def test_two_warehouse_users_receiving_one_rma_at_once_make_one_receipt_and_one_clear_message(
    cs, warehouse_user, other_warehouse_user, monkeypatch
):
    # given a claim the customer shipped, and two people at the bench with its RMA number
    claim = approved_claim(cs)
    services.return_parcel_register(
        claim_id=claim.pk, by=actors.CUSTOMER, carrier="DHL", tracking_number="JD01", sent_on=timezone.localdate()
    )
    slowed(monkeypatch, "claim_record_receipt")

    def scan(user, name):
        return services.parcel_receive(
            code=claim.rma_number, by=user, condition=ParcelCondition.INTACT, note=name, photos=[photo(f"{name}.jpg")]
        )

    # when both scan it at the same moment
    results = at_once(lambda: scan(warehouse_user, "first"), lambda: scan(other_warehouse_user, "second"))

    # then one of them received it, and the other was told, in words, who did and when
    assert [outcome for outcome, _ in results] == ["ok", "ok"], results
    receipts = [value for _, value in results if value.matched]
    logged = [value for _, value in results if not value.matched]
    assert len(receipts) == 1 and len(logged) == 1, [value.message for _, value in results]
    (receipt,), (other,) = receipts, logged
    parcel = ReturnParcel.objects.get(claim=claim)
    assert parcel.received_by == receipt.return_parcel.received_by
    winner = parcel.received_by.get_username()
    received_at = timezone.localtime(parcel.received_at).strftime("%-d %B %Y %H:%M")
    assert other.message == (
        f"{claim.rma_number} was already received by {winner} at {received_at}: "
        f"the parcel is logged as unmatched parcel #{other.unmatched_parcel.pk} for customer service."
    )
    # and nothing is lost: the second parcel, its note and its photo are kept as unmatched
    unmatched = UnmatchedParcel.objects.get()
    assert (unmatched.reason, unmatched.claim_found_id) == (UnmatchedReason.ALREADY_RECEIVED, claim.pk)
    assert unmatched.received_by != parcel.received_by
    assert ParcelPhoto.objects.filter(return_parcel=parcel).count() == 1
    assert ParcelPhoto.objects.filter(unmatched_parcel=unmatched).count() == 1
    assert ClaimEvent.objects.filter(claim=claim, action="receive").count() == 1


def test_two_warehouse_users_receiving_an_approved_claim_at_once_make_one_parcel(
    cs, warehouse_user, other_warehouse_user, monkeypatch
):
    # given an approved claim whose customer never gave the tracking: no parcel row exists yet
    claim = approved_claim(cs)
    slowed(monkeypatch, "claim_record_receipt")

    def scan(user):
        return services.parcel_receive(code=claim.rma_number, by=user, condition=ParcelCondition.INTACT)

    # when both scan it at once
    results = at_once(lambda: scan(warehouse_user), lambda: scan(other_warehouse_user))

    # then there is one parcel and one receipt, and the other one is logged as already received
    assert [outcome for outcome, _ in results] == ["ok", "ok"], results
    assert sorted(value.matched for _, value in results) == [False, True]
    assert ReturnParcel.objects.filter(claim=claim).count() == 1
    assert UnmatchedParcel.objects.get().reason == UnmatchedReason.ALREADY_RECEIVED
    assert list(ClaimEvent.objects.filter(claim=claim, action="receive").values_list("to_status", flat=True)) == [
        ClaimStatus.SHIPPED
    ]


def test_tracking_link_submitted_twice_at_once_makes_one_parcel(cs, monkeypatch):
    # given an approved claim, and the customer's form arriving twice (a double click)
    claim = approved_claim(cs)
    slowed(monkeypatch, "claim_mark_shipped")

    def submit():
        return services.return_parcel_register(
            claim_id=claim.pk, by=actors.CUSTOMER, carrier="DHL", tracking_number="JD01", sent_on=timezone.localdate()
        ).pk

    # when both are handled at the same moment
    results = at_once(submit, submit)

    # then one parcel is recorded, and the other submission is told what we already have
    assert sorted(outcome for outcome, _ in results) == ["error", "ok"], results
    (parcel_id,) = [value for outcome, value in results if outcome == "ok"]
    (error,) = [value for outcome, value in results if outcome == "error"]
    assert type(error) is services.ParcelAlreadyRegistered
    assert str(error).startswith("We already have your tracking number JD01 (DHL), entered on ")
    assert list(ReturnParcel.objects.values_list("pk", flat=True)) == [parcel_id]
    assert ClaimEvent.objects.filter(claim=claim, action="ship").count() == 1


def test_attaching_one_unmatched_parcel_twice_at_once_attaches_it_once(cs, warehouse_user, monkeypatch):
    # given an unmatched parcel and two claims it could belong to
    first, second = approved_claim(cs), approved_claim(cs)
    unmatched = services.parcel_receive(code="", by=warehouse_user, condition=ParcelCondition.INTACT).unmatched_parcel
    slowed(monkeypatch, "claim_record_receipt")

    def attach(claim):
        return services.unmatched_parcel_attach(unmatched_id=unmatched.pk, claim_id=claim.pk, by=cs).claim.pk

    # when two agents attach it at once, each to another claim
    results = at_once(lambda: attach(first), lambda: attach(second))

    # then it is attached to one, which received it, and the other agent is told
    assert sorted(outcome for outcome, _ in results) == ["error", "ok"], results
    (claim_id,) = [value for outcome, value in results if outcome == "ok"]
    (error,) = [value for outcome, value in results if outcome == "error"]
    assert isinstance(error, services.AlreadyDone)
    assert UnmatchedParcel.objects.get().attached_to_id == claim_id
    assert ReturnParcel.objects.count() == 1
    assert ClaimEvent.objects.filter(action="receive").count() == 1
