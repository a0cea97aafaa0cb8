"""Orders as the store knows them, claims against them, and their history.

Models hold data only: every write that changes a claim goes through
``returns.services``, which locks, checks, audits and queues side effects.
"""

import secrets
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_noop as _

from core.events import Event
from returns import money


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=255)
    # The policy gives electronic products shorter windows. None: not known yet (a store's export carries no
    # category); a claim on such a product waits for someone to set it before the policy can judge it.
    is_electronic = models.BooleanField("electronic product", null=True, blank=True, default=None)

    class Meta:
        ordering = ["sku"]
        permissions = [
            (
                "set_product_category",
                "Can set a product's category (electronic or not) while none of its claims is approved",
            ),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"

    @property
    def category(self) -> str:
        """The category in words: "electronic", "not electronic" or "unknown"."""
        return category_words(self.is_electronic)


def category_words(electronic: bool | None) -> str:
    """A product's or a claim's category as people read it; None (not known yet) is "unknown"."""
    return {True: "electronic", False: "not electronic"}.get(electronic, "unknown")


class ReceivedDateSource(models.TextChoices):
    """Where the day the customer received the goods came from: every policy window counts from it."""

    STORE = "store", "the store's export"
    CARRIER = "carrier", "the carrier's delivery event"
    CUSTOMER_PROOF = "customer_proof", "the customer's proof"
    STAFF = "staff", "entered by staff"


class Order(models.Model):
    number = models.CharField("order number", max_length=64, unique=True)
    customer_email = models.EmailField()
    customer_name = models.CharField(max_length=255)
    # Every policy window counts from this day; unknown until a source gives it. It changes
    # only through ``returns.services.order_set_received_on`` (who, old and new day, source, reason).
    # Indexed: units sold are counted by this day (the dashboard's summaries recount a day's orders).
    received_on = models.DateField("received on", null=True, blank=True, db_index=True)
    received_on_source = models.CharField(
        "received date from", max_length=16, choices=ReceivedDateSource.choices, blank=True, db_default=""
    )
    # The store cancelled the order: nothing of it is refundable by us.
    cancelled_at = models.DateTimeField("cancelled by the store", null=True, blank=True)
    # What the store itself paid back on the whole order, as it reports it (its export's "Refunded Amount"):
    # the ledger keeps every refund of ours within what was paid less this (returns/ledger.py).
    store_refunded_total = models.DecimalField("refunded by the store", max_digits=14, decimal_places=3, db_default=0)
    # The store's notes on the order, kept as text.
    note = models.TextField("store's note", blank=True, db_default="")
    # The store's own time of the version last applied: an older update arriving late is not applied.
    store_updated_at = models.DateTimeField(null=True, blank=True)
    # The payment provider's id of the customer's payment (e.g. a Stripe PaymentIntent), refunds go against it.
    payment_reference = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [
            (
                "change_received_date_after_approval",
                "Can change an order's received date after a claim on it was approved",
            ),
        ]
        # An order is looked up by number and email as the customer or a person types them, in any case
        # (``number__iexact``, ``customer_email__iexact``: the portal, the inbox, the orders' search), which
        # PostgreSQL reads as ``upper(column)``: only an index on that expression serves it.
        indexes = [
            models.Index(Upper("number"), name="order_number_any_case"),
            models.Index(Upper("customer_email"), name="order_email_any_case"),
        ]

    def __str__(self):
        return self.number


class OrderLine(models.Model):
    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="order_lines", on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=3)
    currency = models.CharField(max_length=3, choices=money.CURRENCY_CHOICES)
    # Serial numbers where the store knows them, one per unit.
    serial_numbers = models.JSONField(default=list, blank=True)
    # What the store itself paid back on this line (its own refunds): counted by the ledger
    # (``returns.ledger``), so we never refund it again.
    store_refunded_quantity = models.PositiveIntegerField("units refunded by the store", db_default=0)
    store_refunded_amount = models.DecimalField(
        "amount refunded by the store", max_digits=14, decimal_places=3, db_default=0
    )

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="order_line_unique_product"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="order_line_price_not_negative"),
            models.CheckConstraint(
                condition=Q(store_refunded_quantity__lte=models.F("quantity")),
                name="order_line_store_refund_within_quantity",
            ),
            models.CheckConstraint(condition=Q(store_refunded_amount__gte=0), name="order_line_store_refund_positive"),
        ]

    def __str__(self):
        return f"{self.order.number} · {self.product.sku} × {self.quantity}"

    @property
    def paid(self):
        """What the customer paid for the whole line."""
        return money.quantize(self.unit_price * self.quantity, self.currency)


def default_return_shipping_cap() -> dict:
    """A typical tracked parcel's price, per currency: above it a second person checks the receipt."""
    return {
        "AUD": "45", "CAD": "40", "CHF": "30", "CNY": "200", "CZK": "700", "DKK": "200", "EUR": "30",
        "GBP": "25", "HKD": "230", "JPY": "4500", "KRW": "40000", "KWD": "9", "NOK": "330", "NZD": "50",
        "PLN": "130", "SEK": "330", "SGD": "40", "USD": "30",
    }  # fmt: skip


class PolicyVersion(models.Model):
    """The policy's numbers, versioned: a claim is judged by the version in force when made."""

    effective_from = models.DateTimeField(unique=True)
    doa_days = models.PositiveIntegerField(default=7)
    no_reason_days = models.PositiveIntegerField(default=45)
    no_reason_electronic_days = models.PositiveIntegerField(default=30)
    warranty_months = models.PositiveIntegerField(default=24)
    warranty_electronic_months = models.PositiveIntegerField(default=12)
    # The policy text only puts return shipping on the customer when a
    # no-reason return fails inspection; what happens when it passes is ours to set.
    no_reason_return_shipping_reimbursed = models.BooleanField(default=False)
    # Reimbursed return shipping above this amount (per currency, from the customer's receipt)
    # needs a second finance approval; a currency missing here always does.
    return_shipping_cap = models.JSONField(default=default_return_shipping_cap, blank=True)
    # An approved claim whose parcel has not arrived: the customer is reminded (with the tracking
    # link) after this many days, customer service is told after that many, and a claim still
    # without any parcel news is cancelled after the last (docs/claims.md).
    parcel_reminder_days = models.PositiveIntegerField(default=7)
    parcel_escalation_days = models.PositiveIntegerField(default=14)
    parcel_expiry_days = models.PositiveIntegerField(default=30)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-effective_from"]
        get_latest_by = "effective_from"

    def __str__(self):
        return f"Policy from {self.effective_from:%d %b %Y}"


# The claim type's and DOA reason's labels reach customers' emails: marked for the catalogue (gettext_noop keeps them
# plain strings for the exports and the admin); the emails translate them with {% translate %}.
class ClaimType(models.TextChoices):
    DOA = "doa", _("DOA return (7 days)")
    NO_REASON = "no_reason", _("No-reason return")
    WARRANTY = "warranty", _("Warranty")


class DoaReason(models.TextChoices):
    WRONG_ITEM = "wrong_item", _("Wrong item received")
    MISSING_ITEM = "missing_item", _("Missing item")
    DAMAGE = "damage", _("Physical damage or scratch")
    QUALITY_ISSUE = "quality_issue", _("Quality issue or cannot be used")


class ClaimStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AWAITING_CUSTOMER = "awaiting_customer", "Awaiting customer"
    APPROVED = "approved", "Approved"
    SHIPPED = "shipped", "Shipped by customer"
    INSPECTED = "inspected", "Inspected"
    REFUNDED = "refunded", "Refunded"
    REPLACED = "replaced", "Replaced"
    RESOLVED = "resolved", "Resolved by troubleshooting"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (
    ClaimStatus.REQUESTED,
    ClaimStatus.AWAITING_CUSTOMER,
    ClaimStatus.APPROVED,
    ClaimStatus.SHIPPED,
    ClaimStatus.INSPECTED,
)


def new_reply_token() -> str:
    """The claim's reply token: 24 random hex digits (96 bits; lower case survives mail servers that fold
    addresses), never the primary key."""
    return secrets.token_hex(12)


class Claim(models.Model):
    order = models.ForeignKey(Order, related_name="claims", on_delete=models.PROTECT)
    # Copied from the order so the admin's search is one indexed OR on one table (indexes in Meta).
    order_number = models.CharField("order number", max_length=64)
    customer_email = models.EmailField()
    claim_type = models.CharField("type", max_length=16, choices=ClaimType.choices)
    doa_reason = models.CharField("DOA reason", max_length=16, choices=DoaReason.choices, blank=True)
    description = models.TextField("customer's description")
    status = models.CharField(max_length=24, choices=ClaimStatus.choices, default=ClaimStatus.REQUESTED)
    # True when any claimed item is electronic: the shorter windows apply. None while a claimed product's
    # category is unknown (and none is electronic): the policy cannot judge the claim yet.
    is_electronic = models.BooleanField("electronic", null=True, blank=True, default=False)
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT)
    submitted_at = models.DateTimeField("claim made at")
    rma_number = models.CharField("RMA number", max_length=20, unique=True, null=True, blank=True)
    is_returnless = models.BooleanField("returnless", default=False)
    returnless_reason = models.TextField(blank=True)
    window_override_reason = models.TextField(blank=True)
    rejection_reason = models.TextField(blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    # The approved claim waits for its return parcel from approval until the warehouse receives
    # it (None otherwise); the markers make each reminder happen once (returns/sla.py).
    awaiting_parcel_since = models.DateTimeField("waiting for the parcel since", null=True, blank=True)
    parcel_reminded_at = models.DateTimeField(null=True, blank=True)
    parcel_escalated_at = models.DateTimeField(null=True, blank=True)
    # Makes a double-submitted form create one claim, not two.
    submission_key = models.UUIDField(unique=True, null=True, blank=True, editable=False)
    # The customer's language (a code of settings.LANGUAGES, taken from the browser on the customer's pages):
    # every later email to the customer is written in it. Blank: the site's default (claims typed in by staff).
    language = models.CharField("customer's language", max_length=16, blank=True, db_default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The 24-hour first response (returns/sla.py): due while the ball is in our court,
    # None while the claim waits on the customer or is answered; the markers make
    # each reminder and each escalation happen once per running clock.
    first_response_due_at = models.DateTimeField("first response due", null=True, blank=True)
    first_response_met = models.BooleanField("first response within 24 h", null=True, blank=True)
    sla_reminded_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # --- The claim's email thread (inbox, docs/inbox.md) ---
    # In the Reply-To of every email to the customer (support+<token>@…): their reply finds this claim.
    # Unguessable, so a stranger cannot write into someone's claim by its number.
    reply_token = models.CharField(max_length=24, default=new_reply_token, editable=False)  # unique: Meta
    # The customer's last email on this claim and its References: our next email threads with it.
    customer_last_message_id = models.CharField(max_length=255, blank=True, db_default="")
    customer_thread_references = models.TextField(blank=True, db_default="")

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("triage_claim", "Can triage claims (ask, resolve, approve, reject, cancel)"),
            ("override_claim_window", "Can approve a claim outside its policy window"),
            ("change_claim_time_after_approval", "Can change when a claim was made after it was approved"),
        ]
        indexes = [
            models.Index(fields=["status", "-id"], name="claim_status_recent"),
            # The search's exact matches (``backoffice.search``, the claim list). One plain index each: the
            # ``db_index`` of a text column also builds a second, ``varchar_pattern_ops`` one for ``LIKE``,
            # which no lookup here makes and every non-HOT update of a claim (a status change) writes.
            models.Index(fields=["order_number"], name="claim_order_number"),
            models.Index(fields=["customer_email"], name="claim_customer_email"),
            # The dashboard and the "made" filter select claims by when they arrived.
            models.Index(fields=["submitted_at"], name="claim_submitted_at"),
            # The dashboard's live count of claims still unanswered (backoffice/summaries.py): a few rows.
            models.Index(
                fields=["submitted_at"], condition=Q(first_response_met__isnull=True), name="claim_unanswered_made"
            ),
            # The SLA report's parcels, by the week of approval.
            models.Index(fields=["approved_at"], name="claim_approved_at"),
            # The SLA sweep's range query touches only claims whose clock runs.
            models.Index(
                fields=["first_response_due_at"],
                condition=Q(first_response_due_at__isnull=False),
                name="claim_first_response_due",
            ),
            # The parcel sweep and the "waiting for the parcel" filter: claims whose parcel is awaited.
            models.Index(
                fields=["awaiting_parcel_since"],
                condition=Q(awaiting_parcel_since__isnull=False),
                name="claim_awaiting_parcel",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(claim_type=ClaimType.DOA, doa_reason__gt="")
                | (~Q(claim_type=ClaimType.DOA) & Q(doa_reason="")),
                name="claim_doa_reason_iff_doa",
            ),
            models.CheckConstraint(
                condition=Q(is_returnless=False) | Q(doa_reason=DoaReason.MISSING_ITEM),
                name="claim_returnless_only_missing_item",
            ),
            # A constraint, not ``unique=True``: the same unique index without the ``LIKE`` one beside it.
            models.UniqueConstraint(fields=["reply_token"], name="claim_unique_reply_token"),
        ]

    def __str__(self):
        return self.rma_number or f"Claim #{self.pk}"


class ClaimItem(models.Model):
    claim = models.ForeignKey(Claim, related_name="items", on_delete=models.CASCADE)
    order_line = models.ForeignKey(OrderLine, related_name="claim_items", on_delete=models.PROTECT)
    # The units of the line this claim takes (a customer may return 1 of 3).
    quantity = models.PositiveIntegerField("units")
    serial_number = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["claim", "order_line"], name="claim_item_unique_line"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="claim_item_quantity_positive"),
        ]
        indexes = [
            # The staff search box finds a claim by the serial number the customer gave (backoffice/search.py).
            models.Index(fields=["serial_number"], condition=~Q(serial_number=""), name="claim_item_serial"),
        ]

    def __str__(self):
        return f"{self.order_line.product.sku} × {self.quantity}"

    @property
    def paid(self):
        """What the customer paid for the claimed units, in the order line's currency."""
        return money.quantize(self.order_line.unit_price * self.quantity, self.order_line.currency)


def evidence_path(instance, filename):
    """A fresh name per upload: no file ever overwrites another."""
    suffix = PurePosixPath(filename).suffix.lower()[:8]
    return f"evidence/{instance.claim_id}/{uuid.uuid4().hex}{suffix}"


def thumbnail_path(instance, filename):
    return f"evidence/{instance.claim_id}/thumbs/{uuid.uuid4().hex}.jpg"


class EvidenceKind(models.TextChoices):
    PHOTO = "photo", "Photo"
    VIDEO = "video", "Video"


class Evidence(models.Model):
    claim = models.ForeignKey(Claim, related_name="evidence", on_delete=models.CASCADE)
    file = models.FileField(upload_to=evidence_path, max_length=255)
    thumbnail = models.ImageField(upload_to=thumbnail_path, max_length=255, blank=True)
    kind = models.CharField(max_length=8, choices=EvidenceKind.choices)
    content_type = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    original_name = models.CharField(max_length=255)
    # The policy requires "the picture of the entire package/box" for every claim.
    shows_whole_package = models.BooleanField("shows the whole package", default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    # The thumbnail task's attempts and its last error; the sweep stops after THUMBNAIL_MAX_ATTEMPTS.
    thumbnail_attempts = models.PositiveSmallIntegerField(db_default=0)
    thumbnail_error = models.TextField(blank=True, db_default="")

    class Meta:
        ordering = ["claim_id", "id"]
        verbose_name_plural = "evidence"
        indexes = [
            # The thumbnail sweep: photos still without a thumbnail, oldest first (a handful, among millions).
            models.Index(
                fields=["uploaded_at"],
                condition=models.Q(kind="photo", thumbnail=""),
                name="evidence_thumbnail_missing",
            )
        ]

    def __str__(self):
        return self.original_name


class ClaimAction(models.TextChoices):
    """Every kind of change a claim's history records; each has its words in templates/events/claimevent/."""

    CREATE = "create", "Claim created"
    ASK_FOR_INFORMATION = "ask_for_information", "Asked the customer"
    RECORD_CUSTOMER_ANSWER = "record_customer_answer", "Customer's answer recorded"
    RESOLVE = "resolve", "Resolved by troubleshooting"
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    CANCEL = "cancel", "Cancelled"
    EXPIRE = "expire", "Expired: no parcel"
    SHIP = "ship", "Return parcel sent"
    RECEIVE = "receive", "Return parcel received"
    INSPECT = "inspect", "Inspected"
    REJECT_AFTER_INSPECTION = "reject_after_inspection", "Rejected after inspection"
    REFUND = "refund", "Refunded"
    REPLACE = "replace", "Replaced"
    ADD_EVIDENCE = "add_evidence", "Evidence added"
    ATTACH_MESSAGE = "attach_message", "Customer's message attached"
    REPLY_SENT = "reply_sent", "Customer service wrote to the customer"
    EVIDENCE_MARKED = "evidence_marked", "Evidence marked as the whole package"
    RECEIVED_DATE_CHANGED = "received_date_changed", "Received date changed"
    SUBMITTED_AT_CHANGED = "submitted_at_changed", "Claim time changed"
    SLA_REMINDED = "sla_reminded", "First response due soon"
    SLA_BREACHED = "sla_breached", "First response overdue"
    PARCEL_REMINDED = "parcel_reminded", "Customer reminded to send the parcel"
    PARCEL_ESCALATED = "parcel_escalated", "Parcel overdue: customer service told"
    INSPECTION_STARTED = "inspection_started", "Inspection started"
    INSPECTION_RECORDED = "inspection_recorded", "Inspection recorded"
    INSPECTION_PHOTO_ADDED = "inspection_photo_added", "Inspection photo added"
    OUTBOUND_SHIPPED = "outbound_shipped", "Parcel to the customer shipped"
    UNMATCHED_PARCEL_ATTACHED = "unmatched_parcel_attached", "Unmatched parcel attached"
    REFUND_APPROVAL_REMINDED = "refund_approval_reminded", "Refund waiting for approval"
    REFUND_SLA_REMINDED = "refund_sla_reminded", "Refund at its 5-working-day target"
    REFUND_SLA_BREACHED = "refund_sla_breached", "Refund past its 7 working days"
    RECONCILED = "reconciled", "Put right by the reconciliation"
    CATEGORY_SET = "category_set", "Product category set"


class ClaimEvent(Event):
    """One row per change to a claim: the audit trail nobody edits."""

    claim = models.ForeignKey(Claim, related_name="events", on_delete=models.CASCADE)
    action = models.CharField(max_length=40, choices=ClaimAction.choices)

    class Meta(Event.Meta):
        ordering = ["claim_id", "id"]
        # A claim's event of one kind, found by index: the SLA page's parcels received (in time) and expired
        # (backoffice/sla.py: parcel_weeks), the dashboard's first approval.
        indexes = [models.Index(fields=["action", "claim", "created_at"], name="claimevent_action_claim")]


class OrderAction(models.TextChoices):
    RECEIVED_DATE_CHANGED = "received_date_changed", "Received date changed"


class OrderEvent(Event):
    """Changes to an order made here (the store's own data aside): the received date, with its source."""

    order = models.ForeignKey(Order, related_name="events", on_delete=models.CASCADE)
    action = models.CharField(max_length=40, choices=OrderAction.choices)

    class Meta(Event.Meta):
        ordering = ["order_id", "id"]


class ProductAction(models.TextChoices):
    CATEGORY_SET = "category_set", "Category set"


class ProductEvent(Event):
    """A product's category set or changed (``services.product_set_category``): who, old and new, why."""

    product = models.ForeignKey(Product, related_name="events", on_delete=models.CASCADE)
    action = models.CharField(max_length=40, choices=ProductAction.choices)

    class Meta(Event.Meta):
        ordering = ["product_id", "id"]


class ClosureDay(models.Model):
    """A day the company is closed: not a working day for refund deadlines (entered by managers)."""

    day = models.DateField(unique=True)
    reason = models.CharField(max_length=255)

    class Meta:
        ordering = ["day"]

    def __str__(self):
        return f"{self.day:%Y-%m-%d} {self.reason}"


class ClosureDayAction(models.TextChoices):
    ADDED = "added", "Closure day added"
    CHANGED = "changed", "Closure day changed"
    DELETED = "deleted", "Closure day deleted"


class ClosureDayEvent(Event):
    """The calendar's history: a closure day moves refund deadlines, so who changed it matters."""

    # Kept after the day is deleted: the payload names the day.
    closure_day = models.ForeignKey(ClosureDay, null=True, blank=True, related_name="+", on_delete=models.SET_NULL)
    action = models.CharField(max_length=40, choices=ClosureDayAction.choices)

    class Meta(Event.Meta):
        ordering = ["id"]


class RmaSequence(models.Model):
    """The last RMA number given per year; locked while the next is taken."""

    year = models.PositiveIntegerField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_value}"


class EmailStatus(models.TextChoices):
    READY = "ready", "Ready"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboundEmail(models.Model):
    """An email to a customer, written with the change that causes it; also our outbox."""

    claim = models.ForeignKey(Claim, related_name="emails", null=True, blank=True, on_delete=models.CASCADE)
    template = models.CharField(max_length=64)
    to = models.EmailField()
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField()
    status = models.CharField(max_length=8, choices=EmailStatus.choices, default=EmailStatus.READY)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Threading (docs/inbox.md): our Message-ID, given when the row is written (a retried send keeps it),
    # the customer's message it answers, and the Reply-To that leads back to the claim.
    message_id = models.CharField(max_length=255, blank=True, db_default="")
    in_reply_to = models.CharField(max_length=255, blank=True, db_default="")
    references = models.TextField(blank=True, db_default="")
    reply_to = models.CharField(max_length=255, blank=True, db_default="")
    # Written by a person (a free reply), not by the software: sent without "Auto-Submitted".
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["updated_at"], condition=Q(status="ready"), name="email_ready_by_age"),
            # The emails' search (``=to``: the address in any case).
            models.Index(Upper("to"), name="email_to_any_case"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["message_id"], condition=~Q(message_id=""), name="outbound_email_unique_message_id"
            ),
        ]

    def __str__(self):
        return f"{self.subject} → {self.to}"


def outbound_attachment_path(instance, filename):
    suffix = PurePosixPath(filename).suffix.lower()[:8]
    return f"outbound/{instance.email_id}/{uuid.uuid4().hex}{suffix}"


class OutboundAttachment(models.Model):
    """A file customer service attached to a free reply; sent with its email."""

    email = models.ForeignKey(OutboundEmail, related_name="attachments", on_delete=models.CASCADE)
    file = models.FileField(upload_to=outbound_attachment_path, max_length=255)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size_bytes = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["email_id", "id"]

    def __str__(self):
        return self.name
