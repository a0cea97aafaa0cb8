"""The managers' dashboard: what each chart counts, one grouped query each.

Every figure is read for one period of company-local days (``Filters.start`` to
``Filters.end``, both included) and the same claim filters: claim type,
electronic or not (the claim's own flag: any claimed item electronic; or unknown,
while a claimed product's category is), and SKU (the claim has an item of that SKU). ``docs/reports.md`` says the same in words.

- Claims per week by type: claims *made* (``submitted_at``) in the period, by
  company-local ISO week (Monday) and type.
- Top reasons: the same claims by reason: for DOA claims their DOA reason; a
  no-reason return and a warranty claim are each one reason.
- SKUs by claim rate: per SKU, the *units claimed* (``ClaimItem.quantity``) in
  claims made in the period, divided by the *units sold*: the sum of
  ``OrderLine.quantity`` for the SKU on orders *received* in the period (the
  store's orders carry no sale date but the receipt; the policy counts from it
  too). Units over units, so a claim for one of ten units weighs one tenth of a
  claim for all ten. Split by the claims' reasons. The ten highest rates among
  SKUs that sold in the period.
- Refund value per week per currency: refunds that *succeeded* in the period
  (``succeeded_at``), the sum of their ``total`` per week and currency (no
  exchange rates: one series per currency).
- SLA compliance per week, the same rules as the SLA page (``backoffice/sla.py``):
  first response: claims made that week, judged once answered
  (``first_response_met``) or 24 hours passed unanswered, share answered in time;
  refunds: by the week their clock started (the final approval), judged once
  sent or past the deadline, share sent by ``refund_target_at`` (5 working days)
  and by ``refund_due_at`` (7).
- Days from approval to refund: per week of the refund's success, the average
  time from the claim's ``approve`` event to the refund's ``succeeded_at``, in days.
"""

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from backoffice.filters import EARLIEST_DAY, LATEST_DAY
from refunds.models import Refund, RefundStatus
from returns.models import Claim, ClaimEvent, ClaimItem, ClaimType, DoaReason, OrderLine

DEFAULT_WEEKS = 12
MAX_DAYS = 2 * 366
TOP_SKUS = 10
TYPE_LABELS = dict(ClaimType.choices)
REASON_LABELS = dict(DoaReason.choices)


# --- Filters --------------------------------------------------------------------------------


class FilterForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    claim_type = forms.ChoiceField(label="Type", required=False, choices=[("", "All types"), *ClaimType.choices])
    electronic = forms.ChoiceField(
        label="Electronic",
        required=False,
        choices=[("", "All"), ("yes", "Electronic"), ("no", "Not electronic"), ("unknown", "Unknown")],
    )
    sku = forms.CharField(label="SKU", required=False, max_length=64)

    def clean_start(self):
        return _within_years(self.cleaned_data.get("start"))

    def clean_end(self):
        return _within_years(self.cleaned_data.get("end"))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError("The period ends before it starts.")
        # A start alone runs to today (Filters.from_form): the cap holds for it too.
        if start and not end and "end" not in self.errors:
            end = max(timezone.localdate(timezone.now(), timezone.get_default_timezone()), start)
        if start and end and (end - start).days > MAX_DAYS:
            raise forms.ValidationError(
                f"Choose a period of at most two years (from {start:%d %b %Y}, until {start + timedelta(days=MAX_DAYS):%d %b %Y} at the latest)."
            )
        return data


def _within_years(day: date | None) -> date | None:
    if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
        raise forms.ValidationError(f"Choose a day between {EARLIEST_DAY:%Y} and {LATEST_DAY:%Y}.")
    return day


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # included
    claim_type: str = ""
    electronic: bool | None = None  # None: either (or unknown, with ``category_unknown``)
    sku: str = ""
    # Only the claims whose category is unknown (a claimed product's category not set yet).
    category_unknown: bool = False

    @classmethod
    def default(cls, today: date) -> "Filters":
        monday = today - timedelta(days=today.weekday())
        return cls(start=monday - timedelta(weeks=DEFAULT_WEEKS - 1), end=today)

    @classmethod
    def from_form(cls, form: FilterForm, today: date) -> "Filters":
        default = cls.default(today)
        data = form.cleaned_data if form.is_valid() else {}
        electronic = {"yes": True, "no": False}.get(data.get("electronic") or "")
        start = data.get("start") or default.start
        end = data.get("end") or max(default.end, start)
        return cls(
            start,
            end,
            data.get("claim_type") or "",
            electronic,
            (data.get("sku") or "").strip(),
            category_unknown=data.get("electronic") == "unknown",
        )

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        company = timezone.get_default_timezone()
        return (
            timezone.make_aware(datetime.combine(self.start, time.min), company),
            timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min), company),
        )

    def claim_conditions(self, prefix: str = "") -> list:
        """The type, electronic and SKU filters on claims, or on a model with a ``claim`` (prefix ``claim__``)."""
        conditions = []
        if self.claim_type:
            conditions.append(Q(**{f"{prefix}claim_type": self.claim_type}))
        if self.electronic is not None:
            conditions.append(Q(**{f"{prefix}is_electronic": self.electronic}))
        if self.category_unknown:
            conditions.append(Q(**{f"{prefix}is_electronic__isnull": True}))
        if self.sku:
            claim = OuterRef(f"{prefix}pk") if prefix == "" else OuterRef(f"{prefix[: -len('__')]}_id")
            conditions.append(Exists(ClaimItem.objects.filter(claim=claim, order_line__product__sku=self.sku)))
        return conditions

    def claim_list_params(self, first: date | None = None, last: date | None = None) -> dict:
        """The claim list's GET parameters for these filters (``backoffice/filters.py``), for a period."""
        params = {"made": f"{(first or self.start).isoformat()}..{(last or self.end).isoformat()}"}
        if self.claim_type:
            params["claim_type__exact"] = self.claim_type
        if self.electronic is not None:
            params["is_electronic__exact"] = "1" if self.electronic else "0"
        if self.category_unknown:
            params["is_electronic__isnull"] = "True"
        if self.sku:
            params["sku"] = self.sku
        return params

    def mondays(self) -> list[date]:
        first = self.start - timedelta(days=self.start.weekday())
        return [first + timedelta(weeks=n) for n in range((self.end - first).days // 7 + 1)]

    def week_span(self, monday: date) -> tuple[date, date]:
        """The part of the week inside the period."""
        return max(monday, self.start), min(monday + timedelta(days=6), self.end)


def _week(moment: datetime) -> date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _trunc_week(field: str) -> TruncWeek:
    return TruncWeek(field, tzinfo=timezone.get_default_timezone())


def reason_key(claim_type: str, doa_reason: str) -> str:
    return f"{claim_type}:{doa_reason}" if claim_type == ClaimType.DOA else claim_type


def reason_label(claim_type: str, doa_reason: str) -> str:
    if claim_type == ClaimType.DOA:
        return f"DOA: {REASON_LABELS.get(doa_reason, doa_reason or 'no reason')}"
    return TYPE_LABELS.get(claim_type, claim_type)


def reason_params(claim_type: str, doa_reason: str) -> dict:
    params = {"claim_type__exact": claim_type}
    if claim_type == ClaimType.DOA:
        params["doa_reason__exact"] = doa_reason
    return params


# --- The charts' selectors --------------------------------------------------------------------


def summarized(selector):
    """Where the daily summaries are kept (PostgreSQL), bring them up to date and read them:
    ``backoffice.summaries`` has a selector of the same name and result. The raw count stays as ``.raw``:
    SQLite's, and the tests' reference."""

    @functools.wraps(selector)
    def read(*args, **kwargs):
        from backoffice import summaries

        if summaries.in_use():
            summaries.sweep()
            return getattr(summaries, selector.__name__)(*args, **kwargs)
        return selector(*args, **kwargs)

    read.raw = selector
    return read


@summarized
def claims_per_week_by_type(filters: Filters) -> dict[tuple[date, str], int]:
    """(Monday, claim type) → claims made that week."""
    start, end = filters.bounds
    rows = (
        Claim.objects.filter(*filters.claim_conditions(), submitted_at__gte=start, submitted_at__lt=end)
        .annotate(week=_trunc_week("submitted_at"))
        .values("week", "claim_type")
        .annotate(claims=Count("pk"))
        .order_by()
    )
    return {(_week(row["week"]), row["claim_type"]): row["claims"] for row in rows}


@dataclass(frozen=True)
class Reason:
    claim_type: str
    doa_reason: str
    claims: int

    @property
    def label(self) -> str:
        return reason_label(self.claim_type, self.doa_reason)


@summarized
def top_reasons(filters: Filters) -> list[Reason]:
    """Claims made in the period by reason, most first."""
    start, end = filters.bounds
    rows = (
        Claim.objects.filter(*filters.claim_conditions(), submitted_at__gte=start, submitted_at__lt=end)
        .values("claim_type", "doa_reason")
        .annotate(claims=Count("pk"))
        .order_by("-claims", "claim_type", "doa_reason")
    )
    return [Reason(row["claim_type"], row["doa_reason"], row["claims"]) for row in rows]


@dataclass
class SkuRate:
    sku: str
    name: str
    units_sold: int
    claims: int = 0
    units_claimed: int = 0
    reasons: dict = None  # reason key → (claim_type, doa_reason, units claimed)

    @property
    def rate(self) -> float | None:
        """Units claimed per unit sold."""
        return self.units_claimed / self.units_sold if self.units_sold else None


@summarized
def sku_claim_rates(filters: Filters, limit: int = TOP_SKUS) -> tuple[list[SkuRate], int]:
    """The ``limit`` SKUs with the most units claimed per unit sold; and how many SKUs had claims but sold nothing.

    Two grouped queries: claims per SKU and reason, units sold per SKU. (As one statement, with the
    units as a correlated subquery per group, PostgreSQL ran the subquery per claim item: minutes at a
    million claims.)
    """
    start, end = filters.bounds
    items = ClaimItem.objects.filter(
        *[condition for condition in filters.claim_conditions("claim__") if not isinstance(condition, Exists)],
        claim__submitted_at__gte=start,
        claim__submitted_at__lt=end,
    )
    if filters.sku:
        items = items.filter(order_line__product__sku=filters.sku)
    rows = (
        items.values(
            "order_line__product_id",
            "order_line__product__sku",
            "order_line__product__name",
            "claim__claim_type",
            "claim__doa_reason",
        )
        .annotate(claims=Count("claim_id", distinct=True), units=Sum("quantity"))
        .order_by()
    )
    by_sku: dict[str, SkuRate] = {}
    products = {}
    for row in rows:
        sku = row["order_line__product__sku"]
        products[row["order_line__product_id"]] = sku
        rate = by_sku.setdefault(sku, SkuRate(sku, row["order_line__product__name"], 0, reasons={}))
        key = reason_key(row["claim__claim_type"], row["claim__doa_reason"])
        rate.reasons[key] = (row["claim__claim_type"], row["claim__doa_reason"], row["units"])
        rate.claims += row["claims"]
        rate.units_claimed += row["units"]
    if products:
        sold = (
            OrderLine.objects.filter(product_id__in=products, order__received_on__range=(filters.start, filters.end))
            .values("product_id")
            .annotate(units=Sum("quantity"))
            .order_by()
        )
        for row in sold:
            by_sku[products[row["product_id"]]].units_sold = row["units"] or 0
    ranked = [rate for rate in by_sku.values() if rate.units_sold]
    ranked.sort(key=lambda rate: (-rate.rate, -rate.units_claimed, rate.sku))
    return ranked[:limit], len(by_sku) - len(ranked)


@summarized
def refund_value_per_week(filters: Filters) -> dict[tuple[date, str], tuple]:
    """(Monday, currency) → (sum of totals, refunds) of refunds that succeeded that week."""
    start, end = filters.bounds
    rows = (
        Refund.objects.filter(
            *filters.claim_conditions("claim__"),
            status=RefundStatus.SUCCEEDED,
            succeeded_at__gte=start,
            succeeded_at__lt=end,
        )
        .annotate(week=_trunc_week("succeeded_at"))
        .values("week", "currency")
        .annotate(total=Sum("total"), refunds=Count("pk"))
        .order_by()
    )
    return {(_week(row["week"]), row["currency"]): (row["total"], row["refunds"]) for row in rows}


@summarized
def first_response_per_week(filters: Filters, now: datetime) -> dict[date, dict]:
    """Monday → claims made, judged (answered, or 24 h passed unanswered), answered within 24 h."""
    start, end = filters.bounds
    rows = (
        Claim.objects.filter(*filters.claim_conditions(), submitted_at__gte=start, submitted_at__lt=end)
        .annotate(week=_trunc_week("submitted_at"))
        .values("week")
        .annotate(
            claims=Count("pk"),
            judged=Count("pk", filter=Q(first_response_met__isnull=False) | Q(first_response_due_at__lt=now)),
            met=Count("pk", filter=Q(first_response_met=True)),
        )
        .order_by()
    )
    return {_week(row["week"]): row for row in rows}


@summarized
def refund_sla_per_week(filters: Filters, now: datetime) -> dict[date, dict]:
    """Monday of the clock's start (final approval) → refunds, judged and sent within 5 and 7 working days."""
    start, end = filters.bounds
    sent = Q(status=RefundStatus.SUCCEEDED)
    rows = (
        Refund.objects.filter(*filters.claim_conditions("claim__"), refund_due_at__isnull=False)
        .exclude(status=RefundStatus.CANCELLED)
        .annotate(started=Coalesce("second_approved_at", "approved_at"))
        .filter(started__gte=start, started__lt=end)
        .annotate(week=_trunc_week("started"))
        .values("week")
        .annotate(
            refunds=Count("pk"),
            target_judged=Count("pk", filter=sent | Q(refund_target_at__lt=now)),
            within_target=Count("pk", filter=sent & Q(succeeded_at__lte=F("refund_target_at"))),
            due_judged=Count("pk", filter=sent | Q(refund_due_at__lt=now)),
            within_due=Count("pk", filter=sent & Q(succeeded_at__lte=F("refund_due_at"))),
        )
        .order_by()
    )
    return {_week(row["week"]): row for row in rows}


@summarized
def approval_to_refund_per_week(filters: Filters) -> dict[date, tuple[float, int]]:
    """Monday of the refund's success → (average days from the claim's approval to the refund, refunds)."""
    start, end = filters.bounds
    approved = (
        ClaimEvent.objects.filter(claim_id=OuterRef("claim_id"), action="approve").order_by("pk").values("created_at")
    )[:1]
    rows = (
        Refund.objects.filter(
            *filters.claim_conditions("claim__"),
            status=RefundStatus.SUCCEEDED,
            succeeded_at__gte=start,
            succeeded_at__lt=end,
        )
        .annotate(claim_approved_at=Subquery(approved))
        .filter(claim_approved_at__isnull=False)
        .annotate(week=_trunc_week("succeeded_at"))
        .values("week")
        .annotate(
            average=Avg(ExpressionWrapper(F("succeeded_at") - F("claim_approved_at"), output_field=DurationField())),
            refunds=Count("pk"),
        )
        .order_by()
    )
    return {_week(row["week"]): (row["average"].total_seconds() / 86400, row["refunds"]) for row in rows}
