"""Reads with logic: warranty coverage by serial number, the claim page's warranty flags,
and defect counts by SKU.

Coverage ("2-Year Warranty (1-Year for Electronic Products) ... from the date
that you receive the package"), decided here where the policy is silent:
- A serial is found on the order line whose ``serial_numbers`` lists it, matched
  exactly after trimming spaces. When several lines list it (a data error), the
  latest order's line counts.
- The window counts from that order's received date, with the product's own
  electronic flag and the claim's policy version (the version in force today for
  a bare look-up), through ``returns.policy.window_deadline``. While the product's
  category is unknown (``is_electronic`` None) no window is counted: 1 year or 2
  depends on it.
- A replacement unit carries the remainder of the original warranty: its serial
  is on no order, so it is found through the shipped replacement that sent it,
  and its window counts from the original order's received date.
- A serial is "already replaced" when a shipped replacement sent a new unit for it.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db import connection
from django.db.models import Count, Prefetch, Q, Sum, prefetch_related_objects
from django.utils import timezone

from returns import policy
from returns.instants import format_day
from returns.models import Claim, ClaimItem, ClaimStatus, ClaimType, DoaReason, OrderLine, PolicyVersion
from warranty.models import Replacement, ReplacementStatus


@dataclass(frozen=True)
class Coverage:
    """What we know of one serial: where it was bought, until when it is covered, whether it was replaced."""

    serial: str
    order_line: OrderLine | None = None  # the line it was bought on (for a replacement unit: the original's)
    received_on: date | None = None
    window: str = ""  # "2-year warranty", in the policy's words
    deadline: date | None = None  # last day a warranty claim may be made
    # The shipped replacement that sent this serial out (it is a replacement unit).
    replaces: Replacement | None = None
    # Shipped replacements that sent a new unit for this serial.
    replaced_by: list[Replacement] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.order_line is not None

    @property
    def already_replaced(self) -> bool:
        return bool(self.replaced_by)

    def covers(self, day: date) -> bool:
        """Inside the window on ``day`` (the last day is in, the next is out)."""
        return self.deadline is not None and day <= self.deadline

    def days_over(self, day: date) -> int:
        return max((day - self.deadline).days, 0) if self.deadline else 0


def coverage_for_serial(
    serial: str, *, policy_version: PolicyVersion | None = None, exclude_claim: Claim | None = None
) -> Coverage:
    """The coverage of one serial number (see the module docstring for the rules).

    ``exclude_claim``: the claim being looked at, whose own replacements do not count as "already replaced".
    """
    serial = (serial or "").strip()
    if not serial:
        return Coverage(serial="")
    replaced_by = list(
        Replacement.objects.filter(faulty_serial=serial, status=ReplacementStatus.SHIPPED)
        .exclude(claim=exclude_claim)
        .select_related("claim", "outbound_parcel")
        .order_by("pk")
    )
    line, replaces = _line_of(serial), None
    if line is None:
        replaces = (
            Replacement.objects.filter(replacement_serial=serial, status=ReplacementStatus.SHIPPED)
            .select_related("claim", "claim_item__order_line__order", "claim_item__order_line__product")
            .order_by("-pk")
            .first()
        )
        line = replaces.claim_item.order_line if replaces else None
    if line is None or line.order.received_on is None or line.product.is_electronic is None:
        return Coverage(
            serial=serial,
            order_line=line,
            received_on=line.order.received_on if line else None,
            replaces=replaces,
            replaced_by=replaced_by,
        )
    version = policy_version or PolicyVersion.objects.filter(effective_from__lte=timezone.now()).latest()
    window, deadline = policy.window_deadline(
        policy.PolicyTerms.from_version(version),
        claim_type=ClaimType.WARRANTY,
        electronic=line.product.is_electronic,
        received_on=line.order.received_on,
    )
    return Coverage(
        serial=serial,
        order_line=line,
        received_on=line.order.received_on,
        window=window,
        deadline=deadline,
        replaces=replaces,
        replaced_by=replaced_by,
    )


def _line_of(serial: str) -> OrderLine | None:
    """The order line listing ``serial``.

    PostgreSQL answers JSON containment (``@>``, which a GIN index on
    ``serial_numbers`` can serve). SQLite has no JSON containment in Django, so
    there a substring match on the JSON text narrows the rows and Python keeps
    the exact matches.
    """
    lines = OrderLine.objects.select_related("order", "product").order_by("-order_id", "-id")
    if connection.features.supports_json_field_contains:
        return lines.filter(serial_numbers__contains=[serial]).first()
    for line in lines.filter(serial_numbers__icontains=serial):
        if serial in [str(s).strip() for s in line.serial_numbers or []]:
            return line
    return None


def claim_warranty_flags(claim: Claim) -> list[str]:
    """What the claim page warns about, per item of a warranty claim, in words an agent can act on:
    a serial not on the order, a serial outside its window, a serial already replaced.
    """
    if claim.claim_type != ClaimType.WARRANTY:
        return []
    flags = []
    claimed_on = policy.claim_day(claim.submitted_at)
    # The claim page prefetched these already (returns/admin.py): then no query.
    items = ClaimItem.objects.select_related("order_line__product", "order_line__order").order_by("pk")
    prefetch_related_objects([claim], Prefetch("items", items))
    for item in claim.items.all():
        line = item.order_line
        sku = line.product.sku
        serial = item.serial_number.strip()
        if not serial:
            if line.serial_numbers:
                flags.append(
                    f"{sku}: no serial number given; order {claim.order_number} lists "
                    f"{', '.join(map(str, line.serial_numbers))}. Ask the customer which unit is defective."
                )
            continue
        coverage = coverage_for_serial(serial, policy_version=claim.policy_version, exclude_claim=claim)
        if coverage.order_line is None:
            flags.append(f"{sku}: serial {serial} is not on order {claim.order_number}, nor on any order we know.")
        elif coverage.order_line.pk != line.pk:
            where = coverage.order_line.order.number
            via = f" (it replaced a unit in {coverage.replaces.claim})" if coverage.replaces else ""
            flags.append(
                f"{sku}: serial {serial} is not on order {claim.order_number}; it belongs to order {where}{via}."
            )
        elif coverage.replaces is not None:
            flags.append(
                f"{sku}: serial {serial} is a replacement unit sent in {coverage.replaces.claim}; "
                f"it carries the rest of the original warranty."
            )
        if coverage.deadline is not None and not coverage.covers(claimed_on):
            over = coverage.days_over(claimed_on)
            flags.append(
                f"{sku}: serial {serial} is outside its {coverage.window}: it ended on {coverage.deadline:%d %b %Y}, "
                f"{over} day{'s' if over != 1 else ''} before the claim was made."
            )
        elif coverage.order_line is not None and coverage.received_on is None:
            flags.append(
                f"{sku}: serial {serial}'s order {coverage.order_line.order.number} has no received date: "
                "its warranty cannot be counted."
            )
        elif coverage.order_line is not None and coverage.order_line.product.is_electronic is None:
            flags.append(
                f"{sku}: serial {serial}'s product {coverage.order_line.product.sku} is of unknown category "
                "(electronic or not): its warranty (1 year or 2) cannot be counted."
            )
        for done in coverage.replaced_by:
            shipped = done.outbound_parcel.shipped_at if done.outbound_parcel else None
            when = f" on {format_day(shipped)}" if shipped else ""
            new = f" by serial {done.replacement_serial}" if done.replacement_serial else ""
            flags.append(f"{sku}: serial {serial} was already replaced{new} in {done.claim}{when}.")
    return flags


@dataclass(frozen=True)
class DefectCount:
    sku: str
    name: str
    warranty_claims: int
    doa_quality_claims: int
    units: int  # units claimed, both kinds
    replacements_shipped: int

    @property
    def claims(self) -> int:
        return self.warranty_claims + self.doa_quality_claims


# Not counted as a defect: cancelled, rejected (out of window, or human or physical
# damage found), or resolved by troubleshooting (the product worked).
NOT_A_DEFECT = (ClaimStatus.CANCELLED, ClaimStatus.REJECTED, ClaimStatus.RESOLVED)


def defects_by_sku(since: date | datetime) -> list[DefectCount]:
    """Reported defects per SKU since a day (company time) or a moment: warranty claims and
    DOA claims for a "quality issue or the product cannot be used", most claimed first.
    """
    if not isinstance(since, datetime):
        since = timezone.make_aware(datetime.combine(since, time.min))
    warranty = Q(claim__claim_type=ClaimType.WARRANTY)
    doa_quality = Q(claim__claim_type=ClaimType.DOA, claim__doa_reason=DoaReason.QUALITY_ISSUE)
    rows = (
        ClaimItem.objects.filter(warranty | doa_quality, claim__submitted_at__gte=since)
        .exclude(claim__status__in=NOT_A_DEFECT)
        .values("order_line__product__sku", "order_line__product__name")
        .annotate(
            warranty_claims=Count("claim", filter=warranty, distinct=True),
            doa_quality_claims=Count("claim", filter=doa_quality, distinct=True),
            units=Sum("quantity"),
            replacements_shipped=Count("replacement", filter=Q(replacement__status=ReplacementStatus.SHIPPED)),
        )
        .order_by("order_line__product__sku")
    )
    counts = [
        DefectCount(
            sku=row["order_line__product__sku"],
            name=row["order_line__product__name"],
            warranty_claims=row["warranty_claims"],
            doa_quality_claims=row["doa_quality_claims"],
            units=row["units"] or 0,
            replacements_shipped=row["replacements_shipped"],
        )
        for row in rows
    ]
    return sorted(counts, key=lambda c: (-c.claims, c.sku))
