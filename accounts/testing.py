"""For scripts and tests that log a user in without the login form (benchmarks, the test client)."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice


def force_login_verified(client, user) -> None:
    """``client.force_login(user)``, and the session marked as verified by a second factor (a recovery-code
    device made for the purpose when the user has none), as after a login with a code."""
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
