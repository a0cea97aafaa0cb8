"""Warranty replacements: one per returned defective item, and their history.

"The defective product which is not caused by human or physical damage is
eligible to get the part/product replaced." A passed warranty inspection
proposes a ``Replacement``; approving it puts the replacement's serial in the
claim's outbound parcel (shipments); shipping that parcel replaces the claim.

Models hold data only: every change goes through ``warranty.services``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.events import Event
from returns.models import Claim, ClaimItem
from shipments.models import OutboundParcel


class ReplacementKind(models.TextChoices):
    # "eligible to get the part/product replaced"
    PART = "part", "Part"
    WHOLE_PRODUCT = "whole_product", "Whole product"


class ReplacementStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    SHIPPED = "shipped", "Shipped"
    CANCELLED = "cancelled", "Cancelled"


class Replacement(models.Model):
    """The replacement of one returned item (a claim item): a part of it or the whole product."""

    claim = models.ForeignKey(Claim, related_name="replacements", on_delete=models.PROTECT)
    # One replacement per returned item: proposing twice returns the first.
    claim_item = models.OneToOneField(ClaimItem, related_name="replacement", on_delete=models.PROTECT)
    kind = models.CharField(max_length=16, choices=ReplacementKind.choices)
    part_description = models.CharField("part", max_length=255, blank=True)
    # Looked up exactly (as typed, or in capitals): plain indexes in Meta, not ``db_index``'s pair.
    faulty_serial = models.CharField("faulty serial", max_length=64, blank=True)
    replacement_serial = models.CharField("replacement serial", max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=ReplacementStatus.choices, default=ReplacementStatus.PROPOSED)
    reason = models.TextField("why proposed", blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # The claim's one replacement parcel (shipments allows one per claim and purpose); set on approval.
    outbound_parcel = models.ForeignKey(
        OutboundParcel, null=True, blank=True, related_name="replacements", on_delete=models.PROTECT
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("approve_replacement", "Can approve or cancel warranty replacements")]
        indexes = [
            models.Index(fields=["status", "-id"], name="replacement_status_recent"),
            models.Index(fields=["faulty_serial"], name="replacement_faulty_serial"),
            models.Index(fields=["replacement_serial"], name="replacement_serial"),
        ]
        constraints = [
            # A unit goes out once: no two live replacements carry the same serial.
            models.UniqueConstraint(
                fields=["replacement_serial"],
                condition=~Q(replacement_serial="") & ~Q(status="cancelled"),
                name="replacement_serial_unique_live",
            ),
            models.CheckConstraint(
                condition=~Q(kind="part") | ~Q(part_description=""),
                name="replacement_part_described",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["proposed", "cancelled"]) | Q(outbound_parcel__isnull=False),
                name="replacement_approved_has_parcel",
            ),
        ]

    def __str__(self):
        what = self.part_description if self.kind == ReplacementKind.PART else "whole product"
        return f"Replacement #{self.pk} ({what}) for {self.claim}"


class ReplacementAction(models.TextChoices):
    PROPOSE = "propose", "Proposed"
    APPROVE = "approve", "Approved"
    SHIP = "ship", "Shipped"
    CANCEL = "cancel", "Cancelled"


class ReplacementEvent(Event):
    """One row per change to a replacement: its audit trail, nobody edits it."""

    replacement = models.ForeignKey(Replacement, related_name="events", on_delete=models.CASCADE)
    action = models.CharField(max_length=40, choices=ReplacementAction.choices)

    class Meta(Event.Meta):
        ordering = ["replacement_id", "id"]
