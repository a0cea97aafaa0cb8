"""Signed out after inactivity (accounts.middleware.IdleTimeoutMiddleware); Django's password validators."""

import datetime

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from returns.tests.factories import ROLES, staff_user

pytestmark = pytest.mark.django_db


def logged_in(django_user_model):
    staff_user(django_user_model, "cs", ROLES["cs"])
    client = Client()
    assert client.post("/admin/login/", {"username": "cs", "password": "pw-cs", "next": "/admin/"}).status_code == 302
    return client


def test_a_quiet_half_hour_signs_the_person_out_and_the_login_page_says_why(django_user_model, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = logged_in(django_user_model)
    with time_machine.travel(start + datetime.timedelta(seconds=settings.SESSION_IDLE_SECONDS + 1), tick=False):
        gone = client.get("/admin/returns/claim/")
        assert gone.status_code == 302
        assert gone["Location"] == "/admin/login/?next=/admin/returns/claim/"
        page = client.get(gone["Location"])
        assert "You were signed out after 30 minutes without activity. Sign in again." in page.content.decode()
        assert client.get("/admin/").status_code == 302


def test_activity_keeps_the_session_and_writes_it_at_most_once_a_minute(django_user_model, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = logged_in(django_user_model)
    key = client.session.session_key
    for minutes in (20, 40, 60):
        with time_machine.travel(start + datetime.timedelta(minutes=minutes), tick=False):
            assert client.get("/admin/").status_code == 200
    written = Session.objects.get(session_key=key).expire_date

    with time_machine.travel(start + datetime.timedelta(minutes=60, seconds=30), tick=False):
        assert client.get("/admin/").status_code == 200
    assert Session.objects.get(session_key=key).expire_date == written  # within the minute: not written


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt-pass", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "This password is too common."),
        ("730194852613", "This password is entirely numeric."),
    ],
)
def test_weak_passwords_are_refused(django_user_model, password, message):
    user = staff_user(django_user_model, "agent", ROLES["cs"])
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user)
    assert message in refused.value.messages


def test_a_long_uncommon_password_passes(django_user_model):
    user = staff_user(django_user_model, "agent", ROLES["cs"])
    validate_password("tripod-cage-NATO-rail-42", user)
