"""A claim's refund, its lines and its history.

Models hold data only: every write goes through ``refunds.services``, which
locks the refund row, checks ``refunds.states`` and the user's permission,
writes a ``RefundEvent`` and queues side effects on commit.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from core.events import Event
from returns import money
from returns.models import Claim, OrderLine


class RefundStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    AWAITING_SECOND_APPROVAL = "awaiting_second_approval", "Awaiting a second approval"
    APPROVED = "approved", "Approved, not sent yet"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Approved and never sent, or sent and failed: what finance must act on first.
OPEN_STATUSES = (
    RefundStatus.PROPOSED,
    RefundStatus.AWAITING_SECOND_APPROVAL,
    RefundStatus.APPROVED,
    RefundStatus.PROCESSING,
    RefundStatus.FAILED,
)
# "Once we receive and inspect your parcel ... within 5-7 working days": the refund SLA clock
# runs from the inspection (a returnless claim: its approval) until the money left (succeeded)
# or nobody owes it any more (cancelled). Finance's approval time is inside it, and a failed
# refund is still owed. See refunds/sla.py.
CLOCK_RUNNING_STATUSES = (
    RefundStatus.PROPOSED,
    RefundStatus.AWAITING_SECOND_APPROVAL,
    RefundStatus.APPROVED,
    RefundStatus.PROCESSING,
    RefundStatus.FAILED,
)
# The refunds queue's order, first what waits on finance or on the provider now: failed, then approved
# and not yet sent. Stored on the row (``Refund.queue_priority``) so an index serves the queue's sort.
QUEUE_ORDER = (
    RefundStatus.FAILED,
    RefundStatus.APPROVED,
    RefundStatus.PROCESSING,
    RefundStatus.AWAITING_SECOND_APPROVAL,
    RefundStatus.PROPOSED,
    RefundStatus.SUCCEEDED,
    RefundStatus.CANCELLED,
)
# The open refunds (OPEN_STATUSES) rank first: ``queue_priority < QUEUE_OPEN_BELOW`` is the queue's default
# filter as a range on its index.
QUEUE_OPEN_BELOW = len(OPEN_STATUSES)
# Still waiting for finance's decision: reminded while it waits (refunds/sla.py).
AWAITING_APPROVAL_STATUSES = (RefundStatus.PROPOSED, RefundStatus.AWAITING_SECOND_APPROVAL)
# Money promised to the customer: counted by the per-line ledger (returns/ledger.py) until cancelled.
COMMITTED_STATUSES = (
    RefundStatus.AWAITING_SECOND_APPROVAL,
    RefundStatus.APPROVED,
    RefundStatus.PROCESSING,
    RefundStatus.SUCCEEDED,
    RefundStatus.FAILED,
)


class RefundPurpose(models.TextChoices):
    """Why the claim is refunded; one refund per claim and purpose."""

    INSPECTION = "inspection", "After the inspection of the returned goods"
    RETURNLESS = "returnless", "Missing item, approved without a return"


class Provider(models.TextChoices):
    MANUAL = "manual", "Manual (finance pays elsewhere and enters the reference)"
    STRIPE = "stripe", "Stripe Refunds API"


class Refund(models.Model):
    # No index of its own: ``refund_unique_claim_purpose`` (claim, purpose) serves every lookup by claim.
    claim = models.ForeignKey(Claim, related_name="refunds", on_delete=models.PROTECT, db_index=False)
    purpose = models.CharField(max_length=16, choices=RefundPurpose.choices)
    # Stable for the refund's life: the provider's idempotency key is derived from it
    # (``idempotency_key``), so no retry, redelivery or second click can pay twice.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    currency = models.CharField(max_length=3, choices=money.CURRENCY_CHOICES)
    # Always recomputed from the lines by the service that changes them (``refunds.money.total``).
    total = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal(0))
    status = models.CharField(max_length=24, choices=RefundStatus.choices, default=RefundStatus.PROPOSED)
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.MANUAL)
    # The customer's payment the refund goes against (copied from the order when proposed).
    payment_reference = models.CharField(
        "customer's original payment",
        max_length=128,
        blank=True,
        help_text="The order's payment at the provider (from the store), which this refund pays back into.",
    )
    # Bumped when a person retries a failed refund: a new idempotency key for a new request.
    execution_round = models.PositiveIntegerField(default=1)
    provider_reference = models.CharField(
        "refund's reference",
        max_length=255,
        blank=True,
        help_text="This refund's own reference once sent: the provider's refund id, or the bank transfer's "
        "reference finance records for a manual payment.",
    )
    provider_status = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    failure_reason = models.TextField(blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    second_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set while one execution attempt holds the refund (a lease); cleared when it ends.
    processing_started_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    # The customer's clock: the claim's inspection, or its approval when returnless (set when proposed).
    clock_started_at = models.DateTimeField("refund clock started", null=True, blank=True)
    # "Processed within 5-7 working days": set when proposed (refunds/sla.py), recomputed
    # while the clock runs when the closure days change; kept afterwards for the SLA report.
    refund_target_at = models.DateTimeField("target (5 working days)", null=True, blank=True)
    refund_due_at = models.DateTimeField("due (7 working days)", null=True, blank=True)
    # Finance reminded that the refund waits for its approval (once).
    approval_reminded_at = models.DateTimeField(null=True, blank=True)
    sla_reminded_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    # The queue's sort key, a rank in QUEUE_ORDER: computed by the database from ``status`` on every write
    # (a stored generated column), so no service can forget it and an index serves the queue.
    queue_priority = models.GeneratedField(
        expression=models.Case(
            *(models.When(status=status, then=models.Value(rank)) for rank, status in enumerate(QUEUE_ORDER)),
            default=models.Value(len(QUEUE_ORDER)),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("approve_refund", "Can approve, retry, cancel refunds and record manual payments"),
            ("adjust_refund", "Can adjust a proposed refund's lines, with a reason"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["claim", "purpose"], name="refund_unique_claim_purpose"),
            models.CheckConstraint(condition=Q(total__gte=0), name="refund_total_not_negative"),
            models.CheckConstraint(
                condition=Q(second_approved_by__isnull=True) | ~Q(second_approved_by=F("approved_by")),
                name="refund_two_different_approvers",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="refund_status_updated"),
            # The refunds queue's order (refunds/admin.py), the primary key last as the admin adds it.
            models.Index(fields=["queue_priority", "created_at", "-id"], name="refund_queue_order"),
            # The dashboard's days (backoffice/summaries.py): paid, and the clock's start (the final approval).
            models.Index(fields=["succeeded_at"], condition=Q(status="succeeded"), name="refund_paid_at"),
            models.Index(Coalesce("second_approved_at", "approved_at"), name="refund_final_approval"),
            # The SLA page's refund weeks (backoffice/summaries.py): a day's recount, and the open refunds'
            # live count, by the clock's start.
            models.Index(fields=["clock_started_at"], name="refund_clock_started"),
            # The SLA sweep's two range queries, over the refunds whose clock runs only.
            models.Index(
                fields=["refund_target_at"],
                condition=Q(status__in=CLOCK_RUNNING_STATUSES),
                name="refund_target_running",
            ),
            models.Index(
                fields=["refund_due_at"], condition=Q(status__in=CLOCK_RUNNING_STATUSES), name="refund_due_running"
            ),
        ]

    def __str__(self):
        return f"Refund #{self.pk} ({self.claim.rma_number or f'claim {self.claim_id}'})"

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.key, self.execution_round)

    @property
    def sent_within_target(self) -> bool | None:
        """Sent within the 5 working days; None while not sent (or without a deadline)."""
        if self.succeeded_at is None or self.refund_target_at is None:
            return None
        return self.succeeded_at <= self.refund_target_at

    @property
    def sent_within_due(self) -> bool | None:
        if self.succeeded_at is None or self.refund_due_at is None:
            return None
        return self.succeeded_at <= self.refund_due_at


def idempotency_key(key, execution_round: int) -> str:
    """Sent with every provider call of a refund's current round: the same on every retry."""
    return f"rma-refund-{key}-{execution_round}"


class LineKind(models.TextChoices):
    GOODS = "goods", "Goods"
    RETURN_SHIPPING = "return_shipping", "Return shipping reimbursed"
    DEDUCTION = "deduction", "Deduction"


class RefundLine(models.Model):
    """One amount of the refund; ``amount`` is never negative, the kind gives the sign."""

    refund = models.ForeignKey(Refund, related_name="lines", on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    description = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=14, decimal_places=3)
    # The units of the order line a goods line refunds (the per-line ledger counts them).
    units = models.PositiveIntegerField(db_default=0)
    # A return-shipping line waits for finance to enter the amount from the customer's receipt.
    amount_to_enter = models.BooleanField(default=False)
    order_line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Why, in the customer's words: the inspection's deduction reason (the refund email quotes it). Finance's
    # reason for an adjustment is the adjustment event's, for staff only.
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["refund_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_line_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(kind=LineKind.GOODS, order_line__isnull=False) | ~Q(kind=LineKind.GOODS),
                name="refund_line_goods_has_order_line",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.signed_amount} ({self.description})"

    @property
    def signed_amount(self) -> Decimal:
        return -self.amount if self.kind == LineKind.DEDUCTION else self.amount


class RefundAction(models.TextChoices):
    """Every kind of change a refund's history records; words in templates/events/refundevent/."""

    PROPOSE = "propose", "Proposed"
    ADJUST = "adjust", "Adjusted"
    APPROVE = "approve", "Approved"
    APPROVE_FIRST_OF_TWO = "approve_first_of_two", "First of two approvals"
    SECOND_APPROVE = "second_approve", "Second approval"
    START = "start", "Sent to the provider"
    RESUME = "resume", "Sending resumed"
    AWAIT_MANUAL_PAYMENT = "await_manual_payment", "Waiting for the manual payment"
    ATTEMPT_FAILED = "attempt_failed", "Attempt failed, will retry"
    SUCCEED = "succeed", "Succeeded"
    FAIL = "fail", "Failed"
    RECORD_MANUAL_PAYMENT = "record_manual_payment", "Manual payment recorded"
    RETRY = "retry", "Retried"
    CANCEL = "cancel", "Cancelled"
    DEADLINES_RECOMPUTED = "deadlines_recomputed", "Deadlines recomputed"
    CLAIM_NOT_MARKED_REFUNDED = "claim_not_marked_refunded", "Claim not marked refunded"


class RefundEvent(Event):
    """One row per change to a refund: its audit trail, nobody edits it."""

    refund = models.ForeignKey(Refund, related_name="events", on_delete=models.CASCADE)
    action = models.CharField(max_length=40, choices=RefundAction.choices)

    class Meta(Event.Meta):
        ordering = ["refund_id", "id"]
