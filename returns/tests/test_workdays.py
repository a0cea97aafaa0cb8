"""The working-day calendar: "the refund will be processed within 5-7 working days"."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from returns.models import ClosureDay
from returns.workdays import add_working_days, working_days_between

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day, hour=10, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


def end_of(day):
    return dt.datetime.combine(day, dt.time.max, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def china_calendar(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.SLA_HOLIDAYS_COUNTRY, settings.SLA_HOLIDAYS_SUBDIVISION = "CN", ""


def test_weekends_are_not_working_days():
    # Tue 17 Nov 2026 + 5 working days = Tue 24 Nov
    assert add_working_days(at(dt.date(2026, 11, 17)), 5) == end_of(dt.date(2026, 11, 24))


def test_approved_on_friday_evening_counts_from_monday():
    friday_evening = at(dt.date(2026, 11, 20), 21, 45)
    assert add_working_days(friday_evening, 1) == end_of(dt.date(2026, 11, 23))
    assert add_working_days(friday_evening, 7) == end_of(dt.date(2026, 12, 1))


def test_friday_evening_in_utc_is_saturday_in_the_company_zone():
    # 17:30 UTC on Friday 20 Nov is 01:30 on Saturday in Shanghai: day 0 is Saturday
    moment = dt.datetime(2026, 11, 20, 17, 30, tzinfo=dt.UTC)
    assert add_working_days(moment, 1) == end_of(dt.date(2026, 11, 23))


def test_public_holidays_are_skipped_and_make_up_weekend_days_count():
    # China's National Day break, 1-7 October 2026, is made up for on Saturday 10 October
    deadline = add_working_days(at(dt.date(2026, 9, 28)), 5)
    # 29 Sep, 30 Sep, 8 Oct, 9 Oct, Sat 10 Oct
    assert deadline == end_of(dt.date(2026, 10, 10))


def test_year_boundary():
    # Thu 31 Dec 2026; 1 Jan 2027 is New Year's Day
    assert add_working_days(at(dt.date(2026, 12, 31)), 1) == end_of(dt.date(2027, 1, 4))


def test_a_closure_day_added_later_moves_the_deadline():
    start = at(dt.date(2026, 11, 17))
    before = add_working_days(start, 5)
    ClosureDay.objects.create(day=dt.date(2026, 11, 19), reason="Stock-taking")
    assert add_working_days(start, 5) == before + dt.timedelta(days=1)


def test_another_country_has_other_holidays(settings):
    settings.SLA_HOLIDAYS_COUNTRY = "US"
    # Thanksgiving, Thu 26 Nov 2026, is off in the US, not in China
    assert add_working_days(at(dt.date(2026, 11, 25)), 1) == end_of(dt.date(2026, 11, 27))


def test_working_days_between_counts_the_age_of_a_refund():
    approved = at(dt.date(2026, 11, 20), 18)  # Friday
    assert working_days_between(approved, at(dt.date(2026, 11, 22))) == 0
    assert working_days_between(approved, at(dt.date(2026, 11, 25))) == 3
    assert working_days_between(at(dt.date(2026, 11, 25)), approved) == 0
