"""A claim whose parcel the warehouse received, made through the claim services.

The parcel row is written straight into ``shipments.ReturnParcel``: the
shipments app's own receiving is tested there.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from returns import services
from returns.models import Claim, ClaimType, DoaReason, Evidence, EvidenceKind, PolicyVersion
from returns.tests.factories import ROLES, OrderFactory, OrderLineFactory, ProductFactory, staff_user
from shipments.models import ReturnParcel


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


@pytest.fixture
def warehouse_user(django_user_model):
    return staff_user(django_user_model, "picker", ROLES["warehouse"])


@pytest.fixture
def finance_user(django_user_model):
    return staff_user(django_user_model, "payer", ROLES["finance"])


@pytest.fixture
def manager(django_user_model):
    return staff_user(django_user_model, "boss", ROLES["manager"])


def requested_claim(
    cs,
    *,
    claim_type=ClaimType.NO_REASON,
    doa_reason="",
    prices=(Decimal("49.90"),),
    quantity=1,
    currency="USD",
) -> Claim:
    """A claim as customer service types it in, with a whole-package photo: ready to approve."""
    order = OrderFactory(received_on=timezone.localdate() - timedelta(days=3))
    lines = [
        OrderLineFactory(order=order, product=ProductFactory(), unit_price=price, quantity=quantity, currency=currency)
        for price in prices
    ]
    claim = services.claim_create(
        order=order,
        claim_type=claim_type,
        doa_reason=doa_reason if claim_type == ClaimType.DOA else "",
        description="The cage arrived scratched." if claim_type == ClaimType.DOA else "Reported by the customer.",
        order_line_ids=[line.pk for line in lines],
        by=cs,
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"not really a jpeg", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=17,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return claim


def approved_claim(cs, **kwargs) -> Claim:
    """A claim approved by customer service (``requested_claim``'s arguments)."""
    return services.claim_approve(claim_id=requested_claim(cs, **kwargs).pk, by=cs)


def receive(claim: Claim, warehouse_user, *, received_at=None) -> Claim:
    """The parcel arrived: the row the shipments app writes, then approved → shipped through the service."""
    ReturnParcel.objects.create(
        claim=claim,
        entered_via="staff",
        received_at=received_at or timezone.now(),
        received_by=warehouse_user,
    )
    return services.claim_record_receipt(claim_id=claim.pk, by=warehouse_user, details={})


@pytest.fixture
def received_claim(cs, warehouse_user):
    """``received_claim(claim_type=..., doa_reason=..., prices=..., received_at=...)``: a shipped claim, parcel received."""

    def make(*, received_at=None, **kwargs) -> Claim:
        return receive(approved_claim(cs, **kwargs), warehouse_user, received_at=received_at)

    return make


@pytest.fixture
def no_reason_shipping_reimbursed():
    """A policy version, in force from yesterday, that reimburses a passed no-reason return's shipping."""
    return PolicyVersion.objects.create(
        effective_from=timezone.now() - timedelta(days=1),
        no_reason_return_shipping_reimbursed=True,
        note="test: no-reason return shipping reimbursed",
    )


DOA_DAMAGE = {"claim_type": ClaimType.DOA, "doa_reason": DoaReason.DAMAGE}
