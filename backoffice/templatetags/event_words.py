"""Filters the event templates (``templates/events/<model>/<action>.html``) use to put a payload into words.

Here, in ``backoffice``, because a claim's history speaks of every app's values (an inspection's
outcome, a parcel's purpose, a refund's status) and only this app sees them all. Money goes
through ``returns.money.format_money``, instants and days through ``returns.instants``: the one
helper each. A value no label knows is shown with its underscores as spaces, never as a code.
"""

from decimal import Decimal, InvalidOperation

from django import template
from django.db import models

from inspections.models import Outcome
from inspections.outcomes import LABELS as CHECKLIST_LABELS
from refunds.models import LineKind, Provider, RefundPurpose, RefundStatus
from returns import money
from returns.instants import format_day, format_instant
from returns.models import ClaimStatus, ClaimType, DoaReason, ReceivedDateSource, category_words
from shipments.models import EnteredVia, OutboundPurpose, ParcelCondition, UnmatchedReason
from warranty.models import ReplacementKind, ReplacementStatus

register = template.Library()

CHOICES: dict[str, type[models.TextChoices]] = {
    "claim_status": ClaimStatus,
    "claim_type": ClaimType,
    "doa_reason": DoaReason,
    "received_date_source": ReceivedDateSource,
    "outcome": Outcome,
    "parcel_condition": ParcelCondition,
    "entered_via": EnteredVia,
    "outbound_purpose": OutboundPurpose,
    "unmatched_reason": UnmatchedReason,
    "refund_status": RefundStatus,
    "refund_purpose": RefundPurpose,
    "line_kind": LineKind,
    "provider": Provider,
    "replacement_kind": ReplacementKind,
    "replacement_status": ReplacementStatus,
}

# An outcome inside a sentence: the labels are headings ("Refund with a deduction; return shipping on
# the customer"), too long between "from" and "to". An outcome not named here falls back to its label.
OUTCOME_WORDS = {
    Outcome.FULL_REFUND_WITH_SHIPPING: "full refund plus return shipping",
    Outcome.FULL_REFUND: "full refund",
    Outcome.REDUCED_REFUND: "refund with deduction",
    Outcome.REPLACEMENT: "replacement",
    Outcome.RETURN_TO_CUSTOMER: "rejected, goods sent back at the customer's cost",
}


@register.filter
def uncoded(value) -> str:
    """A provider's own status word ("requires_action") as words."""
    return str(value).replace("_", " ") if value not in (None, "") else ""


@register.filter
def label(value, choices: str) -> str:
    """``{{ p.condition|label:"parcel_condition" }}``: a stored choice value shown by its label."""
    if value in (None, ""):
        return ""
    try:
        return str(CHOICES[choices](value).label)
    except (KeyError, ValueError):
        return uncoded(value)


@register.filter
def outcome(value) -> str:
    """An inspection outcome in a sentence: "full refund", "refund with deduction"."""
    if value in (None, ""):
        return ""
    return OUTCOME_WORDS.get(value) or label(value, "outcome").lower()


@register.filter
def money_of(amount, currency) -> str:
    """``{{ p.total|money_of:p.currency }}`` → "49.90 USD" (``returns.money.format_money``)."""
    if amount in (None, ""):
        return ""
    return money.format_money(amount, currency or "")


@register.filter
def amount_of(amount, currency) -> str:
    """The number alone, for "0.00 → 8.50 USD" where the currency is said once."""
    if amount in (None, ""):
        return ""
    return money.format_amount(amount, currency or "")


@register.filter
def instant(value) -> str:
    """An instant (a datetime or a payload's ISO string) in the company zone, named."""
    return format_instant(value)


@register.filter
def day(value) -> str:
    return format_day(value)


@register.filter
def percent(value) -> str:
    """ "20.00" → "20 %"."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    return f"{number.normalize():f} %"


@register.filter(is_safe=True)
def sentence(value) -> str:
    """Free text a person wrote, ending a sentence: one full stop, not two."""
    text = str(value or "").strip()
    if not text:
        return ""
    return text if text[-1] in ".!?…" else f"{text}."


@register.filter
def words(values) -> str:
    """A list of short texts (SKUs, serials, reasons) as "a, b and c"; anything else as ""."""
    if not isinstance(values, list | tuple):
        return ""
    items = [str(v) for v in values if isinstance(v, str | int) and str(v).strip()]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


@register.filter
def category(value) -> str:
    """A product's or a claim's category: "electronic", "not electronic" or "unknown" (None)."""
    return category_words(value if isinstance(value, bool) else None)


@register.filter
def yes_no(value) -> str:
    """A checklist answer: yes, no, or not checked (None)."""
    return {True: "yes", False: "no"}.get(value, "not checked")


@register.filter
def inspection_changes(p) -> list[str]:
    """The clauses of an ``inspection_recorded`` event: what the record changed, in words.

    ``p["changes"]`` maps each changed field to ``[before, after]`` (``inspections.services``).
    The outcome, its override reason and the deduction read as one clause: "outcome changed from
    full refund to refund with deduction 20 %, reason: box opened".
    """
    if not isinstance(p, dict) or not isinstance(p.get("changes"), dict):
        return []
    changes = {name: pair for name, pair in p["changes"].items() if isinstance(pair, list | tuple) and len(pair) == 2}
    clauses = []
    # In the checklist's order: the database does not keep the payload's key order (jsonb).
    for name in CHECKLIST_LABELS:
        if name in changes:
            before, after = changes[name]
            now = yes_no(after)
            clauses.append(
                f"{CHECKLIST_LABELS[name]}: {yes_no(before)} → {now}"
                if before is not None
                else f"{CHECKLIST_LABELS[name]}: {now}"
            )
    decision = _decision_clause(changes, p)
    if decision:
        clauses.append(decision)
    if "findings" in changes:
        findings = changes["findings"][1]
        clauses.append(f"findings: “{findings}”" if findings else "findings cleared")
    return clauses


def _decision_clause(changes: dict, p: dict) -> str:
    """The outcome, the deduction and their reasons as one clause ("" when none of them changed)."""
    deduction = _deduction_words(changes, p.get("currency") or "")
    if "outcome" in changes:
        before, after = changes["outcome"]
        if not after:
            clause = "outcome cleared"
        elif before:
            clause = f"outcome changed from {outcome(before)} to {outcome(after)}"
        else:
            clause = f"outcome {outcome(after)}"
        if after and deduction:
            clause += f" {deduction}"
        proposed = p.get("proposed_outcome")
        if after and proposed and proposed not in (before, after):
            clause += f" instead of the proposed {outcome(proposed)}"
    elif deduction:
        clause = f"deduction {deduction}"
    elif "deduction_amount" in changes or "deduction_percent" in changes:
        clause = "deduction removed"
    else:
        clause = ""
    reasons = [
        after
        for name in ("outcome_change_reason", "deduction_reason")
        if name in changes and (after := changes[name][1])
    ]
    if reasons:
        because = "; ".join(dict.fromkeys(str(reason) for reason in reasons))
        clause = f"{clause}, reason: {because}" if clause else f"reason: {because}"
    return clause


def _deduction_words(changes: dict, currency: str) -> str:
    percent_after = (changes.get("deduction_percent") or [None, None])[1]
    amount_after = (changes.get("deduction_amount") or [None, None])[1]
    if percent_after not in (None, ""):
        return percent(percent_after)
    if amount_after not in (None, ""):
        return money_of(amount_after, currency)
    return ""
