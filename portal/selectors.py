"""What the customer's pages read: the order line by line as the policy sees it, a claim's steps and its
public history. The same ``policy.judge`` and the same per-line ledger the back-office reads; the words
are the customer's (translatable), never staff notes.
"""

from dataclasses import dataclass, field
from datetime import date

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from returns import ledger, policy, selectors
from returns.models import (
    OPEN_STATUSES,
    Claim,
    ClaimAction,
    ClaimStatus,
    ClaimType,
    DoaReason,
    Order,
    OrderLine,
    PolicyVersion,
)
from shipments.models import ReturnParcel

# The customer's words for the policy's claim types and DOA reasons.
TYPE_WORDS = {
    ClaimType.NO_REASON: gettext_lazy("No-reason return"),
    ClaimType.DOA: gettext_lazy("Dead on arrival (DOA): wrong, missing, damaged or not working"),
    ClaimType.WARRANTY: gettext_lazy("Warranty repair or replacement"),
}
SHORT_TYPE_WORDS = {
    ClaimType.NO_REASON: gettext_lazy("no-reason return"),
    ClaimType.DOA: gettext_lazy("DOA return"),
    ClaimType.WARRANTY: gettext_lazy("warranty"),
}
DOA_REASON_WORDS = {
    DoaReason.WRONG_ITEM: gettext_lazy("Wrong item"),
    DoaReason.MISSING_ITEM: gettext_lazy("Missing item"),
    DoaReason.DAMAGE: gettext_lazy("Damage or scratch"),
    DoaReason.QUALITY_ISSUE: gettext_lazy("Quality issue: it does not work as it should"),
}
STATUS_WORDS = {
    ClaimStatus.REQUESTED: gettext_lazy("Received: we answer within 24 hours"),
    ClaimStatus.AWAITING_CUSTOMER: gettext_lazy("Waiting for your answer"),
    ClaimStatus.APPROVED: gettext_lazy("Approved: please send the parcel"),
    ClaimStatus.SHIPPED: gettext_lazy("Parcel on its way to us"),
    ClaimStatus.INSPECTED: gettext_lazy("Inspected"),
    ClaimStatus.REFUNDED: gettext_lazy("Refunded"),
    ClaimStatus.REPLACED: gettext_lazy("Replaced"),
    ClaimStatus.RESOLVED: gettext_lazy("Resolved without a return"),
    ClaimStatus.REJECTED: gettext_lazy("Not accepted"),
    ClaimStatus.CANCELLED: gettext_lazy("Cancelled"),
}
# The order the customer picks a type in: the most asked for first.
TYPE_ORDER = (ClaimType.NO_REASON, ClaimType.DOA, ClaimType.WARRANTY)


def day(value: date) -> str:
    return date_format(value, "j M Y")


def today() -> date:
    return policy.claim_day(timezone.now())


def terms_now() -> policy.PolicyTerms:
    version = PolicyVersion.objects.filter(effective_from__lte=timezone.now()).order_by("-effective_from").first()
    return policy.PolicyTerms.from_version(version)


# --- The order, line by line ------------------------------------------------


@dataclass(frozen=True)
class Remedy:
    claim_type: str
    open: bool
    deadline: date | None  # None: the received date is unknown
    # For a product whose category nobody set yet: the electronic products' (shorter) deadline too.
    electronic_deadline: date | None = None

    @property
    def words(self) -> str:
        name = SHORT_TYPE_WORDS[self.claim_type]
        if self.deadline is None:
            return _("%(remedy)s: counted from the day you received the parcel") % {"remedy": name}
        if self.open:
            words = _("%(remedy)s until %(day)s") % {"remedy": name, "day": day(self.deadline)}
            if self.electronic_deadline and self.electronic_deadline != self.deadline:
                words += " " + _("(until %(day)s if it counts as an electronic product)") % {
                    "day": day(self.electronic_deadline)
                }
            return words
        return _("%(remedy)s window closed on %(day)s") % {"remedy": name, "day": day(self.deadline)}


@dataclass
class UnitsInClaim:
    claim: Claim
    units: int

    @property
    def words(self) -> str:
        return _("%(units)s in your request %(ref)s: %(status)s") % {
            "units": self.units,
            "ref": reference(self.claim),
            "status": STATUS_WORDS[self.claim.status],
        }


@dataclass
class LineView:
    line: OrderLine
    free: int
    refunded: int
    replaced: int
    in_claims: list[UnitsInClaim] = field(default_factory=list)
    remedies: list[Remedy] = field(default_factory=list)
    category_unknown: bool = False

    @property
    def open_remedies(self) -> list[Remedy]:
        return [remedy for remedy in self.remedies if remedy.open]


def order_lines(order: Order, *, received_on: date | None = None) -> list[LineView]:
    """Each line: units free, in claims, refunded, replaced; the remedies still open and until when, judged as
    if claimed today (``received_on``: the day the customer says, where the order has none)."""
    received_on = order.received_on or received_on
    lines = list(order.lines.select_related("product").order_by("pk"))
    ledgers = ledger.for_lines([line.pk for line in lines])
    claims = {claim.pk: claim for claim in order.claims.all()}
    terms, claimed_on = terms_now(), today()
    views = []
    for line in lines:
        line_ledger = ledgers[line.pk]
        view = LineView(
            line=line,
            free=0 if order.cancelled_at else line_ledger.free_units,
            refunded=line_ledger.refunded_units,
            replaced=line_ledger.replaced_units,
            in_claims=[UnitsInClaim(claims[use.claim_id], use.units) for use in line_ledger.open_claims],
            category_unknown=line.product.is_electronic is None,
        )
        if not order.cancelled_at:
            view.remedies = [
                _remedy(terms, claim_type, line.product.is_electronic, received_on, claimed_on)
                for claim_type in TYPE_ORDER
            ]
        views.append(view)
    return views


def _remedy(terms, claim_type, electronic, received_on, claimed_on) -> Remedy:
    if received_on is None:
        return Remedy(claim_type, open=True, deadline=None)
    if electronic is None:
        # Not known yet: open while the longer (not electronic) window is; the shorter one is shown too.
        longer = policy.judge(
            terms, claim_type=claim_type, electronic=False, received_on=received_on, claimed_on=claimed_on
        )
        shorter = policy.judge(
            terms, claim_type=claim_type, electronic=True, received_on=received_on, claimed_on=claimed_on
        )
        return Remedy(claim_type, longer.eligible, longer.deadline, electronic_deadline=shorter.deadline)
    judgement = policy.judge(
        terms, claim_type=claim_type, electronic=electronic, received_on=received_on, claimed_on=claimed_on
    )
    return Remedy(claim_type, judgement.eligible, judgement.deadline)


def window_closed(*, order: Order, lines: list[OrderLine], claim_type: str, received_on: date) -> str:
    """Why a claim of ``claim_type`` on ``lines`` made today would be out of its window ("" when it is not).

    Judged as ``claim_review`` will judge the claim: electronic when any chosen product is. A product of
    unknown category is judged on the longer window: the customer is not refused what may be theirs.
    """
    categories = [line.product.is_electronic for line in lines]
    electronic = any(categories)
    judgement = policy.judge(
        terms_now(), claim_type=claim_type, electronic=electronic, received_on=received_on, claimed_on=today()
    )
    if judgement.eligible:
        return ""
    return _(
        "The %(remedy)s window for these items closed on %(day)s: it was open until then. "
        "Choose another type, or write to us."
    ) % {"remedy": SHORT_TYPE_WORDS[claim_type], "day": day(judgement.deadline)}


def whole_package_photo_required(claim_type: str) -> bool:
    """The policy's "the picture of the entire package/box is also required", as ``policy.Judgement`` says."""
    on = today()
    return policy.judge(
        terms_now(), claim_type=claim_type, electronic=False, received_on=on, claimed_on=on
    ).whole_package_photo_required


# --- A claim ------------------------------------------------------------------


def reference(claim: Claim) -> str:
    return claim.rma_number or f"#{claim.pk}"


def outlook(claim: Claim) -> tuple[bool, list[str]]:
    """Whether the claim can be approved as it stands and, if not, why: ``claim_review``'s findings in the
    customer's words (staff notes never shown)."""
    review = selectors.claim_review(claim)
    reasons = []
    order = claim.order
    if order.cancelled_at is not None:
        reasons.append(_("The store cancelled this order: nothing of it can be returned or refunded."))
    if selectors.products_of_unknown_category(claim):
        reasons.append(
            _(
                "We first confirm whether the product counts as electronic (its windows are shorter); no need to do anything."
            )
        )
    if order.received_on is None:
        reasons.append(_("We do not know the day you received the order yet: we will ask you."))
    if review.judgement is not None and not review.judgement.eligible:
        reasons.append(
            _("The %(remedy)s window closed on %(day)s.")
            % {"remedy": SHORT_TYPE_WORDS[claim.claim_type], "day": day(review.judgement.deadline)}
        )
    if not claim.evidence.filter(shows_whole_package=True).exists():
        reasons.append(_("A photo of the whole package or box is missing: the policy requires one. Add it below."))
    if selectors.units_taken_elsewhere(claim):
        reasons.append(_("Some of these units are in another request or were refunded already."))
    return (not reasons, reasons)


@dataclass(frozen=True)
class Step:
    words: str
    state: str  # "done", "current" or "todo"


def steps(claim: Claim, parcel: ReturnParcel | None) -> list[Step]:
    """received → approved with RMA → parcel on its way → received → inspected → refunded / replaced."""
    status = claim.status
    # The remedy a passed inspection gives (policy.judge's): a replacement for warranty, else a refund.
    outcome = (
        _("Replaced")
        if status == ClaimStatus.REPLACED or (claim.claim_type == ClaimType.WARRANTY and status != ClaimStatus.REFUNDED)
        else _("Refunded")
    )
    words = [
        _("Request received"),
        _("Approved, with your RMA number"),
        _("Parcel on its way to us"),
        _("Parcel received at our warehouse"),
        _("Inspected"),
        outcome,
    ]
    reached = {
        ClaimStatus.REQUESTED: 0,
        ClaimStatus.AWAITING_CUSTOMER: 0,
        ClaimStatus.APPROVED: 1,
        ClaimStatus.SHIPPED: 3 if parcel is not None and parcel.received_at else 2,
        ClaimStatus.INSPECTED: 4,
        ClaimStatus.REFUNDED: 5,
        ClaimStatus.REPLACED: 5,
    }.get(status)
    if claim.is_returnless:
        words = [words[0], words[1], outcome]
        reached = {1: 1, 5: 2}.get(reached, reached)
    if reached is None:  # closed on the way: no steps ahead
        return []
    return [
        Step(text, "done" if index <= reached else "current" if index == reached + 1 else "todo")
        for index, text in enumerate(words)
    ]


# Events the customer sees on the claim's page (the public ones), in their words. Everything else (SLA
# clocks, staff notes, dates corrected, reconciliation) stays in the back-office.
PUBLIC_ACTIONS = {
    ClaimAction.CREATE: gettext_lazy("We received your request."),
    ClaimAction.ASK_FOR_INFORMATION: gettext_lazy("We asked you for more information."),
    ClaimAction.RECORD_CUSTOMER_ANSWER: gettext_lazy("Your answer reached us."),
    ClaimAction.APPROVE: gettext_lazy("Approved."),
    ClaimAction.REJECT: gettext_lazy("Not accepted."),
    ClaimAction.CANCEL: gettext_lazy("Cancelled."),
    ClaimAction.EXPIRE: gettext_lazy("Closed: the parcel did not reach us."),
    ClaimAction.SHIP: gettext_lazy("Tracking number received."),
    ClaimAction.RECEIVE: gettext_lazy("Parcel received at our warehouse."),
    ClaimAction.INSPECT: gettext_lazy("Inspected."),
    ClaimAction.REJECT_AFTER_INSPECTION: gettext_lazy("Not accepted after the inspection."),
    ClaimAction.REFUND: gettext_lazy("Refunded."),
    ClaimAction.REPLACE: gettext_lazy("Replacement sent."),
    ClaimAction.ADD_EVIDENCE: gettext_lazy("Photo or video added."),
}


@dataclass(frozen=True)
class PublicEvent:
    at: object
    words: str
    detail: str = ""


def history(claim: Claim) -> list[PublicEvent]:
    events = claim.events.filter(action__in=list(PUBLIC_ACTIONS)).order_by("id").only("action", "payload", "created_at")
    shown = []
    for event in events:
        detail = ""
        if event.action == ClaimAction.ADD_EVIDENCE:
            detail = event.payload.get("name", "")
        elif event.action == ClaimAction.APPROVE:
            detail = event.payload.get("rma_number", "")
        elif event.action == ClaimAction.SHIP:
            detail = event.payload.get("tracking_number", "")
        shown.append(PublicEvent(event.created_at, str(PUBLIC_ACTIONS[event.action]), detail))
    return shown


def information_request(claim: Claim) -> str:
    """The message of the open information request (customer service wrote it to the customer)."""
    if claim.status != ClaimStatus.AWAITING_CUSTOMER:
        return ""
    event = claim.events.filter(action=ClaimAction.ASK_FOR_INFORMATION).order_by("-id").first()
    return event.payload.get("message", "") if event else ""


def may_cancel(claim: Claim) -> bool:
    from core import actors
    from returns import states

    try:
        states.require(claim.status, "cancel", actors.CUSTOMER)
    except (states.InvalidTransition, states.NotPermitted):
        return False
    return not claim.is_returnless


def may_add_files(claim: Claim) -> bool:
    from returns.services import CUSTOMER_EVIDENCE_STATUSES

    return claim.status in CUSTOMER_EVIDENCE_STATUSES


def is_open(claim: Claim) -> bool:
    return claim.status in OPEN_STATUSES
