"""For scripts and tests that log a user in without the login form (benchmarks, the test client)."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice


def second_factor(user) -> StaticDevice:
    """A confirmed device of the user's (a recovery-code device made for the purpose when they have none)."""
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    return device


def mark_verified(session, user) -> None:
    """The session as after a login with a code: finance and managers pass the two-factor requirement."""
    session[DEVICE_ID_SESSION_KEY] = second_factor(user).persistent_id


def force_login_verified(client, user) -> None:
    """``client.force_login(user)``, and the session marked as verified by a second factor."""
    client.force_login(user)
    session = client.session
    mark_verified(session, user)
    session.save()
