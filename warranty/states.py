"""The replacement's state table: the services and the admin's buttons read ``MACHINE``."""

from core.states import InvalidTransition, NotPermitted, StateMachine, Transition
from returns import states as claim_states
from warranty.models import ReplacementStatus as R

__all__ = ["MACHINE", "TRANSITIONS", "InvalidTransition", "NotPermitted", "Transition"]

PROPOSE = "warranty.add_replacement"
APPROVE = "warranty.approve_replacement"
# Shipping is the claim's "replace" transition: the one table says who may take it.
SHIP = claim_states.REPLACE

TRANSITIONS = (
    Transition("approve", R.PROPOSED, R.APPROVED, APPROVE, "Approve"),
    # The system only to heal a parcel shipped outside the replacement's own service (reconciliation).
    Transition("ship", R.APPROVED, R.SHIPPED, SHIP, "Ship", system=True),
    Transition("cancel", R.PROPOSED, R.CANCELLED, APPROVE, "Cancel"),
    Transition("cancel", R.APPROVED, R.CANCELLED, APPROVE, "Cancel"),
)

MACHINE = StateMachine(
    noun="replacement",
    statuses=R,
    transitions=TRANSITIONS,
    initial=R.PROPOSED,
    past={"approve": "approved", "ship": "shipped", "cancel": "cancelled"},
)
ACTIONS = MACHINE.actions
require = MACHINE.require
allowed = MACHINE.allowed
