"""The admin for customer service: the claim list, the claim page and its actions.

Claims are read-only in the admin: every change goes through a service in
``returns.services``, called from the buttons the state table allows the user.
"""

import uuid
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.db.models import Prefetch, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import format_lazy
from unfold.admin import ModelAdmin, TabularInline

from returns import ledger, money, selectors, services, states, uploads
from returns.instants import calendar_words, format_day, format_instant, zone_name
from returns.models import (
    Claim,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    ClaimType,
    ClosureDay,
    ClosureDayEvent,
    DoaReason,
    Evidence,
    Order,
    OrderEvent,
    OrderLine,
    OutboundEmail,
    PolicyVersion,
    Product,
    ProductEvent,
    ReceivedDateSource,
    category_words,
)

# The text each action asks for: (POST field, service keyword, label, required).
ACTION_FIELDS = {
    "ask_for_information": [("message", "message", "What do you need from the customer?", True)],
    "record_customer_answer": [("answer", "answer", "The customer's answer", True)],
    "resolve": [("note", "note", "What fixed the issue", True)],
    "approve": [
        ("returnless_reason", "returnless_reason", "Approve without a return because… (missing item only)", False),
        ("window_override_reason", "window_override_reason", "Override the expired window because…", False),
    ],
    "reject": [("reason", "reason", "Reason (the customer reads it)", True)],
    "cancel": [("reason", "reason", "Why is the claim cancelled?", True)],
}
ACTION_SERVICES = {
    "ask_for_information": services.claim_ask_for_information,
    "record_customer_answer": services.claim_record_customer_answer,
    "resolve": services.claim_resolve,
    "approve": services.claim_approve,
    "reject": services.claim_reject,
    "cancel": services.claim_cancel,
}
# How each button looks: approving is the page's main action, ending a claim is red, the rest plain.
ACTION_VARIANTS = {"approve": "primary", "reject": "danger", "cancel": "danger"}
# The other actions (ship, receive, inspect) are taken on the shipments and inspections pages.
assert set(ACTION_SERVICES) <= set(states.ACTIONS), "every button needs a row in the state table"


class ReadOnlyInline(TabularInline):
    """A read-only table of related rows; with no row it is not shown at all (no empty sections on a page)."""

    extra = 0
    can_delete = False
    template = "admin/edit_inline/read_only_tabular.html"
    # unfold repeats each row's name above it; the row's own columns say it
    hide_title = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ExactSearch:
    """A list's search box as one exact match of the whole term, stripped: ``search_matches(term)`` gives the
    condition, on indexed columns. Django's own search splits the term into words and compares ``UPPER(column)``
    or ``%term%``, which no index serves at volume (``docs/console.md``). An empty term lists everything."""

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(self.search_matches(term)), False) if term else (queryset, False)

    def search_matches(self, term: str) -> Q:
        raise NotImplementedError


class ServiceOnlyAdmin(ModelAdmin):
    """Rows that only services write (parcels, inspections, refunds, emails…): the admin shows
    them and offers the services' own pages and buttons; its add, change and delete forms are off."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ClaimItemInline(ReadOnlyInline):
    model = ClaimItem
    fields = ("sku", "product_name", "quantity", "unit_price", "serial_number")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line__product")

    @admin.display(description="SKU")
    def sku(self, item):
        return item.order_line.product.sku

    @admin.display(description="product")
    def product_name(self, item):
        product = item.order_line.product
        if product.is_electronic is None:
            return f"{product.name} (category unknown)"
        return f"{product.name} (electronic)" if product.is_electronic else product.name

    @admin.display(description="unit price")
    def unit_price(self, item):
        line = item.order_line
        return money.format_money(line.unit_price, line.currency)


class EventHistoryInline(ReadOnlyInline):
    """A history in words, oldest first: when (the company zone, named), who, and what happened.

    The words are the event's own template (``Event.describe()``, templates/events/); a status
    change is added with the labels of ``status_choices``. Nobody edits history.
    """

    verbose_name_plural = "history"
    template = "admin/edit_inline/event_history.html"
    fields = ("when", "who", "what_happened")
    readonly_fields = fields
    status_choices: type[models.TextChoices] | None = None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="when")
    def when(self, event):
        return format_instant(event.created_at)

    @admin.display(description="who")
    def who(self, event):
        return event.actor_name

    @admin.display(description="what happened")
    def what_happened(self, event):
        return described_with_status(event, self.status_choices)


def described_with_status(event, status_choices=None):
    """The event's sentence, and its status change in labels when it moved one."""
    words = event.describe()
    if status_choices is None or event.from_status == event.to_status:
        return words
    labels = dict(status_choices.choices)
    target = labels.get(event.to_status, event.to_status.replace("_", " "))
    if event.from_status:
        source = labels.get(event.from_status, event.from_status.replace("_", " "))
        return format_html('{}<div class="event-status">Status: {} → {}.</div>', words, source, target)
    return format_html('{}<div class="event-status">Status: {}.</div>', words, target)


class ClaimEventInline(EventHistoryInline):
    """The claim's history."""

    model = ClaimEvent
    status_choices = ClaimStatus


class OutboundEmailInline(ReadOnlyInline):
    model = OutboundEmail
    verbose_name_plural = "emails to the customer"
    fields = ("created_at", "subject", "status", "sent_at", "attempts", "last_error")
    readonly_fields = fields


class ReceivedDateFilter(admin.DateFieldListFilter):
    """The received date's periods, with "unknown" first (Django's "No date"): the claims whose window
    cannot be counted yet, and whose customer must be asked for the delivery date."""

    words = {"No date": "unknown", "Has date": "known"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "received date"  # a field filter takes its field's name otherwise ("received on")

    def choices(self, changelist):
        choices = [
            {**choice, "display": self.words.get(str(choice["display"]), choice["display"])}
            for choice in super().choices(changelist)
        ]
        unknown = [choice for choice in choices if choice["display"] == "unknown"]
        others = [choice for choice in choices if choice["display"] != "unknown"]
        return others[:1] + unknown + others[1:]


class CategoryFilter(admin.BooleanFieldListFilter):
    """Electronic or not, and "unknown" first: Django's own parameters (``is_electronic__exact=1``,
    ``is_electronic__isnull=True``), so the dashboard's links keep working."""

    def choices(self, changelist):
        every, yes, no, *unknown = super().choices(changelist)
        words = [(unknown[0] if unknown else None, "unknown"), (yes, "electronic"), (no, "not electronic")]
        return [every] + [{**choice, "display": label} for choice, label in words if choice is not None]


class FirstResponseFilter(admin.SimpleListFilter):
    """The 24-hour first response: claims waiting for it, due soon and overdue (an indexed range each)."""

    title = "first response"
    parameter_name = "first_response"

    def lookups(self, request, model_admin):
        return [
            ("waiting", "waiting for our answer"),
            ("due_soon", f"due within {settings.SLA_REMIND_BEFORE_HOURS} h"),
            ("overdue", "overdue"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "waiting":
            return queryset.filter(first_response_due_at__isnull=False)
        if self.value() == "due_soon":
            soon = now + timedelta(hours=settings.SLA_REMIND_BEFORE_HOURS)
            return queryset.filter(first_response_due_at__gte=now, first_response_due_at__lte=soon)
        if self.value() == "overdue":
            return queryset.filter(first_response_due_at__lt=now)
        return queryset


def _policy_default(field: str) -> int:
    return PolicyVersion._meta.get_field(field).get_default()


class ParcelWaitFilter(admin.SimpleListFilter):
    """Approved claims whose return parcel has not arrived (the parcel clock, docs/claims.md): an indexed range
    each on ``awaiting_parcel_since``.

    The days are the published policy's (``PolicyVersion`` defaults: 7 and 14), read without a query so the list
    keeps its query count; a claim under a version with other days is reminded and escalated on its own days.
    """

    title = "waiting for the parcel"
    parameter_name = "parcel"

    def lookups(self, request, model_admin):
        reminder, escalation = _policy_default("parcel_reminder_days"), _policy_default("parcel_escalation_days")
        return [
            ("any", "any"),
            ("reminded", f"over {reminder} days (customer reminded)"),
            ("escalated", f"over {escalation} days (customer service told)"),
        ]

    def queryset(self, request, queryset):
        days = {
            "reminded": _policy_default("parcel_reminder_days"),
            "escalated": _policy_default("parcel_escalation_days"),
        }
        if self.value() == "any":
            return queryset.filter(awaiting_parcel_since__isnull=False)
        if self.value() in days:
            return queryset.filter(awaiting_parcel_since__lte=timezone.now() - timedelta(days=days[self.value()]))
        return queryset


@admin.register(Claim)
class ClaimAdmin(ExactSearch, ModelAdmin):
    list_display = (
        "reference",
        "order_number",
        "customer_email",
        "claim_type",
        "doa_reason",
        "status",
        "first_response_clock",
        "electronic",
        "received_on",
        "submitted_at",
        "waiting_for_parcel",
    )
    list_filter = (
        FirstResponseFilter,
        ParcelWaitFilter,
        "status",
        "claim_type",
        ("is_electronic", CategoryFilter),
        ("order__received_on", ReceivedDateFilter),
    )
    list_select_related = ("order",)
    list_per_page = 50  # a screenful to work through, as in Shopify's lists; docs/console.md
    show_full_result_count = False
    # ten columns: the list takes the page's whole width (django-unfold)
    list_fullwidth = True
    # get_search_results() replaces Django's icontains search with exact, indexed lookups.
    search_fields = ("rma_number",)
    search_help_text = "An RMA number, an order number or a customer's email, exactly."
    # The history and the emails are in the page's timeline and conversation (``page_context``), not tables.
    inlines = (ClaimItemInline,)
    change_form_template = "admin/returns/claim/change_form.html"
    # Callables claim -> (title, warning lines) or None: panels the apps above this one add.
    extra_panels = ()
    # Callables (request, claim, page) -> HTML: whole sections the apps above add (the inbox's conversation);
    # ``page`` is what ``page_context`` gathered.
    extra_sections = ()
    # (request, claim) -> dict: the header's stepper and the timeline, gathered by ``backoffice`` (which may
    # read every app); a staticmethod there. Without it the page shows the history table instead.
    page_context = None
    # The service behind each button; ``backoffice`` puts its cross-app flows in (a returnless approval).
    action_services = ACTION_SERVICES
    fieldsets = (
        (None, {"fields": ("status", "first_response", "rma_number", "claim_type", "doa_reason", "description")}),
        (
            "Decisions",
            {
                "fields": (
                    "submitted_at",
                    "policy_version",
                    "is_returnless",
                    "returnless_reason",
                    "window_override_reason",
                    "rejection_reason",
                    "created_by",
                )
            },
        ),
    )
    readonly_fields = (
        "status",
        "first_response",
        "rma_number",
        "claim_type",
        "doa_reason",
        "description",
        "order_link",
        "customer_email",
        "received_date",
        "electronic",
        "submitted_at",
        "policy_version",
        "is_returnless",
        "returnless_reason",
        "window_override_reason",
        "rejection_reason",
        "created_by",
    )

    @admin.display(description="claim", ordering="-id")
    def reference(self, claim):
        return str(claim)

    @admin.display(description="first response")
    def first_response(self, claim):
        """The 24-hour clock, in the company zone, named (returns.instants)."""
        due = claim.first_response_due_at
        if due is None:
            if claim.first_response_met is None:
                return (
                    "Waiting for the customer: no answer due." if claim.status == ClaimStatus.AWAITING_CUSTOMER else "-"
                )
            return "Answered within 24 hours." if claim.first_response_met else "Answered, after the 24 hours."
        left = due - timezone.now()
        when = format_instant(due)
        if left.total_seconds() < 0:
            return f"Overdue: was due {when}, {_hours(-left)} ago."
        return f"Due {when}: {_hours(left)} left."

    @admin.display(description="first response", ordering="first_response_due_at")
    def first_response_clock(self, claim):
        """The 24-hour clock in a list's few words: the time left, or how late, in red once overdue."""
        due = claim.first_response_due_at
        if due is None:
            if claim.first_response_met is None:
                return "waiting for the customer" if claim.status == ClaimStatus.AWAITING_CUSTOMER else None
            return "answered in time" if claim.first_response_met else "answered late"
        left = due - timezone.now()
        if left.total_seconds() < 0:
            return format_html('<span class="problem">overdue by {}</span>', _hours(-left))
        return f"{_hours(left)} left"

    def get_ordering(self, request):
        """The claims to answer, most urgent first (the first response's due time, an indexed column); the
        other lists newest first. A column the person sorts by wins over both."""
        if request.GET.get(FirstResponseFilter.parameter_name):
            return ("first_response_due_at", "id")
        return super().get_ordering(request)

    @admin.display(description="waiting for parcel")
    def waiting_for_parcel(self, claim):
        """Whole days since approval while the return parcel is awaited; blank (the admin's "-") otherwise."""
        if claim.awaiting_parcel_since is None:
            return None
        days = (timezone.now() - claim.awaiting_parcel_since).days
        return f"{days} day{'s' if days != 1 else ''}"

    @admin.display(description="electronic", ordering="is_electronic")
    def electronic(self, claim):
        """Any claimed product electronic: the shorter windows; "unknown" while a product's category is."""
        return category_words(claim.is_electronic)

    @admin.display(description="received on", ordering="order__received_on")
    def received_on(self, claim):
        return received_date_cell(claim.order)

    @admin.display(description="received date")
    def received_date(self, claim):
        """The day every window counts from, where it came from, and the way to change it."""
        return format_html(
            '{} · <a href="{}" id="change-received-date">Change received date</a>',
            _received_on_words(claim.order),
            _received_date_url(claim),
        )

    @admin.display(description="order")
    def order_link(self, claim):
        url = reverse("admin:returns_order_change", args=[claim.order_id])
        return format_html('<a href="{}">{}</a> · {}', url, claim.order.number, claim.order.customer_name)

    def get_fieldsets(self, request, obj=None):
        """The claim's own fields, without those the page's header and order card show, nor the empty ones: a
        read-only page has no blank rows (a reason nobody gave, a returnless flag that is off)."""
        if obj is None or self.page_context is None:
            return self.fieldsets
        # the header (status, number, type, the first-response clock) and the claim-time panel show these
        shown_elsewhere = {"status", "rma_number", "claim_type", "doa_reason", "first_response", "submitted_at"}
        fieldsets = []
        for name, options in self.fieldsets:
            fields = [f for f in options["fields"] if f not in shown_elsewhere and _has_value(obj, f)]
            if fields:
                fieldsets.append((name, {**options, "fields": fields}))
        return fieldsets

    def get_inlines(self, request, obj):
        if self.page_context is None:
            return (*self.inlines, ClaimEventInline, OutboundEmailInline)
        return self.inlines

    def search_matches(self, term):
        """Three indexed columns of the claim table: one BitmapOr, no scan."""
        return Q(rma_number=term.upper()) | Q(order_number=term) | Q(customer_email=term.lower())

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        own = [
            path(
                "<int:claim_id>/act/<str:action>/", self.admin_site.admin_view(self.act_view), name="returns_claim_act"
            ),
            path(
                "<int:claim_id>/evidence/",
                self.admin_site.admin_view(self.evidence_view),
                name="returns_claim_evidence",
            ),
            path(
                "<int:claim_id>/evidence/<int:evidence_id>/whole-package/",
                self.admin_site.admin_view(self.whole_package_view),
                name="returns_claim_evidence_whole_package",
            ),
            path(
                "<int:claim_id>/submitted-at/",
                self.admin_site.admin_view(self.submitted_at_view),
                name="returns_claim_submitted_at",
            ),
            path(
                "<int:claim_id>/category/",
                self.admin_site.admin_view(self.category_view),
                name="returns_claim_category",
            ),
        ]
        return own + super().get_urls()

    # --- the claim page ---------------------------------------------------

    def get_object(self, request, object_id, from_field=None):
        """The claim ``change_view`` read (with its items), not a second read of it."""
        claim = getattr(request, "claim_page_claim", None)
        if claim is not None and from_field is None and str(claim.pk) == str(object_id):
            return claim
        return super().get_object(request, object_id, from_field)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Read once for the whole page: the claim with its items and their lines (the review, the ledger, the
        # panels and the inlines all start from them), and the lines' ledgers.
        items = ClaimItem.objects.select_related("order_line__product", "order_line__order").order_by("pk")
        claim = get_object_or_404(
            Claim.objects.select_related("order", "policy_version").prefetch_related(Prefetch("items", items)),
            pk=object_id,
        )
        request.claim_page_claim = claim  # get_object's, for Django's own part of the page
        ledgers = selectors.claim_ledgers(claim)
        drafts = request.session.pop(_draft_key(claim.pk), {})
        review = selectors.claim_review(claim, ledgers=ledgers)
        page = self.page_context(request, claim) if self.page_context else {}
        can_override = request.user.has_perm("returns.override_claim_window")
        actions = []
        for transition in states.allowed(claim.status, request.user, actions=self.action_services):
            fields = []
            for name, _, label, required in ACTION_FIELDS[transition.action]:
                if name == "returnless_reason" and claim.doa_reason != DoaReason.MISSING_ITEM:
                    continue
                if name == "window_override_reason" and not (review.window_expired and can_override):
                    continue
                fields.append({"name": name, "label": label, "required": required, "value": drafts.get(name, "")})
            actions.append(
                {
                    "transition": transition,
                    "fields": fields,
                    "variant": ACTION_VARIANTS.get(transition.action, "default"),
                }
            )
        context = {
            **(extra_context or {}),
            "review": review,
            "unknown_categories": [
                {"product": product, "refusal": services.product_category_refusal(product=product, by=request.user)}
                for product in selectors.products_of_unknown_category(claim)
            ],
            "received_date_url": _received_date_url(claim),
            "received_date_words": received_date_words(claim.order),
            "store_state": store_state(claim.order),
            "ledger_notes": selectors.ledger_notes(claim, ledgers=ledgers),
            "claim_actions": actions,
            "evidence": claim.evidence.all(),
            "extra_panels": [panel for make in self.extra_panels if (panel := make(claim))],
            "extra_sections": [section for make in self.extra_sections if (section := make(request, claim, page))],
            **page,
            "title": str(claim),
            "first_response_words": self.first_response(claim),
            "order_card": {
                "url": reverse("admin:returns_order_change", args=[claim.order_id]),
                "received_date": _received_on_words(claim.order),
                "electronic": category_words(claim.is_electronic),
            },
            "can_add_evidence": request.user.has_perm("returns.add_evidence"),
            "accepted_formats": uploads.EVIDENCE,
            "claim_made_at": format_instant(claim.submitted_at),
            "submitted_at_form": SubmittedAtForm(initial=SubmittedAtForm.initial_for(claim)),
            "submitted_at_refusal": services.claim_submitted_at_refusal(claim=claim, by=request.user),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def submitted_at_view(self, request, claim_id):
        """The claim's "made at", corrected through ``claim_set_submitted_at``; a refusal shows the form
        again with the error next to its field and the typed values."""
        claim = get_object_or_404(Claim.objects.select_related("order", "policy_version"), pk=claim_id)
        if not self.has_view_permission(request, claim):
            raise PermissionDenied
        claim_url = reverse("admin:returns_claim_change", args=[claim.pk])
        form = SubmittedAtForm(request.POST or None, initial=SubmittedAtForm.initial_for(claim))
        if request.method == "POST" and form.is_valid():
            before = claim.submitted_at
            try:
                claim = services.claim_set_submitted_at(claim_id=claim.pk, by=request.user, **form.cleaned_data)
            except PermissionDenied as refusal:
                form.add_error(None, str(refusal))
            except ValidationError as error:
                _add_errors(form, error)
            else:
                if claim.submitted_at == before:
                    messages.info(request, f"Nothing changed: {claim} was already made at {format_instant(before)}.")
                else:
                    messages.success(
                        request,
                        f"{claim} is now made at {format_instant(claim.submitted_at)}, judged by "
                        f"{str(claim.policy_version).lower()}. The change is in the claim's history.",
                    )
                return HttpResponseRedirect(claim_url)
        return _date_form_page(
            request,
            self,
            title=f"When {claim} was made",
            back=(str(claim), claim_url),
            facts=[
                f"Made at {format_instant(claim.submitted_at)}, judged by {str(claim.policy_version).lower()}.",
                f"Order {claim.order.number}: {_received_on_words(claim.order)}.",
            ],
            form=form,
            refusal=services.claim_submitted_at_refusal(claim=claim, by=request.user),
            submit="Change the claim's time",
        )

    def category_view(self, request, claim_id):
        """Set the category of one of the claim's products of unknown category (the panel's two buttons),
        through ``product_set_category``; the claim page then shows the policy's verdict."""
        if request.method != "POST":
            raise PermissionDenied
        claim = get_object_or_404(Claim, pk=claim_id)
        claim_url = reverse("admin:returns_claim_change", args=[claim.pk])
        product_id = request.POST.get("product", "")
        product = get_object_or_404(
            Product, pk=int(product_id) if product_id.isdigit() else 0, order_lines__claim_items__claim=claim
        )
        electronic = {"yes": True, "no": False}.get(request.POST.get("electronic", ""))
        if electronic is None:
            messages.error(request, f"Choose whether {product.sku} is electronic or not.")
            return HttpResponseRedirect(claim_url)
        try:
            result = services.product_set_category(
                product_ids=[product.pk], by=request.user, electronic=electronic, reason=f"set on the page of {claim}"
            )
        except (PermissionDenied, ValidationError) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
            return HttpResponseRedirect(claim_url)
        if not result.products:
            messages.info(request, f"Nothing changed: {product.sku} is already {category_words(electronic)}.")
        else:
            messages.success(request, _category_message(result, electronic))
        return HttpResponseRedirect(claim_url)

    def act_view(self, request, claim_id, action):
        """Run one state-table action through its service; errors come back as messages, text kept."""
        if request.method != "POST" or action not in self.action_services:
            raise PermissionDenied
        claim = get_object_or_404(Claim, pk=claim_id)
        values = {name: request.POST.get(name, "") for name, *_ in ACTION_FIELDS[action]}
        kwargs = {keyword: values[name] for name, keyword, *_ in ACTION_FIELDS[action]}
        try:
            claim = self.action_services[action](claim_id=claim.pk, by=request.user, **kwargs)
        except (states.InvalidTransition, PermissionDenied) as error:
            messages.error(request, str(error))
            request.session[_draft_key(claim.pk)] = values
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            request.session[_draft_key(claim.pk)] = values
        else:
            messages.success(request, _success_message(action, claim))
        return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))

    def evidence_view(self, request, claim_id):
        """Store each uploaded file; a refused one is named with its reason, the others are kept."""
        if request.method != "POST":
            raise PermissionDenied
        claim = get_object_or_404(Claim, pk=claim_id)
        files = request.FILES.getlist("files")
        if not files:
            messages.error(request, "Choose at least one photo or video to upload.")
        _store_evidence(request, claim, files, request.POST.get("shows_whole_package") == "on")
        return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))

    def whole_package_view(self, request, claim_id, evidence_id):
        """Mark a photo (one that came by email, say) as showing the whole package, or take that back."""
        if request.method != "POST":
            raise PermissionDenied
        get_object_or_404(Evidence, pk=evidence_id, claim_id=claim_id)
        wanted = request.POST.get("shows_whole_package") == "on"
        try:
            evidence = services.evidence_mark_whole_package(
                evidence_id=evidence_id, by=request.user, shows_whole_package=wanted
            )
        except (states.InvalidTransition, PermissionDenied) as error:
            messages.error(request, str(error))
        else:
            state = "shows" if evidence.shows_whole_package else "no longer marked as showing"
            messages.success(request, f"“{evidence.original_name}” {state} the whole package.")
        return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim_id]) + "#claim-evidence")

    # --- a new claim, typed in from the customer's email -----------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        order = _find_order(request.GET.get("order") or request.POST.get("order_number"))
        ledgers = ledger.for_lines(order.lines.values_list("pk", flat=True)) if order else {}
        form = ClaimCreateForm(request.POST or None, order=order, ledgers=ledgers)
        holders = _open_claims_holding(ledgers)
        if request.method == "POST" and order and request.POST.get("attach_to"):
            return self._attach_to_open_claim(request, form, holders)
        if request.method == "POST" and order and form.is_valid():
            try:
                claim = services.claim_create(by=request.user, order=order, **form.service_arguments())
            except services.DuplicateSubmission as duplicate:
                messages.warning(request, str(duplicate))
                return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[duplicate.claim.pk]))
            except services.UnitsTaken as taken:
                for line_id, problems in taken.by_line.items():
                    form.add_error(f"units_{line_id}", problems)
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, f"{claim} created; the customer was sent an acknowledgement.")
                _store_evidence(
                    request, claim, request.FILES.getlist("files"), form.cleaned_data["shows_whole_package"]
                )
                return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "New claim",
            "order": order,
            "received_date_words": received_date_words(order) if order else "",
            "order_query": request.GET.get("order", ""),
            "order_not_found": bool(request.GET.get("order")) and order is None,
            "form": form,
            "open_claims": holders,
        }
        return TemplateResponse(request, "admin/returns/claim/create.html", context)

    def _attach_to_open_claim(self, request, form, holders: dict[int, str]):
        """The customer wrote again about units an open claim holds: their message and files join that claim."""
        claim_id = int(request.POST["attach_to"]) if request.POST["attach_to"].isdigit() else None
        if claim_id not in holders:
            raise PermissionDenied  # only a claim holding this order's units is offered
        try:
            claim = services.claim_attach_message(
                claim_id=claim_id, by=request.user, message=request.POST.get("description", "")
            )
        except (ValidationError, states.InvalidTransition) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
            return TemplateResponse(
                request,
                "admin/returns/claim/create.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "title": "New claim",
                    "order": form.order,
                    "received_date_words": received_date_words(form.order) if form.order else "",
                    "form": form,
                    "open_claims": holders,
                },
            )
        messages.success(request, f"The customer's message was added to {claim}; no second claim was opened.")
        _store_evidence(request, claim, request.FILES.getlist("files"), request.POST.get("shows_whole_package") == "on")
        return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))


# A moment typed in is read in the company's zone, the zone every time is shown in (docs/console.md).
MOMENT_HELP = format_lazy(
    "In the company's time zone ({}), as every time here; the policy window counts to this moment's day.",
    lazy(zone_name, str)(),
)


class ClaimCreateForm(forms.Form):
    """The claim typed in from the customer's email: units per order line (a customer may return 1 of 3)."""

    order_number = forms.CharField(widget=forms.HiddenInput)
    submission_key = forms.UUIDField(widget=forms.HiddenInput)
    claim_type = forms.ChoiceField(choices=ClaimType.choices, label="Type")
    doa_reason = forms.ChoiceField(choices=[("", "—"), *DoaReason.choices], required=False, label="DOA reason")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="What the customer reports")
    serial_number = forms.CharField(required=False, max_length=64)
    submitted_at = forms.DateTimeField(
        label="Customer's email arrived at",
        help_text=MOMENT_HELP,
    )
    shows_whole_package = forms.BooleanField(required=False, label="The attached photos show the whole package")

    def __init__(self, *args, order=None, ledgers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = order
        self.unit_fields = []
        for line_id, line_ledger in sorted((ledgers or {}).items()):
            line = line_ledger.line
            name = f"units_{line_id}"
            self.fields[name] = forms.IntegerField(
                min_value=0,
                max_value=line.quantity,
                required=False,
                label=f"{line.product.sku} {line.product.name}",
                help_text=f"{line.quantity} bought at {money.quantize(line.unit_price, line.currency)} {line.currency}; "
                f"{line_ledger.free_units} free to claim.",
            )
            # A one-line order: its free units, the usual case; otherwise the agent says how many of which.
            self.initial[name] = line_ledger.free_units if len(ledgers) == 1 else 0
            self.unit_fields.append((name, line_ledger.notes()))
        if order:
            self.initial["order_number"] = order.number
        self.initial.setdefault("submission_key", uuid.uuid4())
        self.initial.setdefault("submitted_at", timezone.localtime().replace(second=0, microsecond=0))

    def units_rows(self):
        """(bound field, the ledger's words on that line) for the template."""
        return [(self[name], notes) for name, notes in self.unit_fields]

    def other_fields(self):
        names = {name for name, _ in self.unit_fields}
        return [field for field in self.visible_fields() if field.name not in names]

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "claim_type": data["claim_type"],
            "doa_reason": data["doa_reason"],
            "description": data["description"],
            "units": {int(name.split("_", 1)[1]): data[name] for name, _ in self.unit_fields if data.get(name)},
            "serial_number": data["serial_number"],
            "submitted_at": data["submitted_at"],
            "submission_key": data["submission_key"],
        }


def _open_claims_holding(ledgers: dict) -> dict[int, str]:
    """The open claims holding units of the order's lines: claim id → "RMA-… / #…"."""
    return {use.claim_id: use.claim_label for line_ledger in ledgers.values() for use in line_ledger.open_claims}


def _has_value(claim: Claim, field: str) -> bool:
    """A field worth a row on the read-only page: a stored value that is not blank (or a computed one)."""
    try:
        value = getattr(claim, claim._meta.get_field(field).attname)
    except FieldDoesNotExist:  # a computed field (the admin's own display methods): always shown
        return True
    return value not in (None, "", False)


def _hours(span: timedelta) -> str:
    hours, seconds = divmod(int(span.total_seconds()), 3600)
    return f"{hours} h {seconds // 60:02d} min"


def _find_order(number: str | None) -> Order | None:
    number = (number or "").strip()
    return Order.objects.filter(number=number).first() if number else None


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            if field == "units" and len(form.unit_fields) == 1:
                field = form.unit_fields[0][0]  # one line: the error sits next to it
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _store_evidence(request, claim: Claim, files, shows_whole_package: bool) -> None:
    for upload in files:
        try:
            services.evidence_add(
                claim_id=claim.pk, by=request.user, upload=upload, shows_whole_package=shows_whole_package
            )
        except (uploads.RejectedUpload, states.InvalidTransition, PermissionDenied) as error:
            messages.error(request, f"Not stored: {error}")
        else:
            messages.success(request, f"Stored “{upload.name}”.")


def _draft_key(claim_id: int) -> str:
    return f"claim-draft-{claim_id}"


def _success_message(action: str, claim: Claim) -> str:
    if action == "approve":
        if claim.is_returnless:
            return f"Approved without a return: {claim.rma_number}. The customer was emailed."
        return f"Approved: {claim.rma_number}. The RMA number and return instructions were emailed to {claim.customer_email}."
    return f"{claim}: {claim.get_status_display().lower()}."


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("product", "quantity", "price", "serial_numbers", "store_refunded_quantity", "store_refunded")
    readonly_fields = fields

    @admin.display(description="unit price")
    def price(self, line):
        return money.format_money(line.unit_price, line.currency)

    @admin.display(description="amount refunded by the store")
    def store_refunded(self, line):
        return money.format_money(line.store_refunded_amount, line.currency)


class OrderEventInline(EventHistoryInline):
    """The order's history here: its received date's changes, with their source."""

    model = OrderEvent


@admin.register(Order)
class OrderAdmin(ExactSearch, ModelAdmin):
    """Orders come from the store and are read-only here. The received date, which every policy window
    counts from, changes only through ``services.order_set_received_on``: the form on the order page."""

    list_display = ("number", "customer_name", "customer_email", "received", "cancelled_at", "created_at")
    # search_matches(): both exactly, in any case: indexed (``Order.Meta.indexes``).
    search_fields = ("=number", "=customer_email")
    search_help_text = "An order number or a customer's email, exactly (any case)."
    show_full_result_count = False
    list_filter = (("received_on", ReceivedDateFilter),)
    inlines = (OrderLineInline, OrderEventInline)
    fields = ("number", "customer_name", "customer_email", "received")
    readonly_fields = fields
    change_form_template = "admin/returns/order/change_form.html"

    def search_matches(self, term):
        """Each column in any case: served by the two expression indexes."""
        return Q(number__iexact=term) | Q(customer_email__iexact=term)

    @admin.display(description="received on", ordering="received_on")
    def received(self, order):
        return received_date_cell(order)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The order page is a view: a POST to it is refused, the received date has its own form.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        own = [
            path(
                "<int:order_id>/received-date/",
                self.admin_site.admin_view(self.received_date_view),
                name="returns_order_received_date",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = get_object_or_404(Order, pk=object_id)
        context = {
            **(extra_context or {}),
            "received_date_form": ReceivedDateForm(initial=ReceivedDateForm.initial_for(order)),
            "received_date_refusal": services.order_received_on_refusal(order=order, by=request.user),
            "received_date_words": _received_on_words(order),
            "received_date_unknown": order.received_on is None,
            "received_date_to_ask": selectors.RECEIVED_DATE_TO_ASK,
            "store_state": store_state(order),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def received_date_view(self, request, order_id):
        """Change the received date through the service; a refusal shows the form again with the error next
        to its field and the typed values; ``next`` (a page of this site) is where success returns to."""
        order = get_object_or_404(Order, pk=order_id)
        if not self.has_view_permission(request, order):
            raise PermissionDenied
        order_url = reverse("admin:returns_order_change", args=[order.pk])
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            next_url = ""
        form = ReceivedDateForm(request.POST or None, initial={**ReceivedDateForm.initial_for(order), "next": next_url})
        if request.method == "POST" and form.is_valid():
            before = order.received_on
            try:
                order = services.order_set_received_on(
                    order_id=order.pk,
                    by=request.user,
                    received_on=form.cleaned_data["received_on"],
                    source=form.cleaned_data["source"],
                    reason=form.cleaned_data["reason"],
                )
            except PermissionDenied as refusal:
                form.add_error(None, str(refusal))
            except ValidationError as error:
                _add_errors(form, error)
            else:
                if order.received_on == before:
                    messages.info(
                        request, f"Nothing changed: order {order.number} is already {_received_on_words(order)}."
                    )
                else:
                    claims = order.claims.count()
                    messages.success(
                        request,
                        f"Order {order.number} is now {_received_on_words(order)}. The change is in the order's "
                        f"history{f' and in the history of its {claims} claim(s)' if claims else ''}.",
                    )
                return HttpResponseRedirect(next_url or order_url)
        claims = [f"{claim}: {claim.get_status_display().lower()}" for claim in order.claims.order_by("pk")]
        return _date_form_page(
            request,
            self,
            title=f"Received date of order {order.number}",
            back=(f"Order {order.number}", order_url),
            facts=[
                f"Now {_received_on_words(order)}.",
                f"Claims of the order: {'; '.join(claims)}." if claims else "The order has no claim.",
            ],
            form=form,
            refusal=services.order_received_on_refusal(order=order, by=request.user),
            submit="Change received date",
        )


class ReceivedDateForm(forms.Form):
    received_on = forms.DateField(
        label="Received on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Give the day the customer received the goods."},
        help_text="The day the customer received the goods: every policy window counts from it.",
    )
    source = forms.ChoiceField(
        label="The date comes from",
        choices=[("", "—"), *ReceivedDateSource.choices],
        error_messages={"required": "Choose where the date comes from."},
    )
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Write why the received date changes (what shows the day)."},
        help_text="Kept in the order's history and in the history of each of its claims.",
    )
    next = forms.CharField(widget=forms.HiddenInput, required=False)

    @staticmethod
    def initial_for(order: Order) -> dict:
        return {"received_on": order.received_on}


class SubmittedAtForm(forms.Form):
    submitted_at = forms.DateTimeField(
        label="Claim made at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"required": "Give the moment the customer's email arrived."},
        help_text=MOMENT_HELP,
    )
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Write why the claim's time changes (what shows the moment)."},
        help_text="Kept in the claim's history.",
    )

    @staticmethod
    def initial_for(claim: Claim) -> dict:
        return {"submitted_at": timezone.localtime(claim.submitted_at)}


def received_date_words(order: Order) -> str:
    """ "21 Nov 2026 (the carrier's delivery event; company calendar, Asia/Shanghai)", or "unknown": with its source."""
    if order.received_on is None:
        return "unknown"
    return f"{format_day(order.received_on)} ({received_date_source(order)}; {calendar_words()})"


def received_date_source(order: Order) -> str:
    return ReceivedDateSource(order.received_on_source).label if order.received_on_source else "source not recorded"


def received_date_cell(order: Order) -> str:
    """A list's received-date cell: the day with its source under it, or "unknown" (never a blank that reads as
    "no problem"). The whole sentence, calendar included, is the tooltip: repeated on every row it made the
    rows tall and pushed a list's last columns off a laptop's screen."""
    if order.received_on is None:
        return "unknown"
    return format_html(
        '<span title="{}"><span class="nowrap">{}</span><span class="help list-note">{}</span></span>',
        received_date_words(order),
        format_day(order.received_on),
        received_date_source(order),
    )


def _received_on_words(order: Order) -> str:
    if order.received_on is None:
        return "received date unknown"
    return f"received on {received_date_words(order)}"


def _received_date_url(claim: Claim) -> str:
    """The order's received-date form, coming back to the claim page."""
    url = reverse("admin:returns_order_received_date", args=[claim.order_id])
    return f"{url}?next={reverse('admin:returns_claim_change', args=[claim.pk])}"


def store_state(order: Order) -> dict:
    """What the store did to the order (its cancellation, its refunds, its note), for the order and claim pages.
    ``anything`` is False when the store neither cancelled nor refunded anything and left no note."""
    lines = list(order.lines.select_related("product").order_by("pk"))
    currency = lines[0].currency if lines else ""
    refunded_lines = [
        {
            "sku": line.product.sku,
            "units": line.store_refunded_quantity,
            "amount": money.format_money(line.store_refunded_amount, line.currency),
        }
        for line in lines
        if line.store_refunded_quantity or line.store_refunded_amount
    ]
    return {
        "cancelled_at": format_instant(order.cancelled_at) if order.cancelled_at else "",
        "refunded_total": money.format_money(order.store_refunded_total, currency)
        if order.store_refunded_total
        else "",
        "refunded_lines": refunded_lines,
        "note": order.note.strip(),
        "anything": bool(order.cancelled_at or order.store_refunded_total or refunded_lines or order.note.strip()),
    }


def _category_message(result, electronic: bool) -> str:
    """What a category change did, for the admin's message: the products and the open claims it changed."""
    products = result.products
    names = ", ".join(product.sku for product in products[:5]) + (
        f" and {len(products) - 5} more" if len(products) > 5 else ""
    )
    text = f"{len(products)} product{'s' if len(products) != 1 else ''} marked {category_words(electronic)} ({names})."
    claims = result.claims
    if claims:
        text += (
            f" {len(claims)} open claim{'s' if len(claims) != 1 else ''} changed category: "
            + "; ".join(f"{claim} is {category_words(claim.is_electronic)}" for claim in claims[:10])
            + (f"; and {len(claims) - 10} more" if len(claims) > 10 else "")
            + "."
        )
    else:
        text += " No open claim changed category."
    if result.unchanged:
        text += f" {result.unchanged} already {category_words(electronic)}, left as they were."
    return text


def _date_form_page(request, model_admin, *, title, back, facts, form, refusal, submit):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "back": back,
        "facts": facts,
        "form": form,
        "refusal": refusal,
        "submit": submit,
    }
    return TemplateResponse(request, "admin/returns/date_form.html", context)


class ProductEventInline(EventHistoryInline):
    """The product's history here: its category set or changed, by whom and why."""

    model = ProductEvent


class CategoryReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Write why the category changes (it was known)."},
        help_text="Kept in each product's history and in the history of each open claim whose category changes.",
    )


@admin.register(Product)
class ProductAdmin(ModelAdmin):
    """The product catalogue. A product's category (electronic or not) changes only through
    ``services.product_set_category``: the list's two actions, the claim page's panel, or
    ``manage.py import_products``; on the product's own form it is read-only."""

    list_display = ("sku", "name", "category")
    list_filter = (("is_electronic", CategoryFilter),)
    search_fields = ("^sku", "name")
    show_full_result_count = False
    actions = ("mark_electronic", "mark_not_electronic")
    inlines = (ProductEventInline,)

    @admin.display(description="category", ordering="is_electronic")
    def category(self, product):
        return product.category

    def get_readonly_fields(self, request, obj=None):
        # A new product may be entered with its category (save_model sets it through the service); an
        # existing one's changes with the list's actions, which recompute its open claims and keep a history.
        return ("category",) if obj is not None else ()

    def get_fields(self, request, obj=None):
        return ("sku", "name", "category") if obj is not None else ("sku", "name", "is_electronic")

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        electronic, obj.is_electronic = obj.is_electronic, None
        obj.save()
        if electronic is not None:
            services.product_set_category(
                product_ids=[obj.pk], by=request.user, electronic=electronic, reason="entered with the new product"
            )
            obj.is_electronic = electronic

    def has_set_category_permission(self, request):
        return request.user.has_perm(services.SET_CATEGORY) or request.user.has_perm(
            services.CHANGE_CATEGORY_AFTER_APPROVAL
        )

    @admin.action(description="Mark as electronic", permissions=["set_category"])
    def mark_electronic(self, request, queryset):
        return self._set_category(request, queryset, electronic=True)

    @admin.action(description="Mark as not electronic", permissions=["set_category"])
    def mark_not_electronic(self, request, queryset):
        return self._set_category(request, queryset, electronic=False)

    def _set_category(self, request, queryset, *, electronic: bool):
        """Unknown categories are set at once; a known one changed asks for a reason first (a page listing
        those products, as Django's own delete confirmation does)."""
        products = list(queryset.order_by("pk"))
        known = [p for p in products if p.is_electronic is not None and p.is_electronic is not electronic]
        form = CategoryReasonForm(request.POST if "reason" in request.POST else None)
        if known and not form.is_valid():
            action = "mark_electronic" if electronic else "mark_not_electronic"
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Mark as {category_words(electronic)}: a reason",
                "products": products,
                "known": known,
                "electronic_words": category_words(electronic),
                "action": action,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/returns/product/category_reason.html", context)
        try:
            result = services.product_set_category(
                product_ids=[p.pk for p in products],
                by=request.user,
                electronic=electronic,
                reason=form.cleaned_data["reason"] if known else "",
            )
        except (PermissionDenied, ValidationError) as error:
            self.message_user(request, " ".join(getattr(error, "messages", [str(error)])), messages.ERROR)
            return None
        if result.products:
            self.message_user(request, _category_message(result, electronic), messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"Nothing changed: the products chosen are already {category_words(electronic)}.",
                messages.INFO,
            )
        return None


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ModelAdmin):
    """A policy change is a new version: claims keep the version in force when they were made."""

    list_display = (
        "effective_from",
        "doa_days",
        "no_reason_days",
        "no_reason_electronic_days",
        "warranty_months",
        "warranty_electronic_months",
        "no_reason_return_shipping_reimbursed",
        "parcel_reminder_days",
        "parcel_escalation_days",
        "parcel_expiry_days",
    )

    def get_readonly_fields(self, request, obj=None):
        # A version that judged claims is history; change the policy with a new version.
        if obj is not None and obj.claim_set.exists():
            return [field.name for field in obj._meta.fields]
        return ()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ServiceOnlyAdmin):
    list_display = ("created_at", "to", "subject", "status", "attempts", "sent_at")
    list_filter = ("status", "template")
    list_select_related = ()
    search_fields = ("=to",)
    show_full_result_count = False
    readonly_fields = (
        "claim",
        "template",
        "to",
        "subject",
        "body_text",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    )
    exclude = ("body_html",)


@admin.register(ClosureDay)
class ClosureDayAdmin(ModelAdmin):
    """Company closure days: not working days for refund deadlines (managers enter them)."""

    list_display = ("day", "reason")
    date_hierarchy = "day"


@admin.register(ClosureDayEvent)
class ClosureDayEventAdmin(ServiceOnlyAdmin):
    """Who changed the calendar, and how many refund deadlines moved: read-only, for managers.

    A list of its own rather than an inline on the closure day's form: a deleted day's events stay
    here, and the day's form stays a plain form.
    """

    list_display = ("when", "who", "what_happened")
    list_display_links = None
    list_select_related = ("actor",)
    show_full_result_count = False
    ordering = ("-id",)
    # The read-only page of one event shows its words too, never the payload.
    fields = readonly_fields = ("when", "who", "what_happened")

    @admin.display(description="when", ordering="id")
    def when(self, event):
        return format_instant(event.created_at)

    @admin.display(description="who")
    def who(self, event):
        return event.actor_name

    @admin.display(description="what happened")
    def what_happened(self, event):
        return event.describe()
