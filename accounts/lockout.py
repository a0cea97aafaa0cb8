"""What a locked-out login sees, and which address a login comes from (axes' callables, see settings)."""

import datetime

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.db.models import Max, Sum
from django.template.response import TemplateResponse
from django.utils import timezone

from returns.instants import format_instant


def client_address(request) -> str:
    """REMOTE_ADDR, or behind ``LOGIN_TRUSTED_PROXIES`` proxies the address the first of them saw."""
    hops = settings.LOGIN_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def retry_at(*, username: str | None, ip_address: str | None) -> datetime.datetime | None:
    """When the lock on this username or address lifts: the cool-off after the last failure that locked it."""
    cool_off = get_cool_off()
    since = timezone.now() - cool_off
    locked_until = None
    for field, value in (("username", username), ("ip_address", ip_address)):
        if not value:
            continue
        found = AccessAttempt.objects.filter(**{field: value}, attempt_time__gte=since).aggregate(
            failures=Sum("failures_since_start"), last=Max("attempt_time")
        )
        if (found["failures"] or 0) >= settings.AXES_FAILURE_LIMIT:
            until = found["last"] + cool_off
            locked_until = max(locked_until or until, until)
    return locked_until


def lockout_message(when: datetime.datetime | None) -> str:
    if when is None:
        return "Too many failed sign-ins. Try again later, or ask a manager to unlock your account."
    minutes = max(1, round((when - timezone.now()).total_seconds() / 60))
    return (
        f"Too many failed sign-ins for this account or from this address: signing in is locked until "
        f"{format_instant(when)}, in about {minutes} minute{'s' if minutes != 1 else ''}. "
        "A manager can unlock it sooner."
    )


def lockout_response(request, original_response=None, credentials=None):
    """The admin's login page again, the username kept, saying the login is locked and until when (429)."""
    from accounts.forms import StaffLoginForm

    username = get_client_username(request, credentials)
    form = StaffLoginForm(request, initial={"username": username or ""})
    form.lockout = lockout_message(retry_at(username=username, ip_address=getattr(request, "axes_ip_address", None)))
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "subtitle": None,
        "app_path": request.get_full_path(),
        "form": form,
        "username": username,
        "lockout": form.lockout,
        "site_header": admin.site.site_header,
    }
    return TemplateResponse(request, admin.site.login_template, context, status=429).render()
