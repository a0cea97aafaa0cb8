"""The claim's clocks: the first response ("Our customer representative will get back to you within
24 hours") and the wait for the return parcel after approval.

How the clock behaves in each state:
- requested: running. It starts when the claim arrives (``submitted_at``, the
  moment the customer's email came in) and is due 24 hours later.
- awaiting_customer: stopped. Asking the customer for information answers
  them; nothing is due while the ball is in their court.
- requested again (the customer's answer was recorded): running, a new 24 hours
  from the moment the answer was recorded, with fresh reminder markers.
- approved, rejected, resolved, cancelled: answered, nothing due.
``first_response_met`` keeps whether the *first* answer came in time; the
weekly SLA report counts that.

A claim's arrival corrected (``services.claim_set_submitted_at``) while the clock still runs from
it (requested, no customer's answer since) moves the due moment with it (``move_first_response``). A
clock restarted by an answer, stopped or answered is left alone, and so is ``first_response_met``: an
answer given was judged against the deadline known when it was given.

The parcel clock (``awaiting_parcel_since``) runs from approval (not for a
returnless claim) until the warehouse receives the parcel, or the claim is
cancelled or expires. The parcel sweep (``services.parcel_sweep``) reads it.
"""

from datetime import datetime, timedelta

from django.conf import settings

from returns.models import Claim

# Actions that give the customer an answer.
ANSWERS = frozenset({"ask_for_information", "approve", "reject", "resolve", "cancel"})
RESTARTS = frozenset({"record_customer_answer"})


def first_response_due(moment: datetime) -> datetime:
    return moment + timedelta(hours=settings.SLA_FIRST_RESPONSE_HOURS)


def start_clock(claim: Claim, moment: datetime) -> None:
    claim.first_response_due_at = first_response_due(moment)
    claim.sla_reminded_at = claim.sla_breached_at = None


def move_first_response(claim: Claim, arrived_at: datetime, now: datetime) -> None:
    """The running clock's due moment follows the corrected arrival. A reminder or an escalation already
    sent stays marked while it still holds (the new due moment is as close, or as past); one that no
    longer holds is cleared, so the sweep sends it when the new moment comes, and never twice for one."""
    claim.first_response_due_at = due = first_response_due(arrived_at)
    if claim.sla_breached_at is not None and due >= now:
        claim.sla_breached_at = None
    if claim.sla_reminded_at is not None and due > now + timedelta(hours=settings.SLA_REMIND_BEFORE_HOURS):
        claim.sla_reminded_at = None


# Actions that end the wait for the return parcel.
PARCEL_ARRIVED_OR_GONE = frozenset({"receive", "cancel", "expire"})


def apply(claim: Claim, action: str, now: datetime) -> None:
    """Move the clocks for a transition; the caller saves the claim."""
    if action == "approve":
        claim.approved_at = now
        if not claim.is_returnless:
            claim.awaiting_parcel_since = now
            claim.parcel_reminded_at = claim.parcel_escalated_at = None
    elif action in PARCEL_ARRIVED_OR_GONE:
        claim.awaiting_parcel_since = None
    if action in RESTARTS:
        start_clock(claim, now)
    elif action in ANSWERS and claim.first_response_due_at is not None:
        if claim.first_response_met is None:
            claim.first_response_met = now <= claim.first_response_due_at
        claim.first_response_due_at = None
