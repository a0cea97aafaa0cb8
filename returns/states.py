"""The claim's state table: the one place that says which action moves a claim where.

The services, the admin's buttons, the docs and the property tests all read
``MACHINE``; nothing else decides whether a claim may move. A row names the
permission a staff member needs, and whether the system (tasks, beat) or the
customer (through a signed link) may take it (``core.actors``).
"""

from core.states import InvalidTransition, NotPermitted, StateMachine, Transition
from returns.models import ClaimStatus as S

__all__ = ["MACHINE", "TRANSITIONS", "InvalidTransition", "NotPermitted", "Transition"]

TRIAGE = "returns.triage_claim"
# Defined by the apps that own the work; returns names them without importing those apps.
RECORD_SHIPMENT = "shipments.add_returnparcel"
RECEIVE = "shipments.receive_parcel"
INSPECT = "inspections.complete_inspection"
# Shipping the replacement (warehouse) replaces the claim.
REPLACE = "shipments.change_outboundparcel"

TRANSITIONS = (
    Transition("ask_for_information", S.REQUESTED, S.AWAITING_CUSTOMER, TRIAGE, "Ask the customer"),
    # The customer answers on the claim's page (portal); the system records the answer their email brought
    # (inbox, docs/inbox.md); or customer service records it from an email.
    Transition(
        "record_customer_answer",
        S.AWAITING_CUSTOMER,
        S.REQUESTED,
        TRIAGE,
        "Record customer's answer",
        customer=True,
        system=True,
    ),
    Transition("resolve", S.REQUESTED, S.RESOLVED, TRIAGE, "Resolved by troubleshooting"),
    Transition("resolve", S.AWAITING_CUSTOMER, S.RESOLVED, TRIAGE, "Resolved by troubleshooting"),
    Transition("approve", S.REQUESTED, S.APPROVED, TRIAGE, "Approve"),
    Transition("reject", S.REQUESTED, S.REJECTED, TRIAGE, "Reject"),
    Transition("reject", S.AWAITING_CUSTOMER, S.REJECTED, TRIAGE, "Reject"),
    # The customer may cancel on the claim's page while nothing was shipped (not once it is shipped).
    Transition("cancel", S.REQUESTED, S.CANCELLED, TRIAGE, "Cancel", customer=True),
    Transition("cancel", S.AWAITING_CUSTOMER, S.CANCELLED, TRIAGE, "Cancel", customer=True),
    Transition("cancel", S.APPROVED, S.CANCELLED, TRIAGE, "Cancel", customer=True),
    Transition("cancel", S.SHIPPED, S.CANCELLED, TRIAGE, "Cancel"),
    # No parcel news for PolicyVersion.parcel_expiry_days after approval: the parcel sweep cancels it.
    Transition("expire", S.APPROVED, S.CANCELLED, None, "Expire", system=True),
    Transition("ship", S.APPROVED, S.SHIPPED, RECORD_SHIPMENT, "Record the return parcel", customer=True),
    # The parcel arrived: before the customer gave its tracking number (approved), or after (shipped).
    Transition("receive", S.APPROVED, S.SHIPPED, RECEIVE, "Receive the parcel"),
    Transition("receive", S.SHIPPED, S.SHIPPED, RECEIVE, "Receive the parcel"),
    Transition("inspect", S.SHIPPED, S.INSPECTED, INSPECT, "Complete the inspection"),
    # A warranty claim whose inspection found human or physical damage.
    Transition("reject_after_inspection", S.INSPECTED, S.REJECTED, INSPECT, "Reject after inspection"),
    # The claim's refund succeeded: the refunds app records it as the system, whoever approved the money.
    Transition("refund", S.INSPECTED, S.REFUNDED, None, "Refund", system=True),
    # A returnless claim (missing item) is refunded without a parcel or an inspection.
    Transition("refund", S.APPROVED, S.REFUNDED, None, "Refund", system=True),
    # The replacement left the warehouse (warranty's ship service); the reconciliation may heal it.
    Transition("replace", S.INSPECTED, S.REPLACED, REPLACE, "Ship the replacement", system=True),
)

MACHINE = StateMachine(
    noun="claim",
    statuses=S,
    transitions=TRANSITIONS,
    initial=S.REQUESTED,
    past={
        "ask_for_information": "sent a request for information",
        "record_customer_answer": "given a customer's answer",
        "resolve": "resolved",
        "approve": "approved",
        "reject": "rejected",
        "cancel": "cancelled",
        "expire": "expired",
        "ship": "marked as shipped",
        "receive": "received",
        "inspect": "inspected",
        "reject_after_inspection": "rejected after inspection",
        "refund": "refunded",
        "replace": "replaced",
    },
)
ACTIONS = MACHINE.actions
require = MACHINE.require
allowed = MACHINE.allowed
as_markdown = MACHINE.as_markdown
