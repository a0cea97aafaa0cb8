"""The customer's pages: no account, no password. A signed, expiring, single-purpose link (``returns.links``)
opens an order or a claim; what it opens is that order's, nothing else, and nothing staff wrote for staff.

Every page: server-rendered, in the browser's language (among ``settings.LANGUAGES``), ``noindex``, not
cached, and ``Referrer-Policy: same-origin`` (the address carries the token; ``no-referrer`` would make
browsers send ``Origin: null`` on the forms' POSTs, which Django's CSRF check refuses).
"""

import functools

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from core.i18n import customer_language
from portal import forms, selectors, services
from returns import links, states, uploads
from returns.models import ClaimStatus
from returns.services import DuplicateSubmission
from shipments.models import ReturnParcel


def customer_page(view):
    """The browser's language for the page (``core.i18n``), and the headers every customer page sends."""

    @never_cache
    @functools.wraps(view)
    @customer_language
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "same-origin"
        response["X-Robots-Tag"] = "noindex"
        return response

    return wrapper


def _page(request, template, context=None, status=200):
    context = {
        "brand_name": settings.BRAND_NAME,
        "brand_logo": settings.BRAND_LOGO,
        "brand_color": settings.BRAND_COLOR,
        "brand_text_on_color": settings.BRAND_TEXT_ON_COLOR,
        "support_email": settings.RMA_SUPPORT_EMAIL,
        **(context or {}),
    }
    return render(request, template, context, status=status)


def _link_problem(request, error: links.BadLink):
    expired = isinstance(error, links.ExpiredLink)
    return _page(
        request,
        "portal/link_problem.html",
        {"message": str(error), "expired": expired, "form": forms.LookupForm()},
        status=410 if expired else 400,
    )


def _client_address(request) -> str:
    hops = settings.PORTAL_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


# --- Finding the order ----------------------------------------------------------


@customer_page
def lookup(request):
    form = forms.LookupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            services.lookup_count(client_address=_client_address(request), email=email)
        except services.Throttled as throttled:
            minutes = max(1, round(throttled.retry_after / 60))
            if throttled.per == "email":
                message = _(
                    "Too many requests for this email address. Please try again in %(minutes)s minutes, "
                    "or write to %(support)s."
                )
            else:
                message = _(
                    "Too many requests from your connection. Please try again in %(minutes)s minutes, "
                    "or write to %(support)s."
                )
            form.add_error(None, message % {"minutes": minutes, "support": settings.RMA_SUPPORT_EMAIL})
            response = _page(request, "portal/lookup.html", {"form": form}, status=429)
            response["Retry-After"] = str(throttled.retry_after)
            return response
        services.order_link_request(
            order_number=form.cleaned_data["order_number"], email=email, language=translation.get_language()
        )
        return _page(
            request, "portal/lookup_sent.html", {"email": email, "link_hours": settings.PORTAL_ORDER_LINK_MAX_AGE_HOURS}
        )
    return _page(request, "portal/lookup.html", {"form": form})


# --- The order -------------------------------------------------------------------


@customer_page
def order_page(request, token):
    try:
        order = links.order_from_token(token)
    except links.BadLink as error:
        return _link_problem(request, error)
    stated_form = forms.StatedDayForm(request.GET or None) if order.received_on is None else None
    stated = stated_form.cleaned_data["received"] if stated_form is not None and stated_form.is_valid() else None
    claims = list(order.claims.order_by("-pk"))
    return _page(
        request,
        "portal/order.html",
        {
            "order": order,
            "token": token,
            "lines": selectors.order_lines(order, received_on=stated),
            "stated": stated,
            "stated_form": stated_form or None,
            "today": selectors.today(),
            "claims": [
                (claim, links.claim_status_url(claim), selectors.STATUS_WORDS[claim.status]) for claim in claims
            ],
            "can_claim": order.cancelled_at is None,
        },
    )


@customer_page
def claim_new(request, token):
    try:
        order = links.order_from_token(token)
    except links.BadLink as error:
        return _link_problem(request, error)
    lines = selectors.order_lines(order)
    form = forms.ClaimForm(request.POST or None, request.FILES or None, lines=lines, order=order)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        submission = services.ClaimSubmission(
            claim_type=data["claim_type"],
            doa_reason=data.get("doa_reason") or "",
            description=data["description"],
            units=form.units(),
            whole_package_photos=data["whole_package_photo"],
            other_files=data["files"],
            submission_key=data["submission_key"],
            received_on=data.get("received_on"),
            proof=(data.get("proof") or [None])[0],
        )
        try:
            claim = services.claim_submit(order=order, submission=submission, language=translation.get_language())
        except DuplicateSubmission as duplicate:
            return HttpResponseRedirect(links.claim_status_url(duplicate.claim))
        except ValidationError as error:
            _add_errors(form, error)
        except uploads.RejectedUpload as refusal:
            form.add_error("files", str(refusal))
        else:
            return HttpResponseRedirect(links.claim_status_url(claim) + "?new=1")
    return _page(
        request,
        "portal/claim_form.html",
        {
            "order": order,
            "token": token,
            "form": form,
            "lines": lines,
            "order_url": reverse("portal-order", args=[token]),
        },
        status=400 if form.errors else 200,
    )


def _add_errors(form, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.error_dict.items():
        form.add_error(field if field in form.fields else None, messages)


# --- A claim ---------------------------------------------------------------------


def _claim_context(request, claim, token, **forms_given):
    parcel = ReturnParcel.objects.filter(claim=claim).first()
    # While we wait for the customer's answer, the question and its answer form say what is needed.
    waiting = claim.status == ClaimStatus.AWAITING_CUSTOMER
    approvable, reasons = selectors.outlook(claim) if claim.status == ClaimStatus.REQUESTED else (None, [])
    may_add = selectors.may_add_files(claim) and not waiting
    return {
        "claim": claim,
        "order": claim.order,
        "token": token,
        "reference": selectors.reference(claim),
        "type_words": selectors.TYPE_WORDS[claim.claim_type],
        "doa_reason_words": selectors.DOA_REASON_WORDS.get(claim.doa_reason, ""),
        "status_words": selectors.STATUS_WORDS[claim.status],
        "items": claim.items.select_related("order_line__product").order_by("pk"),
        "evidence": claim.evidence.order_by("pk"),
        "steps": selectors.steps(claim, parcel),
        "parcel": parcel,
        "approvable": approvable,
        "reasons": reasons,
        "history": selectors.history(claim),
        "question": selectors.information_request(claim),
        "answer_form": forms_given.get("answer_form") or (forms.AnswerForm(prefix="answer") if waiting else None),
        "files_form": forms_given.get("files_form") or (forms.FilesForm(prefix="more") if may_add else None),
        "may_cancel": selectors.may_cancel(claim),
        "tracking_url": links.tracking_url(claim)
        if claim.status == ClaimStatus.APPROVED and not claim.is_returnless and parcel is None
        else "",
        "return_address": settings.RMA_RETURN_ADDRESS,
        "order_url": links.order_url(claim.order),
        "new": request.GET.get("new") == "1",
        "message": forms_given.get("message", ""),
    }


def _claim_from(request, token):
    return links.claim_from_status_token(token)


@customer_page
def claim_page(request, token):
    try:
        claim = _claim_from(request, token)
    except links.BadLink as error:
        return _link_problem(request, error)
    return _page(request, "portal/claim.html", _claim_context(request, claim, token))


@customer_page
def claim_answer(request, token):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        claim = _claim_from(request, token)
    except links.BadLink as error:
        return _link_problem(request, error)
    form = forms.AnswerForm(request.POST, request.FILES, prefix="answer")
    if form.is_valid():
        try:
            services.claim_answer(claim=claim, answer=form.cleaned_data["answer"], files=form.cleaned_data["files"])
        except (states.InvalidTransition, PermissionDenied):
            claim.refresh_from_db()
            return _page(
                request,
                "portal/claim.html",
                _claim_context(request, claim, token, message=_("This request is not waiting for an answer any more.")),
                status=409,
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return HttpResponseRedirect(reverse("portal-claim", args=[token]) + "?answered=1#status")
    return _page(request, "portal/claim.html", _claim_context(request, claim, token, answer_form=form), status=400)


@customer_page
def claim_files(request, token):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        claim = _claim_from(request, token)
    except links.BadLink as error:
        return _link_problem(request, error)
    form = forms.FilesForm(request.POST, request.FILES, prefix="more")
    if form.is_valid():
        try:
            services.claim_add_files(
                claim=claim, files=form.cleaned_data["files"], whole_package=form.cleaned_data["whole_package"]
            )
        except (states.InvalidTransition, PermissionDenied):
            form.add_error(None, _("Photos can be added only while we have not decided on the request."))
        else:
            return HttpResponseRedirect(reverse("portal-claim", args=[token]) + "#photos")
    return _page(request, "portal/claim.html", _claim_context(request, claim, token, files_form=form), status=400)


@customer_page
def claim_cancel(request, token):
    try:
        claim = _claim_from(request, token)
    except links.BadLink as error:
        return _link_problem(request, error)
    form = forms.CancelForm(request.POST or None)
    refusal = "" if selectors.may_cancel(claim) else _("This request can no longer be cancelled here: write to us.")
    if request.method == "POST" and not refusal and form.is_valid():
        try:
            services.claim_cancel(claim=claim, reason=form.cleaned_data["reason"])
        except (states.InvalidTransition, PermissionDenied):
            refusal = _("This request can no longer be cancelled here: write to us.")
        else:
            return HttpResponseRedirect(reverse("portal-claim", args=[token]))
    return _page(
        request,
        "portal/cancel.html",
        {"claim": claim, "reference": selectors.reference(claim), "form": form, "refusal": refusal, "token": token},
        status=409 if refusal and request.method == "POST" else 200,
    )
