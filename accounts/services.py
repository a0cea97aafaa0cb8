"""Writes for staff logins: enrolling a second factor, recovery codes, unlocking a locked login.

Each writes an entry in the admin's own history (``LogEntry``: who, when, what), on the user concerned
or on the unlocked attempts, as the admin does for every change made through it.
"""

from axes.models import AccessAttempt
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10
UNLOCK_PERMISSION = "axes.delete_accessattempt"


class CodeRefused(Exception):
    pass


def totp_device_pending(*, user) -> TOTPDevice:
    """The authenticator app being enrolled: not confirmed until the person types one of its codes."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def totp_device_confirm(*, user, device_id: int, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirms the pending device with a code it generated; returns it and a fresh set of recovery codes."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, pk=device_id, confirmed=False).first()
        if device is None or not device.verify_token("".join(code.split())):
            raise CodeRefused("That code does not match: check the time on your phone and type the code shown now.")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # A user has one authenticator app: an earlier one (a lost phone) stops working.
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        _log(by=user, obj=user, flag=ADDITION, message="Added an authenticator app (two-factor authentication).")
        codes = _issue_recovery_codes(user)
    return device, codes


def recovery_codes_issue(*, user) -> list[str]:
    """A new set of recovery codes; the old ones stop working. Each code works once."""
    with transaction.atomic():
        codes = _issue_recovery_codes(user)
        _log(by=user, obj=user, flag=CHANGE, message="Issued new recovery codes (the old ones no longer work).")
    return codes


def _issue_recovery_codes(user) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Recovery codes", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def login_unlock(*, attempt_ids, by) -> int:
    """Lifts the locks these attempts hold (by username and by address); returns how many were removed."""
    if not by.has_perm(UNLOCK_PERMISSION):
        raise PermissionDenied("Unlocking logins needs the permission to delete access attempts.")
    with transaction.atomic():
        attempts = list(AccessAttempt.objects.select_for_update().filter(pk__in=list(attempt_ids)).order_by("pk"))
        for attempt in attempts:
            _log(
                by=by,
                obj=attempt,
                flag=DELETION,
                message=(
                    f"Unlocked the login of {attempt.username!r} from {attempt.ip_address} "
                    f"after {attempt.failures_since_start} failed attempt(s)."
                ),
                repr_=f"{attempt.username} from {attempt.ip_address}",
            )
        AccessAttempt.objects.filter(pk__in=[attempt.pk for attempt in attempts]).delete()
    return len(attempts)


def _log(*, by, obj, flag, message, repr_=None) -> None:
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.create(
        user_id=by.pk,
        content_type_id=ContentType.objects.get_for_model(obj, for_concrete_model=False).pk,
        object_id=str(obj.pk),
        object_repr=(repr_ or str(obj))[:200],
        action_flag=flag,
        change_message=message,
    )
