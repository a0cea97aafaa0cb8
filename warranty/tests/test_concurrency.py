"""Two people at once, on PostgreSQL, each in its own thread with its own connection.

The claim's row lock, taken first by every replacement service, is what makes a
second click wait and then see the first one's work. Each test slows down a step
taken inside the lock, so the second thread really arrives while the first holds it.
"""

import time

import pytest

from core.testing import at_once
from returns import states
from returns.models import ClaimEvent, ClaimStatus, OutboundEmail
from shipments import services as shipment_services
from warranty import services
from warranty.models import Replacement, ReplacementKind, ReplacementStatus

pytestmark = pytest.mark.django_db(transaction=True)


def slowed(monkeypatch, module, name):
    original = getattr(module, name)

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)


def test_two_proposals_at_once_make_one_replacement(warranty_claim, inspector, monkeypatch):
    item = warranty_claim().items.get()
    slowed(monkeypatch, services, "_faulty_serial")

    def propose():
        return services.replacement_propose(claim_item_id=item.pk, by=inspector, kind=ReplacementKind.WHOLE_PRODUCT).pk

    results = at_once(propose, propose)

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert results[0][1] == results[1][1]
    assert Replacement.objects.count() == 1


def test_two_ship_clicks_at_once_ship_once_and_email_once(warranty_claim, inspector, agent, shipper, monkeypatch):
    claim = warranty_claim()
    replacement = services.replacement_propose(
        claim_item_id=claim.items.get().pk, by=inspector, kind=ReplacementKind.WHOLE_PRODUCT
    )
    services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="NEW-1")
    slowed(monkeypatch, shipment_services, "outbound_parcel_ship")

    def ship(tracking):
        return lambda: (
            services.replacement_ship(
                replacement_id=replacement.pk, by=shipper, carrier="DHL", tracking_number=tracking
            ).pk
        )

    results = at_once(ship("JD01"), ship("JD02"))

    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, states.InvalidTransition)
    assert "already shipped" in str(error)
    assert Replacement.objects.get().status == ReplacementStatus.SHIPPED
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REPLACED
    assert ClaimEvent.objects.filter(claim=claim, action="replace").count() == 1
    assert OutboundEmail.objects.filter(claim=claim, template="replacement_shipped").count() == 1
