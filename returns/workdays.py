"""Working days, as the ``holidays`` package knows them for the configured country
(its weekend, its public holidays, and the weekend days some countries work to
make up for a bridge day, as China does), less the company's closure days
(``ClosureDay``).

Refunds are due "within 5-7 working days": counted from the company-local day
of the approval, that day being day 0; the deadline is the end (23:59:59.999999
local) of the Nth working day after it. An approval on Friday evening counts
Monday as day 1.
"""

from datetime import date, datetime, time, timedelta
from functools import cache

import holidays
from django.conf import settings
from django.utils import timezone

from returns.models import ClosureDay


@cache
def _country_calendar(country: str, subdivision: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision or None, years=year)


def closure_days(first: date, last: date) -> set[date]:
    return set(ClosureDay.objects.filter(day__range=(first, last)).values_list("day", flat=True))


def is_working_day(day: date, closed: set[date]) -> bool:
    calendar = _country_calendar(settings.SLA_HOLIDAYS_COUNTRY, settings.SLA_HOLIDAYS_SUBDIVISION, day.year)
    return day not in closed and calendar.is_working_day(day)


def add_working_days(start: datetime, count: int) -> datetime:
    """The end of the ``count``-th working day after the company-local day of ``start``."""
    company = timezone.get_default_timezone()
    day = timezone.localtime(start, company).date()
    # Enough calendar days for any run of holidays: three per working day, plus three weeks.
    closed = closure_days(day, day + timedelta(days=count * 3 + 21))
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day, closed):
            remaining -= 1
    return timezone.make_aware(datetime.combine(day, time.max), company)


def working_days_between(start: datetime, end: datetime) -> int:
    """Working days from ``start``'s local day (excluded) to ``end``'s (included): a refund's age."""
    company = timezone.get_default_timezone()
    first, last = timezone.localtime(start, company).date(), timezone.localtime(end, company).date()
    if last <= first:
        return 0
    closed = closure_days(first, last)
    return sum(is_working_day(first + timedelta(days=n), closed) for n in range(1, (last - first).days + 1))
