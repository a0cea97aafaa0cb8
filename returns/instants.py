"""Instants and days as a person reads them: the one place a moment becomes words.

Times are shown in the active zone (the viewer's, set by ``backoffice.middleware`` from the
browser; otherwise the company's ``TIME_ZONE``), and the zone is named: "30 Nov 2026 14:00 (CST)".
Event payloads keep instants and days as ISO strings (``core.events.PayloadEncoder``): both
helpers read those too.
"""

from datetime import date, datetime

from django.utils import timezone


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
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def format_instant(value) -> str:
    """ "30 Nov 2026 14:00 (CST)": the moment in the active zone, the zone named; "" when there is none."""
    moment = parse_instant(value)
    if moment is None:
        return ""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    local = timezone.localtime(moment)
    return f"{local:%d %b %Y %H:%M} ({local.tzname()})"


def format_day(value) -> str:
    """ "30 Nov 2026": a calendar day (a received date, a closure day); "" when there is none."""
    day = parse_day(value)
    return f"{day:%d %b %Y}" if day else ""
