"""Claim-list filters the dashboard's links need: the period a claim was made in, a SKU, a refund paid.

Each is a ``SimpleListFilter`` with one parameter. The SKU and refund filters only
show in the sidebar while they are in use (arriving from a dashboard link): a
sidebar with every SKU would be a query and a page of its own.
"""

from datetime import date, datetime, time, timedelta

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Exists, OuterRef
from django.utils import timezone

from refunds.models import Refund, RefundStatus
from returns.models import ClaimItem

SPAN_SEPARATOR = ".."
# Days a filter may name: a typed 9999-12-31 would overflow the day after it, 0001-01-01 the day before.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def span_value(first: date, last: date) -> str:
    """``2026-01-05..2026-01-11``: company-local days, both included."""
    return f"{first.isoformat()}{SPAN_SEPARATOR}{last.isoformat()}"


def parse_span(value: str) -> tuple[date, date]:
    try:
        first, last = (date.fromisoformat(part) for part in value.split(SPAN_SEPARATOR))
    except ValueError:
        raise IncorrectLookupParameters(f"“{value}” is not a period like 2026-01-05..2026-01-11.") from None
    if last < first:
        raise IncorrectLookupParameters(f"“{value}” ends before it starts.")
    if first < EARLIEST_DAY or last > LATEST_DAY:
        raise IncorrectLookupParameters(f"“{value}” is not a period between {EARLIEST_DAY:%Y} and {LATEST_DAY:%Y}.")
    return first, last


def checked_span(request, value: str) -> tuple[date, date]:
    """``parse_span``, its refusal also left as a message for the page the admin redirects to.

    On ``IncorrectLookupParameters`` the admin redirects to the bare list (``?e=1``) and says nothing;
    the message says which filter was dropped and why. An export (no message store) still refuses.
    """
    try:
        return parse_span(value)
    except IncorrectLookupParameters as error:
        messages.error(request, f"The filter was removed: {error}", fail_silently=True)
        raise


def span_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The moments from the start of ``first`` to the start of the day after ``last``, company time."""
    company = timezone.get_default_timezone()
    return (
        timezone.make_aware(datetime.combine(first, time.min), company),
        timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), company),
    )


def _span_words(span: tuple[date, date]) -> str:
    first, last = span
    return f"{first:%d %b %Y} – {last:%d %b %Y}"


class ClaimMadeFilter(admin.SimpleListFilter):
    """Claims made (``submitted_at``) between two company-local days, both included."""

    title = "claim made"
    parameter_name = "made"

    def lookups(self, request, model_admin):
        today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
        presets = [
            (span_value(today - timedelta(days=6), today), "Last 7 days"),
            (span_value(today - timedelta(days=29), today), "Last 30 days"),
            (span_value(today - timedelta(days=89), today), "Last 90 days"),
        ]
        value = self.value()
        if value and value not in dict(presets):
            presets.append((value, _span_words(checked_span(request, value))))
        return presets

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        start, end = span_bounds(*checked_span(request, self.value()))
        return queryset.filter(submitted_at__gte=start, submitted_at__lt=end)


class SkuFilter(admin.SimpleListFilter):
    """Claims with an item of this SKU: an ``EXISTS`` on the claim items, so no claim is listed twice."""

    title = "SKU"
    parameter_name = "sku"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self):
        return bool(self.value())

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        items = ClaimItem.objects.filter(claim=OuterRef("pk"), order_line__product__sku=self.value())
        return queryset.filter(Exists(items))


class RefundPaidFilter(admin.SimpleListFilter):
    """Claims with a refund that succeeded in a period, optionally in one currency: ``2026-01-05..2026-01-11:EUR``."""

    title = "refund paid"
    parameter_name = "refund_paid"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return []
        span, _, currency = value.partition(":")
        return [(value, f"{_span_words(checked_span(request, span))}{' in ' + currency if currency else ''}")]

    def has_output(self):
        return bool(self.value())

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        span, _, currency = self.value().partition(":")
        start, end = span_bounds(*checked_span(request, span))
        refunds = Refund.objects.filter(
            claim=OuterRef("pk"), status=RefundStatus.SUCCEEDED, succeeded_at__gte=start, succeeded_at__lt=end
        )
        if currency:
            refunds = refunds.filter(currency=currency)
        return queryset.filter(Exists(refunds))


CLAIM_FILTERS = (ClaimMadeFilter, SkuFilter, RefundPaidFilter)
