"""The refund clock: "You will get the full refund ... once we receive and inspect your parcel
... the refund will be processed within 5-7 working days".

The customer's clock starts when the parcel passes inspection (a returnless claim: when it is
approved): ``Refund.clock_started_at``, set when the refund is proposed, from the claim's
inspection (or approval) moment. Finance's own approval time is inside the promise.

Working days are ``returns.workdays``' (the ``holidays`` package's calendar for
``SLA_HOLIDAYS_COUNTRY``/``SLA_HOLIDAYS_SUBDIVISION`` less the company's closure
days), counted from the company-local day the clock started, that day being
day 0. The target is the end of the 5th working day after it
(``SLA_REFUND_TARGET_WORKING_DAYS``), the deadline the end of the 7th
(``SLA_REFUND_DUE_WORKING_DAYS``).

How the clock behaves in each state:
- proposed, awaiting_second_approval: running. Finance is reminded once the refund has
  waited ``SLA_REFUND_APPROVAL_REMIND_WORKING_DAYS`` working days for its approval, and the
  target and deadline reminders apply as in every running state.
- approved, processing: running (the provider or finance's manual payment has it).
- failed: running. The money is still owed; a person's retry (back to approved)
  keeps the same deadlines, it does not restart the clock.
- succeeded: stopped. ``succeeded_at`` against the stored target and deadline
  says whether it was sent within 5 and within 7 working days (the SLA report).
- cancelled: stopped; nothing owed, not counted in the report.
While it runs, adding, changing or deleting a closure day recomputes the
deadlines from the clock's start (``services.refund_deadlines_recompute``).
"""

from datetime import date, datetime

from django.conf import settings
from django.utils import timezone

from returns.workdays import add_working_days


def deadlines(
    started: datetime, cache: dict[date, tuple[datetime, datetime]] | None = None
) -> tuple[datetime, datetime]:
    """(target, due) for a clock started at ``started``; ``cache`` shares the work between refunds of one day."""
    day = timezone.localtime(started, timezone.get_default_timezone()).date()
    if cache is not None and day in cache:
        return cache[day]
    result = (
        add_working_days(started, settings.SLA_REFUND_TARGET_WORKING_DAYS),
        add_working_days(started, settings.SLA_REFUND_DUE_WORKING_DAYS),
    )
    if cache is not None:
        cache[day] = result
    return result


def start_clock(refund, moment: datetime) -> None:
    """When proposed, from the inspection (or returnless approval) ``moment``; the caller saves the refund."""
    refund.clock_started_at = moment
    refund.refund_target_at, refund.refund_due_at = deadlines(moment)
    refund.sla_reminded_at = refund.sla_breached_at = refund.approval_reminded_at = None


def approval_reminder_at(refund) -> datetime:
    """When finance is reminded that a refund still waits for its approval."""
    return add_working_days(refund.clock_started_at, settings.SLA_REFUND_APPROVAL_REMIND_WORKING_DAYS)
