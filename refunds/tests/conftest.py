"""Finance users, claims ready to refund and the Stripe fake, for the refunds tests."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from inspections.models import Inspection
from refunds.tests.stripe_fake import StripeFake
from returns.models import ClaimStatus, ClaimType, DoaReason
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, OrderFactory, staff_user

# What finance needs for refunds; the lead adds them to backoffice/roles.py's Finance group.
FINANCE_REFUND_PERMISSIONS = (
    "view_refund",
    "view_refundline",
    "view_refundevent",
    "approve_refund",
    "adjust_refund",
)


def finance_user(django_user_model, username: str):
    user = staff_user(django_user_model, username, ROLES["finance"])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="refunds", codename__in=FINANCE_REFUND_PERMISSIONS)
    )
    return type(user).objects.get(pk=user.pk)  # fresh: no permission cache from before


@pytest.fixture
def finance(django_user_model):
    return finance_user(django_user_model, "payer")


@pytest.fixture
def finance2(django_user_model):
    return finance_user(django_user_model, "payer2")


@pytest.fixture
def inspector(django_user_model):
    return staff_user(django_user_model, "picker", ROLES["warehouse"])


_rma = iter(range(1, 1_000_000))


def inspected_claim(
    inspector,
    outcomes,
    *,
    unit_price="49.90",
    quantity=1,
    currency="USD",
    payment_reference="",
    deduction_amount=None,
    deduction_percent=None,
    deduction_reason="",
):
    """A claim in status inspected, one item per outcome, each inspected with that outcome."""
    order = OrderFactory(payment_reference=payment_reference)
    claim = ClaimFactory(
        order=order,
        claim_type=ClaimType.DOA,
        doa_reason=DoaReason.DAMAGE,
        status=ClaimStatus.INSPECTED,
        rma_number=f"RMA-2026-{900000 + next(_rma):06d}",
    )
    for outcome in outcomes:
        item = ClaimItemFactory(
            claim=claim,
            quantity=quantity,
            order_line__quantity=quantity,
            order_line__unit_price=Decimal(unit_price),
            order_line__currency=currency,
        )
        Inspection.objects.create(
            claim_item=item,
            inspector=inspector,
            outcome=outcome,
            proposed_outcome=outcome,
            deduction_amount=deduction_amount if outcome == "reduced_refund" else None,
            deduction_percent=deduction_percent if outcome == "reduced_refund" else None,
            deduction_reason=deduction_reason if outcome == "reduced_refund" else "",
            completed_at=timezone.now(),
        )
    return claim


def returnless_claim(*, unit_price="49.90", quantity=1, payment_reference=""):
    order = OrderFactory(
        payment_reference=payment_reference, received_on=timezone.localdate() - datetime.timedelta(days=2)
    )
    claim = ClaimFactory(
        order=order,
        claim_type=ClaimType.DOA,
        doa_reason=DoaReason.MISSING_ITEM,
        status=ClaimStatus.APPROVED,
        is_returnless=True,
        returnless_reason="The lens cap was not in the box.",
        rma_number=f"RMA-2026-{900000 + next(_rma):06d}",
    )
    ClaimItemFactory(
        claim=claim, quantity=quantity, order_line__quantity=quantity, order_line__unit_price=Decimal(unit_price)
    )
    return claim


@pytest.fixture
def stripe_fake():
    fake = StripeFake().start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_settings(settings, stripe_fake):
    """New refunds go through the Stripe adapter, to the fake."""
    settings.REFUND_PROVIDER = "stripe"
    settings.STRIPE_API_BASE = stripe_fake.url
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_TIMEOUT_SECONDS = 5
    return settings
