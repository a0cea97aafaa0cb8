"""The SLAs across apps: closure days that move the refunds' deadlines, and the manager's weekly SLA page.

``returns`` owns the calendar (``ClosureDay``) and may not import ``refunds``; ``refunds`` owns
the refund deadlines. Only ``backoffice`` sees both, so the closure-day writes that recompute the
running refund clocks live here, in one transaction with the recompute.
"""

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, DateTimeField, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, Value
from django.db.models.functions import TruncWeek
from django.template.response import TemplateResponse
from django.utils import timezone

from backoffice.access import is_manager
from core import events
from refunds.models import Refund, RefundStatus
from refunds.services import refund_deadlines_recompute
from returns.models import (
    Claim,
    ClaimAction,
    ClaimEvent,
    ClaimStatus,
    ClosureDay,
    ClosureDayAction,
    ClosureDayEvent,
    PolicyVersion,
)

WEEK_CHOICES = (4, 12, 26, 52)
DEFAULT_WEEKS = 12


# --- Closure days -------------------------------------------------------------------


def closure_day_save(*, closure_day: ClosureDay, by) -> int:
    """Add or change a closure day, and recompute the running refund clocks; returns how many moved.

    The change, the recompute and the calendar's event (who, the old and new day and reason, how many
    refund deadlines moved) are one transaction. Saving a day unchanged records nothing.
    """
    permission = "returns.change_closureday" if closure_day.pk else "returns.add_closureday"
    if not by.has_perm(permission):
        raise PermissionDenied("You do not have permission to change the company's closure days.")
    closure_day.full_clean()
    with transaction.atomic():
        before = None
        if closure_day.pk:
            before = ClosureDay.objects.select_for_update().filter(pk=closure_day.pk).values("day", "reason").first()
        closure_day.save()
        moved = refund_deadlines_recompute(by=by)
        after = {"day": closure_day.day, "reason": closure_day.reason}
        if before is None:
            events.record(
                ClosureDayEvent,
                closure_day=closure_day,
                by=by,
                action=ClosureDayAction.ADDED,
                payload={**after, "refunds_moved": moved},
            )
        elif before != after:
            events.record(
                ClosureDayEvent,
                closure_day=closure_day,
                by=by,
                action=ClosureDayAction.CHANGED,
                payload={"from": before, "to": after, "refunds_moved": moved},
            )
        return moved


def closure_day_delete(*, closure_day_ids: Iterable[int], by) -> int:
    """Delete closure days (the day works again), and recompute the running refund clocks.

    One event per day deleted, in the same transaction, naming the day and its reason (the row is
    gone), the days deleted with it and how many refund deadlines the deletion moved.
    """
    if not by.has_perm("returns.delete_closureday"):
        raise PermissionDenied("You do not have permission to change the company's closure days.")
    with transaction.atomic():
        days = list(ClosureDay.objects.select_for_update().filter(pk__in=list(closure_day_ids)).order_by("day"))
        ClosureDay.objects.filter(pk__in=[day.pk for day in days]).delete()
        moved = refund_deadlines_recompute(by=by)
        ClosureDayEvent.objects.bulk_create(
            events.build(
                ClosureDayEvent,
                by=by,
                action=ClosureDayAction.DELETED,
                payload={
                    "day": day.day,
                    "reason": day.reason,
                    "refunds_moved": moved,
                    **({"deleted_with": [other.day for other in days if other.pk != day.pk]} if len(days) > 1 else {}),
                },
            )
            for day in days
        )
        return moved


# --- The manager's SLA page ------------------------------------------------------------


def claim_weeks(start: datetime, now: datetime) -> dict:
    """First responses per company-local ISO week of the claims' arrival: one grouped query.

    A claim is judged once its first answer is given (``first_response_met``) or its 24 hours
    passed without one (a miss already, though still open).
    """
    company = timezone.get_default_timezone()
    rows = (
        Claim.objects.filter(submitted_at__gte=start)
        .annotate(week=TruncWeek("submitted_at", tzinfo=company))
        .values("week")
        .annotate(
            received=Count("pk"),
            judged=Count("pk", filter=Q(first_response_met__isnull=False) | Q(first_response_due_at__lt=now)),
            met=Count("pk", filter=Q(first_response_met=True)),
        )
        .order_by("week")
    )
    return {row["week"].date(): row for row in rows}


def refund_weeks(start: datetime, now: datetime) -> dict:
    """Refunds per company-local ISO week of their clock's start (the inspection, or a returnless
    approval: finance's approval time is inside the promise): one grouped query.

    Against each deadline a refund is judged once it succeeded, or once the deadline passed
    unsent (a miss already). Cancelled refunds owe nothing and are left out.
    """
    company = timezone.get_default_timezone()
    sent = Q(status=RefundStatus.SUCCEEDED)
    rows = (
        Refund.objects.filter(refund_due_at__isnull=False)
        .exclude(status=RefundStatus.CANCELLED)
        .filter(clock_started_at__gte=start)
        .annotate(week=TruncWeek("clock_started_at", tzinfo=company))
        .values("week")
        .annotate(
            started=Count("pk"),
            target_judged=Count("pk", filter=sent | Q(refund_target_at__lt=now)),
            within_target=Count("pk", filter=sent & Q(succeeded_at__lte=F("refund_target_at"))),
            due_judged=Count("pk", filter=sent | Q(refund_due_at__lt=now)),
            within_due=Count("pk", filter=sent & Q(succeeded_at__lte=F("refund_due_at"))),
        )
        .order_by("week")
    )
    return {row["week"].date(): row for row in rows}


def parcel_weeks(start: datetime) -> dict:
    """Return parcels per company-local ISO week of the claims' approval (the parcel clock's start): one grouped
    query. Returnless claims wait for nothing and are left out.

    - approved: approved with a return;
    - received: the warehouse received the parcel (the claim's ``receive`` event), at any time so far;
    - received in time: within the escalation days of the claim's policy version, counted from the approval;
    - awaited: the clock still runs (``awaiting_parcel_since``): approved or shipped, not received;
    - expired: cancelled by the parcel sweep (the ``expire`` event) after the expiry days without parcel news.
    The rest were cancelled by a person before any parcel arrived.
    """
    company = timezone.get_default_timezone()
    escalation_deadline = ExpressionWrapper(
        OuterRef("approved_at")
        + OuterRef("policy_version__parcel_escalation_days") * Value(timedelta(days=1), output_field=DurationField()),
        output_field=DateTimeField(),
    )
    events = ClaimEvent.objects.filter(claim=OuterRef("pk"))
    received = events.filter(action=ClaimAction.RECEIVE)
    rows = (
        Claim.objects.filter(approved_at__gte=start, is_returnless=False)
        .annotate(week=TruncWeek("approved_at", tzinfo=company))
        .values("week")
        .annotate(
            approved=Count("pk"),
            received=Count("pk", filter=Exists(received)),
            received_in_time=Count("pk", filter=Exists(received.filter(created_at__lte=escalation_deadline))),
            awaited=Count("pk", filter=Q(awaiting_parcel_since__isnull=False)),
            expired=Count(
                "pk", filter=Q(status=ClaimStatus.CANCELLED) & Exists(events.filter(action=ClaimAction.EXPIRE))
            ),
        )
        .order_by("week")
    )
    return {row["week"].date(): row for row in rows}


def _share(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


def weekly_report(weeks: int, now: datetime, *, raw: bool = False) -> list[dict]:
    """The last ``weeks`` ISO weeks, this one included, newest first; weeks without data show zeros.

    Where the daily summaries are kept (PostgreSQL, ``backoffice.summaries``), read from them after a sweep:
    a few hundred day rows, and the few claims and refunds still open counted live. Elsewhere, or ``raw``,
    the raw rows (``claim_weeks``, ``refund_weeks``, ``parcel_weeks``): the same figures.
    """
    from backoffice import summaries

    company = timezone.get_default_timezone()
    today = timezone.localtime(now, company).date()
    mondays = [today - timedelta(days=today.weekday() + 7 * n) for n in range(weeks)]
    start = timezone.make_aware(datetime.combine(mondays[-1], time.min), company)
    if summaries.in_use() and not raw:
        summaries.sweep()
        sunday = mondays[0] + timedelta(days=6)
        claims = summaries.sla_claim_weeks(mondays[-1], sunday, now)
        refunds = summaries.sla_refund_weeks(mondays[-1], sunday, now)
        parcels = summaries.sla_parcel_weeks(mondays[-1], sunday)
    else:
        claims, refunds, parcels = claim_weeks(start, now), refund_weeks(start, now), parcel_weeks(start)
    no_parcels = {"approved": 0, "received": 0, "received_in_time": 0, "awaited": 0, "expired": 0}
    report = []
    for monday in mondays:
        claim = claims.get(monday, {"received": 0, "judged": 0, "met": 0})
        refund = refunds.get(
            monday, {"started": 0, "target_judged": 0, "within_target": 0, "due_judged": 0, "within_due": 0}
        )
        year, week, _ = monday.isocalendar()
        report.append(
            {
                "week": f"{year}-W{week:02d}",
                "monday": monday,
                **{key: value for key, value in claim.items() if key != "week"},
                "met_share": _share(claim["met"], claim["judged"]),
                **{key: value for key, value in refund.items() if key != "week"},
                "target_share": _share(refund["within_target"], refund["target_judged"]),
                "due_share": _share(refund["within_due"], refund["due_judged"]),
                "parcels": {key: value for key, value in parcels.get(monday, no_parcels).items() if key != "week"},
            }
        )
    return report


def sla_report(request):
    """/admin/sla/: per week, claims answered within 24 h, refunds sent within 5 and 7 working days, and the
    return parcels of the claims approved that week.

    Managers only, as the dashboard and the exports (``backoffice.access.is_manager``).
    """
    if not is_manager(request.user):
        raise PermissionDenied
    try:
        weeks = int(request.GET.get("weeks", DEFAULT_WEEKS))
    except ValueError:
        weeks = DEFAULT_WEEKS
    if weeks not in WEEK_CHOICES:
        weeks = DEFAULT_WEEKS
    context = {
        **admin.site.each_context(request),
        "title": "SLA per week",
        "weeks": weeks,
        "week_choices": WEEK_CHOICES,
        "rows": weekly_report(weeks, timezone.now()),
        "first_response_hours": settings.SLA_FIRST_RESPONSE_HOURS,
        "target_days": settings.SLA_REFUND_TARGET_WORKING_DAYS,
        "due_days": settings.SLA_REFUND_DUE_WORKING_DAYS,
        # The published policy's; each claim is judged by its own version's days.
        "parcel_escalation_days": PolicyVersion._meta.get_field("parcel_escalation_days").get_default(),
        "parcel_expiry_days": PolicyVersion._meta.get_field("parcel_expiry_days").get_default(),
    }
    return TemplateResponse(request, "admin/sla_report.html", context)
