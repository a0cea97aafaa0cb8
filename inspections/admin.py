"""The warehouse's inspection pages: the queue, the inspection form of each returned item.

Inspections are read-only in Django's own forms: every change goes through
``inspections.services`` from the inspection form, and its errors come back as
admin messages with the typed values kept.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from inspections import outcomes, selectors, services
from inspections.forms import InspectionForm
from inspections.models import Inspection, Outcome
from returns import money, states, uploads
from returns.admin import ExactSearch, ReadOnlyInline, ServiceOnlyAdmin
from returns.instants import format_instant
from returns.models import ClaimItem, ClaimStatus

VIEW = "inspections.view_inspection"
PHOTO_ACCEPT = "image/jpeg,image/png,image/webp,image/heic,.heic"


def _inspection_form_url(item_id: int) -> str:
    return reverse("admin:inspections_inspection_item", args=[item_id])


def _deduction_words(inspection: Inspection) -> str:
    value = services.deduction_value(inspection)
    if value is None:
        return "—"
    currency = inspection.claim_item.order_line.currency
    share = money.format_money(value, currency)
    if inspection.deduction_percent is not None:
        share = f"{inspection.deduction_percent.normalize():f}% ({share})"
    return f"{share}: {inspection.deduction_reason}"


# --- On the claim page (backoffice/admin.py adds it) -----------------------------


class InspectionInline(ReadOnlyInline):
    """Each claimed item with its inspection: who, the outcome, the deduction, when completed."""

    model = ClaimItem
    verbose_name = "inspection"
    verbose_name_plural = "inspections"
    fields = ("item", "inspector", "outcome", "deduction", "completed", "form_link")
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("order_line__product", "inspection__inspector").order_by("pk")
        )

    @admin.display(description="item")
    def item(self, claim_item):
        return f"{claim_item.order_line.product.sku} × {claim_item.quantity}"

    @admin.display(description="inspector")
    def inspector(self, claim_item):
        inspection = _inspection_of(claim_item)
        return inspection.inspector.get_username() if inspection else "—"

    @admin.display(description="outcome")
    def outcome(self, claim_item):
        inspection = _inspection_of(claim_item)
        if inspection is None or not inspection.outcome:
            return "not inspected yet" if inspection is None else "not decided yet"
        words = Outcome(inspection.outcome).label
        if inspection.outcome_change_reason:
            proposed = Outcome(inspection.proposed_outcome).label if inspection.proposed_outcome else "nothing"
            words += f" (changed from {proposed}: {inspection.outcome_change_reason})"
        return words

    @admin.display(description="deduction")
    def deduction(self, claim_item):
        inspection = _inspection_of(claim_item)
        return _deduction_words(inspection) if inspection else "—"

    @admin.display(description="completed")
    def completed(self, claim_item):
        inspection = _inspection_of(claim_item)
        if inspection is None or inspection.completed_at is None:
            return "not yet"
        return format_instant(inspection.completed_at)

    @admin.display(description="")
    def form_link(self, claim_item):
        return format_html('<a href="{}">inspection form</a>', _inspection_form_url(claim_item.pk))


def _inspection_of(claim_item: ClaimItem) -> Inspection | None:
    return getattr(claim_item, "inspection", None)


# --- Inspections -------------------------------------------------------------------


@admin.register(Inspection)
class InspectionAdmin(ExactSearch, ServiceOnlyAdmin):
    """Every inspection, for reading; the warehouse works from the queue and the inspection form."""

    list_display = ("claim_item_link", "rma_number", "inspector", "outcome", "deduction", "started_at", "completed_at")
    list_filter = ("outcome", "proposed_outcome")
    list_select_related = ("claim_item__claim", "claim_item__order_line__product", "inspector")
    show_full_result_count = False
    # search_matches(): the claim's RMA number as stored (capitals), which its unique index serves.
    search_fields = ("=claim_item__claim__rma_number",)
    search_help_text = "An RMA number, exactly."
    change_list_template = "admin/inspections/inspection/change_list.html"

    def search_matches(self, term):
        return Q(claim_item__claim__rma_number=term.upper())

    @admin.display(description="item")
    def claim_item_link(self, inspection):
        item = inspection.claim_item
        return format_html(
            '<a href="{}">{} × {}</a>', _inspection_form_url(item.pk), item.order_line.product.sku, item.quantity
        )

    @admin.display(description="RMA number", ordering="claim_item__claim__rma_number")
    def rma_number(self, inspection):
        return inspection.claim_item.claim.rma_number

    @admin.display(description="deduction")
    def deduction(self, inspection):
        return _deduction_words(inspection)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        inspection = get_object_or_404(Inspection, pk=object_id)
        return HttpResponseRedirect(_inspection_form_url(inspection.claim_item_id))

    def get_urls(self):
        own = [
            path("queue/", self.admin_site.admin_view(self.queue_view), name="inspections_queue"),
            path(
                "item/<int:claim_item_id>/",
                self.admin_site.admin_view(self.item_view),
                name="inspections_inspection_item",
            ),
        ]
        return own + super().get_urls()

    # --- the queue ----------------------------------------------------------------

    def queue_view(self, request):
        """Received parcels waiting for their inspection, oldest first: the warehouse's work list."""
        if not request.user.has_perm(VIEW):
            raise PermissionDenied
        rows, more = selectors.inspection_queue_rows()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Inspection queue",
            "rows": rows,
            "more": more,
            "limit": selectors.QUEUE_LIMIT,
        }
        return TemplateResponse(request, "admin/inspections/inspection/queue.html", context)

    # --- the inspection form ---------------------------------------------------------

    def item_view(self, request, claim_item_id):
        if not request.user.has_perm(VIEW):
            raise PermissionDenied
        item = get_object_or_404(
            ClaimItem.objects.select_related("claim__policy_version", "claim__order", "order_line__product"),
            pk=claim_item_id,
        )
        inspection = Inspection.objects.filter(claim_item=item).select_related("inspector").first()
        currency = item.order_line.currency
        form = InspectionForm(
            request.POST or None,
            claim=item.claim,
            inspection=inspection,
            currency=currency,
        )
        status = 200
        if request.method == "POST":
            response, status = self._save(request, item, inspection, form)
            if response is not None:
                return response
            inspection = Inspection.objects.filter(claim_item=item).select_related("inspector").first()
        return self._item_page(request, item, inspection, form, status)

    def _save(self, request, item, inspection, form):
        """Save the form (and complete the inspection when asked): (redirect, None) or (None, status to re-render)."""
        completing = request.POST.get("action") == "complete"
        photos = request.FILES.getlist("photos")
        if completing and not request.user.has_perm(services.COMPLETE):
            messages.error(request, "You do not have permission to complete inspections; the warehouse does.")
            return None, 403
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else ""
                messages.error(request, f"{label}: {' '.join(errors)}" if label else " ".join(errors))
            return None, 200
        try:
            started = services.inspection_start(claim_item_id=item.pk, by=request.user)
            inspection = services.inspection_record(
                inspection_id=started.pk, by=request.user, **form.service_arguments()
            )
        except PermissionDenied as error:
            messages.error(request, str(error))
            return None, 403
        except (states.InvalidTransition, ValidationError) as error:
            messages.error(request, _error_words(error, form))
            _add_errors(form, error)
            if photos:
                messages.warning(request, "The photos were not stored: choose them again when you save.")
            return None, 200
        for upload in photos:
            try:
                services.inspection_photo_add(inspection_id=inspection.pk, by=request.user, upload=upload)
            except (uploads.RejectedUpload, states.InvalidTransition, PermissionDenied) as error:
                messages.error(request, f"Not stored: {error}")
        if not completing:
            messages.success(request, f"Saved. {services.proposal_for(inspection, item.claim).describe()}")
            return HttpResponseRedirect(_inspection_form_url(item.pk)), None
        try:
            services.inspection_complete(inspection_id=inspection.pk, by=request.user)
        except PermissionDenied as error:
            messages.error(request, str(error))
            return None, 403
        except (states.InvalidTransition, ValidationError) as error:
            messages.error(request, f"Saved, not completed: {_error_words(error, form)}")
            return None, 200
        claim = item.claim
        claim.refresh_from_db(fields=["status"])
        if claim.status == ClaimStatus.SHIPPED:
            messages.success(
                request,
                f"Inspection of {item} completed: {Outcome(inspection.outcome).label}. "
                f"{claim} waits for its other items' inspections.",
            )
            return HttpResponseRedirect(reverse("admin:inspections_queue")), None
        messages.success(
            request,
            f"{claim} is {claim.get_status_display().lower()}: {Outcome(inspection.outcome).label}. "
            f"The customer was emailed the outcome.",
        )
        return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk])), None

    def _item_page(self, request, item, inspection, form, status):
        claim = item.claim
        user = request.user
        open_for_work = claim.status == ClaimStatus.SHIPPED and (inspection is None or inspection.completed_at is None)
        can_edit = open_for_work and user.has_perm(services.START) and user.has_perm(services.RECORD)
        if not can_edit:
            for field in form.fields.values():
                field.disabled = True
        paid, currency = item.paid, item.order_line.currency
        proposal = services.proposal_for(inspection, claim) if inspection else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Inspection of {item.order_line.product.sku} × {item.quantity} · {claim}",
            "claim": claim,
            "item": item,
            "inspection": inspection,
            "form": form,
            "proposal": proposal,
            "proposed_label": Outcome(inspection.proposed_outcome).label
            if inspection and inspection.proposed_outcome
            else "",
            "paid": money.format_money(paid, currency),
            "photos": inspection.photos.all() if inspection else [],
            "can_edit": can_edit,
            "can_complete": can_edit and user.has_perm(services.COMPLETE),
            "can_add_photos": can_edit and user.has_perm(services.ADD_PHOTO),
            "photo_accept": PHOTO_ACCEPT,
            "photo_types": uploads.PHOTO_TYPES,
            "claim_type_needs": ", ".join(outcomes.LABELS[name] for name in outcomes.NEEDED[claim.claim_type]),
        }
        return TemplateResponse(request, "admin/inspections/inspection/form.html", context, status=status)


def _add_errors(form, error) -> None:
    """The service's field errors beside their fields too (the messages say them all)."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)


def _error_words(error, form) -> str:
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        parts = []
        for field, errors in error.error_dict.items():
            label = form.fields[field].label if field in form.fields else ""
            words = " ".join(message for e in errors for message in e.messages)
            parts.append(f"{label}: {words}" if label else words)
        return " ".join(parts)
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)
