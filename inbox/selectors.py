"""Reads for the inbox's pages: the orders an email may be about, the claims it may join, a claim's conversation."""

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch

from inbox.models import InboundAttachment, InboundMessage
from returns.models import OPEN_STATUSES, Claim, Order, OrderLine, OutboundEmail

# Order numbers as customers write them: "SO-100123", "#1001", "order 1001", "A1B-2233".
_ORDER_NUMBER = re.compile(r"#?\b([A-Za-z]{0,6}-?\d{3,12})\b")
_MAX_NUMBERS = 40


@dataclass
class CandidateOrder:
    order: Order
    reasons: list[str] = field(default_factory=list)


def candidate_orders(message: InboundMessage) -> list[CandidateOrder]:
    """The orders the email names (an order number in the subject or text), then the sender's own orders,
    newest first; each with why it is offered and its lines."""
    text = f"{message.subject}\n{message.body_text}"
    numbers = list(dict.fromkeys(match.group(1) for match in _ORDER_NUMBER.finditer(text)))[:_MAX_NUMBERS]
    variants = set(numbers) | {f"#{number}" for number in numbers} | {number.upper() for number in numbers}
    found: dict[int, CandidateOrder] = {}
    lines = Prefetch("lines", queryset=OrderLine.objects.select_related("product"))
    named = Order.objects.filter(number__in=variants).prefetch_related(lines)
    order_of = {order.number.lstrip("#").upper(): order for order in named}
    for number in numbers:
        order = order_of.get(number.upper())
        if order and order.pk not in found:
            found[order.pk] = CandidateOrder(order, ["named in the email"])
    if message.sender_email:
        own = Order.objects.filter(customer_email__iexact=message.sender_email).prefetch_related(lines)[:20]
        for order in own:
            found.setdefault(order.pk, CandidateOrder(order)).reasons.append("an order of the sender")
    return list(found.values())


def open_claims_of(message: InboundMessage) -> list[Claim]:
    """The sender's open claims: what an attach form offers first."""
    if not message.sender_email:
        return []
    return list(
        Claim.objects.filter(customer_email=message.sender_email, status__in=OPEN_STATUSES).order_by("-id")[:10]
    )


@dataclass
class Entry:
    """One email of a claim's conversation, in or out."""

    when: datetime
    incoming: bool
    message: InboundMessage | None = None
    email: OutboundEmail | None = None


def conversation(claim: Claim) -> list[Entry]:
    """Every email in and out of the claim, oldest first."""
    inbound = InboundMessage.objects.filter(claim=claim).prefetch_related(
        Prefetch("attachments", queryset=InboundAttachment.objects.select_related("evidence"))
    )
    outbound = OutboundEmail.objects.filter(claim=claim).prefetch_related("attachments").select_related("written_by")
    entries = [Entry(m.arrived_at, True, message=m) for m in inbound]
    entries += [Entry(e.created_at, False, email=e) for e in outbound]
    return sorted(entries, key=lambda entry: (entry.when, not entry.incoming))
