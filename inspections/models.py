"""The inspection of each returned item against the policy's checklist."""

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import Q

from returns.models import ClaimItem


class Outcome(models.TextChoices):
    FULL_REFUND_WITH_SHIPPING = "full_refund_with_shipping", "Full refund plus return-shipping reimbursement"
    FULL_REFUND = "full_refund", "Full refund"
    REDUCED_REFUND = "reduced_refund", "Refund with a deduction; return shipping on the customer"
    REPLACEMENT = "replacement", "Part or product replaced"
    RETURN_TO_CUSTOMER = "return_to_customer", "Rejected: goods sent back at the customer's cost"


class Inspection(models.Model):
    """One per returned item. The checklist is the policy's: "All returned items must be in new
    condition, in the original packaging, must not have any installation marks or signs of use,
    and must be sealed in the original packaging with the label"; the warranty adds the defect and
    whether "human or physical damage" caused it. A None answer is not yet checked.
    """

    claim_item = models.OneToOneField(ClaimItem, related_name="inspection", on_delete=models.PROTECT)
    inspector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_new_unused = models.BooleanField("new, no signs of use", null=True)
    original_packaging_sealed = models.BooleanField("sealed in the original packaging", null=True)
    label_present = models.BooleanField("label present", null=True)
    no_installation_marks = models.BooleanField("no installation marks", null=True)
    defect_confirmed = models.BooleanField("reported defect confirmed", null=True)
    human_or_physical_damage = models.BooleanField("human or physical damage found", null=True)
    findings = models.TextField(blank=True)
    proposed_outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    outcome_change_reason = models.TextField(blank=True)
    deduction_amount = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    deduction_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    deduction_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("complete_inspection", "Can complete inspections")]
        constraints = [
            models.CheckConstraint(
                condition=Q(deduction_amount__isnull=True) | Q(deduction_percent__isnull=True),
                name="inspection_one_kind_of_deduction",
            ),
            models.CheckConstraint(
                condition=Q(deduction_percent__isnull=True) | Q(deduction_percent__gt=0, deduction_percent__lte=100),
                name="inspection_deduction_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(deduction_amount__isnull=True) | Q(deduction_amount__gt=0),
                name="inspection_deduction_amount_positive",
            ),
        ]

    def __str__(self):
        return f"Inspection of {self.claim_item}"


def inspection_photo_path(instance, filename):
    return f"inspections/{instance.inspection_id}/{uuid.uuid4().hex}{PurePosixPath(filename).suffix.lower()[:8]}"


class InspectionPhoto(models.Model):
    inspection = models.ForeignKey(Inspection, related_name="photos", on_delete=models.CASCADE)
    file = models.FileField(upload_to=inspection_photo_path, max_length=255)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.original_name
