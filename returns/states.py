"""The claim's state table: the one place that says which action moves a claim where.

The services, the admin's buttons, the docs and the property tests all read
``TRANSITIONS``; nothing else decides whether a claim may move.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from returns.models import ClaimStatus as S

TRIAGE = "returns.triage_claim"


@dataclass(frozen=True)
class Transition:
    action: str
    source: str
    target: str
    permission: str
    label: str


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
    if not user.has_perm(transition.permission):
        raise NotPermitted(f"You do not have permission to {transition.label.lower()} claims.")
    return transition


def allowed(status: str, user) -> list[Transition]:
    """The transitions this user may take from ``status``: the admin shows these as buttons."""
    return [t for t in TRANSITIONS if t.source == status and user.has_perm(t.permission)]


def as_markdown() -> str:
    """The table as the docs show it (docs/claim-states.md is checked against this by a test)."""
    rows = [
        "| from | action | to | permission |",
        "|---|---|---|---|",
        *(f"| {t.source} | {t.action} | {t.target} | `{t.permission}` |" for t in TRANSITIONS),
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
    }[action]
