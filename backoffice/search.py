"""The staff search box: one term finds a claim by RMA number, order number, customer email, return or replacement
tracking number, or serial number (the one the customer gave, or a replacement's faulty or new one).

Each is an exact match on an indexed column (no ``%term%`` scan): the claim ids come from one ``UNION`` of index
lookups, and the claim list reads those claims by primary key. Exact, because a person types or scans a whole
number; the RMA number and the email are compared in the case they are stored in.
"""

from django.db.models import QuerySet

from returns.models import Claim, ClaimItem
from shipments.models import OutboundParcel, ReturnParcel
from warranty.models import Replacement

MAX_TERM = 254  # the longest email; longer input matches nothing


def matching_claim_ids(term: str) -> QuerySet:
    """The ids of the claims ``term`` names, as one query (a UNION of index lookups) to filter with."""
    term = term.strip()
    spellings = list(dict.fromkeys([term, term.upper()]))  # tracking and serial numbers: as typed, or in capitals
    sources = [
        Claim.objects.filter(rma_number=term.upper()).values("pk"),
        Claim.objects.filter(order_number=term).values("pk"),
        Claim.objects.filter(customer_email=term.lower()).values("pk"),
        ReturnParcel.objects.filter(tracking_number__in=spellings).values("claim_id"),
        OutboundParcel.objects.filter(tracking_number__in=spellings).values("claim_id"),
        ClaimItem.objects.filter(serial_number__in=spellings).values("claim_id"),
        Replacement.objects.filter(faulty_serial__in=spellings).values("claim_id"),
        Replacement.objects.filter(replacement_serial__in=spellings).values("claim_id"),
    ]
    first, *others = [source.order_by() for source in sources]
    return first.union(*others)


def find_claims(queryset: QuerySet, term: str) -> QuerySet:
    term = term.strip()
    if not term or len(term) > MAX_TERM:
        return queryset.none() if term else queryset
    return queryset.filter(pk__in=matching_claim_ids(term))
