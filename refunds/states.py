"""The refund's state table: the one place that says which action moves a refund where.

The services, the admin's buttons and the docs read ``MACHINE``. Rows the
execution task takes are the system's (``core.actors.SYSTEM``), never a button.
"""

from core.states import InvalidTransition, NotPermitted, StateMachine, Transition
from refunds.models import RefundStatus as S

__all__ = ["MACHINE", "TRANSITIONS", "InvalidTransition", "NotPermitted", "Transition"]

APPROVE = "refunds.approve_refund"
ADJUST = "refunds.adjust_refund"

TRANSITIONS = (
    Transition("adjust", S.PROPOSED, S.PROPOSED, ADJUST, "Adjust"),
    # At or below the second-approval threshold one finance approval sends the refund.
    Transition("approve", S.PROPOSED, S.APPROVED, APPROVE, "Approve"),
    # Above it, the first approval waits for a second, different finance user.
    Transition("approve_first_of_two", S.PROPOSED, S.AWAITING_SECOND_APPROVAL, APPROVE, "Approve"),
    Transition("second_approve", S.AWAITING_SECOND_APPROVAL, S.APPROVED, APPROVE, "Give the second approval to"),
    Transition("start", S.APPROVED, S.PROCESSING, None, "Send to the provider", system=True),
    Transition("succeed", S.PROCESSING, S.SUCCEEDED, None, "Confirm", system=True),
    # The provider may confirm a refund we had given up on (a person's retry found it there).
    Transition("succeed", S.FAILED, S.SUCCEEDED, None, "Confirm", system=True),
    Transition("fail", S.PROCESSING, S.FAILED, None, "Fail", system=True),
    Transition("record_manual_payment", S.PROCESSING, S.SUCCEEDED, APPROVE, "Record the manual payment of"),
    Transition("retry", S.FAILED, S.APPROVED, APPROVE, "Retry"),
    Transition("cancel", S.PROPOSED, S.CANCELLED, APPROVE, "Cancel"),
    Transition("cancel", S.AWAITING_SECOND_APPROVAL, S.CANCELLED, APPROVE, "Cancel"),
    Transition("cancel", S.FAILED, S.CANCELLED, APPROVE, "Cancel"),
    # Only a manual refund waiting for its reference (the service checks): nothing was sent.
    Transition("cancel", S.PROCESSING, S.CANCELLED, APPROVE, "Cancel"),
)

MACHINE = StateMachine(
    noun="refund",
    statuses=S,
    transitions=TRANSITIONS,
    initial=S.PROPOSED,
    past={
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
    },
)
ACTIONS = MACHINE.actions
require = MACHINE.require
allowed = MACHINE.allowed
as_markdown = MACHINE.as_markdown
