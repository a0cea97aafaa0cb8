"""The customer's page, reached from the approval email: enter the return parcel's tracking.

No login: the signed token in the URL names the claim (``returns.links``). The form
is CSRF-protected like every POST; the page loads nothing from elsewhere and tells
the browser not to send its address (which carries the token) to any other site.

``Referrer-Policy: same-origin``, not ``no-referrer``: with ``no-referrer`` browsers send
``Origin: null`` on the form's POST and Django's CSRF check refuses it (403). With
``same-origin`` the browser sends our own origin to us, and no Referer at all elsewhere.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from core import actors
from core.i18n import customer_language
from returns import links, states
from returns.models import ClaimStatus
from shipments import services
from shipments.forms import TrackingForm
from shipments.models import ReturnParcel


@never_cache
@customer_language
def return_tracking(request, token):
    try:
        claim = links.claim_from_token(token)
    except links.BadLink as error:
        return _page(request, "shipments/link_problem.html", {"message": str(error)}, status=400)
    context = {"claim": claim}
    parcel = ReturnParcel.objects.filter(claim=claim).first()
    if parcel is not None:
        return _already(request, claim, parcel)
    if claim.is_returnless or claim.status != ClaimStatus.APPROVED:
        return _page(request, "shipments/not_expected.html", {**context, "reason": _why_not_expected(claim)})
    form = TrackingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            parcel = services.return_parcel_register(claim_id=claim.pk, by=actors.CUSTOMER, **form.cleaned_data)
        except services.ParcelAlreadyRegistered as already:
            return _already(request, claim, already.parcel)
        except states.InvalidTransition:
            # The claim changed while the customer typed (cancelled, received): say what it is now.
            claim.refresh_from_db()
            return _page(request, "shipments/not_expected.html", {**context, "reason": _why_not_expected(claim)})
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return _page(request, "shipments/tracking_thanks.html", {**context, "parcel": parcel})
    return _page(request, "shipments/tracking_form.html", {**context, "form": form})


def _already(request, claim, parcel):
    return _page(request, "shipments/tracking_already.html", {"claim": claim, "parcel": parcel})


def _why_not_expected(claim) -> str:
    if claim.is_returnless:
        return _("This return was approved without sending anything back, so there is no parcel to track.")
    return {
        ClaimStatus.CANCELLED: _("This return was cancelled, so there is no parcel to send."),
        ClaimStatus.REJECTED: _("This request was not approved for a return, so there is no parcel to send."),
        ClaimStatus.RESOLVED: _("This request was resolved without a return, so there is no parcel to send."),
    }.get(claim.status, _("This return is not waiting for a parcel any more."))


def _page(request, template, context, status=200):
    response = render(request, template, {**context, "support_email": settings.RMA_SUPPORT_EMAIL}, status=status)
    # The address carries the token: never send it to another site as a Referer. Not "no-referrer":
    # browsers then send "Origin: null" on the form's POST, and the CSRF check refuses it.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response
