"""Reads with logic: what the policy says about a claim, and what stands in the way of approving it."""

from dataclasses import dataclass, field

from returns import policy
from returns.models import OPEN_STATUSES, Claim, ClaimItem


@dataclass(frozen=True)
class ClaimReview:
    """The policy's verdict on a claim, in words an agent can act on."""

    judgement: policy.Judgement | None  # None while the received date is unknown
    # Problems nobody may override: approval waits until they are fixed.
    problems: list[str] = field(default_factory=list)

    @property
    def window_expired(self) -> bool:
        return self.judgement is not None and not self.judgement.eligible

    @property
    def summary(self) -> list[str]:
        lines = [self.judgement.describe()] if self.judgement else []
        return lines + self.problems


def claim_review(claim: Claim) -> ClaimReview:
    order = claim.order
    problems = []
    judgement = None
    claimed_on = policy.claim_day(claim.submitted_at)
    if order.received_on is None:
        problems.append(f"Order {order.number} has no received date: record the day the customer received it.")
    elif order.received_on > claimed_on:
        problems.append(
            f"Order {order.number} says it was received on {order.received_on:%d %b %Y}, "
            f"after the claim was made on {claimed_on:%d %b %Y}: check the received date."
        )
    else:
        judgement = policy.judge(
            policy.PolicyTerms.from_version(claim.policy_version),
            claim_type=claim.claim_type,
            electronic=claim.is_electronic,
            received_on=order.received_on,
            claimed_on=claimed_on,
        )
    if not claim.evidence.filter(shows_whole_package=True).exists():
        problems.append("No photo of the whole package is attached: the policy requires one for every claim.")
    problems.extend(_open_claims_on_same_lines(claim))
    return ClaimReview(judgement=judgement, problems=problems)


def _open_claims_on_same_lines(claim: Claim) -> list[str]:
    clashes = (
        ClaimItem.objects.filter(
            order_line__claim_items__claim=claim,
            claim__status__in=OPEN_STATUSES,
        )
        .exclude(claim=claim)
        .select_related("claim", "order_line__product")
        .order_by("claim_id")
    )
    return [
        f"{item.order_line.product.sku} is already in open {item.claim} ({item.claim.get_status_display().lower()})."
        for item in clashes
    ]
