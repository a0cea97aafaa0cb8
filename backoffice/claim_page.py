"""What the claim page shows above its records, gathered in one place: the stepper of the claim's life and one
timeline of everything that happened to it (its events, emails in and out, refunds' and replacements' steps).

``returns`` cannot import the apps above it, so the claim admin asks ``backoffice`` for this
(``ClaimAdmin.page_context``). Every read is here, a fixed number of queries whatever the claim's history:
events (with their actors), the emails in and out (``inbox.selectors.conversation``, also given to the
conversation section so it is read once), the refunds' events and the replacements' events.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils.html import format_html

from inbox import selectors as inbox_selectors
from refunds.models import RefundEvent, RefundStatus
from returns.admin import described_with_status
from returns.instants import format_instant
from returns.models import Claim, ClaimEvent, ClaimStatus, ClaimType
from warranty.models import ReplacementEvent, ReplacementStatus

# The claim's way when all goes well; the last step is the remedy its type leads to.
_PATH = (ClaimStatus.REQUESTED, ClaimStatus.APPROVED, ClaimStatus.SHIPPED, ClaimStatus.INSPECTED)
_STEP_LABELS = {
    ClaimStatus.REQUESTED: "Requested",
    ClaimStatus.APPROVED: "Approved",
    ClaimStatus.SHIPPED: "Shipped",
    ClaimStatus.INSPECTED: "Inspected",
    ClaimStatus.REFUNDED: "Refunded",
    ClaimStatus.REPLACED: "Replaced",
}
# Where a status sits on the path (awaiting the customer is still the request's step).
_POSITION = {
    ClaimStatus.REQUESTED: 0,
    ClaimStatus.AWAITING_CUSTOMER: 0,
    ClaimStatus.APPROVED: 1,
    ClaimStatus.SHIPPED: 2,
    ClaimStatus.INSPECTED: 3,
    ClaimStatus.REFUNDED: 4,
    ClaimStatus.REPLACED: 4,
}
ENDINGS = (ClaimStatus.RESOLVED, ClaimStatus.REJECTED, ClaimStatus.CANCELLED)


@dataclass
class Step:
    label: str
    # done, current, todo, skipped (a returnless claim's parcel and inspection) or ended (how it ended)
    state: str
    when: str = ""
    note: str = ""


@dataclass
class Entry:
    """One line of the timeline."""

    at: datetime
    kind: str  # event, email_in, email_out, refund, replacement
    who: str
    words: str
    anchor: str = ""
    when: str = field(init=False, default="")


def _remedy(claim: Claim) -> str:
    if claim.status in (ClaimStatus.REFUNDED, ClaimStatus.REPLACED):
        return claim.status
    return ClaimStatus.REPLACED if claim.claim_type == ClaimType.WARRANTY else ClaimStatus.REFUNDED


def stepper(claim: Claim, events: list[ClaimEvent]) -> list[Step]:
    """requested → approved → shipped → inspected → refunded / replaced, each step with the moment it was reached;
    a claim that ended elsewhere (resolved, rejected, cancelled) shows where, with the ending as its last step."""
    reached = {}
    for event in events:
        if event.to_status and event.to_status not in reached:
            reached[event.to_status] = event.created_at
    path = [*_PATH, _remedy(claim)]
    if claim.status in ENDINGS:
        ending = next((e for e in reversed(events) if e.to_status == claim.status), None)
        last = _POSITION.get(ending.from_status, 0) if ending else 0
        steps = [Step(_STEP_LABELS[status], "done", _when(reached.get(status))) for status in path[: last + 1]]
        label = ClaimStatus(claim.status).label
        steps.append(Step(label, "ended", _when(ending.created_at if ending else None)))
        return steps
    position = _POSITION[claim.status]
    steps = []
    for index, status in enumerate(path):
        if claim.is_returnless and status in (ClaimStatus.SHIPPED, ClaimStatus.INSPECTED):
            steps.append(Step(_STEP_LABELS[status], "skipped", note="no return: missing item"))
            continue
        if index < position or (index == position and index == len(path) - 1):
            state = "done"
        elif index == position:
            state = "current"
        else:
            state = "todo"
        note = "awaiting the customer" if claim.status == ClaimStatus.AWAITING_CUSTOMER and index == 0 else ""
        steps.append(Step(_STEP_LABELS[status], state, _when(reached.get(status)), note))
    return steps


def _when(moment) -> str:
    return format_instant(moment) if moment else ""


def timeline(claim: Claim, events: list[ClaimEvent], conversation: list) -> list[Entry]:
    """Everything that happened to the claim, oldest first, in words."""
    entries = [
        Entry(event.created_at, "event", event.actor_name, described_with_status(event, ClaimStatus))
        for event in events
    ]
    for item in conversation:
        if item.incoming:
            message = item.message
            entries.append(
                Entry(
                    item.when,
                    "email_in",
                    message.sender,
                    format_html("Email received: “{}”.", message.subject or "(no subject)"),
                    anchor=f"mail-in-{message.pk}",
                )
            )
        else:
            email = item.email
            state = {"sent": "sent", "failed": "not sent"}.get(email.status, "in the outbox")
            entries.append(
                Entry(
                    item.when,
                    "email_out",
                    email.written_by.get_username() if email.written_by_id else "the back-office",
                    format_html("Email to the customer: “{}” ({}).", email.subject, state),
                    anchor=f"mail-out-{email.pk}",
                )
            )
    for event in RefundEvent.objects.filter(refund__claim=claim).select_related("actor", "refund"):
        entries.append(
            Entry(
                event.created_at,
                "refund",
                event.actor_name,
                format_html("Refund {}: {}", event.refund_id, described_with_status(event, RefundStatus)),
            )
        )
    for event in ReplacementEvent.objects.filter(replacement__claim=claim).select_related("actor"):
        entries.append(
            Entry(
                event.created_at,
                "replacement",
                event.actor_name,
                format_html(
                    "Replacement {}: {}", event.replacement_id, described_with_status(event, ReplacementStatus)
                ),
            )
        )
    entries.sort(key=lambda entry: entry.at)
    for entry in entries:
        entry.when = format_instant(entry.at)
    return entries


def page_context(request, claim: Claim) -> dict:
    """The claim page's header and timeline, and the conversation read once for its section."""
    events = list(ClaimEvent.objects.filter(claim=claim).select_related("actor").order_by("id"))
    conversation = inbox_selectors.conversation(claim)
    return {
        "steps": stepper(claim, events),
        "timeline": timeline(claim, events, conversation),
        "conversation": conversation,
    }
