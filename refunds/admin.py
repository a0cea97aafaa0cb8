"""Finance's pages: the refunds queue and the refund page with its actions.

Refunds are read-only in Django's own forms: every change goes through
``refunds.services`` from the buttons ``refunds.states`` allows the user, and
a refused action comes back as an admin message.
``RefundInline`` is the claim page's read-only list of its refunds
(``backoffice/admin.py`` adds it).
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.views import ChangeList

from refunds import selectors, services, states
from refunds.models import (
    CLOCK_RUNNING_STATUSES,
    QUEUE_OPEN_BELOW,
    LineKind,
    Provider,
    Refund,
    RefundEvent,
    RefundLine,
    RefundStatus,
)
from returns import money
from returns.admin import EventHistoryInline, ExactSearch, ReadOnlyInline, ServiceOnlyAdmin
from returns.instants import format_instant


def _money(amount: Decimal, currency: str) -> str:
    return money.format_money(amount, currency)


def _left(span: timedelta) -> str:
    days, seconds = span.days, span.seconds
    hours, minutes = divmod(seconds // 60, 60)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes:02d} min"


def _moment(label: str, due, now) -> str:
    """A deadline in the company zone, named (returns.instants) with the time left or past."""
    when = f"{label} {format_instant(due)}"
    return f"{when}: {_left(due - now)} left." if due >= now else f"{when}: passed {_left(now - due)} ago."


class QueueChangeList(ChangeList):
    """The queue's page, with each row's age in working days computed for the page at once."""

    def get_results(self, request):
        super().get_results(request)
        ages = selectors.ages_in_working_days(
            {refund.pk: refund.approved_at or refund.created_at for refund in self.result_list}, timezone.now()
        )
        for refund in self.result_list:
            refund.age_in_working_days = ages[refund.pk]


class RefundInline(ReadOnlyInline):
    """The claim page's refunds: amount, state and the provider's reference, linked to the refund page."""

    model = Refund
    fk_name = "claim"
    verbose_name_plural = "refunds"
    fields = ("link", "purpose", "status", "amount", "provider", "provider_reference", "failure_reason", "succeeded_at")
    readonly_fields = fields

    @admin.display(description="refund")
    def link(self, refund):
        return format_html(
            '<a href="{}">Refund #{}</a>', reverse("admin:refunds_refund_change", args=[refund.pk]), refund.pk
        )

    @admin.display(description="amount")
    def amount(self, refund):
        return _money(refund.total, refund.currency)


class RefundLineInline(ReadOnlyInline):
    model = RefundLine
    verbose_name_plural = "lines"
    fields = ("kind", "description", "signed", "reason", "to_enter")
    readonly_fields = fields

    @admin.display(description="amount")
    def signed(self, line):
        return _money(line.signed_amount, line.refund.currency)

    @admin.display(description="amount to enter")
    def to_enter(self, line):
        """Words only where finance still has an amount to type in (the receipt's shipping); no red cross on the
        lines that are complete."""
        return "To enter before approval" if line.amount_to_enter else ""

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("refund")


class RefundEventInline(EventHistoryInline):
    """The refund's history in words."""

    model = RefundEvent
    status_choices = RefundStatus


class StatusFilter(admin.SimpleListFilter):
    """Open refunds by default: what finance must act on."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "Open (not paid, not cancelled)"), *RefundStatus.choices, ("all", "All")]

    def choices(self, changelist):
        value = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(queue_priority__lt=QUEUE_OPEN_BELOW)  # not paid, not cancelled; indexed
        if value == "all":
            return queryset
        return queryset.filter(status=value)


class SlaFilter(admin.SimpleListFilter):
    """The 5-7 working days, over the refunds whose clock runs (an indexed range each)."""

    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [
            ("due_soon", f"due within {settings.SLA_REMIND_BEFORE_HOURS} h"),
            ("past_target", f"past the {settings.SLA_REFUND_TARGET_WORKING_DAYS}-working-day target"),
            ("overdue", "overdue"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        running = queryset.filter(status__in=CLOCK_RUNNING_STATUSES)
        if self.value() == "due_soon":
            soon = now + timedelta(hours=settings.SLA_REMIND_BEFORE_HOURS)
            return running.filter(refund_due_at__gte=now, refund_due_at__lte=soon)
        if self.value() == "past_target":
            return running.filter(refund_target_at__lt=now)
        if self.value() == "overdue":
            return running.filter(refund_due_at__lt=now)
        return queryset


@admin.register(Refund)
class RefundAdmin(ExactSearch, ServiceOnlyAdmin):
    list_display = ("reference", "rma_number", "status", "amount", "currency", "age", "due", "provider", "problem")
    list_filter = (StatusFilter, SlaFilter, "currency", "provider")
    list_select_related = ("claim",)
    list_per_page = 50  # a screenful to work through, as in Shopify's lists; docs/console.md
    show_full_result_count = False
    search_fields = ("claim__rma_number",)
    search_help_text = "An RMA number, exactly."
    change_list_template = "admin/refunds/refund/change_list.html"
    change_form_template = "admin/refunds/refund/change_form.html"
    inlines = (RefundLineInline, RefundEventInline)
    fields = (
        "claim_link", "purpose", "status", "sla", "amount", "currency", "provider", "payment_reference",
        "provider_reference", "provider_status", "failure_reason", "last_error", "attempts", "execution_round",
        "proposed_by", "approved_by", "approved_at", "second_approved_by", "second_approved_at",
        "created_at", "succeeded_at",
    )  # fmt: skip
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def get_queryset(self, request):
        return selectors.refund_queue(super().get_queryset(request)).order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ["queue_priority", "created_at"]

    def search_matches(self, term):
        return Q(claim__rma_number=term.upper())

    # --- the queue ---------------------------------------------------------------

    @admin.display(description="refund", ordering="pk")
    def reference(self, refund):
        return f"Refund #{refund.pk}"

    @admin.display(description="RMA number", ordering="claim__rma_number")
    def rma_number(self, refund):
        return refund.claim.rma_number or f"claim {refund.claim_id}"

    @admin.display(description="amount", ordering="total")
    def amount(self, refund):
        return _money(refund.total, refund.currency)

    @admin.display(description="age (working days)")
    def age(self, refund):
        """Working days since the refund was approved (or proposed, before that): QueueChangeList's."""
        return refund.age_in_working_days

    @admin.display(description="due", ordering="refund_due_at")
    def due(self, refund):
        if refund.refund_due_at is None or refund.status not in CLOCK_RUNNING_STATUSES:
            return "-"
        return format_instant(refund.refund_due_at)

    @admin.display(description="reason")
    def problem(self, refund):
        return refund.failure_reason or ("" if refund.status != RefundStatus.PROCESSING else refund.last_error)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            response.context_data["open_totals"] = [
                {**row, "amount": money.quantize(row["amount"], row["currency"])}
                for row in selectors.open_totals_per_currency(changelist.queryset)
            ]
        return response

    # --- the refund page ------------------------------------------------------------

    @admin.display(description="SLA (5-7 working days)")
    def sla(self, refund):
        """The clock (refunds/sla.py), in the company zone, named."""
        if refund.status == RefundStatus.CANCELLED:
            return "Cancelled: no refund owed, no clock."
        if refund.refund_due_at is None:
            return "Starts at the final approval."
        target_days, due_days = settings.SLA_REFUND_TARGET_WORKING_DAYS, settings.SLA_REFUND_DUE_WORKING_DAYS
        if refund.status == RefundStatus.SUCCEEDED:
            if refund.sent_within_target:
                return f"Sent within {target_days} working days."
            if refund.sent_within_due:
                return f"Sent within {due_days} working days, after the {target_days}-day target."
            return f"Sent after the {due_days} working days."
        now = timezone.now()
        return format_html(
            "{}<br>{}", _moment("Target", refund.refund_target_at, now), _moment("Due", refund.refund_due_at, now)
        )

    @admin.display(description="claim")
    def claim_link(self, refund):
        url = reverse("admin:returns_claim_change", args=[refund.claim_id])
        return format_html('<a href="{}">{}</a>', url, refund.claim.rma_number or f"Claim #{refund.claim_id}")

    def get_urls(self):
        return [
            path(
                "<int:refund_id>/act/<str:action>/",
                self.admin_site.admin_view(self.act_view),
                name="refunds_refund_act",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        refund = get_object_or_404(Refund.objects.select_related("claim__policy_version"), pk=object_id)
        allowed = {t.action for t in states.allowed(refund.status, request.user)}
        lines = list(refund.lines.all())
        context = {
            **(extra_context or {}),
            "can_approve": bool(allowed & {"approve", "approve_first_of_two"}),
            "approve_needs_second": services.needs_second_approval(refund, lines),
            "can_second_approve": "second_approve" in allowed and refund.approved_by_id != request.user.pk,
            "waiting_for_second": refund.status == RefundStatus.AWAITING_SECOND_APPROVAL,
            "can_adjust": "adjust" in allowed,
            "can_record_manual": "record_manual_payment" in allowed and refund.provider == Provider.MANUAL,
            "can_retry": "retry" in allowed,
            "can_cancel": "cancel" in allowed
            and (refund.status != RefundStatus.PROCESSING or refund.provider == Provider.MANUAL),
            "refund_lines": lines,
            # Return shipping is entered on the line the proposal made for it, where the policy reimburses it.
            "line_kinds": [(LineKind.DEDUCTION, "New deduction")],
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def act_view(self, request, refund_id, action):
        """Run one action through its service; errors come back as messages."""
        if request.method != "POST":
            raise PermissionDenied
        refund = get_object_or_404(Refund, pk=refund_id)
        post = request.POST
        try:
            if action in ("approve", "second_approve"):
                refund = services.refund_approve(refund_id=refund.pk, by=request.user)
                done = {
                    RefundStatus.AWAITING_SECOND_APPROVAL: "Approved; a second finance user must approve it too.",
                    RefundStatus.APPROVED: "Approved: the refund is being sent.",
                }[refund.status]
            elif action == "adjust":
                target = post.get("line", "")
                change = (
                    services.LineChange(line_id=int(target), amount=post.get("amount", ""))
                    if target.isdigit()
                    else services.LineChange(
                        kind=target, description=post.get("description", ""), amount=post.get("amount", "")
                    )
                )
                refund = services.refund_adjust_lines(
                    refund_id=refund.pk, by=request.user, changes=[change], reason=post.get("reason", "")
                )
                done = f"Adjusted: the refund is now {_money(refund.total, refund.currency)}."
            elif action == "record_manual_payment":
                refund = services.refund_record_manual_payment(
                    refund_id=refund.pk, by=request.user, provider_reference=post.get("provider_reference", "")
                )
                done = f"Recorded: refund succeeded ({refund.provider_reference}); the customer is emailed."
            elif action == "retry":
                refund = services.refund_retry(refund_id=refund.pk, by=request.user, reason=post.get("reason", ""))
                done = "Sent again."
            elif action == "cancel":
                refund = services.refund_cancel(refund_id=refund.pk, by=request.user, reason=post.get("reason", ""))
                done = "Cancelled."
            else:
                raise PermissionDenied
        except (states.InvalidTransition, PermissionDenied) as error:
            messages.error(request, str(error))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, done)
        return HttpResponseRedirect(reverse("admin:refunds_refund_change", args=[refund.pk]))
