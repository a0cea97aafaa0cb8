"""Reads for finance: the refunds queue, its totals and ages."""

from bisect import bisect_right
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from refunds.models import OPEN_STATUSES, Refund
from returns.workdays import closure_days, is_working_day


def refund_queue(queryset: QuerySet[Refund] | None = None) -> QuerySet[Refund]:
    """The queue: what waits on finance or the provider first (``Refund.queue_priority``), oldest first."""
    queryset = Refund.objects.all() if queryset is None else queryset
    return queryset.select_related("claim").order_by("queue_priority", "created_at")


def open_totals_per_currency(queryset: QuerySet[Refund]) -> list[dict]:
    """Not yet paid, per currency (no exchange rates): one query."""
    return list(
        queryset.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values("currency")
        .annotate(amount=Sum("total"), refunds=Count("pk"))
        .order_by("currency")
    )


def ages_in_working_days(since: dict[int, datetime], now: datetime) -> dict[int, int]:
    """Working days from each moment's company-local day (excluded) to ``now``'s (included).

    ``returns.workdays.working_days_between`` for a page of refunds at once: one query for the
    closure days of the whole span, not one a row.
    """
    if not since:
        return {}
    company = timezone.get_default_timezone()
    days = {key: timezone.localtime(moment, company).date() for key, moment in since.items()}
    first, last = min(days.values()), timezone.localtime(now, company).date()
    closed = closure_days(first, last)
    working = [
        day
        for day in (first + timedelta(days=n) for n in range(1, (last - first).days + 1))
        if is_working_day(day, closed)
    ]
    return {key: len(working) - bisect_right(working, day) for key, day in days.items()}
