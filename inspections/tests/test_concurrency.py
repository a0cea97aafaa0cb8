"""Two inspectors finishing a claim's last two items at once, on PostgreSQL with real threads."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from inspections import services
from inspections.models import Inspection
from returns.models import ClaimEvent, ClaimStatus, OutboundEmail
from returns.tests.factories import ROLES, staff_user

pytestmark = pytest.mark.django_db(transaction=True)

PASSED = {
    "is_new_unused": True,
    "no_installation_marks": True,
    "original_packaging_sealed": True,
    "label_present": True,
}


def test_two_last_items_completed_at_once_move_the_claim_once(received_claim, warehouse_user, django_user_model):
    claim = received_claim(prices=(Decimal("10.00"), Decimal("20.00")))
    other_inspector = staff_user(django_user_model, "packer", ROLES["warehouse"])
    inspections = []
    for item, user in zip(claim.items.order_by("pk"), (warehouse_user, other_inspector), strict=True):
        started = services.inspection_start(claim_item_id=item.pk, by=user)
        inspections.append((services.inspection_record(inspection_id=started.pk, by=user, **PASSED), user))
    barrier = threading.Barrier(len(inspections))
    errors = []

    def finish(inspection, user):
        try:
            barrier.wait(timeout=10)
            services.inspection_complete(inspection_id=inspection.pk, by=user)
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=pair) for pair in inspections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.INSPECTED
    assert ClaimEvent.objects.filter(claim=claim, action="inspect").count() == 1
    assert OutboundEmail.objects.filter(claim=claim, template="claim_inspected").count() == 1
    assert Inspection.objects.filter(claim_item__claim=claim, completed_at__isnull=False).count() == 2
    assert len(ClaimEvent.objects.get(claim=claim, action="inspect").payload["items"]) == 2
