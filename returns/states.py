"""The claim's state table: the one place that says which action moves a claim where.

The services, the admin's buttons, the docs and the property tests all read
``TRANSITIONS``; nothing else decides whether a claim may move.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from returns.models import ClaimStatus as S

TRIAGE = "returns.triage_claim"
# Defined by the apps that own the work; returns names them without importing those apps.
RECORD_SHIPMENT = "shipments.add_returnparcel"
RECEIVE = "shipments.receive_parcel"
INSPECT = "inspections.complete_inspection"
# Set by the refund's execution (finance) and the replacement's shipping (warehouse).
REFUND = "refunds.approve_refund"
REPLACE = "shipments.change_outboundparcel"


@dataclass(frozen=True)
class Transition:
    action: str
    source: str
    target: str
    permission: str
    label: str
    # The customer may take it without a login (through a signed link): entering the tracking number.
    customer_may: bool = False


TRANSITIONS = (
    Transition("ask_for_information", S.REQUESTED, S.AWAITING_CUSTOMER, TRIAGE, "Ask the customer"),
    Transition("record_customer_answer", S.AWAITING_CUSTOMER, S.REQUESTED, TRIAGE, "Record customer's answer"),
    Transition("resolve", S.REQUESTED, S.RESOLVED, TRIAGE, "Resolved by troubleshooting"),
    Transition("resolve", S.AWAITING_CUSTOMER, S.RESOLVED, TRIAGE, "Resolved by troubleshooting"),
    Transition("approve", S.REQUESTED, S.APPROVED, TRIAGE, "Approve"),
    Transition("reject", S.REQUESTED, S.REJECTED, TRIAGE, "Reject"),
    Transition("reject", S.AWAITING_CUSTOMER, S.REJECTED, TRIAGE, "Reject"),
    Transition("cancel", S.REQUESTED, S.CANCELLED, TRIAGE, "Cancel"),
    Transition("cancel", S.AWAITING_CUSTOMER, S.CANCELLED, TRIAGE, "Cancel"),
    Transition("cancel", S.APPROVED, S.CANCELLED, TRIAGE, "Cancel"),
    Transition("cancel", S.SHIPPED, S.CANCELLED, TRIAGE, "Cancel"),
    Transition("ship", S.APPROVED, S.SHIPPED, RECORD_SHIPMENT, "Record the return parcel", customer_may=True),
    # The parcel arrived: before the customer gave its tracking number (approved), or after (shipped).
    Transition("receive", S.APPROVED, S.SHIPPED, RECEIVE, "Receive the parcel"),
    Transition("receive", S.SHIPPED, S.SHIPPED, RECEIVE, "Receive the parcel"),
    Transition("inspect", S.SHIPPED, S.INSPECTED, INSPECT, "Complete the inspection"),
    # A warranty claim whose inspection found human or physical damage.
    Transition("reject_after_inspection", S.INSPECTED, S.REJECTED, INSPECT, "Reject after inspection"),
    Transition("refund", S.INSPECTED, S.REFUNDED, REFUND, "Refund"),
    # A returnless claim (missing item) is refunded without a parcel or an inspection.
    Transition("refund", S.APPROVED, S.REFUNDED, REFUND, "Refund"),
    Transition("replace", S.INSPECTED, S.REPLACED, REPLACE, "Replacement shipped"),
)
ACTIONS = tuple(dict.fromkeys(t.action for t in TRANSITIONS))
_BY_SOURCE_ACTION = {(t.source, t.action): t for t in TRANSITIONS}


class InvalidTransition(Exception):
    """The claim cannot take this action now; the message says why, for a person."""


class NotPermitted(PermissionDenied):
    """The user may not take this action."""


def require(status: str, action: str, user) -> Transition:
    """The transition for ``action`` from ``status``, if the table and the user's permissions allow it."""
    transition = _BY_SOURCE_ACTION.get((status, action))
    if transition is None and any(t.action == action and t.target == status != S.REQUESTED for t in TRANSITIONS):
        # The usual cause: two people clicked at once and the other one was first.
        raise InvalidTransition(f"This claim is already {S(status).label.lower()}; nothing was changed.")
    if transition is None:
        allowed_from = [S(t.source).label.lower() for t in TRANSITIONS if t.action == action]
        raise InvalidTransition(
            f"A claim that is {S(status).label.lower()} cannot be {_past(action)}; "
            f"only a claim that is {' or '.join(allowed_from)} can."
        )
    if user is None:
        if not transition.customer_may:
            raise NotPermitted("Only staff can do this.")
    elif not user.has_perm(transition.permission):
        raise NotPermitted(f"You do not have permission to {transition.label.lower()} claims.")
    return transition


def allowed(status: str, user, actions=ACTIONS) -> list[Transition]:
    """The transitions among ``actions`` this user may take from ``status``: the admin's buttons."""
    return [t for t in TRANSITIONS if t.source == status and t.action in actions and user.has_perm(t.permission)]


def as_markdown() -> str:
    """The table as the docs show it (docs/claim-states.md is checked against this by a test)."""
    rows = [
        "| from | action | to | permission |",
        "|---|---|---|---|",
        *(
            f"| {t.source} | {t.action} | {t.target} | `{t.permission}`{' or the customer' if t.customer_may else ''} |"
            for t in TRANSITIONS
        ),
    ]
    return "\n".join(rows) + "\n"


def _past(action: str) -> str:
    return {
        "ask_for_information": "sent a request for information",
        "record_customer_answer": "given a customer's answer",
        "resolve": "resolved",
        "approve": "approved",
        "reject": "rejected",
        "cancel": "cancelled",
        "ship": "marked as shipped",
        "receive": "received",
        "inspect": "inspected",
        "reject_after_inspection": "rejected after inspection",
        "refund": "refunded",
        "replace": "replaced",
    }[action]
