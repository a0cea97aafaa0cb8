"""In Chromium: finance enrols an authenticator app, then logs in with its code and reaches the refunds page;
a locked login says so on the page."""

import pytest
from django_otp.oath import hotp, totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services as accounts_services
from returns.tests.factories import ROLES, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def two_factor_required(settings):
    settings.TWO_FACTOR_REQUIRED = True


def current_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def next_code(device: TOTPDevice) -> str:
    """The app's code after the one last used: the server takes it whatever the clock did meanwhile. (The
    current time's next code was refused once the enrolment's code was checked just after a 30-second step
    turned: the server then learnt a drift of -1 and took one step either side of that.)"""
    device.refresh_from_db()
    return f"{hotp(device.bin_key, device.last_t + 1, digits=device.digits):06d}"


def fill_login(page, live_server, username, code=""):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    if code:
        page.fill("#id_otp_token", code)
    with page.expect_navigation():
        page.click("#login-form [type=submit]")


def test_finance_enrols_then_logs_in_with_a_totp_code_and_reaches_the_refunds_page(
    page, live_server, django_user_model, shoot
):
    staff_user(django_user_model, "finance", ROLES["finance"])

    # first login: a password alone, then straight to enrolment whatever page was asked for
    fill_login(page, live_server, "finance")
    page.goto(f"{live_server.url}/admin/refunds/refund/")
    page.wait_for_selector("#two-factor-qr")
    assert "/admin/two-factor/" in page.url
    assert page.evaluate("document.querySelector('#two-factor-qr').naturalWidth") > 0  # the QR code loaded
    shoot(page, "two-factor-enrol")
    device = TOTPDevice.objects.get(user__username="finance")
    page.fill("#id_code", current_code(device))
    page.click("#two-factor-form [type=submit]")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    shoot(page, "two-factor-recovery-codes")

    # a later login asks for the code; the app's next code (the current one is spent) lets finance in
    page.context.clear_cookies()
    fill_login(page, live_server, "finance", next_code(device))
    page.goto(f"{live_server.url}/admin/refunds/refund/")
    assert page.url.endswith("/admin/refunds/refund/") and "/login/" not in page.url
    assert page.locator("#changelist, #result_list, .changelist").count() >= 1
    shoot(page, "two-factor-refunds-reached")


def test_a_locked_login_is_told_so_in_words_and_a_manager_unlocks_it(
    page, browser, live_server, django_user_model, settings, shoot
):
    staff_user(django_user_model, "cs", ROLES["cs"])
    manager = staff_user(django_user_model, "boss", ROLES["manager"])
    pending = accounts_services.totp_device_pending(user=manager)
    device, _ = accounts_services.totp_device_confirm(user=manager, device_id=pending.pk, code=current_code(pending))
    boss = browser.new_context().new_page()
    fill_login(boss, live_server, "boss", next_code(device))
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "cs")
        page.fill("#id_password", "wrong")
        with page.expect_navigation():
            page.click("#login-form [type=submit]")

    fill_login(page, live_server, "cs")
    message = page.locator("#login-locked").inner_text()
    assert "signing in is locked until" in message and "A manager can unlock it sooner." in message
    assert page.input_value("#id_username") == "cs"
    shoot(page, "login-locked")

    # the manager (signed in before: this address is locked now too) finds the locked login and unlocks it
    boss.goto(f"{live_server.url}/admin/")
    boss.click("text=Failed logins")
    boss.wait_for_selector("#result_list")
    assert "cs" in boss.locator("#result_list").inner_text()
    boss.check("#result_list input.action-select")
    boss.select_option("select[name=action]", "unlock")
    with boss.expect_navigation():
        boss.click("button[name=index]")
    assert "Unlocked 1 login(s): they can sign in again now." in boss.content()
    shoot(boss, "failed-logins-unlocked")

    # cs signs in at once
    fill_login(page, live_server, "cs")
    assert page.url.endswith("/admin/")
