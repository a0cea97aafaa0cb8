"""The refund's state table: the one place that says which action moves a refund where.

The services, the admin's buttons and the docs read ``TRANSITIONS``. A row
with ``permission=None`` is taken by the system (the execution task), never
from a button.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from refunds.models import RefundStatus as S

APPROVE = "refunds.approve_refund"
ADJUST = "refunds.adjust_refund"


@dataclass(frozen=True)
class Transition:
    action: str
    source: str
    target: str
    permission: str | None
    label: str


TRANSITIONS = (
    Transition("adjust", S.PROPOSED, S.PROPOSED, ADJUST, "Adjust a line"),
    # At or below the second-approval threshold one finance approval sends the refund.
    Transition("approve", S.PROPOSED, S.APPROVED, APPROVE, "Approve"),
    # Above it, the first approval waits for a second, different finance user.
    Transition("approve_first_of_two", S.PROPOSED, S.AWAITING_SECOND_APPROVAL, APPROVE, "Approve"),
    Transition("second_approve", S.AWAITING_SECOND_APPROVAL, S.APPROVED, APPROVE, "Give the second approval"),
    Transition("start", S.APPROVED, S.PROCESSING, None, "Send to the provider"),
    Transition("succeed", S.PROCESSING, S.SUCCEEDED, None, "Provider confirmed"),
    # The provider may confirm a refund we had given up on (a person's retry found it there).
    Transition("succeed", S.FAILED, S.SUCCEEDED, None, "Provider confirmed"),
    Transition("fail", S.PROCESSING, S.FAILED, None, "Provider failed"),
    Transition("record_manual_payment", S.PROCESSING, S.SUCCEEDED, APPROVE, "Record the manual payment"),
    Transition("retry", S.FAILED, S.APPROVED, APPROVE, "Retry"),
    Transition("cancel", S.PROPOSED, S.CANCELLED, APPROVE, "Cancel"),
    Transition("cancel", S.AWAITING_SECOND_APPROVAL, S.CANCELLED, APPROVE, "Cancel"),
    Transition("cancel", S.FAILED, S.CANCELLED, APPROVE, "Cancel"),
    # Only a manual refund waiting for its reference (the service checks): nothing was sent.
    Transition("cancel", S.PROCESSING, S.CANCELLED, APPROVE, "Cancel"),
)
ACTIONS = tuple(dict.fromkeys(t.action for t in TRANSITIONS))
_BY_SOURCE_ACTION = {(t.source, t.action): t for t in TRANSITIONS}


class InvalidTransition(Exception):
    """The refund cannot take this action now; the message says why, for a person."""


class NotPermitted(PermissionDenied):
    """The user may not take this action."""


def require(status: str, action: str, user) -> Transition:
    """The transition for ``action`` from ``status`` if the table and the user's permissions allow it.

    ``user=None`` is the system (the execution task): it may take only the rows without a permission.
    """
    transition = _BY_SOURCE_ACTION.get((status, action))
    if transition is None:
        allowed_from = sorted({S(t.source).label.lower() for t in TRANSITIONS if t.action == action})
        raise InvalidTransition(
            f"This refund is {S(status).label.lower()}: it cannot be {_past(action)} now"
            + (f" (only when {' or '.join(allowed_from)})." if allowed_from else ".")
            + " Nothing was changed."
        )
    if transition.permission is None:
        if user is not None:
            raise NotPermitted("Only the refund's execution does this.")
    elif user is None or not user.has_perm(transition.permission):
        raise NotPermitted(f"You do not have permission to {transition.label.lower()} refunds.")
    return transition


def allowed(status: str, user) -> list[Transition]:
    """The person's transitions this user may take from ``status``: the admin's buttons."""
    return [t for t in TRANSITIONS if t.source == status and t.permission is not None and user.has_perm(t.permission)]


def as_markdown() -> str:
    rows = [
        "| from | action | to | permission |",
        "|---|---|---|---|",
        *(
            f"| {t.source} | {t.action} | {t.target} | {f'`{t.permission}`' if t.permission else 'the execution task'} |"
            for t in TRANSITIONS
        ),
    ]
    return "\n".join(rows) + "\n"


def _past(action: str) -> str:
    return {
        "adjust": "adjusted",
        "approve": "approved",
        "approve_first_of_two": "approved",
        "second_approve": "given its second approval",
        "start": "sent to the provider",
        "succeed": "marked succeeded",
        "fail": "marked failed",
        "record_manual_payment": "given a manual payment reference",
        "retry": "retried",
        "cancel": "cancelled",
    }[action]
