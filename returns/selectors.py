"""Reads with logic: what the policy says about a claim, and what stands in the way of approving it."""

from dataclasses import dataclass, field

from returns import ledger, policy
from returns.models import Claim

# What an agent does about an unknown received date: the store's export says when the parcel left
# ("Fulfilled at"), never when it arrived, and no window is counted from a shipping date.
RECEIVED_DATE_TO_ASK = (
    "Ask the customer for the delivery date and a proof: the carrier's delivery email or a photo of the tracking "
    "page; then record it with its source (Change received date)."
)


@dataclass(frozen=True)
class ClaimReview:
    """The policy's verdict on a claim, in words an agent can act on."""

    judgement: policy.Judgement | None  # None while the received date or a product's category is unknown
    # Problems nobody may override: approval waits until they are fixed.
    problems: list[str] = field(default_factory=list)
    # The problems the claim page gives a way to fix next to them (one of ``problems`` each, or "").
    received_date_problem: str = ""
    category_problem: str = ""

    @property
    def window_expired(self) -> bool:
        return self.judgement is not None and not self.judgement.eligible

    @property
    def summary(self) -> list[str]:
        lines = [self.judgement.describe()] if self.judgement else []
        return lines + self.problems


def claim_review(claim: Claim, *, lock_lines: bool = False, ledgers: dict | None = None) -> ClaimReview:
    """``lock_lines``: take the order lines' locks (the approval does) so the units cannot move meanwhile.
    ``ledgers``: the claim's lines' ledgers (``claim_ledgers``) when the caller has them already."""
    order = claim.order
    problems = []
    judgement = None
    claimed_on = policy.claim_day(claim.submitted_at)
    unknown = products_of_unknown_category(claim)
    category_problem = received_date_problem = ""
    if unknown:
        category_problem = (
            f"The category of {', '.join(product.sku for product in unknown)} is not known (electronic or not): "
            "set it on this claim's page or in the product catalogue, then the policy can judge this claim "
            "(electronic products have the shorter windows)."
        )
        problems.append(category_problem)
    if order.received_on is None:
        received_date_problem = f"Order {order.number} has no received date. {RECEIVED_DATE_TO_ASK}"
        problems.append(received_date_problem)
    elif order.received_on > claimed_on:
        problems.append(
            f"Order {order.number} says it was received on {order.received_on:%d %b %Y}, "
            f"after the claim was made on {claimed_on:%d %b %Y}: check the received date."
        )
    elif not unknown:
        judgement = policy.judge(
            policy.PolicyTerms.from_version(claim.policy_version),
            claim_type=claim.claim_type,
            electronic=claim.is_electronic,
            received_on=order.received_on,
            claimed_on=claimed_on,
        )
    if order.cancelled_at is not None:
        problems.append(f"Order {order.number} was cancelled by the store: nothing of it can be returned or refunded.")
    if not claim.evidence.filter(shows_whole_package=True).exists():
        problems.append("No photo of the whole package is attached: the policy requires one for every claim.")
    problems.extend(units_taken_elsewhere(claim, lock=lock_lines, ledgers=ledgers))
    return ClaimReview(
        judgement=judgement,
        problems=problems,
        received_date_problem=received_date_problem,
        category_problem=category_problem,
    )


def products_of_unknown_category(claim: Claim) -> list:
    """The claimed products whose category (electronic or not) nobody set yet: the policy waits for them."""
    if claim.is_electronic is not None:
        return []
    items = claim.items.select_related("order_line__product").order_by("pk")
    return [item.order_line.product for item in items if item.order_line.product.is_electronic is None]


def claim_ledgers(claim: Claim, *, lock: bool = False) -> dict:
    """The ledger of each of the claim's order lines, the claim itself left out (``returns.ledger``): as an open
    claim, and its own refunds and replacements, which are not "elsewhere" (a refunded claim's page must not
    warn that its units were refunded, under its own RMA number)."""
    ledgers = ledger.for_lines([item.order_line_id for item in claim.items.all()], lock=lock, exclude_claim_id=claim.pk)
    return {line_id: line_ledger.without_claim(claim.pk) for line_id, line_ledger in ledgers.items()}


def units_taken_elsewhere(claim: Claim, *, lock: bool = False, ledgers: dict | None = None) -> list[str]:
    """Units of this claim that other open claims hold, or that were refunded since: the per-line ledger's words."""
    items = list(claim.items.all())
    if ledgers is None or lock:
        ledgers = claim_ledgers(claim, lock=lock)
    problems = []
    for item in items:
        line_ledger = ledgers[item.order_line_id]
        if item.quantity > line_ledger.free_units:
            problems.extend(line_ledger.notes())
    return problems


def ledger_notes(claim: Claim, *, ledgers: dict | None = None) -> list[str]:
    """Everything the ledger knows of this claim's lines outside this claim: for the claim page. A note on the
    whole order (the store's refund of the order, its cancellation) is said once, not once per line."""
    items = list(claim.items.all())
    if ledgers is None:
        ledgers = claim_ledgers(claim)
    return list(dict.fromkeys(note for item in items for note in ledgers[item.order_line_id].notes()))
