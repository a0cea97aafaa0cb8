"""The two-factor page: enrol an authenticator app (QR code), type its code, see and renew recovery codes."""

import base64
import io

from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

from accounts import services
from accounts.forms import CodeForm, check_code
from accounts.middleware import requires_two_factor


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _page(request, context, status=200):
    user = request.user
    pending = context.get("pending")
    if pending is not None:
        # For typing into an app that cannot scan: the key in groups of four.
        key = base64.b32encode(pending.bin_key).decode()
        context["key"] = " ".join(key[i : i + 4] for i in range(0, len(key), 4))
    return TemplateResponse(
        request,
        "accounts/two_factor.html",
        {
            **admin.site.each_context(request),
            "title": "Two-factor authentication",
            "required": requires_two_factor(user),
            "next": _next_url(request),
            "recovery_left": StaticToken.objects.filter(device__user=user, device__confirmed=True).count(),
            "form": CodeForm(),
            **context,
        },
        status=status,
    )


@never_cache
def two_factor(request):
    """One page, three states: enrol (no app yet), verify (an app, this login not verified), manage."""
    user = request.user
    app = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    action = request.POST.get("action") if request.method == "POST" else None

    if app is None:
        pending = services.totp_device_pending(user=user)
        if action == "enrol":
            try:
                device, codes = services.totp_device_confirm(
                    user=user, device_id=pending.pk, code=request.POST.get("code", "")
                )
            except services.CodeRefused as refused:
                return _page(request, {"state": "enrol", "pending": pending, "error": str(refused)}, status=400)
            otp_login(request, device)
            messages.success(request, "Two-factor authentication is on: your next logins ask for a code.")
            return _page(request, {"state": "codes", "codes": codes})
        return _page(request, {"state": "enrol", "pending": pending})

    if not user.is_verified():
        if action == "verify":
            device = check_code(user, request.POST.get("code", ""))
            if device is not None:
                otp_login(request, device)
                return HttpResponseRedirect(_next_url(request))
            return _page(request, {"state": "verify", "error": "That code is wrong or already used."}, status=400)
        return _page(request, {"state": "verify"})

    if action == "recovery":
        return _page(request, {"state": "codes", "codes": services.recovery_codes_issue(user=user)})
    return _page(request, {"state": "manage", "app": app})


@never_cache
@require_GET
def two_factor_qr(request):
    """The pending device's key as a QR code (SVG) for the authenticator app to scan."""
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).order_by("-pk").first()
    if device is None:
        return redirect("two-factor")
    out = io.BytesIO()
    write_qrcode_image(device.config_url, out)
    return HttpResponse(out.getvalue(), content_type="image/svg+xml")
