"""Session expiry after inactivity, and the second factor required of those who move money."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

LAST_SEEN = "accounts_last_seen"
# The session is written at most this often to record activity (not on every request).
TOUCH_EVERY_SECONDS = 60

# Superusers, and whoever holds one of these (finance approves and adjusts refunds, managers override
# the policy: backoffice/roles.py), must verify a second factor before anything else.
TWO_FACTOR_PERMISSIONS = ("refunds.approve_refund", "refunds.adjust_refund", "returns.override_claim_window")
# What an unverified user may still reach: enrolment, the code, logging out.
TWO_FACTOR_EXEMPT_VIEWS = {"two-factor", "two-factor-qr", "admin:logout", "admin:login", "admin:jsi18n"}


def mark_login_time(sender, request, user, **kwargs):
    """A new login starts the inactivity clock (so its first requests write nothing)."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())


class IdleTimeoutMiddleware:
    """Signs out a staff member after ``SESSION_IDLE_SECONDS`` without a request, and says so on the login page.

    Chosen over ``SESSION_SAVE_EVERY_REQUEST``, which writes the session row on every request: this writes it
    at most once a minute per person, and can tell the person why they have to sign in again.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_SEEN)
            if last is not None and now - last > settings.SESSION_IDLE_SECONDS:
                logout(request)
                minutes = settings.SESSION_IDLE_SECONDS // 60
                messages.info(request, f"You were signed out after {minutes} minutes without activity. Sign in again.")
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            if last is None or now - last >= TOUCH_EVERY_SECONDS:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


def requires_two_factor(user) -> bool:
    return user.is_superuser or any(user.has_perm(permission) for permission in TWO_FACTOR_PERMISSIONS)


class TwoFactorRequiredMiddleware:
    """Sends a logged-in user who must have a second factor, and has not verified one, to the two-factor page
    (enrolment when they have none yet) before any other page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not settings.TWO_FACTOR_REQUIRED:
            return None
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.view_name in TWO_FACTOR_EXEMPT_VIEWS:
            return None
        if not requires_two_factor(user):
            return None
        return redirect(f"{reverse('two-factor')}?{urlencode({'next': request.get_full_path()})}")
