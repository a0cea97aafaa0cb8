"""The staff's date and time formats (``FORMAT_MODULE_PATH``): what Django's admin shows for a date or
a datetime field follows the one rule of ``returns.instants``: "30 Nov 2026" and
"30 Nov 2026 14:00 (Asia/Shanghai)", the company's zone named (``docs/console.md``)."""

from django.conf import settings


def _literal(text: str) -> str:
    """Text a Django date format prints as it is (every character escaped)."""
    return "".join("\\" + char for char in text)


DATE_FORMAT = "d M Y"
SHORT_DATE_FORMAT = "d M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "d M Y H:i " + _literal(f"({settings.TIME_ZONE})")
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
MONTH_DAY_FORMAT = "d M"
YEAR_MONTH_FORMAT = "M Y"
FIRST_DAY_OF_WEEK = 1  # Monday, as the dashboard's ISO weeks
