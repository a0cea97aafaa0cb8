"""Instants and days as a person reads them: the one place a moment becomes words.

The rule (``docs/console.md``, "Time and money"): every instant is shown in the company's zone
(``settings.TIME_ZONE``), whoever looks and wherever (admin pages, emails, exports), with the
zone named: "30 Nov 2026 14:00 (Asia/Shanghai)". Policy days are calendar days of that zone:
"30 Nov 2026 (company calendar, Asia/Shanghai)" where a policy date is the point. One zone means
the claim page, the customer's email and the CSV agree, and a day counted by the policy is the
day the page shows. Event payloads keep instants and days as ISO strings
(``core.events.PayloadEncoder``): the helpers read those too.
"""

from datetime import date, datetime, tzinfo

from django.utils import timezone

DAY_FORMAT = "%d %b %Y"  # 30 Nov 2026
INSTANT_FORMAT = "%d %b %Y %H:%M"  # 30 Nov 2026 14:00, followed by the zone's name


def company_zone() -> tzinfo:
    return timezone.get_default_timezone()


def zone_name() -> str:
    """ "Asia/Shanghai": the company zone's IANA name, the one way a zone is named."""
    return timezone.get_default_timezone_name()


def parse_instant(value) -> datetime | None:
    """A datetime, or the ISO string an event's payload keeps; None when it is neither."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_day(value) -> date | None:
    if isinstance(value, datetime):
        return timezone.localtime(value, company_zone()).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def local_instant(value) -> datetime | None:
    """The moment as the company's wall clock reads it (aware, in the company zone)."""
    moment = parse_instant(value)
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, company_zone())
    return timezone.localtime(moment, company_zone())


def format_instant(value) -> str:
    """ "30 Nov 2026 14:00 (Asia/Shanghai)": the moment in the company zone, named; "" when there is none."""
    local = local_instant(value)
    return f"{local:{INSTANT_FORMAT}} ({zone_name()})" if local else ""


def format_day(value) -> str:
    """ "30 Nov 2026": a calendar day (a received date, a closure day); "" when there is none."""
    day = parse_day(value)
    return f"{day:{DAY_FORMAT}}" if day else ""


def calendar_words() -> str:
    """ "company calendar, Asia/Shanghai": what a policy day is counted in, said beside it (the verdict, a
    received date)."""
    return f"company calendar, {zone_name()}"
