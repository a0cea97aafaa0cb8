"""The proposal from the checklist, sentence by sentence of the policy (no database)."""

import itertools
from dataclasses import replace

import pytest

from inspections.models import Outcome
from inspections.outcomes import (
    ALLOWED_OUTCOMES,
    CHECKLIST,
    FAILED_OUTCOME,
    RETURN_CONDITIONS,
    Checklist,
    propose,
)
from returns.models import ClaimType

RETURN_CONDITIONS_MET = Checklist(
    is_new_unused=True, no_installation_marks=True, original_packaging_sealed=True, label_present=True
)
DOA_PASSED = replace(RETURN_CONDITIONS_MET, defect_confirmed=True, human_or_physical_damage=False)
NO_REASON_PASSED = RETURN_CONDITIONS_MET
WARRANTY_PASSED = Checklist(defect_confirmed=True, human_or_physical_damage=False)
REFUND_TYPES = [ClaimType.DOA, ClaimType.NO_REASON]
PASSED = {ClaimType.DOA: DOA_PASSED, ClaimType.NO_REASON: NO_REASON_PASSED}


# --- DOA ----------------------------------------------------------------------


@pytest.mark.parametrize("shipping_setting", [False, True])
def test_doa_you_will_get_the_full_refund_and_the_return_shipping_cost_reimbursement(shipping_setting):
    """DOA: "You will get the full refund and the return shipping cost reimbursement once we receive and inspect
    your parcel." The no-reason setting has nothing to say about DOA."""
    proposal = propose(ClaimType.DOA, DOA_PASSED, shipping_setting)

    assert (proposal.outcome, proposal.passed, proposal.missing) == (Outcome.FULL_REFUND_WITH_SHIPPING, True, ())


def test_doa_if_the_parcel_cannot_be_passed_you_may_not_get_the_full_refund():
    """DOA: "if the parcel cannot be passed in the inspection, you may not get the full refund": a refund with a
    deduction, and no return-shipping reimbursement."""
    proposal = propose(ClaimType.DOA, replace(DOA_PASSED, label_present=False), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.REDUCED_REFUND, False)
    assert proposal.reasons == ("the label is missing",)


def test_doa_whose_reported_problem_cannot_be_found_did_not_pass():
    """DOA is for "wrong item, missing item, physical damage or scratch, quality issue": a DOA return whose
    problem the warehouse cannot find is not dead on arrival."""
    proposal = propose(ClaimType.DOA, replace(DOA_PASSED, defect_confirmed=False), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.REDUCED_REFUND, False)
    assert proposal.reasons == ("the problem the customer reported could not be found",)


def test_doa_with_human_or_physical_damage_after_delivery_did_not_pass():
    proposal = propose(ClaimType.DOA, replace(DOA_PASSED, human_or_physical_damage=True), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.REDUCED_REFUND, False)
    assert proposal.reasons == ("human or physical damage found",)


def test_doa_needs_every_item_of_the_checklist():
    proposal = propose(ClaimType.DOA, RETURN_CONDITIONS_MET, False)

    assert (proposal.outcome, proposal.passed) == ("", None)
    assert proposal.missing == ("defect_confirmed", "human_or_physical_damage")
    assert proposal.reasons == ("not checked yet: reported defect confirmed, human or physical damage found",)


# --- Both refund types: the return conditions ---------------------------------


@pytest.mark.parametrize("claim_type", REFUND_TYPES)
@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("is_new_unused", "not in new condition, or shows signs of use"),
        ("no_installation_marks", "has installation marks"),
        ("original_packaging_sealed", "not sealed in the original packaging"),
        ("label_present", "the label is missing"),
    ],
)
def test_all_returned_items_must_be_new_sealed_with_the_label_without_installation_marks(claim_type, condition, reason):
    """DOA and no-reason: "All returned items must be in new condition, in the original packaging, must not have
    any installation marks or signs of use, and must be sealed in the original packaging with the label for a full
    refund." Each condition alone fails the inspection."""
    proposal = propose(claim_type, replace(PASSED[claim_type], **{condition: False}), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.REDUCED_REFUND, False)
    assert proposal.reasons == (reason,)


@pytest.mark.parametrize("claim_type", REFUND_TYPES)
def test_every_failed_return_condition_is_named(claim_type):
    checklist = replace(PASSED[claim_type], is_new_unused=False, original_packaging_sealed=False)

    assert propose(claim_type, checklist, False).reasons == (
        "not in new condition, or shows signs of use",
        "not sealed in the original packaging",
    )


@pytest.mark.parametrize("claim_type", REFUND_TYPES)
@pytest.mark.parametrize("condition", RETURN_CONDITIONS)
def test_an_unchecked_return_condition_leaves_no_proposal(claim_type, condition):
    proposal = propose(claim_type, replace(PASSED[claim_type], **{condition: None}), False)

    assert (proposal.outcome, proposal.passed, proposal.missing) == ("", None, (condition,))
    assert proposal.describe().startswith("No proposal yet: not checked yet: ")


# --- No-reason return -------------------------------------------------------------


def test_no_reason_you_will_get_the_full_refund_of_the_order():
    """No-reason: "You will get the full refund of the order once we receive and inspect your parcel." The return
    shipping is not reimbursed unless the claim's policy version says so (the default does not)."""
    proposal = propose(ClaimType.NO_REASON, NO_REASON_PASSED, False)

    assert (proposal.outcome, proposal.passed) == (Outcome.FULL_REFUND, True)


def test_no_reason_passed_with_the_shipping_setting_on_proposes_the_shipping_too():
    proposal = propose(ClaimType.NO_REASON, NO_REASON_PASSED, True)

    assert (proposal.outcome, proposal.passed) == (Outcome.FULL_REFUND_WITH_SHIPPING, True)


@pytest.mark.parametrize("shipping_setting", [False, True])
def test_no_reason_if_the_parcel_cannot_be_passed_the_return_shipping_is_on_your_charge(shipping_setting):
    """No-reason: "if the parcel cannot be passed in the inspection, you may not get the full refund and the return
    shipping is on your charge", whatever the setting for a passed return."""
    proposal = propose(ClaimType.NO_REASON, replace(NO_REASON_PASSED, no_installation_marks=False), shipping_setting)

    assert (proposal.outcome, proposal.passed) == (Outcome.REDUCED_REFUND, False)


def test_no_reason_does_not_need_a_defect_or_the_damage_question():
    proposal = propose(ClaimType.NO_REASON, NO_REASON_PASSED, False)

    assert proposal.missing == ()
    assert NO_REASON_PASSED.defect_confirmed is None
    assert NO_REASON_PASSED.human_or_physical_damage is None


def test_no_reason_with_damage_found_is_not_in_new_condition():
    proposal = propose(ClaimType.NO_REASON, replace(NO_REASON_PASSED, human_or_physical_damage=True), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.REDUCED_REFUND, False)
    assert proposal.reasons == ("human or physical damage found",)


def test_no_reason_ignores_the_defect_question():
    proposal = propose(ClaimType.NO_REASON, replace(NO_REASON_PASSED, defect_confirmed=False), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.FULL_REFUND, True)


# --- Warranty -----------------------------------------------------------------------


def test_warranty_defective_product_not_caused_by_human_or_physical_damage_is_replaced():
    """Warranty: "The defective product which is not caused by human or physical damage is eligible to get the
    part/product replaced." """
    proposal = propose(ClaimType.WARRANTY, WARRANTY_PASSED, False)

    assert (proposal.outcome, proposal.passed) == (Outcome.REPLACEMENT, True)
    assert proposal.reasons == ("defect confirmed", "not caused by human or physical damage")


def test_warranty_defect_caused_by_human_or_physical_damage_is_rejected_and_goes_back():
    proposal = propose(ClaimType.WARRANTY, replace(WARRANTY_PASSED, human_or_physical_damage=True), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.RETURN_TO_CUSTOMER, False)
    assert proposal.reasons == ("human or physical damage found",)


def test_warranty_without_a_confirmed_defect_is_not_a_defective_product():
    proposal = propose(ClaimType.WARRANTY, replace(WARRANTY_PASSED, defect_confirmed=False), False)

    assert (proposal.outcome, proposal.passed) == (Outcome.RETURN_TO_CUSTOMER, False)
    assert proposal.reasons == ("the reported defect could not be confirmed",)


def test_warranty_sets_no_packaging_conditions():
    """The warranty text asks nothing of the packaging: used, unsealed, unlabelled goods are still replaced."""
    used = Checklist(
        is_new_unused=False,
        no_installation_marks=False,
        original_packaging_sealed=False,
        label_present=False,
        defect_confirmed=True,
        human_or_physical_damage=False,
    )

    assert propose(ClaimType.WARRANTY, used, False).outcome == Outcome.REPLACEMENT


@pytest.mark.parametrize("shipping_setting", [False, True])
def test_warranty_ignores_the_no_reason_shipping_setting(shipping_setting):
    assert propose(ClaimType.WARRANTY, WARRANTY_PASSED, shipping_setting).outcome == Outcome.REPLACEMENT


def test_warranty_needs_the_defect_and_the_damage_answers():
    proposal = propose(ClaimType.WARRANTY, Checklist(defect_confirmed=True), False)

    assert (proposal.outcome, proposal.missing) == ("", ("human_or_physical_damage",))


# --- Every checklist ------------------------------------------------------------------


def test_every_proposal_is_an_outcome_of_the_claims_own_policy():
    """All 3^6 checklists, each type and setting: a proposal is allowed for its type, or none while items are open."""
    for claim_type, setting in itertools.product(ClaimType.values, (False, True)):
        for answers in itertools.product((True, False, None), repeat=len(CHECKLIST)):
            proposal = propose(claim_type, Checklist(**dict(zip(CHECKLIST, answers, strict=True))), setting)
            if proposal.missing:
                assert (proposal.outcome, proposal.passed) == ("", None)
            else:
                assert proposal.outcome in ALLOWED_OUTCOMES[claim_type]
                assert proposal.passed is (proposal.outcome != FAILED_OUTCOME[claim_type])
                assert proposal.reasons


def test_an_unknown_claim_type_is_refused():
    with pytest.raises(ValueError, match="unknown claim type"):
        propose("exchange", DOA_PASSED, False)
