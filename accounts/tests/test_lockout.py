"""Lockout and throttling of staff logins (django-axes): by username, by address, told when, unlocked by a manager."""

import datetime

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.admin.models import DELETION, LogEntry
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from accounts import services
from returns.instants import format_instant
from returns.tests.factories import ROLES, staff_user

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


def attempt(username, password, address="203.0.113.7", client=None):
    client = client or Client(REMOTE_ADDR=address)
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def test_ten_wrong_passwords_then_the_right_one_is_refused_and_the_page_says_until_when(django_user_model, settings):
    staff_user(django_user_model, "manager", ROLES["manager"])
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt("manager", "guess").status_code == 200  # the form again, "enter a correct username…"

    locked = attempt("manager", "guess")
    assert locked.status_code == 429
    right = attempt("manager", "pw-manager")

    assert right.status_code == 429
    page = right.content.decode()
    until = format_instant(AccessAttempt.objects.get().attempt_time + settings.AXES_COOLOFF_TIME)
    assert f"signing in is locked until {until}, in about 15 minutes" in page
    assert 'id="login-form"' in page and 'value="manager"' in page
    assert not right.wsgi_request.user.is_authenticated


def test_attempts_while_locked_do_not_extend_the_lock_and_it_lifts_after_the_cool_off(django_user_model, settings):
    staff_user(django_user_model, "finance", ROLES["finance"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            attempt("finance", "guess")
    with time_machine.travel(start + datetime.timedelta(minutes=14), tick=False):
        assert attempt("finance", "guess").status_code == 429
        assert attempt("finance", "pw-finance").status_code == 429
    with time_machine.travel(start + datetime.timedelta(minutes=15, seconds=1), tick=False):
        assert attempt("finance", "pw-finance").status_code == 302


def test_a_locked_username_is_locked_from_every_address(django_user_model, settings):
    staff_user(django_user_model, "finance", ROLES["finance"])
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt("finance", "guess", address=f"198.51.100.{number + 1}")

    assert attempt("finance", "pw-finance", address="192.0.2.200").status_code == 429


def test_an_address_spraying_usernames_is_locked_for_every_username_others_are_not(django_user_model, settings):
    staff_user(django_user_model, "cs", ROLES["cs"])
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(f"someone{number}", "guess", address="203.0.113.66")

    # the sprayer's address cannot sign in even with a right password ...
    assert attempt("cs", "pw-cs", address="203.0.113.66").status_code == 429
    # ... while the same person from their own address can
    assert attempt("cs", "pw-cs", address="192.0.2.10").status_code == 302


def test_a_wrong_password_after_a_right_login_starts_from_zero(django_user_model, settings):
    staff_user(django_user_model, "cs", ROLES["cs"])
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("cs", "guess")
    assert attempt("cs", "pw-cs").status_code == 302

    assert attempt("cs", "guess").status_code == 200
    assert attempt("cs", "pw-cs").status_code == 302


def test_a_manager_unlocks_from_the_failed_logins_list_and_the_unlock_is_recorded(django_user_model, settings):
    staff_user(django_user_model, "finance", ROLES["finance"])
    manager = staff_user(django_user_model, "boss", ROLES["manager"])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt("finance", "guess")
    assert attempt("finance", "pw-finance").status_code == 429

    # the manager sees the locked login and unlocks it
    client = Client()
    client.force_login(manager)
    listing = client.get("/admin/axes/accessattempt/?locked=yes")
    assert listing.status_code == 200 and "finance" in listing.content.decode()
    locked = AccessAttempt.objects.get(username="finance")
    done = client.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": [locked.pk]}, follow=True)
    assert "Unlocked 1 login(s)" in done.content.decode()

    assert attempt("finance", "pw-finance").status_code == 302
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.user == manager
    assert entry.change_message == "Unlocked the login of 'finance' from 203.0.113.7 after 10 failed attempt(s)."


def test_unlocking_needs_the_managers_permission(django_user_model, settings):
    agent = staff_user(django_user_model, "cs", ROLES["cs"])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt("finance", "guess")
    client = Client()
    client.force_login(agent)

    assert client.get("/admin/axes/accessattempt/").status_code == 403
    with pytest.raises(PermissionDenied):
        services.login_unlock(attempt_ids=AccessAttempt.objects.values_list("pk", flat=True), by=agent)
    assert AccessAttempt.objects.count() == 1
