"""The replacements' admin: the warehouse's and customer service's list, the replacement page with its
buttons, and what the claim page shows of warranty (an inline and a coverage panel).

Replacements are read-only in the admin: every change goes through ``warranty.services``, called
from the buttons the replacement's table allows the user.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from returns.admin import EventHistoryInline, ExactSearch, ReadOnlyInline, ServiceOnlyAdmin
from returns.models import Claim, ClaimType
from warranty import selectors, services, states
from warranty.models import Replacement, ReplacementEvent, ReplacementKind, ReplacementStatus

# The values each action asks for: (POST field, label, input type, required).
ACTION_FIELDS = {
    "approve": [
        ("replacement_serial", "Serial of the unit we send (a part may have none)", "text", False),
        ("kind", "Replace", "kind", True),
        ("part_description", "Part (when a part is replaced)", "text", False),
    ],
    "ship": [
        ("carrier", "Carrier", "text", True),
        ("tracking_number", "Tracking number", "text", True),
    ],
    "cancel": [("reason", "Why is the replacement cancelled?", "textarea", True)],
}
ACTION_SERVICES = {
    "approve": services.replacement_approve,
    "ship": services.replacement_ship,
    "cancel": services.replacement_cancel,
}
assert set(ACTION_SERVICES) == set(states.ACTIONS), "every button needs a row in the replacement's table"


def _claim_link(claim: Claim):
    return format_html('<a href="{}">{}</a>', reverse("admin:returns_claim_change", args=[claim.pk]), claim)


class ReplacementEventInline(EventHistoryInline):
    """The replacement's history in words."""

    model = ReplacementEvent
    status_choices = ReplacementStatus


@admin.register(Replacement)
class ReplacementAdmin(ExactSearch, ServiceOnlyAdmin):
    list_display = (
        "__str__",
        "claim_rma",
        "sku",
        "kind",
        "faulty_serial",
        "replacement_serial",
        "status",
        "tracking",
        "proposed_at",
    )
    list_display_links = ("__str__",)
    list_filter = ("status", "kind", "claim_item__order_line__product__is_electronic", "proposed_at")
    list_select_related = ("claim", "claim_item__order_line__product", "outbound_parcel")
    show_full_result_count = False
    # get_search_results() makes these exact, indexed lookups.
    search_fields = ("=faulty_serial",)
    search_help_text = "A serial number (faulty or replacement) or an RMA number, exactly."
    inlines = (ReplacementEventInline,)
    change_form_template = "admin/warranty/replacement/change_form.html"
    fields = (
        "claim_link",
        "sku",
        "status",
        "kind",
        "part_description",
        "faulty_serial",
        "replacement_serial",
        "reason",
        "proposed_by",
        "proposed_at",
        "approved_by",
        "approved_at",
        "tracking",
        "cancelled_by",
        "cancelled_at",
        "cancel_reason",
    )
    readonly_fields = fields

    @admin.display(description="claim", ordering="claim__rma_number")
    def claim_rma(self, replacement):
        return str(replacement.claim)

    @admin.display(description="claim")
    def claim_link(self, replacement):
        return _claim_link(replacement.claim)

    @admin.display(description="SKU", ordering="claim_item__order_line__product__sku")
    def sku(self, replacement):
        return replacement.claim_item.order_line.product.sku

    @admin.display(description="outbound tracking")
    def tracking(self, replacement):
        parcel = replacement.outbound_parcel
        if parcel is None or not parcel.tracking_number:
            return "—"
        return f"{parcel.carrier} {parcel.tracking_number}"

    def search_matches(self, term):
        # One indexed read per column, their ids united: an OR across the join to the claim would make
        # PostgreSQL read every replacement, and even the two serials' OR may be planned as a whole read.
        faulty, fitted, of_claim = (
            Replacement.objects.filter(condition).values("pk")
            for condition in (Q(faulty_serial=term), Q(replacement_serial=term), Q(claim__rma_number=term.upper()))
        )
        return Q(pk__in=faulty.union(fitted, of_claim))

    def get_urls(self):
        own = [
            path(
                "<int:replacement_id>/act/<str:action>/",
                self.admin_site.admin_view(self.act_view),
                name="warranty_replacement_act",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        replacement = get_object_or_404(Replacement, pk=object_id)
        drafts = request.session.pop(_draft_key(replacement.pk), {})
        current = {"kind": replacement.kind, "part_description": replacement.part_description}
        actions = [
            {
                "transition": transition,
                "fields": [
                    {
                        "name": name,
                        "label": label,
                        "type": input_type,
                        "required": required,
                        "value": drafts.get(name, current.get(name, "")),
                    }
                    for name, label, input_type, required in ACTION_FIELDS[transition.action]
                ],
            }
            for transition in states.allowed(replacement.status, request.user)
        ]
        context = {**(extra_context or {}), "replacement_actions": actions, "kinds": ReplacementKind.choices}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def act_view(self, request, replacement_id, action):
        """Run one action through its service; an error comes back as a message, the typed values kept."""
        if request.method != "POST" or action not in ACTION_SERVICES:
            raise PermissionDenied
        replacement = get_object_or_404(Replacement, pk=replacement_id)
        values = {name: request.POST.get(name, "") for name, *_ in ACTION_FIELDS[action]}
        try:
            replacement = ACTION_SERVICES[action](replacement_id=replacement.pk, by=request.user, **values)
        except (states.InvalidTransition, PermissionDenied) as error:
            messages.error(request, str(error))
            request.session[_draft_key(replacement.pk)] = values
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            request.session[_draft_key(replacement.pk)] = values
        else:
            messages.success(request, _success_message(action, replacement))
        return HttpResponseRedirect(reverse("admin:warranty_replacement_change", args=[replacement.pk]))


def _draft_key(replacement_id: int) -> str:
    return f"replacement-draft-{replacement_id}"


def _success_message(action: str, replacement: Replacement) -> str:
    if action == "approve":
        serial = f" with serial {replacement.replacement_serial}" if replacement.replacement_serial else ""
        return f"Approved{serial}: it is in {replacement.claim}'s replacement parcel, for the warehouse to ship."
    if action == "ship":
        return (
            f"Shipped: {replacement.claim} is replaced and the customer was emailed the tracking number "
            f"{replacement.outbound_parcel.tracking_number}."
        )
    return f"{replacement}: cancelled."


# --- What the claim page shows (wired by backoffice, which assembles the claim page) -------------


class ReplacementInline(ReadOnlyInline):
    """The claim's replacements, read-only; the buttons are on each replacement's page."""

    model = Replacement
    fk_name = "claim"
    verbose_name_plural = "replacements"
    fields = ("link", "sku", "kind", "part_description", "faulty_serial", "replacement_serial", "status", "tracking")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("claim_item__order_line__product", "outbound_parcel")

    @admin.display(description="replacement")
    def link(self, replacement):
        url = reverse("admin:warranty_replacement_change", args=[replacement.pk])
        return format_html('<a href="{}">#{}</a>', url, replacement.pk)

    @admin.display(description="SKU")
    def sku(self, replacement):
        return replacement.claim_item.order_line.product.sku

    @admin.display(description="outbound tracking")
    def tracking(self, replacement):
        parcel = replacement.outbound_parcel
        return f"{parcel.carrier} {parcel.tracking_number}".strip() if parcel and parcel.tracking_number else "—"


def warranty_panel(claim: Claim) -> tuple[str, list[str]] | None:
    """The claim page's warranty panel: (title, flags), or None for a claim that is not a warranty claim.

    Every line is a warning; no line means nothing to flag. Rendered by
    ``templates/admin/returns/claim/extra_panels.html`` (see ClaimAdmin.extra_panels).
    """
    if claim.claim_type != ClaimType.WARRANTY:
        return None
    return ("Warranty coverage", selectors.claim_warranty_flags(claim))
