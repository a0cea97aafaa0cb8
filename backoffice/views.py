"""The managers' dashboard page (/admin/dashboard/): the selectors' figures drawn as SVG, each linked to its claims."""

from datetime import date
from functools import lru_cache
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from backoffice import charts, dashboard, reconcile
from backoffice.access import is_manager
from backoffice.filters import span_value
from returns import money
from returns.instants import format_instant
from returns.models import ClaimType


def _claims_url(*parts: dict, **params) -> str:
    """The claim list with these filters; later ones win, an empty value drops the parameter."""
    merged = {}
    for part in (*parts, params):
        merged.update(part)
    query = urlencode({k: v for k, v in merged.items() if v != ""})
    return _claim_list_path(settings.ROOT_URLCONF, get_urlconf(), get_script_prefix()) + "?" + query


@lru_cache(maxsize=16)
def _claim_list_path(root_urlconf: str, urlconf, script_prefix: str) -> str:
    """The claim list's path, reversed once per URL configuration (a dashboard links to it about 200 times)."""
    return reverse("admin:returns_claim_changelist", urlconf=urlconf)


# One colour per reason on every chart: the types' colours, DOA reasons in blues.
REASON_COLORS = {
    dashboard.reason_label("doa", "wrong_item"): "#417690",
    dashboard.reason_label("doa", "missing_item"): "#79aec8",
    dashboard.reason_label("doa", "damage"): "#2c4f61",
    dashboard.reason_label("doa", "quality_issue"): "#5b7fa6",
    dashboard.reason_label("no_reason", ""): "#e07b39",
    dashboard.reason_label("warranty", ""): "#5b9e4d",
}
TYPE_COLORS = {"doa": "#417690", "no_reason": "#e07b39", "warranty": "#5b9e4d"}


def _week_label(monday: date) -> str:
    return f"{monday:%d %b}"


def dashboard_view(request):
    if not is_manager(request.user):
        raise PermissionDenied
    now = timezone.now()
    today = timezone.localdate(now, timezone.get_default_timezone())
    form = dashboard.FilterForm(request.GET or None)
    filters = dashboard.Filters.from_form(form, today)
    context = {
        **admin.site.each_context(request),
        "title": "Managers' dashboard",
        "form": form,
        "filters": filters,
        "period_claims_url": _claims_url(filters.claim_list_params()),
        "charts": [
            _claims_per_week(filters),
            _top_reasons(filters),
            _sku_rates(filters),
            _refund_value(filters),
            _sla(filters, now),
            _approval_to_refund(filters),
        ],
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


def _chart(chart_id, title, svg, claims_url, legend="", note="", empty=False):
    return {"id": chart_id, "title": title, "svg": svg, "claims_url": claims_url, "legend": legend, "note": note,
            "empty": empty}  # fmt: skip


def _claims_per_week(filters):
    counts = dashboard.claims_per_week_by_type(filters)
    mondays = filters.mondays()
    types = [t for t in ClaimType if not filters.claim_type or t == filters.claim_type]
    series = []
    for claim_type in types:
        values, hrefs, titles = [], [], []
        for monday in mondays:
            first, last = filters.week_span(monday)
            n = counts.get((monday, claim_type.value), 0)
            values.append(n)
            hrefs.append(_claims_url(filters.claim_list_params(first, last), claim_type__exact=claim_type.value))
            titles.append(f"Week of {monday:%d %b %Y}: {n} {claim_type.label} claim{'s' if n != 1 else ''}")
        series.append(charts.Series(claim_type.label, values, hrefs, titles, TYPE_COLORS[claim_type.value]))
    svg = charts.column_chart(
        chart_id="chart-claims-per-week",
        title="Claims per week by type",
        desc=f"{sum(counts.values())} claims made from {filters.start:%d %b %Y} to {filters.end:%d %b %Y}, "
        "per week (Monday), stacked by type.",
        x_labels=[_week_label(m) for m in mondays],
        series=series,
        x_label="week starting",
        y_label="claims made",
    )
    return _chart(
        "claims-per-week", "Claims per week by type", svg, _claims_url(filters.claim_list_params()),
        charts.legend(series), empty=not counts,
    )  # fmt: skip


def _top_reasons(filters):
    reasons = dashboard.top_reasons(filters)
    total = sum(r.claims for r in reasons)
    rows = [
        charts.Row(
            label=reason.label,
            segments=[
                (
                    reason.label,
                    reason.claims,
                    _claims_url(
                        filters.claim_list_params(), dashboard.reason_params(reason.claim_type, reason.doa_reason)
                    ),
                    f"{reason.label}: {reason.claims} claims ({reason.claims / total:.0%})",
                )
            ],
            text=f"{reason.claims} ({reason.claims / total:.0%})",
        )
        for reason in reasons
    ]
    svg = charts.bar_chart(
        chart_id="chart-top-reasons",
        title="Top reasons",
        desc=f"{total} claims made in the period, by reason, most first.",
        rows=rows,
        x_label="claims made",
        colors=REASON_COLORS,
    )
    return _chart("top-reasons", "Top reasons", svg, _claims_url(filters.claim_list_params()), empty=not reasons)


def _sku_rates(filters):
    rates, unsold = dashboard.sku_claim_rates(filters)
    rows = []
    for rate in rates:
        segments = []
        for _key, (claim_type, doa_reason, n) in sorted(rate.reasons.items()):
            label = dashboard.reason_label(claim_type, doa_reason)
            share = n / rate.units_sold * 100
            segments.append(
                (
                    label,
                    share,
                    _claims_url(
                        filters.claim_list_params(), dashboard.reason_params(claim_type, doa_reason), sku=rate.sku
                    ),
                    f"{rate.sku}: {n} unit{'s' if n != 1 else ''} claimed for {label} of {rate.units_sold} "
                    f"sold ({share:.1f}%)",
                )
            )
        rows.append(
            charts.Row(
                label=f"{rate.sku} {rate.name}"[:40],
                segments=segments,
                text=f"{rate.rate:.1%} ({rate.units_claimed}/{rate.units_sold} units)",
                href=_claims_url(filters.claim_list_params(), sku=rate.sku),
            )
        )
    svg = charts.bar_chart(
        chart_id="chart-sku-rates",
        title="SKUs by claim rate",
        desc="Units of the SKU claimed in claims made in the period, per 100 units of it sold on orders "
        "received in the period; the ten highest, split by reason.",
        rows=rows,
        x_label="units claimed per 100 units sold (%)",
        label_width=260,
        colors=REASON_COLORS,
    )
    note = "Rate: units claimed (claims made in the period) ÷ units sold (orders received in the period)."
    if unsold:
        note += f" {unsold} SKU(s) had claims but no units sold in the period; not ranked."
    legend = charts.legend(list(dict.fromkeys(name for row in rows for name, *_ in row.segments)), colors=REASON_COLORS)
    return _chart(
        "sku-rates", "SKUs by claim rate", svg, _claims_url(filters.claim_list_params()), legend, note,
        empty=not rates,
    )  # fmt: skip


def _refund_value(filters):
    values = dashboard.refund_value_per_week(filters)
    mondays = filters.mondays()
    currencies = sorted({currency for _, currency in values})
    parts = []
    for currency in currencies:
        amounts, hrefs, titles = [], [], []
        for monday in mondays:
            first, last = filters.week_span(monday)
            total, refunds = values.get((monday, currency), (0, 0))
            amounts.append(float(total) if refunds else None)
            hrefs.append(_claims_url(filters.claim_list_params(), refund_paid=f"{span_value(first, last)}:{currency}"))
            titles.append(f"Week of {monday:%d %b %Y}: {money.format_money(total, currency)} in {refunds} refund(s)")
        parts.append(
            charts.column_chart(
                chart_id=f"chart-refund-value-{currency.lower()}",
                title=f"Refund value per week, {currency}",
                desc=f"Refunds that succeeded in the period, in {currency}, summed per week (Monday).",
                x_labels=[_week_label(m) for m in mondays],
                series=[charts.Series(currency, amounts, hrefs, titles)],
                x_label="week starting",
                y_label=f"refunded ({currency})",
            )
        )
    svg = mark_safe("".join(parts))
    # The claims behind the chart are those whose refund was paid in the period, whenever they were made.
    url = _claims_url(filters.claim_list_params(), made="", refund_paid=span_value(filters.start, filters.end))
    return _chart("refund-value", "Refund value per week per currency", svg, url, empty=not values)


def _share(part, whole):
    return round(100 * part / whole, 1) if whole else None


def _sla(filters, now):
    claims = dashboard.first_response_per_week(filters, now)
    refunds = dashboard.refund_sla_per_week(filters, now)
    mondays = filters.mondays()
    labels = [_week_label(m) for m in mondays]
    first_response = charts.Series("First response within 24 h", [], [], [])
    target = charts.Series("Refund sent within 5 working days", [], [], [])
    due = charts.Series("Refund sent within 7 working days", [], [], [])
    for monday in mondays:
        first, last = filters.week_span(monday)
        claim = claims.get(monday, {"judged": 0, "met": 0, "claims": 0})
        refund = refunds.get(
            monday, {"target_judged": 0, "within_target": 0, "due_judged": 0, "within_due": 0, "refunds": 0}
        )
        week_claims = _claims_url(filters.claim_list_params(first, last))
        value = _share(claim["met"], claim["judged"])
        first_response.values.append(value)
        first_response.hrefs.append(_claims_url(filters.claim_list_params(first, last), first_response_met__exact="0"))
        first_response.titles.append(
            f"Week of {monday:%d %b %Y}: {claim['met']} of {claim['judged']} claims answered within 24 h"
            + (f" ({value}%)" if value is not None else "")
        )
        for series, part, whole, words in (
            (target, "within_target", "target_judged", "5"),
            (due, "within_due", "due_judged", "7"),
        ):
            value = _share(refund[part], refund[whole])
            series.values.append(value)
            series.hrefs.append(week_claims)
            series.titles.append(
                f"Week of {monday:%d %b %Y}: {refund[part]} of {refund[whole]} refunds sent within {words} working days"
                + (f" ({value}%)" if value is not None else "")
            )
    svg = charts.line_chart(
        chart_id="chart-sla",
        title="SLA compliance per week",
        desc="Share of claims answered within 24 hours (by week made) and of refunds sent within 5 and 7 working "
        "days of their final approval (by week approved).",
        x_labels=labels,
        series=[first_response, target, due],
        x_label="week starting",
        y_label="within the SLA",
        y_max=100,
        suffix="%",
    )
    judged = sum(c["judged"] for c in claims.values())
    met = sum(c["met"] for c in claims.values())
    t_judged = sum(r["target_judged"] for r in refunds.values())
    t_met = sum(r["within_target"] for r in refunds.values())
    d_judged = sum(r["due_judged"] for r in refunds.values())
    d_met = sum(r["within_due"] for r in refunds.values())
    note = (
        f"Period: first response {met}/{judged}"
        + (f" ({_share(met, judged)}%)" if judged else "")
        + f"; refunds within 5 working days {t_met}/{t_judged}"
        + (f" ({_share(t_met, t_judged)}%)" if t_judged else "")
        + f", within 7 {d_met}/{d_judged}"
        + (f" ({_share(d_met, d_judged)}%)" if d_judged else "")
        + ". A point links to that week's claims (first response: those answered late or not yet)."
    )
    return _chart(
        "sla", "First-response and refund SLA compliance", svg, _claims_url(filters.claim_list_params()),
        charts.legend([first_response, target, due]), note, empty=not (claims or refunds),
    )  # fmt: skip


def _approval_to_refund(filters):
    weeks = dashboard.approval_to_refund_per_week(filters)
    mondays = filters.mondays()
    series = charts.Series("Average days", [], [], [])
    for monday in mondays:
        first, last = filters.week_span(monday)
        average, refunds = weeks.get(monday, (None, 0))
        series.values.append(round(average, 1) if average is not None else None)
        series.hrefs.append(_claims_url(filters.claim_list_params(), made="", refund_paid=span_value(first, last)))
        series.titles.append(
            f"Week of {monday:%d %b %Y}: {average:.1f} days on average over {refunds} refund(s)"
            if average is not None
            else f"Week of {monday:%d %b %Y}: no refund"
        )
    refunds = sum(n for _, n in weeks.values())
    overall = sum(avg * n for avg, n in weeks.values()) / refunds if refunds else None
    svg = charts.column_chart(
        chart_id="chart-approval-to-refund",
        title="Average days from approval to refund",
        desc="Per week of the refund's success: the average time from the claim's approval to the refund, in days.",
        x_labels=[_week_label(m) for m in mondays],
        series=[series],
        x_label="week the refund succeeded",
        y_label="days",
    )
    note = f"Over the period: {overall:.1f} days on average, {refunds} refund(s)." if overall is not None else ""
    url = _claims_url(filters.claim_list_params(), made="", refund_paid=span_value(filters.start, filters.end))
    return _chart("approval-to-refund", "Average days from approval to refund", svg, url, note=note, empty=not weeks)


# A person's "Check again" queues at most one reconciliation a minute, however often it is clicked.
ATTENTION_ASKED_KEY = "attention:check-asked"


def attention_view(request):
    """/admin/attention/: money and state that disagree and need a person, as the last check found them
    (``backoffice.reconcile``). POST: check again now (the reconcile task, as the system)."""
    if not request.user.has_perm("returns.view_claim"):
        raise PermissionDenied
    if request.method == "POST":
        from backoffice import tasks

        if cache.add(ATTENTION_ASKED_KEY, 1, timeout=60):
            transaction.on_commit(tasks.reconcile.delay, robust=True)
            messages.info(request, "Checking again. The list is replaced when the check ends: reload in a minute.")
        else:
            messages.info(request, "A check was asked for less than a minute ago: reload in a moment.")
        return HttpResponseRedirect(request.path)
    check = reconcile.last_attention_check()
    context = {
        **admin.site.each_context(request),
        "title": "Needs attention",
        "mismatches": [reconcile.Mismatch(**item) for item in check.items],
        "checked_at": format_instant(check.checked_at),
        "check_seconds": f"{check.took_ms / 1000:.1f}",
        "every_minutes": settings.CELERY_BEAT_SCHEDULE["reconcile"]["schedule"] // 60,
    }
    return TemplateResponse(request, "admin/attention.html", context)
