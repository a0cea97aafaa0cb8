"""Reads for the warehouse: the inspection queue."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch
from django.utils import timezone

from returns.models import ClaimItem, ClaimStatus
from shipments.models import ReturnParcel

QUEUE_LIMIT = 200


@dataclass(frozen=True)
class QueueRow:
    parcel: ReturnParcel
    items: list[ClaimItem]
    days_waiting: int

    @property
    def claim(self):
        return self.parcel.claim

    @property
    def items_inspected(self) -> int:
        return sum(1 for item in self.items if _completed(item))


def inspection_queue():
    """Received parcels whose claim is shipped and has an item not yet inspected, oldest received first.

    Nothing else: parcels not received, claims inspected, cancelled or in any
    other state are other people's work. The claim items come with their
    product and inspection in one more query, whatever the number of rows.
    """
    waiting_items = ClaimItem.objects.filter(claim_id=OuterRef("claim_id"), inspection__completed_at__isnull=True)
    items = ClaimItem.objects.select_related("order_line__product", "inspection").order_by("pk")
    return (
        ReturnParcel.objects.filter(received_at__isnull=False, claim__status=ClaimStatus.SHIPPED)
        .filter(Exists(waiting_items))
        .select_related("claim")
        .prefetch_related(Prefetch("claim__items", queryset=items, to_attr="queue_items"))
        .order_by("received_at", "pk")
    )


def inspection_queue_rows(limit: int = QUEUE_LIMIT, now: datetime | None = None) -> tuple[list[QueueRow], bool]:
    """The queue's first ``limit`` rows with their days waiting, and whether more are waiting."""
    today = timezone.localdate(now or timezone.now())
    parcels = list(inspection_queue()[: limit + 1])
    rows = [
        QueueRow(
            parcel=parcel,
            items=parcel.claim.queue_items,
            days_waiting=(today - timezone.localdate(parcel.received_at)).days,
        )
        for parcel in parcels[:limit]
    ]
    return rows, len(parcels) > limit


def _completed(item: ClaimItem) -> bool:
    inspection = getattr(item, "inspection", None)
    return inspection is not None and inspection.completed_at is not None
