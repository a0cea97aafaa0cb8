"""Show times in each staff member's own time zone, as their browser reports it."""

import contextlib
import zoneinfo

from django.utils import timezone

COOKIE = "tz"


class BrowserTimezoneMiddleware:
    """Activates the zone named by the ``tz`` cookie (set by templates/admin/base_site.html).

    Policy windows never depend on it: they count in the company's zone (settings.TIME_ZONE).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.deactivate()
        name = request.COOKIES.get(COOKIE, "")
        # A zone this server does not know leaves the company's.
        with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
            if name:
                timezone.activate(zoneinfo.ZoneInfo(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
