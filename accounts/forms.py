"""The admin's login form: username, password and, for whoever has a second factor, its code."""

import re

from django import forms
from django.contrib.auth.signals import user_login_failed
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.forms import AuthenticationForm
from unfold.widgets import BASE_INPUT_CLASSES

TOTP_CODE = re.compile(r"^\d{6}$")


def check_code(user, code: str):
    """The device that accepts ``code``: a 6-digit code goes to the authenticator app's device, anything
    else to the recovery codes (each works once). Verified against each device, with its throttling."""
    code = re.sub(r"\s+", "", code or "").lower()
    if not code:
        return None
    model = TOTPDevice if TOTP_CODE.match(code) else StaticDevice
    for device in model.objects.devices_for_user(user, confirmed=True):
        found = verify_token(user, device.persistent_id, code)
        if found is not None:
            return found
    return None


def has_second_factor(user) -> bool:
    return any(model.objects.devices_for_user(user, confirmed=True).exists() for model in (TOTPDevice, StaticDevice))


def code_input(**attrs) -> forms.TextInput:
    return forms.TextInput(
        attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "class": " ".join(BASE_INPUT_CLASSES), **attrs}
    )


class StaffLoginForm(AuthenticationForm):
    """unfold's login form (the admin's, in the theme's look) with the second factor's code."""

    otp_token = forms.CharField(
        label="Code",
        required=False,
        max_length=32,
        help_text="From your authenticator app, or one of your recovery codes. Leave empty if you have neither yet.",
        widget=code_input(),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "code_required": "Enter the code from your authenticator app (or a recovery code) as well.",
        "code_invalid": "That code is wrong or already used. Codes change every 30 seconds; a recovery code works once.",
    }

    def clean(self):
        cleaned = super().clean()  # the password; axes counts a wrong one and refuses a locked login
        user = self.user_cache
        if user is None or not has_second_factor(user):
            return cleaned
        code = cleaned.get("otp_token", "")
        if not code:
            raise forms.ValidationError(self.error_messages["code_required"], code="code_required")
        device = check_code(user, code)
        if device is None:
            # A wrong code counts towards the lockout like a wrong password.
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=self.request)
            raise forms.ValidationError(self.error_messages["code_invalid"], code="code_invalid")
        # django_otp's user_logged_in receiver records the device in the session: the login is verified.
        user.otp_device = device
        return cleaned


class CodeForm(forms.Form):
    """The two-factor page's one field: a code from the app (or, to verify a login, a recovery code)."""

    code = forms.CharField(label="Code", max_length=32, widget=code_input(autofocus=True))
