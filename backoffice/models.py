"""The back-office's own rows: exports stored for their owner until their lifetime ends, heartbeats, the last
"needs attention" check, and the dashboard's daily summaries (``backoffice/summaries.py``) with the log of days to count again.

Summaries are derived data only, never typed: ``summaries.sweep()`` recounts a day's rows from the raw
claims, refunds and orders, and ``manage.py rebuild_summaries`` recounts them all. A row with no
``product_id`` counts every claim (refund) of its group; a row with one counts those with an item of that
product, so a SKU filter reads its own rows and a claim with two SKUs is not counted twice.

The module also makes Django send post_migrate for this app (see apps.py).
"""

from django.conf import settings
from django.db import models


class StoredExport(models.Model):
    """A large export's file, reached by its owner's emailed link until ``expires_at``; then deleted by beat.

    A failed export has no file and the reason in ``error`` (its owner was emailed it).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.file.name or f"failed export {self.pk}"


class Heartbeat(models.Model):
    """When a periodic process last proved alive: beat's ``beat_heartbeat`` task writes ``beat`` every minute,
    and the full health check fails when it is older than ``HEALTH_BEAT_MAX_AGE_SECONDS`` (backoffice/health.py)."""

    name = models.CharField(primary_key=True, max_length=40)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at.isoformat()}"


class AttentionCheck(models.Model):
    """The last run of ``reconcile.needs_attention`` (by the reconcile beat task, or a person's "Check again").

    Each of its checks reads whole tables (every refunded claim, every order line refunded), seconds at a
    million claims: the "Needs attention" page shows this row instead of running them (issue 17). Only the
    newest is kept.
    """

    checked_at = models.DateTimeField()
    took_ms = models.PositiveIntegerField()
    # [{"kind", "subject", "url", "problem"}]: ``reconcile.Mismatch`` as found.
    items = models.JSONField(default=list)

    def __str__(self):
        return f"attention check at {self.checked_at.isoformat()}: {len(self.items)} item(s)"


class SummaryDirty(models.Model):
    """A moment (or a day) whose company-local day must be counted again.

    Appended by PostgreSQL triggers (migration ``0003_summaries``) on every write that changes what a
    summary counts, in the writer's own transaction, whatever wrote it (a service, a bulk update, the
    seed); emptied by ``summaries.sweep()``. Rows, not a unique day: concurrent writers never wait on
    each other here.
    """

    at = models.DateTimeField(null=True)
    on_day = models.DateField(null=True)

    def __str__(self):
        return f"count again: {self.at or self.on_day}"


class ClaimDay(models.Model):
    """Claims made (``submitted_at``) on a company-local day, by type, reason and category."""

    day = models.DateField()
    product_id = models.BigIntegerField(null=True)
    claim_type = models.CharField(max_length=16)
    doa_reason = models.CharField(max_length=16)
    is_electronic = models.BooleanField(null=True)
    claims = models.PositiveIntegerField()
    # Units of the product claimed (product rows only).
    units = models.PositiveIntegerField(null=True)
    # First response given (``first_response_met`` set), and given within 24 hours.
    answered = models.PositiveIntegerField()
    met = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["day"], condition=models.Q(product_id__isnull=True), name="claimday_all"),
            models.Index(fields=["product_id", "day"], name="claimday_product"),
            models.Index(fields=["day", "product_id"], name="claimday_day_product"),
        ]

    def __str__(self):
        return f"{self.day}: {self.claims} claims"


class SoldDay(models.Model):
    """Units sold: order lines' quantities per product, by the day the order was received."""

    day = models.DateField()
    product_id = models.BigIntegerField()
    units = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "product_id"], name="soldday_day_product")]

    def __str__(self):
        return f"{self.day}: {self.units} units"


class ClaimMonth(models.Model):
    """``ClaimDay``'s product rows summed per calendar month (``month``: its first day): a period of two years
    reads 24 months and the days at its edges, not 730 days of every product."""

    month = models.DateField()
    product_id = models.BigIntegerField()
    claim_type = models.CharField(max_length=16)
    doa_reason = models.CharField(max_length=16)
    is_electronic = models.BooleanField(null=True)
    claims = models.PositiveIntegerField()
    units = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "product_id"], name="claimmonth_month_product")]

    def __str__(self):
        return f"{self.month:%Y-%m}: {self.claims} claims"


class SoldMonth(models.Model):
    """``SoldDay`` summed per calendar month, for the same reason."""

    month = models.DateField()
    product_id = models.BigIntegerField()
    units = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "product_id"], name="soldmonth_month_product")]

    def __str__(self):
        return f"{self.month:%Y-%m}: {self.units} units"


class RefundPaidDay(models.Model):
    """Refunds that succeeded (``succeeded_at``) on a day, per currency and their claim's type and category."""

    day = models.DateField()
    product_id = models.BigIntegerField(null=True)
    currency = models.CharField(max_length=3)
    claim_type = models.CharField(max_length=16)
    is_electronic = models.BooleanField(null=True)
    refunds = models.PositiveIntegerField()
    total = models.DecimalField(max_digits=18, decimal_places=3)
    # Of those, the refunds whose claim has an ``approve`` event, and the sum of microseconds from the
    # claim's first approval to the refund's success (the average's numerator, exact).
    approved = models.PositiveIntegerField()
    approval_to_paid_us = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["day"], condition=models.Q(product_id__isnull=True), name="refundpaidday_all"),
            models.Index(fields=["product_id", "day"], name="refundpaidday_product"),
            # The sweep reads and rewrites a day's rows, the products' too (summaries._put).
            models.Index(fields=["day", "product_id"], name="refundpaidday_day_product"),
        ]

    def __str__(self):
        return f"{self.day}: {self.refunds} refunds"


class RefundClockDay(models.Model):
    """Refunds (not cancelled, with a deadline) whose clock started on a day: the final approval
    (``second_approved_at``, else ``approved_at``); sent, and sent by the 5- and 7-working-day deadlines."""

    day = models.DateField()
    product_id = models.BigIntegerField(null=True)
    claim_type = models.CharField(max_length=16)
    is_electronic = models.BooleanField(null=True)
    refunds = models.PositiveIntegerField()
    sent = models.PositiveIntegerField()
    within_target = models.PositiveIntegerField()
    within_due = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["day"], condition=models.Q(product_id__isnull=True), name="refundclockday_all"),
            models.Index(fields=["product_id", "day"], name="refundclockday_product"),
            # The sweep reads and rewrites a day's rows, the products' too (summaries._put).
            models.Index(fields=["day", "product_id"], name="refundclockday_day_product"),
        ]

    def __str__(self):
        return f"{self.day}: {self.refunds} refunds"


class RefundStartDay(models.Model):
    """The SLA page's refunds (``backoffice/sla.py``): not cancelled, with a deadline, by the company-local day
    their clock started (``clock_started_at``: the inspection, or a returnless approval); sent, and sent by the
    5- and 7-working-day deadlines. Those still unsent are judged at the moment of viewing, not stored."""

    day = models.DateField(unique=True)
    refunds = models.PositiveIntegerField()
    sent = models.PositiveIntegerField()
    within_target = models.PositiveIntegerField()
    within_due = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.day}: {self.refunds} refund clocks started"


class ParcelDay(models.Model):
    """The SLA page's return parcels: claims approved with a return (not returnless), by the company-local day
    of their approval (``approved_at``). Received (a ``receive`` event), received within the escalation days of
    the claim's policy version, still awaited (``awaiting_parcel_since``), expired (cancelled, with an
    ``expire`` event)."""

    day = models.DateField(unique=True)
    approved = models.PositiveIntegerField()
    received = models.PositiveIntegerField()
    received_in_time = models.PositiveIntegerField()
    awaited = models.PositiveIntegerField()
    expired = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.day}: {self.approved} claims approved with a return"
