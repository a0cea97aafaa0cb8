"""Parcels: the customer's return parcel (in), parcels nobody can match (in), and ours (out)."""

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import Q

from returns.models import Claim


class ParcelCondition(models.TextChoices):
    INTACT = "intact", "Intact"
    BOX_DAMAGED = "box_damaged", "Outer box damaged"
    OPENED = "opened", "Opened or resealed"
    WET = "wet", "Wet or soiled"
    EMPTY = "empty", "Empty or contents missing"


class EnteredVia(models.TextChoices):
    CUSTOMER_LINK = "customer_link", "Customer, through the email link"
    STAFF = "staff", "Customer service, from the customer's email"
    WAREHOUSE = "warehouse", "Warehouse, at receipt (no tracking given)"


class ReturnParcel(models.Model):
    """The parcel a customer sends back for an approved claim: one per claim."""

    claim = models.OneToOneField(Claim, related_name="return_parcel", on_delete=models.PROTECT)
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True, db_index=True)
    sent_on = models.DateField(null=True, blank=True)
    entered_via = models.CharField(max_length=16, choices=EnteredVia.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now_add=True)
    received_at = models.DateTimeField(null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    condition = models.CharField(max_length=16, choices=ParcelCondition.choices, blank=True)
    receipt_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("receive_parcel", "Can receive return parcels")]
        indexes = [
            # The inspection queue: received parcels, oldest first.
            models.Index(fields=["received_at"], condition=Q(received_at__isnull=False), name="parcel_received_by_age"),
        ]

    def __str__(self):
        return f"{self.claim} {self.carrier} {self.tracking_number}".strip()


class UnmatchedReason(models.TextChoices):
    UNKNOWN_RMA = "unknown_rma", "Unknown RMA number"
    NO_RMA = "no_rma", "No RMA number on the parcel"
    NOT_APPROVED = "not_approved", "Claim not approved"
    CANCELLED = "cancelled", "Claim cancelled"
    ALREADY_RECEIVED = "already_received", "Claim's parcel already received"


class UnmatchedParcel(models.Model):
    """A parcel that arrived and matches no claim waiting for one: logged so nothing is lost."""

    scanned_code = models.CharField("scanned or typed code", max_length=64, blank=True)
    reason = models.CharField(max_length=20, choices=UnmatchedReason.choices)
    claim_found = models.ForeignKey(
        Claim, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="The claim the code named"
    )
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True)
    condition = models.CharField(max_length=16, choices=ParcelCondition.choices, blank=True)
    note = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    attached_to = models.ForeignKey(
        Claim, null=True, blank=True, on_delete=models.PROTECT, related_name="attached_unmatched_parcels"
    )
    attached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    attached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        permissions = [("attach_unmatchedparcel", "Can attach an unmatched parcel to a claim")]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(attached_to__isnull=True), name="unmatched_open_by_age"),
        ]

    def __str__(self):
        return f"Unmatched parcel {self.pk} ({self.get_reason_display()})"


def parcel_photo_path(instance, filename):
    return f"parcels/{uuid.uuid4().hex}{PurePosixPath(filename).suffix.lower()[:8]}"


class ParcelPhoto(models.Model):
    """A photo taken at receipt, of a matched or an unmatched parcel."""

    return_parcel = models.ForeignKey(
        ReturnParcel, null=True, blank=True, related_name="photos", on_delete=models.CASCADE
    )
    unmatched_parcel = models.ForeignKey(
        UnmatchedParcel, null=True, blank=True, related_name="photos", on_delete=models.CASCADE
    )
    file = models.FileField(upload_to=parcel_photo_path, max_length=255)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(return_parcel__isnull=False, unmatched_parcel__isnull=True)
                | Q(return_parcel__isnull=True, unmatched_parcel__isnull=False),
                name="parcel_photo_one_parcel",
            )
        ]

    def __str__(self):
        return self.original_name


class OutboundPurpose(models.TextChoices):
    REPLACEMENT = "replacement", "Replacement part or product"
    RETURN_TO_CUSTOMER = "return_to_customer", "Goods sent back after a failed warranty inspection"


class OutboundParcel(models.Model):
    """A parcel we send: a replacement, or the customer's goods back at the customer's cost."""

    claim = models.ForeignKey(Claim, related_name="outbound_parcels", on_delete=models.PROTECT)
    purpose = models.CharField(max_length=20, choices=OutboundPurpose.choices)
    serial_numbers = models.JSONField(default=list, blank=True)
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    shipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["claim", "purpose"], name="outbound_one_per_claim_purpose"),
        ]
        indexes = [
            # The staff search box finds a claim by its replacement's tracking number (backoffice/search.py).
            models.Index(fields=["tracking_number"], condition=~Q(tracking_number=""), name="outbound_tracking"),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} for {self.claim}"
