"""The admin site put together: the claim page gathers what every app contributes.

``returns`` cannot import the apps above it, so its ``ClaimAdmin`` is extended
here with the parcels' and inspections' inlines.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import Exists
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from backoffice import claim_page, flows, search, sla
from backoffice.admin_exports import ExportMixin
from backoffice.filters import CLAIM_FILTERS
from backoffice.paginators import EstimatedCountPaginator
from inbox.admin import conversation_section
from inspections.admin import InspectionAdmin, InspectionInline
from inspections.models import Inspection
from refunds.admin import RefundAdmin, RefundInline
from refunds.models import Refund
from returns.admin import ACTION_SERVICES, ClaimAdmin, ClosureDayAdmin
from returns.models import Claim, ClaimStatus, ClosureDay
from shipments.admin import AttachedUnmatchedParcelInline, OutboundParcelInline, ReturnParcelInline
from warranty.admin import ReplacementInline, warranty_panel

admin.site.index_title = "Your work"


# A claim in these states has no parcel back: its items have no inspection to show.
BEFORE_ANY_PARCEL = (ClaimStatus.REQUESTED, ClaimStatus.AWAITING_CUSTOMER, ClaimStatus.APPROVED, ClaimStatus.RESOLVED)


class BackofficeClaimAdmin(ExportMixin, ClaimAdmin):
    # A million claims: no COUNT(*) over the table (backoffice/paginators.py); dashboard links' filters.
    paginator = EstimatedCountPaginator
    list_filter = (*ClaimAdmin.list_filter, *CLAIM_FILTERS)
    inlines = (
        *ClaimAdmin.inlines,
        ReturnParcelInline,
        AttachedUnmatchedParcelInline,
        InspectionInline,
        OutboundParcelInline,
        ReplacementInline,
        RefundInline,
    )
    extra_panels = (warranty_panel,)
    extra_sections = (conversation_section,)
    page_context = staticmethod(claim_page.page_context)
    search_help_text = (
        "An RMA number, order number, customer email, tracking number or serial number, exactly (backoffice/search.py)."
    )

    def get_inlines(self, request, obj):
        """The tables with a row for this claim, asked in one query; the inspections' once the goods can have
        been inspected (a parcel came back), not before.

        Every inline here is read-only and shows nothing without a row, but an empty one still costs a formset,
        its query and its hidden management form: on a claim's page most of them are empty (a requested claim
        has no parcel, inspection, replacement or refund). The page is never posted (claims change through
        their action buttons), so no management form is missed.
        """
        inlines = super().get_inlines(request, obj)
        if obj is None:
            return inlines
        if obj.approved_at is None or obj.status in BEFORE_ANY_PARCEL:
            inlines = tuple(inline for inline in inlines if inline is not InspectionInline)
        cached = getattr(request, "claim_page_inlines", None)
        if cached is None or cached[0] != obj.pk:
            cached = (obj.pk, self._inlines_with_rows(request, obj, inlines))
            request.claim_page_inlines = cached
        return tuple(inline for inline in inlines if inline in cached[1])

    def _inlines_with_rows(self, request, obj, inlines) -> set:
        exists = {}
        for number, inline in enumerate(inlines):
            [link] = [
                field.name
                for field in inline.model._meta.fields
                if field.is_relation and field.related_model is Claim and inline.fk_name in (None, field.name)
            ]
            rows = inline(self.model, self.admin_site).get_queryset(request).filter(**{link: obj.pk})
            exists[f"inline_{number}"] = Exists(rows)
        found = Claim.objects.filter(pk=obj.pk).values(**exists).first() or {}
        return {inline for number, inline in enumerate(inlines) if found.get(f"inline_{number}")}

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on indexed columns of the claims, parcels, items and replacements: one UNION of index
        lookups, the claims read by primary key."""
        return search.find_claims(queryset, search_term), False

    action_services = {**ACTION_SERVICES, "approve": flows.claim_approve}


admin.site.unregister(Claim)
admin.site.register(Claim, BackofficeClaimAdmin)


class BackofficeClosureDayAdmin(ClosureDayAdmin):
    """A closure day moves the running refunds' deadlines: saved and deleted through ``backoffice.sla``."""

    def save_model(self, request, obj, form, change):
        moved = sla.closure_day_save(closure_day=obj, by=request.user)
        self._report_moved(request, moved)

    def delete_model(self, request, obj):
        moved = sla.closure_day_delete(closure_day_ids=[obj.pk], by=request.user)
        self._report_moved(request, moved)

    def delete_queryset(self, request, queryset):
        moved = sla.closure_day_delete(closure_day_ids=queryset.values_list("pk", flat=True), by=request.user)
        self._report_moved(request, moved)

    def _report_moved(self, request, moved: int) -> None:
        if moved:
            messages.info(request, f"The deadlines of {moved} open refund(s) were recomputed.")


admin.site.unregister(ClosureDay)
admin.site.register(ClosureDay, BackofficeClosureDayAdmin)


class BackofficeRefundAdmin(ExportMixin, RefundAdmin):
    """Finance's queue with the managers' export links; counted without COUNT(*) over the table."""

    paginator = EstimatedCountPaginator


class BackofficeInspectionAdmin(ExportMixin, InspectionAdmin):
    paginator = EstimatedCountPaginator


admin.site.unregister(Refund)
admin.site.register(Refund, BackofficeRefundAdmin)
admin.site.unregister(Inspection)
admin.site.register(Inspection, BackofficeInspectionAdmin)


# Staff accounts and roles on the theme's forms too (django-unfold's documented pairing for auth).
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(DjangoUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin, ModelAdmin):
    pass
