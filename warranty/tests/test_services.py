"""The replacement services on PostgreSQL: propose, approve, ship, cancel; what each writes and what is refused."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from returns import states
from returns.models import ClaimEvent, ClaimStatus, ClaimType, DoaReason, EmailStatus, OutboundEmail
from returns.tests.factories import ClaimFactory, ClaimItemFactory
from shipments.models import OutboundParcel, OutboundPurpose
from warranty import services
from warranty.models import Replacement, ReplacementEvent, ReplacementKind, ReplacementStatus

pytestmark = pytest.mark.django_db


def propose(claim, by, *, kind=ReplacementKind.WHOLE_PRODUCT, part_description="", item=None):
    item = item or claim.items.order_by("pk").first()
    return services.replacement_propose(claim_item_id=item.pk, by=by, kind=kind, part_description=part_description)


def snapshot(replacement: Replacement) -> dict:
    """What a refused action must leave as it was."""
    fresh = Replacement.objects.get(pk=replacement.pk)
    return {
        "status": fresh.status,
        "replacement_serial": fresh.replacement_serial,
        "outbound_parcel": fresh.outbound_parcel_id,
        "approved_by": fresh.approved_by_id,
        "claim_status": fresh.claim.status,
        "events": list(ReplacementEvent.objects.filter(replacement=fresh).values_list("pk", flat=True)),
        "claim_events": list(ClaimEvent.objects.filter(claim=fresh.claim).values_list("pk", flat=True)),
        "parcels": list(
            OutboundParcel.objects.filter(claim=fresh.claim).values_list("pk", "serial_numbers", "shipped_at")
        ),
        "emails": list(OutboundEmail.objects.filter(claim=fresh.claim).values_list("pk", flat=True)),
    }


# --- propose ------------------------------------------------------------------------


def test_propose_records_a_proposed_replacement_of_the_claimed_serial(warranty_claim, inspector):
    claim = warranty_claim(lines=[("CAGE-1001", False)])

    replacement = propose(claim, inspector, kind=ReplacementKind.PART, part_description="locking lever")

    assert replacement.status == ReplacementStatus.PROPOSED
    assert replacement.claim == claim
    assert replacement.faulty_serial == "CAGE-1001"
    assert (replacement.kind, replacement.part_description) == (ReplacementKind.PART, "locking lever")
    assert replacement.proposed_by == inspector
    assert replacement.outbound_parcel is None
    event = ReplacementEvent.objects.get(replacement=replacement)
    assert (event.action, event.from_status, event.to_status, event.actor) == ("propose", "", "proposed", inspector)


def test_propose_twice_returns_the_first_replacement_unchanged(warranty_claim, inspector):
    claim = warranty_claim()
    first = propose(claim, inspector, kind=ReplacementKind.PART, part_description="locking lever")

    second = propose(claim, inspector, kind=ReplacementKind.WHOLE_PRODUCT)

    assert second.pk == first.pk
    assert Replacement.objects.get().kind == ReplacementKind.PART
    assert ReplacementEvent.objects.count() == 1


def test_propose_while_the_claim_is_still_being_inspected(warranty_claim, inspector):
    claim = warranty_claim(inspected=False)
    assert claim.status == ClaimStatus.SHIPPED

    replacement = propose(claim, inspector)

    assert replacement.status == ReplacementStatus.PROPOSED


def test_propose_takes_the_lines_only_serial_when_the_customer_gave_none(warranty_claim, inspector):
    claim = warranty_claim(lines=[("CAGE-2002", False)], serial="")

    assert propose(claim, inspector).faulty_serial == "CAGE-2002"


def test_propose_a_part_needs_the_part_named(warranty_claim, inspector):
    claim = warranty_claim()

    with pytest.raises(ValidationError) as error:
        propose(claim, inspector, kind=ReplacementKind.PART, part_description="  ")

    assert "part_description" in error.value.message_dict
    assert not Replacement.objects.exists()


def test_propose_is_refused_for_a_doa_claim(inspector):
    item = ClaimItemFactory(
        claim=ClaimFactory(claim_type=ClaimType.DOA, doa_reason=DoaReason.QUALITY_ISSUE, status=ClaimStatus.INSPECTED)
    )

    with pytest.raises(services.ReplacementRefused, match="only a warranty claim is replaced"):
        services.replacement_propose(claim_item_id=item.pk, by=inspector, kind=ReplacementKind.WHOLE_PRODUCT)

    assert not Replacement.objects.exists()


def test_propose_is_refused_before_the_item_was_received(inspector):
    item = ClaimItemFactory(claim=ClaimFactory(claim_type=ClaimType.WARRANTY, status=ClaimStatus.APPROVED))

    with pytest.raises(services.ReplacementRefused, match="received and inspected"):
        services.replacement_propose(claim_item_id=item.pk, by=inspector, kind=ReplacementKind.WHOLE_PRODUCT)

    assert not Replacement.objects.exists()


def test_propose_needs_the_permission(warranty_claim, finance_user):
    claim = warranty_claim()

    with pytest.raises(PermissionDenied):
        propose(claim, finance_user)

    assert not Replacement.objects.exists()


# --- approve ------------------------------------------------------------------------


def test_approve_creates_the_replacement_parcel_with_the_new_serial(warranty_claim, inspector, agent):
    claim = warranty_claim()
    replacement = propose(claim, inspector)

    approved = services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial=" CAGE-9001 ")

    parcel = OutboundParcel.objects.get(claim=claim)
    assert parcel.purpose == OutboundPurpose.REPLACEMENT
    assert parcel.serial_numbers == ["CAGE-9001"]
    assert parcel.shipped_at is None
    assert approved.status == ReplacementStatus.APPROVED
    assert approved.replacement_serial == "CAGE-9001"
    assert approved.outbound_parcel == parcel
    assert approved.approved_by == agent
    assert approved.approved_at is not None
    event = ReplacementEvent.objects.filter(replacement=replacement).latest("id")
    assert (event.action, event.from_status, event.to_status, event.actor) == ("approve", "proposed", "approved", agent)
    assert event.payload == {"replacement_serial": "CAGE-9001", "outbound_parcel_id": parcel.pk}
    assert ClaimEvent.objects.filter(claim=claim).latest("id").action == "inspect"  # the claim waits for shipping


def test_approve_is_refused_until_the_claim_is_inspected(warranty_claim, inspector, agent):
    claim = warranty_claim(inspected=False)
    replacement = propose(claim, inspector)
    before = snapshot(replacement)

    with pytest.raises(services.ReplacementRefused, match="received and inspected"):
        services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="CAGE-9001")

    assert snapshot(replacement) == before
    assert not OutboundParcel.objects.exists()


# "We will send you the replacement at the soonest once we receive your returned defective item": while the claim
# waits for its parcel (approved, or shipped by the customer but not received), no replacement is approved or
# shipped. No service makes a replacement in those states; the rows are written straight to the table, as a
# bug or a hand edit might leave them, to prove the approve and ship services check the claim themselves.


@pytest.fixture
def awaiting_parcel(agent):
    """``make(shipped)``: a warranty claim approved through the services, its parcel not received; with
    ``shipped`` the customer gave the tracking number through the link. Its parcel clock runs."""
    from datetime import timedelta

    from django.utils import timezone

    from core import actors
    from returns import services as claim_services
    from returns.models import Claim
    from returns.tests.factories import OrderFactory, OrderLineFactory
    from shipments import services as shipment_services
    from warranty.tests.conftest import add_whole_package_photo

    def make(*, shipped: bool) -> Claim:
        order = OrderFactory(received_on=timezone.localdate() - timedelta(days=90))
        line = OrderLineFactory(order=order, serial_numbers=["CAGE-1001"])
        claim = claim_services.claim_create(
            order=order,
            claim_type=ClaimType.WARRANTY,
            description="The quick-release clamp no longer locks.",
            order_line_ids=[line.pk],
            by=agent,
            serial_number="CAGE-1001",
        )
        add_whole_package_photo(claim)
        claim_services.claim_approve(claim_id=claim.pk, by=agent)
        if shipped:
            shipment_services.return_parcel_register(
                claim_id=claim.pk,
                by=actors.CUSTOMER,
                carrier="DHL",
                tracking_number="JD01",
                sent_on=timezone.localdate(),
            )
        claim = Claim.objects.get(pk=claim.pk)
        assert claim.status == (ClaimStatus.SHIPPED if shipped else ClaimStatus.APPROVED)
        assert claim.awaiting_parcel_since is not None  # not received
        return claim

    return make


def replacement_row(claim, status: str) -> Replacement:
    approved = status == ReplacementStatus.APPROVED
    return Replacement.objects.create(
        claim=claim,
        claim_item=claim.items.get(),
        kind=ReplacementKind.WHOLE_PRODUCT,
        faulty_serial="CAGE-1001",
        status=status,
        replacement_serial="CAGE-9001" if approved else "",
        outbound_parcel=(
            OutboundParcel.objects.create(
                claim=claim, purpose=OutboundPurpose.REPLACEMENT, serial_numbers=["CAGE-9001"]
            )
            if approved
            else None
        ),
    )


@pytest.mark.parametrize("shipped", [False, True], ids=["approved", "shipped-not-received"])
def test_approve_is_refused_while_the_defective_item_has_not_arrived(awaiting_parcel, agent, shipped):
    replacement = replacement_row(awaiting_parcel(shipped=shipped), ReplacementStatus.PROPOSED)
    before = snapshot(replacement)

    with pytest.raises(services.ReplacementRefused, match="once the returned defective item is received and inspected"):
        services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="CAGE-9001")

    assert snapshot(replacement) == before
    assert not OutboundParcel.objects.exists()


@pytest.mark.parametrize("shipped", [False, True], ids=["approved", "shipped-not-received"])
def test_ship_is_refused_while_the_defective_item_has_not_arrived(awaiting_parcel, shipper, shipped):
    replacement = replacement_row(awaiting_parcel(shipped=shipped), ReplacementStatus.APPROVED)
    before = snapshot(replacement)

    with pytest.raises(services.ReplacementRefused, match="once the returned defective item is received and inspected"):
        services.replacement_ship(replacement_id=replacement.pk, by=shipper, carrier="DHL", tracking_number="JD0146")

    assert snapshot(replacement) == before
    assert snapshot(replacement)["parcels"][0][2] is None  # the replacement parcel did not leave
    assert not OutboundEmail.objects.filter(template="replacement_shipped").exists()


def test_approve_a_whole_product_needs_the_new_units_serial(warranty_claim, inspector, agent):
    replacement = propose(warranty_claim(), inspector)
    before = snapshot(replacement)

    with pytest.raises(ValidationError) as error:
        services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial=" ")

    assert "replacement_serial" in error.value.message_dict
    assert snapshot(replacement) == before


def test_approve_a_part_without_a_serial(warranty_claim, inspector, agent):
    claim = warranty_claim()
    replacement = propose(claim, inspector, kind=ReplacementKind.PART, part_description="locking lever")

    services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="")

    assert OutboundParcel.objects.get(claim=claim).serial_numbers == []
    assert Replacement.objects.get().status == ReplacementStatus.APPROVED


def test_approve_may_change_a_part_into_the_whole_product(warranty_claim, inspector, agent):
    replacement = propose(warranty_claim(), inspector, kind=ReplacementKind.PART, part_description="locking lever")

    approved = services.replacement_approve(
        replacement_id=replacement.pk, by=agent, replacement_serial="CAGE-9001", kind=ReplacementKind.WHOLE_PRODUCT
    )

    assert (approved.kind, approved.part_description) == (ReplacementKind.WHOLE_PRODUCT, "")
    event = ReplacementEvent.objects.filter(replacement=replacement).latest("id")
    assert event.payload["changed"] == {"kind": ["part", "whole_product"], "part": ["locking lever", ""]}


def test_approve_refuses_a_serial_already_sent_as_another_replacement(warranty_claim, inspector, agent):
    first = propose(warranty_claim(lines=[("CAGE-1001", False)]), inspector)
    services.replacement_approve(replacement_id=first.pk, by=agent, replacement_serial="CAGE-9001")
    second = propose(warranty_claim(lines=[("CAGE-1002", False)]), inspector)
    before = snapshot(second)

    with pytest.raises(ValidationError, match=f"already goes out as the replacement in {first.claim.rma_number}"):
        services.replacement_approve(replacement_id=second.pk, by=agent, replacement_serial="CAGE-9001")

    assert snapshot(second) == before


def test_approve_refuses_the_faulty_units_own_serial(warranty_claim, inspector, agent):
    replacement = propose(warranty_claim(lines=[("CAGE-1001", False)]), inspector)

    with pytest.raises(ValidationError, match="faulty unit's serial"):
        services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="CAGE-1001")


def test_approve_twice_says_it_is_already_approved(warranty_claim, inspector, agent):
    replacement = propose(warranty_claim(), inspector)
    services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="CAGE-9001")
    before = snapshot(replacement)

    with pytest.raises(states.InvalidTransition, match="already approved"):
        services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="CAGE-9002")

    assert snapshot(replacement) == before


def test_two_items_of_a_claim_travel_in_one_parcel(warranty_claim, inspector, agent):
    claim = warranty_claim(lines=[("CAGE-1001", False), ("ARM-2001", False)])
    first, second = (propose(claim, inspector, item=item) for item in claim.items.order_by("pk"))

    services.replacement_approve(replacement_id=first.pk, by=agent, replacement_serial="CAGE-9001")
    services.replacement_approve(replacement_id=second.pk, by=agent, replacement_serial="ARM-9001")

    parcel = OutboundParcel.objects.get(claim=claim)
    assert parcel.serial_numbers == ["CAGE-9001", "ARM-9001"]
    assert set(parcel.replacements.values_list("pk", flat=True)) == {first.pk, second.pk}


def test_finance_cannot_approve(warranty_claim, inspector, finance_user):
    replacement = propose(warranty_claim(), inspector)
    before = snapshot(replacement)

    with pytest.raises(PermissionDenied, match="permission to approve replacements"):
        services.replacement_approve(replacement_id=replacement.pk, by=finance_user, replacement_serial="CAGE-9001")

    assert snapshot(replacement) == before


def test_the_warehouse_cannot_approve(warranty_claim, inspector, shipper):
    replacement = propose(warranty_claim(), inspector)

    with pytest.raises(PermissionDenied):
        services.replacement_approve(replacement_id=replacement.pk, by=shipper, replacement_serial="CAGE-9001")

    assert Replacement.objects.get().status == ReplacementStatus.PROPOSED


# --- ship ---------------------------------------------------------------------------


@pytest.fixture
def approved(warranty_claim, inspector, agent):
    claim = warranty_claim(lines=[("CAGE-1001", False)])
    replacement = propose(claim, inspector)
    return services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial="CAGE-9001")


def test_ship_replaces_the_claim_and_records_the_tracking(approved, shipper):
    shipped = services.replacement_ship(
        replacement_id=approved.pk, by=shipper, carrier=" DHL ", tracking_number=" JD0146000012345 "
    )

    assert shipped.status == ReplacementStatus.SHIPPED
    parcel = OutboundParcel.objects.get(pk=approved.outbound_parcel_id)
    assert (parcel.carrier, parcel.tracking_number, parcel.shipped_by) == ("DHL", "JD0146000012345", shipper)
    assert parcel.shipped_at is not None
    claim = shipped.claim
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REPLACED
    claim_event = ClaimEvent.objects.filter(claim=claim).latest("id")
    assert (claim_event.action, claim_event.from_status, claim_event.to_status, claim_event.actor) == (
        "replace",
        "inspected",
        "replaced",
        shipper,
    )
    assert claim_event.payload["tracking_number"] == "JD0146000012345"
    assert claim_event.payload["replacement_serials"] == ["CAGE-9001"]
    event = ReplacementEvent.objects.filter(replacement=approved).latest("id")
    assert (event.action, event.from_status, event.to_status) == ("ship", "approved", "shipped")


def test_ship_emails_the_customer_the_carrier_and_the_tracking_number(approved, shipper):
    services.replacement_ship(replacement_id=approved.pk, by=shipper, carrier="DHL", tracking_number="JD0146000012345")

    email = OutboundEmail.objects.filter(claim=approved.claim).latest("id")
    assert email.template == "replacement_shipped"
    assert email.to == approved.claim.customer_email
    assert approved.claim.rma_number in email.subject
    for body in (email.body_text, email.body_html):
        assert "JD0146000012345" in body
        assert "DHL" in body
        assert "CAGE-9001" in body


def test_ship_sends_the_email_once_committed(approved, shipper, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.replacement_ship(
            replacement_id=approved.pk, by=shipper, carrier="DHL", tracking_number="JD0146000012345"
        )

    email = OutboundEmail.objects.filter(claim=approved.claim).latest("id")
    assert [message.subject for message in mailoutbox] == [email.subject]
    assert "JD0146000012345" in mailoutbox[0].body
    assert email.status == EmailStatus.SENT


def test_ship_needs_the_carrier_and_the_tracking_number(approved, shipper):
    before = snapshot(approved)

    with pytest.raises(ValidationError) as error:
        services.replacement_ship(replacement_id=approved.pk, by=shipper, carrier="", tracking_number=" ")

    assert set(error.value.message_dict) == {"carrier", "tracking_number"}
    assert snapshot(approved) == before


def test_ship_twice_says_it_is_already_shipped(approved, shipper):
    services.replacement_ship(replacement_id=approved.pk, by=shipper, carrier="DHL", tracking_number="JD01")
    before = snapshot(approved)

    with pytest.raises(states.InvalidTransition, match="already shipped"):
        services.replacement_ship(replacement_id=approved.pk, by=shipper, carrier="UPS", tracking_number="1Z99")

    assert snapshot(approved) == before


def test_ship_a_proposed_replacement_is_refused(warranty_claim, inspector, shipper):
    replacement = propose(warranty_claim(), inspector)

    with pytest.raises(states.InvalidTransition, match="proposed cannot be shipped"):
        services.replacement_ship(replacement_id=replacement.pk, by=shipper, carrier="DHL", tracking_number="JD01")


def test_finance_cannot_ship(approved, finance_user):
    before = snapshot(approved)

    with pytest.raises(PermissionDenied, match="permission to ship replacements"):
        services.replacement_ship(replacement_id=approved.pk, by=finance_user, carrier="DHL", tracking_number="JD01")

    assert snapshot(approved) == before


def test_customer_service_cannot_ship(approved, agent):
    with pytest.raises(PermissionDenied):
        services.replacement_ship(replacement_id=approved.pk, by=agent, carrier="DHL", tracking_number="JD01")

    assert Replacement.objects.get().status == ReplacementStatus.APPROVED


def test_ship_waits_for_every_replacement_of_the_claim_to_be_approved(warranty_claim, inspector, agent, shipper):
    claim = warranty_claim(lines=[("CAGE-1001", False), ("ARM-2001", False)])
    first, _second = (propose(claim, inspector, item=item) for item in claim.items.order_by("pk"))
    services.replacement_approve(replacement_id=first.pk, by=agent, replacement_serial="CAGE-9001")
    before = snapshot(first)

    with pytest.raises(services.ReplacementRefused, match="Approve or cancel the other proposed replacements"):
        services.replacement_ship(replacement_id=first.pk, by=shipper, carrier="DHL", tracking_number="JD01")

    assert snapshot(first) == before


def test_ship_one_ships_every_approved_replacement_in_the_parcel(warranty_claim, inspector, agent, shipper):
    claim = warranty_claim(lines=[("CAGE-1001", False), ("ARM-2001", False)])
    first, second = (propose(claim, inspector, item=item) for item in claim.items.order_by("pk"))
    for replacement, serial in ((first, "CAGE-9001"), (second, "ARM-9001")):
        services.replacement_approve(replacement_id=replacement.pk, by=agent, replacement_serial=serial)

    services.replacement_ship(replacement_id=second.pk, by=shipper, carrier="DHL", tracking_number="JD01")

    assert set(Replacement.objects.values_list("status", flat=True)) == {ReplacementStatus.SHIPPED}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REPLACED
    assert ClaimEvent.objects.filter(claim=claim, action="replace").count() == 1


def test_ship_after_the_other_replacement_was_cancelled(warranty_claim, inspector, agent, shipper):
    claim = warranty_claim(lines=[("CAGE-1001", False), ("ARM-2001", False)])
    first, second = (propose(claim, inspector, item=item) for item in claim.items.order_by("pk"))
    services.replacement_approve(replacement_id=first.pk, by=agent, replacement_serial="CAGE-9001")
    services.replacement_cancel(replacement_id=second.pk, by=agent, reason="The customer asked for the part only.")

    services.replacement_ship(replacement_id=first.pk, by=shipper, carrier="DHL", tracking_number="JD01")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REPLACED
    assert Replacement.objects.get(pk=second.pk).status == ReplacementStatus.CANCELLED


# --- cancel -------------------------------------------------------------------------


def test_cancel_an_approved_replacement_takes_its_serial_out_of_the_parcel(approved, agent):
    cancelled = services.replacement_cancel(replacement_id=approved.pk, by=agent, reason="Out of stock.")

    assert cancelled.status == ReplacementStatus.CANCELLED
    assert (cancelled.cancelled_by, cancelled.cancel_reason) == (agent, "Out of stock.")
    assert OutboundParcel.objects.get(pk=approved.outbound_parcel_id).serial_numbers == []
    cancelled.claim.refresh_from_db()
    assert cancelled.claim.status == ClaimStatus.INSPECTED


def test_a_cancelled_replacements_serial_may_go_out_again(approved, agent, warranty_claim, inspector):
    services.replacement_cancel(replacement_id=approved.pk, by=agent, reason="Out of stock.")
    other = propose(warranty_claim(lines=[("CAGE-1002", False)]), inspector)

    services.replacement_approve(replacement_id=other.pk, by=agent, replacement_serial="CAGE-9001")

    assert Replacement.objects.get(pk=other.pk).replacement_serial == "CAGE-9001"


def test_cancel_needs_a_reason(approved, agent):
    with pytest.raises(ValidationError):
        services.replacement_cancel(replacement_id=approved.pk, by=agent, reason=" ")

    assert Replacement.objects.get().status == ReplacementStatus.APPROVED


def test_a_shipped_replacement_cannot_be_cancelled(approved, agent, shipper):
    services.replacement_ship(replacement_id=approved.pk, by=shipper, carrier="DHL", tracking_number="JD01")

    with pytest.raises(states.InvalidTransition):
        services.replacement_cancel(replacement_id=approved.pk, by=agent, reason="Too late.")

    assert Replacement.objects.get().status == ReplacementStatus.SHIPPED
