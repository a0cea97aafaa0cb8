"""Two factors: required for finance and managers (enrolment first), offered to everyone, asked at login;
recovery codes work once; wrong codes count towards the lockout."""

import datetime

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from returns.instants import format_instant
from returns.tests.factories import ROLES, staff_user

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
REFUNDS = "/admin/refunds/refund/"


@pytest.fixture(autouse=True)
def two_factor_required(settings):
    settings.TWO_FACTOR_REQUIRED = True


@pytest.fixture
def now():
    """A fixed moment, moved by hand: a TOTP code is accepted once per 30-second step."""
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    device = services.totp_device_pending(user=user)
    return services.totp_device_confirm(user=user, device_id=device.pk, code=code_for(device))


def log_in(client, username, code=""):
    return client.post(
        LOGIN, {"username": username, "password": f"pw-{username}", "otp_token": code, "next": "/admin/"}
    )


def test_finance_without_an_app_is_sent_to_enrol_before_anything_else(django_user_model, now):
    staff_user(django_user_model, "finance", ROLES["finance"])
    client = Client()
    assert log_in(client, "finance").status_code == 302

    # every page leads to the enrolment page, which names where they were going
    refused = client.get(REFUNDS)
    assert refused.status_code == 302
    assert refused["Location"] == "/admin/two-factor/?next=%2Fadmin%2Frefunds%2Frefund%2F"
    assert client.get("/admin/").status_code == 302

    page = client.get("/admin/two-factor/")
    assert "a second factor is required before you can go on" in page.content.decode()
    qr = client.get("/admin/two-factor/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content
    pending = TOTPDevice.objects.get(user__username="finance", confirmed=False)
    assert page.context["key"].replace(" ", "") in pending.config_url

    # a wrong code is refused with words; the right one turns it on and shows ten recovery codes once
    wrong = client.post("/admin/two-factor/", {"action": "enrol", "code": "000000"})
    assert wrong.status_code == 400 and "That code does not match" in wrong.content.decode()
    done = client.post("/admin/two-factor/", {"action": "enrol", "code": code_for(pending), "next": REFUNDS})
    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    assert StaticToken.objects.filter(device__user__username="finance").count() == 10
    assert client.get(REFUNDS).status_code == 200
    assert LogEntry.objects.filter(change_message__startswith="Added an authenticator app").count() == 1


def test_the_admin_login_asks_for_the_code_and_checks_it(django_user_model, now):
    finance = staff_user(django_user_model, "finance", ROLES["finance"])
    device, _ = enrolled(finance)
    now.shift(datetime.timedelta(seconds=30))

    missing = log_in(Client(), "finance")
    assert missing.status_code == 200
    assert "Enter the code from your authenticator app" in missing.content.decode()
    wrong = log_in(Client(), "finance", "123456" if code_for(device) != "123456" else "654321")
    assert "That code is wrong or already used" in wrong.content.decode()

    now.shift(datetime.timedelta(seconds=2))  # the device waits 2^(failures-1) seconds after a wrong code
    client = Client()
    assert log_in(client, "finance", code_for(device)).status_code == 302
    assert client.get(REFUNDS).status_code == 200


def test_a_recovery_code_works_once(django_user_model, now):
    manager = staff_user(django_user_model, "manager", ROLES["manager"])
    _, codes = enrolled(manager)

    first = Client()
    assert log_in(first, "manager", codes[0].upper()).status_code == 302
    assert first.get("/admin/dashboard/").status_code == 200

    again = log_in(Client(), "manager", codes[0])
    assert again.status_code == 200 and "That code is wrong or already used" in again.content.decode()
    assert StaticToken.objects.filter(device__user=manager).count() == 9


def test_a_session_logged_in_without_the_code_is_asked_for_it(django_user_model, now):
    manager = staff_user(django_user_model, "manager", ROLES["manager"])
    device, _ = enrolled(manager)
    now.shift(datetime.timedelta(seconds=30))
    client = Client()
    client.force_login(manager)  # a password alone, as a session from before the requirement

    assert client.get("/admin/").status_code == 302
    assert "Enter your code" in client.get("/admin/two-factor/").content.decode()
    verified = client.post("/admin/two-factor/", {"action": "verify", "code": code_for(device), "next": "/admin/"})
    assert verified.status_code == 302 and verified["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_customer_service_may_work_without_a_second_factor_and_may_add_one(django_user_model, now):
    agent = staff_user(django_user_model, "cs", ROLES["cs"])
    client = Client()
    log_in(client, "cs")
    assert client.get("/admin/").status_code == 200
    assert "Optional for your role" in client.get("/admin/two-factor/").content.decode()

    pending = TOTPDevice.objects.get(user=agent)
    client.post("/admin/two-factor/", {"action": "enrol", "code": code_for(pending)})
    now.shift(datetime.timedelta(seconds=30))

    # from now on their login asks for it too
    assert "Enter the code" in log_in(Client(), "cs").content.decode()
    assert log_in(Client(), "cs", code_for(pending)).status_code == 302


def test_new_recovery_codes_replace_the_old_ones(django_user_model, now):
    manager = staff_user(django_user_model, "manager", ROLES["manager"])
    device, old = enrolled(manager)
    now.shift(datetime.timedelta(seconds=30))
    client = Client()
    log_in(client, "manager", code_for(device))

    shown = client.get("/admin/two-factor/").content.decode()
    assert "Two-factor authentication is on" in shown
    assert f"Authenticator app added {format_instant(device.created_at)}" in shown
    assert "10 recovery codes left." in " ".join(shown.split())

    page = client.post("/admin/two-factor/", {"action": "recovery"})
    new = page.context["codes"]
    assert set(new).isdisjoint(old)
    assert set(StaticToken.objects.filter(device__user=manager).values_list("token", flat=True)) == set(new)


def test_wrong_codes_count_towards_the_lockout(django_user_model, settings, now):
    finance = staff_user(django_user_model, "finance", ROLES["finance"])
    device, _ = enrolled(finance)
    now.shift(datetime.timedelta(seconds=30))
    wrong = "111111" if code_for(device) != "111111" else "222222"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(), "finance", wrong)

    assert log_in(Client(), "finance", code_for(device)).status_code == 429


def test_scripts_log_in_as_verified(django_user_model):
    from accounts.testing import force_login_verified

    manager = staff_user(django_user_model, "manager", ROLES["manager"])
    client = Client()
    force_login_verified(client, manager)

    assert client.get("/admin/dashboard/").status_code == 200
