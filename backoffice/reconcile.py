"""Money and state that disagree: found, healed where the rules say how, listed for a person otherwise.

Every path is meant to keep refunds, replacements, parcels and claims consistent; this is the net under
it. ``reconcile_sweep`` (beat) heals, as the system actor, what has one right answer:
- a refund that succeeded while its claim is still inspected (or approved, returnless): the money left,
  so the claim is refunded;
- a replacement parcel that left while its replacements stayed approved: they are shipped, the claim
  replaced.
``needs_attention`` lists what needs a person (the admin's "Needs attention" page): a succeeded refund
whose claim went elsewhere (cancelled, rejected), a refunded claim without a succeeded refund, a
replaced claim without a shipped replacement, an order line paid back beyond what was paid.

Those checks read whole tables (0.8 s at 100,000 claims, seconds at a million), so the page does not run
them: ``attention_check`` does, after each reconcile sweep (beat, every ten minutes) or when a person asks
("Check again"), and stores what it found (``AttentionCheck``); the page shows the last check and its time.
"""

import time
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Subquery, Sum, When
from django.urls import reverse
from django.utils import timezone

from backoffice.models import AttentionCheck
from core import actors
from refunds import services as refund_services
from refunds.models import COMMITTED_STATUSES, LineKind, Refund, RefundLine, RefundStatus
from returns import money
from returns import services as claim_services
from returns.models import Claim, ClaimAction, ClaimStatus, OrderLine
from shipments.models import OutboundParcel, OutboundPurpose
from warranty.models import Replacement, ReplacementStatus
from warranty.services import replacements_reconcile_shipped_parcel

# The claim can still follow its succeeded refund from these states.
_REFUNDABLE_CLAIM = (ClaimStatus.INSPECTED, ClaimStatus.APPROVED)
# A list never grows without bound on a page.
_LIMIT = 200


@dataclass(frozen=True)
class Mismatch:
    kind: str
    subject: str  # "RMA-2026-000042", "Refund #12"
    url: str
    problem: str  # in words, with what to do


def _claim_url(claim_id: int) -> str:
    return reverse("admin:returns_claim_change", args=[claim_id])


def refunds_succeeded_claim_behind():
    return Refund.objects.filter(status=RefundStatus.SUCCEEDED).exclude(claim__status=ClaimStatus.REFUNDED)


def claims_with_shipped_parcel_behind():
    shipped_parcel_approved = Replacement.objects.filter(
        claim=OuterRef("pk"), status=ReplacementStatus.APPROVED, outbound_parcel__shipped_at__isnull=False
    )
    return Claim.objects.filter(Exists(shipped_parcel_approved))


def reconcile_sweep() -> dict:
    """Heal what has one right answer (see the module docstring), as the system; returns what moved."""
    healed = {"claims_refunded": 0, "replacements_shipped": 0}
    for refund in refunds_succeeded_claim_behind().filter(claim__status__in=_REFUNDABLE_CLAIM).select_related("claim"):
        with transaction.atomic():
            if not refund_services.claim_follow_refund(refund, reconciled=True):
                continue  # moved since the query: the refund's event says why
            claim_services.claim_note(
                claim_id=refund.claim_id,
                by=actors.SYSTEM,
                action=ClaimAction.RECONCILED,
                payload={"what": "refund_succeeded", "refund_id": refund.pk},
            )
        healed["claims_refunded"] += 1
    for claim_id in claims_with_shipped_parcel_behind().values_list("pk", flat=True):
        healed["replacements_shipped"] += replacements_reconcile_shipped_parcel(claim_id=claim_id)
    return healed


def attention_check() -> AttentionCheck:
    """Run ``needs_attention`` and keep what it found as the one stored check."""
    checked_at = timezone.now()
    started = time.perf_counter()
    found = needs_attention()
    took_ms = round((time.perf_counter() - started) * 1000)
    with transaction.atomic():
        check = AttentionCheck.objects.create(
            checked_at=checked_at, took_ms=took_ms, items=[asdict(item) for item in found]
        )
        # Older checks go; a check that started later and finished first is kept over this one.
        AttentionCheck.objects.filter(checked_at__lt=checked_at).delete()
    return check


def last_attention_check() -> AttentionCheck:
    """The newest stored check; a fresh installation's first look runs one."""
    return AttentionCheck.objects.order_by("-checked_at", "-id").first() or attention_check()


def needs_attention() -> list[Mismatch]:
    """What only a person can put right, newest first per kind; each query is bounded."""
    found = []
    for refund in (
        refunds_succeeded_claim_behind()
        .exclude(claim__status__in=_REFUNDABLE_CLAIM)
        .select_related("claim")
        .order_by("-succeeded_at")[:_LIMIT]
    ):
        found.append(
            Mismatch(
                "refund_claim",
                str(refund.claim),
                _claim_url(refund.claim_id),
                f"Refund #{refund.pk} paid {money.quantize(refund.total, refund.currency)} {refund.currency}, but the claim is "
                f"{refund.claim.get_status_display().lower()}: decide with the customer and note it on the claim.",
            )
        )
    paid = Refund.objects.filter(claim=OuterRef("pk"), status=RefundStatus.SUCCEEDED)
    for claim in Claim.objects.filter(~Exists(paid), status=ClaimStatus.REFUNDED).order_by("-id")[:_LIMIT]:
        found.append(
            Mismatch(
                "claim_refund",
                str(claim),
                _claim_url(claim.pk),
                "The claim says refunded, but none of its refunds succeeded: check the payment provider.",
            )
        )
    shipped = Replacement.objects.filter(claim=OuterRef("pk"), status=ReplacementStatus.SHIPPED)
    for claim in Claim.objects.filter(~Exists(shipped), status=ClaimStatus.REPLACED).order_by("-id")[:_LIMIT]:
        found.append(
            Mismatch(
                "claim_replacement",
                str(claim),
                _claim_url(claim.pk),
                "The claim says replaced, but no replacement of it was shipped: check the warehouse.",
            )
        )
    # A shipped replacement parcel whose claim is still inspected and carries no approved replacement for the
    # sweep to ship (those are healed) nor a shipped one.
    carried = Replacement.objects.filter(
        outbound_parcel=OuterRef("pk"), status__in=(ReplacementStatus.APPROVED, ReplacementStatus.SHIPPED)
    )
    stuck = OutboundParcel.objects.filter(
        ~Exists(carried),
        purpose=OutboundPurpose.REPLACEMENT,
        shipped_at__isnull=False,
        claim__status=ClaimStatus.INSPECTED,
    )
    for parcel in stuck.select_related("claim").order_by("-shipped_at")[:_LIMIT]:
        found.append(
            Mismatch(
                "parcel_replacement",
                str(parcel.claim),
                _claim_url(parcel.claim_id),
                "A replacement parcel left but carries no approved replacement: check what was sent.",
            )
        )
    found.extend(_lines_paid_back_too_much())
    return found


def _lines_paid_back_too_much() -> list[Mismatch]:
    """Order lines whose committed refunds and the store's own exceed what was paid (the ledger's invariant)."""
    signed = Case(When(kind=LineKind.DEDUCTION, then=-F("amount")), default=F("amount"))
    net = (
        RefundLine.objects.filter(
            order_line=OuterRef("pk"),
            refund__status__in=COMMITTED_STATUSES,
            kind__in=(LineKind.GOODS, LineKind.DEDUCTION),
        )
        .values("order_line")
        .annotate(net=Sum(signed))
        .values("net")
    )
    over = (
        OrderLine.objects.annotate(paid_back=Subquery(net) + F("store_refunded_amount"))
        .filter(paid_back__gt=F("unit_price") * F("quantity"))
        .select_related("order", "product")
        .order_by("-id")[:_LIMIT]
    )
    return [
        Mismatch(
            "line_over",
            f"{line.order.number} · {line.product.sku}",
            reverse("admin:returns_order_change", args=[line.order_id]),
            f"More was paid back on this line than its {line.paid} {line.currency}: check its refunds.",
        )
        for line in over
    ]
