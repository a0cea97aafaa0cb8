"""Flows that span apps, in the layer above them (``returns`` may not call ``refunds``)."""

from django.db import transaction

from refunds import services as refund_services
from returns import services as claim_services
from returns.models import Claim


def claim_approve(*, claim_id: int, by, returnless_reason: str = "", window_override_reason: str = "") -> Claim:
    """Approve a claim; a returnless one (a missing item) gets its refund proposed to finance in the same
    transaction, so nothing waits for a sweep. If the refund cannot be proposed (nothing is still owed on
    the order line), the approval is refused with that reason and nothing changes."""
    with transaction.atomic():
        claim = claim_services.claim_approve(
            claim_id=claim_id,
            by=by,
            returnless_reason=returnless_reason,
            window_override_reason=window_override_reason,
        )
        if claim.is_returnless:
            refund_services.refund_propose_returnless(claim_id=claim.pk, by=by)
    return claim
