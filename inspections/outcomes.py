"""What an inspection proposes: a pure function of the claim type and the checklist.

``propose()`` reads the checklist the way the policy's sentences do and names
the outcome DESIGN.md's table gives, with the reasons in words an inspector can
check. It touches no database: the services store its answer as the
inspection's ``proposed_outcome``, and the inspector may choose another outcome
only with a written reason.

What "passed" means, per claim type (docs/inspections.md has the table):

- DOA and no-reason return: "All returned items must be in new condition, in
  the original packaging, must not have any installation marks or signs of
  use, and must be sealed in the original packaging with the label for a full
  refund." Those are the four return conditions below.
- DOA adds the customer's report: the DOA policy refunds items that were wrong,
  missing, damaged or unusable on arrival, so a return whose reported problem
  cannot be found did not pass, and neither did one with human or physical
  damage caused after delivery (the transit damage a customer reported is the
  reported problem, not this item).
- Warranty: "The defective product which is not caused by human or physical
  damage is eligible to get the part/product replaced": passed means the
  defect is confirmed and no human or physical damage caused it. The warranty
  text sets no packaging conditions, so the four return conditions do not count.
- A no-reason return has no reported defect; damage is not one of its needed
  items, but when the inspector finds some, the goods are not "in new
  condition" and the return fails.
"""

from dataclasses import dataclass

from inspections.models import Outcome
from returns import policy
from returns.models import ClaimType

CHECKLIST = (
    "is_new_unused",
    "no_installation_marks",
    "original_packaging_sealed",
    "label_present",
    "defect_confirmed",
    "human_or_physical_damage",
)
# "new condition, in the original packaging, no installation marks or signs of use,
# sealed in the original packaging with the label"
RETURN_CONDITIONS = ("is_new_unused", "no_installation_marks", "original_packaging_sealed", "label_present")

# The items a type cannot be decided without.
NEEDED = {
    ClaimType.DOA: (*RETURN_CONDITIONS, "defect_confirmed", "human_or_physical_damage"),
    ClaimType.NO_REASON: RETURN_CONDITIONS,
    ClaimType.WARRANTY: ("defect_confirmed", "human_or_physical_damage"),
}
# The items a type's decision reads: the needed ones, plus damage found on a no-reason return.
CONSIDERED = {
    ClaimType.DOA: NEEDED[ClaimType.DOA],
    ClaimType.NO_REASON: (*RETURN_CONDITIONS, "human_or_physical_damage"),
    ClaimType.WARRANTY: NEEDED[ClaimType.WARRANTY],
}
# The answer that passes; every item passes on True except damage found.
_PASSING_ANSWER = {name: name != "human_or_physical_damage" for name in CHECKLIST}

LABELS = {
    "is_new_unused": "new condition, no signs of use",
    "no_installation_marks": "no installation marks",
    "original_packaging_sealed": "sealed in the original packaging",
    "label_present": "label present",
    "defect_confirmed": "reported defect confirmed",
    "human_or_physical_damage": "human or physical damage found",
}
_FAILURES = {
    "is_new_unused": "not in new condition, or shows signs of use",
    "no_installation_marks": "has installation marks",
    "original_packaging_sealed": "not sealed in the original packaging",
    "label_present": "the label is missing",
    "human_or_physical_damage": "human or physical damage found",
}
_DEFECT_NOT_FOUND = {
    ClaimType.DOA: "the problem the customer reported could not be found",
    ClaimType.WARRANTY: "the reported defect could not be confirmed",
}

# The passed refund outcomes carry the return shipping where ``returns.policy.shipping_reimbursed`` says so.
PASSED_OUTCOME = {
    # "You will get the full refund and the return shipping cost reimbursement once we receive and inspect your parcel."
    ClaimType.DOA: Outcome.FULL_REFUND,
    # "You will get the full refund of the order" (shipping: PolicyVersion.no_reason_return_shipping_reimbursed).
    ClaimType.NO_REASON: Outcome.FULL_REFUND,
    # "eligible to get the part/product replaced"
    ClaimType.WARRANTY: Outcome.REPLACEMENT,
}
FAILED_OUTCOME = {
    # "if the parcel cannot be passed in the inspection, you may not get the full refund"
    ClaimType.DOA: Outcome.REDUCED_REFUND,
    # "... you may not get the full refund and the return shipping is on your charge"
    ClaimType.NO_REASON: Outcome.REDUCED_REFUND,
    # Not "not caused by human or physical damage": not eligible; the goods go back at the customer's cost.
    ClaimType.WARRANTY: Outcome.RETURN_TO_CUSTOMER,
}
_REFUNDS = (Outcome.FULL_REFUND_WITH_SHIPPING, Outcome.FULL_REFUND, Outcome.REDUCED_REFUND)
# What an inspector may choose (with a reason when it is not the proposal): the remedies of the claim's own policy.
ALLOWED_OUTCOMES = {
    ClaimType.DOA: _REFUNDS,
    ClaimType.NO_REASON: _REFUNDS,
    ClaimType.WARRANTY: (Outcome.REPLACEMENT, Outcome.RETURN_TO_CUSTOMER),
}


@dataclass(frozen=True)
class Checklist:
    """The six answers: True, False, or None while not checked. An ``Inspection`` reads the same."""

    is_new_unused: bool | None = None
    no_installation_marks: bool | None = None
    original_packaging_sealed: bool | None = None
    label_present: bool | None = None
    defect_confirmed: bool | None = None
    human_or_physical_damage: bool | None = None


@dataclass(frozen=True)
class Proposal:
    outcome: str  # an Outcome value; "" while an item the type needs is not checked
    passed: bool | None  # None while it cannot be told
    reasons: tuple[str, ...]
    missing: tuple[str, ...] = ()  # the checklist fields still to check

    def describe(self) -> str:
        if not self.outcome:
            return "No proposal yet: " + "; ".join(self.reasons) + "."
        verdict = "passed" if self.passed else "failed"
        return f"Proposed: {Outcome(self.outcome).label} (inspection {verdict}: {'; '.join(self.reasons)})."


def propose(claim_type: str, checklist, no_reason_return_shipping_reimbursed: bool) -> Proposal:
    """The outcome DESIGN.md's table gives for this checklist (any object with the six attributes)."""
    if claim_type not in NEEDED:
        raise ValueError(f"unknown claim type {claim_type!r}")
    answers = {name: getattr(checklist, name) for name in CHECKLIST}
    missing = tuple(name for name in NEEDED[claim_type] if answers[name] is None)
    if missing:
        return Proposal(
            outcome="",
            passed=None,
            reasons=("not checked yet: " + ", ".join(LABELS[name] for name in missing),),
            missing=missing,
        )
    failures = tuple(
        _failure(claim_type, name)
        for name in CONSIDERED[claim_type]
        if answers[name] is not None and answers[name] != _PASSING_ANSWER[name]
    )
    if failures:
        return Proposal(outcome=FAILED_OUTCOME[claim_type], passed=False, reasons=failures)
    outcome = PASSED_OUTCOME[claim_type]
    if outcome == Outcome.FULL_REFUND and policy.shipping_reimbursed(
        claim_type, no_reason_return_shipping_reimbursed=no_reason_return_shipping_reimbursed
    ):
        # The policy reimburses this passed return's shipping: finance is told so by the outcome.
        outcome = Outcome.FULL_REFUND_WITH_SHIPPING
    return Proposal(outcome=outcome, passed=True, reasons=_passes(claim_type))


def _failure(claim_type: str, name: str) -> str:
    if name == "defect_confirmed":
        return _DEFECT_NOT_FOUND[claim_type]
    return _FAILURES[name]


def _passes(claim_type: str) -> tuple[str, ...]:
    if claim_type == ClaimType.WARRANTY:
        return ("defect confirmed", "not caused by human or physical damage")
    reasons = ["new and unused, sealed in the original packaging with the label, no installation marks"]
    if claim_type == ClaimType.DOA:
        reasons += ["the reported problem confirmed", "no human or physical damage"]
    return tuple(reasons)


_ALL_PASSED = {
    claim_type: Checklist(**{name: _PASSING_ANSWER[name] for name in NEEDED[claim_type]}) for claim_type in NEEDED
}


def as_markdown() -> str:
    """The outcome table as docs/inspections.md shows it (checked by a test)."""
    names = {ClaimType.DOA: "DOA", ClaimType.NO_REASON: "no-reason return", ClaimType.WARRANTY: "warranty"}
    rows = [
        "| claim type | checklist items needed | passed | failed | inspector may choose |",
        "|---|---|---|---|---|",
    ]
    for claim_type in (ClaimType.DOA, ClaimType.NO_REASON, ClaimType.WARRANTY):
        passed = Outcome(propose(claim_type, _ALL_PASSED[claim_type], False).outcome).label
        if claim_type == ClaimType.NO_REASON:
            passed += f" (*{Outcome(Outcome.FULL_REFUND_WITH_SHIPPING).label.lower()}* when the policy version says so)"
        rows.append(
            f"| {names[claim_type]} "
            f"| {', '.join(LABELS[name] for name in NEEDED[claim_type])} "
            f"| {passed} "
            f"| {Outcome(FAILED_OUTCOME[claim_type]).label} "
            f"| {', '.join(Outcome(value).label.lower() for value in ALLOWED_OUTCOMES[claim_type])} |"
        )
    return "\n".join(rows) + "\n"
