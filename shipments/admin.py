"""The parcels in the admin: customer service enters tracking and matches lost parcels,
the warehouse receives parcels and ships ours.

Parcels are read-only in the admin; every change goes through ``shipments.services``
from a page of its own (enter tracking, Receive parcel, attach, mark shipped).
"""

import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin

from returns import states, uploads
from returns.admin import ExactSearch, ReadOnlyInline, ServiceOnlyAdmin
from returns.instants import format_instant
from returns.models import Claim
from shipments import services
from shipments.forms import PHOTO_ACCEPT, AttachForm, OutboundShipForm, ReceiveForm, StaffTrackingForm
from shipments.models import OutboundParcel, ReturnParcel, UnmatchedParcel

_CLAIM_NUMBER = re.compile(r"^#?(\d{1,12})$")


def _photo_images(photos):
    """Small pictures linking to the signed, time-limited full-size URL."""
    signed = ((photo.file.url, photo.original_name) for photo in photos)
    return (
        format_html_join(
            " ",
            '<a href="{0}" target="_blank" rel="noopener"><img src="{0}" alt="{1}" loading="lazy" '
            'style="max-height:80px;max-width:120px;border:1px solid var(--hairline-color)"></a>',
            signed,
        )
        or "—"
    )


def _photo_links(photos):
    """Links only, for lists: a row of full-size pictures would load megabytes."""
    return (
        format_html_join(
            ", ", '<a href="{}" target="_blank" rel="noopener">{}</a>', ((p.file.url, p.original_name) for p in photos)
        )
        or "—"
    )


def _claim_link(claim):
    if claim is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse("admin:returns_claim_change", args=[claim.pk]), claim)


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _user(user):
    return user.get_username() if user else "—"


class _DoneFilter(admin.SimpleListFilter):
    """Waiting or done, by whether a date is set: words a person uses instead of "empty"."""

    field_name = ""
    labels = ("", "")

    def lookups(self, request, model_admin):
        return (("no", self.labels[0]), ("yes", self.labels[1]))

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(**{f"{self.field_name}__isnull": self.value() == "no"})
        return queryset


class ReceivedFilter(_DoneFilter):
    title = parameter_name = "received"
    field_name, labels = "received_at", ("Not yet", "Received")


class ShippedFilter(_DoneFilter):
    title = parameter_name = "shipped"
    field_name, labels = "shipped_at", ("Not yet", "Shipped")


class AttachedFilter(_DoneFilter):
    title = "attached to a claim"
    parameter_name = "attached"
    field_name, labels = "attached_to", ("Not yet (open)", "Attached")


# --- On the claim page (backoffice/admin.py adds these) ------------------------


class ReturnParcelInline(ReadOnlyInline):
    model = ReturnParcel
    verbose_name = verbose_name_plural = "return parcel"
    fields = ("carrier", "tracking_number", "sent_on", "entered", "received", "condition", "receipt_note", "photos")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("entered_by", "received_by").prefetch_related("photos")

    @admin.display(description="entered")
    def entered(self, parcel):
        return f"{parcel.get_entered_via_display()}{f' ({_user(parcel.entered_by)})' if parcel.entered_by else ''}"

    @admin.display(description="received")
    def received(self, parcel):
        if parcel.received_at is None:
            return "not yet"
        return f"{format_instant(parcel.received_at)} by {_user(parcel.received_by)}"

    @admin.display(description="photos")
    def photos(self, parcel):
        return _photo_images(parcel.photos.all())


class OutboundParcelInline(ReadOnlyInline):
    model = OutboundParcel
    verbose_name_plural = "parcels we send"
    fields = ("purpose", "serial_numbers", "carrier", "tracking_number", "created_at", "shipped_at", "shipped_by")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("shipped_by")


class AttachedUnmatchedParcelInline(ReadOnlyInline):
    """Parcels customer service attached to the claim (for backoffice to add to the claim page)."""

    model = UnmatchedParcel
    fk_name = "attached_to"
    verbose_name_plural = "parcels attached from the unmatched list"
    fields = ("received_at", "reason", "scanned_code", "condition", "note", "attached_by", "attached_at", "photos")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attached_by").prefetch_related("photos")

    @admin.display(description="photos")
    def photos(self, parcel):
        return _photo_images(parcel.photos.all())


# --- Return parcels: enter tracking, receive -------------------------------------


@admin.register(ReturnParcel)
class ReturnParcelAdmin(ExactSearch, ModelAdmin):
    list_display = (
        "rma_number",
        "carrier",
        "tracking_number",
        "sent_on",
        "entered_via",
        "received_at",
        "received_by",
        "condition",
    )
    list_select_related = ("claim", "received_by")
    list_filter = (ReceivedFilter, "entered_via", "condition")
    # get_search_results() makes these exact, indexed lookups.
    search_fields = ("=tracking_number",)
    search_help_text = "A tracking number or an RMA number, exactly."
    show_full_result_count = False
    change_list_template = "admin/shipments/returnparcel/change_list.html"
    fields = (
        "claim_page",
        "carrier",
        "tracking_number",
        "sent_on",
        "entered_via",
        "entered_by",
        "entered_at",
        "received_at",
        "received_by",
        "condition",
        "receipt_note",
        "photos",
    )
    readonly_fields = fields

    @admin.display(description="claim", ordering="claim__rma_number")
    def rma_number(self, parcel):
        return str(parcel.claim)

    @admin.display(description="claim")
    def claim_page(self, parcel):
        return _claim_link(parcel.claim)

    @admin.display(description="photos")
    def photos(self, parcel):
        return _photo_images(parcel.photos.all())

    def search_matches(self, term):
        return Q(claim__rma_number=term.upper()) if term.upper().startswith("RMA-") else Q(tracking_number=term)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        own = [path("receive/", self.admin_site.admin_view(self.receive_view), name="shipments_returnparcel_receive")]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        context = {**(extra_context or {}), "can_receive": request.user.has_perm(services.RECEIVE_PERMISSION)}
        return super().changelist_view(request, extra_context=context)

    def add_view(self, request, form_url="", extra_context=None):
        """Customer service types in the tracking a customer sent by email: the claim is shipped."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = StaffTrackingForm(request.POST or None, initial={"rma_number": request.GET.get("rma", "")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            claim = Claim.objects.filter(rma_number=data["rma_number"]).first()
            if claim is None:
                form.add_error("rma_number", f"No claim has the RMA number {data['rma_number']}.")
            else:
                try:
                    parcel = services.return_parcel_register(
                        claim_id=claim.pk,
                        by=request.user,
                        carrier=data["carrier"],
                        tracking_number=data["tracking_number"],
                        sent_on=data["sent_on"],
                    )
                except services.ParcelAlreadyRegistered as already:
                    messages.warning(request, f"{claim}: {already}")
                    return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))
                except (states.InvalidTransition, PermissionDenied) as error:
                    form.add_error(None, f"{claim}: {error}")
                except ValidationError as error:
                    _add_errors(form, error)
                else:
                    messages.success(
                        request,
                        f"{claim} is shipped: {parcel.carrier} {parcel.tracking_number}, sent {parcel.sent_on}.",
                    )
                    return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))
        return _form_page(
            self,
            request,
            form,
            title="Enter a return parcel's tracking",
            intro="From the customer's email: the claim becomes shipped, as when the customer uses the link.",
            submit="Record the tracking",
        )

    def receive_view(self, request):
        """The warehouse's bench: scan, pick the condition, add photos, Enter. Then the next parcel."""
        if not request.user.has_perm(services.RECEIVE_PERMISSION):
            raise PermissionDenied
        form = ReceiveForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.parcel_receive(by=request.user, **form.cleaned_data)
            except uploads.RejectedUpload as refused:
                # Nothing was recorded: the code, condition and note stay in the form; the photos must be chosen again.
                form.add_error("photos", f"{refused} Nothing was recorded yet: choose the photos again and submit.")
            except ValidationError as error:
                _add_errors(form, error)
            else:
                photos = f" {len(result.photos)} photo{'s' if len(result.photos) != 1 else ''} stored."
                level = messages.SUCCESS if result.matched else messages.WARNING
                messages.add_message(request, level, result.message + (photos if result.photos else ""))
                return HttpResponseRedirect(reverse("admin:shipments_returnparcel_receive"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Receive parcel",
            "form": form,
            "photo_accept": PHOTO_ACCEPT,
        }
        return TemplateResponse(request, "admin/shipments/receive.html", context)


# --- Unmatched parcels: customer service matches them ------------------------------


@admin.register(UnmatchedParcel)
class UnmatchedParcelAdmin(ExactSearch, ServiceOnlyAdmin):
    list_display = (
        "reference",
        "received_at",
        "reason",
        "scanned_code",
        "claim_found_link",
        "condition",
        "carrier",
        "tracking_number",
        "received_by",
        "photo_links",
        "attached",
    )
    list_filter = (AttachedFilter, "reason")
    # Open ones first (not attached), newest first; then the attached ones, latest attached first.
    ordering = (F("attached_at").desc(nulls_first=True), "-received_at")
    search_fields = ("=scanned_code",)
    search_help_text = "The code scanned at the bench, or the tracking number, exactly."
    show_full_result_count = False
    change_form_template = "admin/shipments/unmatchedparcel/change_form.html"
    fields = (
        "reason",
        "scanned_code",
        "claim_found_link",
        "received_at",
        "received_by",
        "condition",
        "carrier",
        "tracking_number",
        "note",
        "attached",
        "attached_by",
        "attached_at",
        "photos",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("claim_found", "attached_to", "received_by", "attached_by")
            .prefetch_related("photos")
        )

    @admin.display(description="parcel", ordering="-id")
    def reference(self, parcel):
        return f"#{parcel.pk}"

    @admin.display(description="claim the code named")
    def claim_found_link(self, parcel):
        return _claim_link(parcel.claim_found)

    @admin.display(description="photos")
    def photo_links(self, parcel):
        return _photo_links(parcel.photos.all())

    @admin.display(description="photos")
    def photos(self, parcel):
        return _photo_images(parcel.photos.all())

    @admin.display(description="attached to")
    def attached(self, parcel):
        return _claim_link(parcel.attached_to) if parcel.attached_to_id else "not yet"

    @admin.display(description="attached to")
    def attached_or_attach(self, parcel):
        if parcel.attached_to_id:
            return _claim_link(parcel.attached_to)
        url = reverse("admin:shipments_unmatchedparcel_attach", args=[parcel.pk])
        return format_html('<a class="button" href="{}">Attach to claim…</a>', url)

    def get_list_display(self, request):
        if request.user.has_perm(services.ATTACH_PERMISSION):
            return tuple("attached_or_attach" if name == "attached" else name for name in self.list_display)
        return self.list_display

    def search_matches(self, term):
        return Q(scanned_code=term.upper()) | Q(tracking_number=term)

    def get_urls(self):
        own = [
            path(
                "<int:unmatched_id>/attach/",
                self.admin_site.admin_view(self.attach_view),
                name="shipments_unmatchedparcel_attach",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {
            **(extra_context or {}),
            "can_attach": request.user.has_perm(services.ATTACH_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def attach_view(self, request, unmatched_id):
        if not request.user.has_perm(services.ATTACH_PERMISSION):
            raise PermissionDenied
        unmatched = get_object_or_404(self.get_queryset(request), pk=unmatched_id)
        form = AttachForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            claim = _find_claim(form.cleaned_data["claim"])
            if claim is None:
                form.add_error("claim", f"No claim {form.cleaned_data['claim'].strip()}.")
            else:
                try:
                    result = services.unmatched_parcel_attach(
                        unmatched_id=unmatched.pk, claim_id=claim.pk, by=request.user, note=form.cleaned_data["note"]
                    )
                except (states.InvalidTransition, PermissionDenied) as error:
                    form.add_error(None, str(error))
                except ValidationError as error:
                    _add_errors(form, error)
                else:
                    messages.success(request, result.message)
                    return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))
        return _form_page(
            self,
            request,
            form,
            title=f"Attach unmatched parcel #{unmatched.pk} to a claim",
            intro=(
                "If the claim is waiting for its parcel, this parcel becomes its receipt (the day it arrived, its "
                "condition and photos). Otherwise it is attached for information and the claim does not change."
            ),
            submit="Attach",
            extra={"unmatched": unmatched, "photos": _photo_images(unmatched.photos.all())},
        )


def _find_claim(text: str) -> Claim | None:
    text = text.strip()
    if match := _CLAIM_NUMBER.match(text):
        return Claim.objects.filter(pk=int(match.group(1))).first()
    return Claim.objects.filter(rma_number=text.upper()).first()


# --- Our parcels out -------------------------------------------------------------


@admin.register(OutboundParcel)
class OutboundParcelAdmin(ExactSearch, ServiceOnlyAdmin):
    list_display = ("claim", "purpose", "carrier", "tracking_number", "created_at", "shipped_at", "shipped_by", "ship")
    list_select_related = ("claim", "shipped_by")
    list_filter = (ShippedFilter, "purpose")
    search_fields = ("=tracking_number",)
    show_full_result_count = False
    fields = (
        "claim",
        "purpose",
        "serial_numbers",
        "carrier",
        "tracking_number",
        "created_at",
        "shipped_at",
        "shipped_by",
    )
    readonly_fields = fields

    def get_list_display(self, request):
        if request.user.has_perm(services.SHIP_OUTBOUND_PERMISSION):
            return self.list_display
        return tuple(name for name in self.list_display if name != "ship")

    @admin.display(description="")
    def ship(self, parcel):
        if parcel.shipped_at:
            return ""
        url = reverse("admin:shipments_outboundparcel_ship", args=[parcel.pk])
        return format_html('<a class="button" href="{}">Mark shipped…</a>', url)

    def search_matches(self, term):
        return Q(tracking_number=term)

    def get_urls(self):
        own = [
            path(
                "<int:parcel_id>/ship/",
                self.admin_site.admin_view(self.ship_view),
                name="shipments_outboundparcel_ship",
            )
        ]
        return own + super().get_urls()

    def ship_view(self, request, parcel_id):
        if not request.user.has_perm(services.SHIP_OUTBOUND_PERMISSION):
            raise PermissionDenied
        parcel = get_object_or_404(OutboundParcel.objects.select_related("claim"), pk=parcel_id)
        form = OutboundShipForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                parcel = services.outbound_parcel_ship(parcel_id=parcel.pk, by=request.user, **form.cleaned_data)
            except (states.InvalidTransition, PermissionDenied) as error:
                form.add_error(None, str(error))
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, f"{parcel} shipped: {parcel.carrier} {parcel.tracking_number}.")
                return HttpResponseRedirect(reverse("admin:shipments_outboundparcel_changelist"))
        return _form_page(
            self,
            request,
            form,
            title=f"Mark shipped: {parcel}",
            intro="The carrier and tracking number from the label we printed.",
            submit="Mark shipped",
        )


# --- Shared ------------------------------------------------------------------------


def _form_page(model_admin, request, form, *, title, intro, submit, extra=None):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "intro": intro,
        "submit": submit,
        "form": form,
        **(extra or {}),
    }
    return TemplateResponse(request, "admin/shipments/form_page.html", context)
