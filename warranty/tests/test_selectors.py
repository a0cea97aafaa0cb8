"""Coverage by serial number, the claim page's warranty flags, and defect counts by SKU."""

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from returns.models import ClaimStatus, ClaimType, DoaReason, PolicyVersion
from returns.tests.factories import ClaimFactory, ClaimItemFactory, OrderFactory, OrderLineFactory, ProductFactory
from shipments.models import OutboundParcel, OutboundPurpose
from warranty import selectors
from warranty.models import Replacement, ReplacementKind, ReplacementStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["json containment", "text match filtered in Python"])
def lookup(request, monkeypatch):
    """Both ways of finding a serial: PostgreSQL's JSON containment, and SQLite's fallback."""
    if request.param == "text match filtered in Python":
        monkeypatch.setattr(connection.features, "supports_json_field_contains", False)
    return request.param


def line_with(serials, *, received_on=date(2024, 3, 10), electronic=False, order=None):
    return OrderLineFactory(
        order=order or OrderFactory(received_on=received_on),
        product=ProductFactory(is_electronic=electronic),
        serial_numbers=serials,
    )


def shipped_replacement(*, faulty_serial, replacement_serial, line=None, claim_type=ClaimType.WARRANTY):
    """A replacement that already went out, straight in the tables: the services have their own tests."""
    line = line or line_with([faulty_serial])
    item = ClaimItemFactory(
        claim=ClaimFactory(
            order=line.order, claim_type=claim_type, status=ClaimStatus.REPLACED, rma_number=f"RMA-2025-{line.pk:06d}"
        ),
        order_line=line,
        serial_number=faulty_serial,
    )
    parcel = OutboundParcel.objects.create(
        claim=item.claim,
        purpose=OutboundPurpose.REPLACEMENT,
        serial_numbers=[replacement_serial],
        carrier="DHL",
        tracking_number="JD01",
        shipped_at=timezone.make_aware(datetime(2025, 5, 6, 10, 0)),
    )
    return Replacement.objects.create(
        claim=item.claim,
        claim_item=item,
        kind=ReplacementKind.WHOLE_PRODUCT,
        faulty_serial=faulty_serial,
        replacement_serial=replacement_serial,
        status=ReplacementStatus.SHIPPED,
        outbound_parcel=parcel,
    )


# --- coverage_for_serial ---------------------------------------------------------------


def test_coverage_finds_the_line_and_counts_two_years_from_receipt(lookup):
    line = line_with(["CAGE-1001", "CAGE-1002"], received_on=date(2024, 3, 10))

    coverage = selectors.coverage_for_serial("CAGE-1002")

    assert coverage.order_line == line
    assert coverage.received_on == date(2024, 3, 10)
    assert coverage.window == "2-year warranty"
    assert coverage.deadline == date(2026, 3, 10)
    assert not coverage.already_replaced


def test_coverage_ignores_spaces_around_the_serial(lookup):
    line = line_with(["CAGE-1001"])

    assert selectors.coverage_for_serial("  CAGE-1001 ").order_line == line


def test_coverage_last_day_is_in_and_the_next_day_is_out(lookup):
    line_with(["CAGE-1001"], received_on=date(2024, 3, 10))

    coverage = selectors.coverage_for_serial("CAGE-1001")

    assert coverage.covers(date(2026, 3, 10))
    assert not coverage.covers(date(2026, 3, 11))
    assert coverage.days_over(date(2026, 3, 11)) == 1


def test_coverage_of_an_electronic_product_is_one_year(lookup):
    line_with(["MON-1"], received_on=date(2024, 3, 10), electronic=True)

    coverage = selectors.coverage_for_serial("MON-1")

    assert coverage.window == "electronic products' 1-year warranty"
    assert coverage.deadline == date(2025, 3, 10)
    assert coverage.covers(date(2025, 3, 10))
    assert not coverage.covers(date(2025, 3, 11))


def test_coverage_uses_the_policy_version_given():
    line_with(["CAGE-1001"], received_on=date(2024, 3, 10))
    longer = PolicyVersion.objects.create(effective_from=timezone.now() - timedelta(days=1), warranty_months=36)

    assert selectors.coverage_for_serial("CAGE-1001", policy_version=longer).deadline == date(2027, 3, 10)


def test_coverage_of_an_unknown_serial(lookup):
    line_with(["CAGE-1001"])

    coverage = selectors.coverage_for_serial("CAGE-9999")

    assert not coverage.found
    assert coverage.deadline is None
    assert not coverage.covers(date(2024, 3, 11))


def test_coverage_does_not_take_a_serial_that_only_contains_the_one_asked(lookup):
    line_with(["CAGE-10010"])

    assert not selectors.coverage_for_serial("CAGE-1001").found


def test_coverage_of_an_order_without_a_received_date_has_no_deadline(lookup):
    line = line_with(["CAGE-1001"], received_on=None)

    coverage = selectors.coverage_for_serial("CAGE-1001")

    assert coverage.order_line == line
    assert coverage.deadline is None


def test_coverage_of_a_product_of_unknown_category_has_no_deadline(lookup):
    # 1 year or 2 depends on the category: none is counted while it is unknown
    line = line_with(["CAGE-1001"], electronic=None)

    coverage = selectors.coverage_for_serial("CAGE-1001")

    assert coverage.order_line == line and coverage.received_on == date(2024, 3, 10)
    assert coverage.deadline is None and coverage.window == ""


def test_coverage_says_a_serial_was_already_replaced():
    replacement = shipped_replacement(faulty_serial="CAGE-1001", replacement_serial="CAGE-9001")

    coverage = selectors.coverage_for_serial("CAGE-1001")

    assert coverage.already_replaced
    assert coverage.replaced_by == [replacement]


def test_a_replacement_not_yet_shipped_does_not_make_a_serial_replaced():
    replacement = shipped_replacement(faulty_serial="CAGE-1001", replacement_serial="CAGE-9001")
    Replacement.objects.filter(pk=replacement.pk).update(status=ReplacementStatus.APPROVED)

    assert not selectors.coverage_for_serial("CAGE-1001").already_replaced


def test_a_replacement_unit_carries_the_rest_of_the_original_warranty(lookup):
    original = line_with(["CAGE-1001"], received_on=date(2024, 3, 10))
    replacement = shipped_replacement(faulty_serial="CAGE-1001", replacement_serial="CAGE-9001", line=original)

    coverage = selectors.coverage_for_serial("CAGE-9001")

    assert coverage.order_line == original
    assert coverage.replaces == replacement
    assert coverage.deadline == date(2026, 3, 10)
    assert not coverage.already_replaced


# --- claim_warranty_flags --------------------------------------------------------------


def warranty_claim_for(line, serial, *, claimed_on):
    item = ClaimItemFactory(
        claim=ClaimFactory(
            order=line.order,
            claim_type=ClaimType.WARRANTY,
            submitted_at=timezone.make_aware(datetime.combine(claimed_on, datetime.min.time()).replace(hour=12)),
        ),
        order_line=line,
        serial_number=serial,
    )
    return item.claim


def test_no_flag_for_a_serial_on_the_order_in_its_window():
    line = line_with(["CAGE-1001"], received_on=date(2024, 3, 10))
    claim = warranty_claim_for(line, "CAGE-1001", claimed_on=date(2026, 3, 10))

    assert selectors.claim_warranty_flags(claim) == []


def test_flag_a_serial_outside_its_window_with_the_deadline_and_days_over():
    line = line_with(["CAGE-1001"], received_on=date(2024, 3, 10))
    claim = warranty_claim_for(line, "CAGE-1001", claimed_on=date(2026, 3, 13))

    assert selectors.claim_warranty_flags(claim) == [
        f"{line.product.sku}: serial CAGE-1001 is outside its 2-year warranty: it ended on 10 Mar 2026, "
        "3 days before the claim was made."
    ]


def test_flag_an_electronic_serial_past_one_year():
    line = line_with(["MON-1"], received_on=date(2024, 3, 10), electronic=True)
    claim = warranty_claim_for(line, "MON-1", claimed_on=date(2025, 3, 11))

    (flag,) = selectors.claim_warranty_flags(claim)
    assert "outside its electronic products' 1-year warranty" in flag
    assert "1 day before" in flag


def test_flag_a_serial_of_a_product_of_unknown_category():
    line = line_with(["MON-1"], received_on=date(2024, 3, 10), electronic=None)
    claim = warranty_claim_for(line, "MON-1", claimed_on=date(2025, 6, 11))

    assert selectors.claim_warranty_flags(claim) == [
        f"{line.product.sku}: serial MON-1's product {line.product.sku} is of unknown category (electronic or not): "
        "its warranty (1 year or 2) cannot be counted."
    ]


def test_flag_a_serial_not_on_the_order():
    line = line_with(["CAGE-1001"], received_on=date(2025, 3, 10))
    claim = warranty_claim_for(line, "CAGE-7777", claimed_on=date(2025, 6, 1))

    assert selectors.claim_warranty_flags(claim) == [
        f"{line.product.sku}: serial CAGE-7777 is not on order {claim.order_number}, nor on any order we know."
    ]


def test_flag_a_serial_bought_on_another_order():
    other = line_with(["CAGE-1001"], received_on=date(2025, 3, 10))
    line = line_with(["CAGE-2002"], received_on=date(2025, 3, 10))
    claim = warranty_claim_for(line, "CAGE-1001", claimed_on=date(2025, 6, 1))

    (flag,) = selectors.claim_warranty_flags(claim)
    assert f"is not on order {claim.order_number}; it belongs to order {other.order.number}" in flag


def test_flag_a_serial_already_replaced_with_the_claim_that_replaced_it():
    line = line_with(["CAGE-1001"], received_on=date(2025, 3, 10))
    earlier = shipped_replacement(faulty_serial="CAGE-1001", replacement_serial="CAGE-9001", line=line)
    claim = warranty_claim_for(line, "CAGE-1001", claimed_on=date(2025, 6, 1))

    assert selectors.claim_warranty_flags(claim) == [
        f"{line.product.sku}: serial CAGE-1001 was already replaced by serial CAGE-9001 in "
        f"{earlier.claim.rma_number} on 06 May 2025."
    ]


def test_the_claims_own_replacement_is_not_flagged():
    line = line_with(["CAGE-1001"], received_on=timezone.localdate() - timedelta(days=30))
    replacement = shipped_replacement(faulty_serial="CAGE-1001", replacement_serial="CAGE-9001", line=line)

    assert selectors.claim_warranty_flags(replacement.claim) == []


def test_flag_a_replacement_unit_and_judge_it_by_the_original_window():
    original = line_with(["CAGE-1001"], received_on=date(2024, 3, 10))
    earlier = shipped_replacement(faulty_serial="CAGE-1001", replacement_serial="CAGE-9001", line=original)
    claim = warranty_claim_for(original, "CAGE-9001", claimed_on=date(2026, 3, 12))

    flags = selectors.claim_warranty_flags(claim)

    assert flags[0].endswith(
        f"serial CAGE-9001 is a replacement unit sent in {earlier.claim.rma_number}; "
        "it carries the rest of the original warranty."
    )
    assert "ended on 10 Mar 2026, 2 days before" in flags[1]
    assert len(flags) == 2


def test_flag_a_missing_serial_when_the_order_lists_them():
    line = line_with(["CAGE-1001", "CAGE-1002"], received_on=date(2025, 3, 10))
    claim = warranty_claim_for(line, "", claimed_on=date(2025, 6, 1))

    (flag,) = selectors.claim_warranty_flags(claim)
    assert "no serial number given" in flag
    assert "CAGE-1001, CAGE-1002" in flag


def test_no_flag_for_a_missing_serial_the_store_does_not_know():
    line = line_with([], received_on=date(2025, 3, 10))
    claim = warranty_claim_for(line, "", claimed_on=date(2025, 6, 1))

    assert selectors.claim_warranty_flags(claim) == []


def test_no_warranty_flags_on_a_no_reason_return():
    line = line_with(["CAGE-1001"], received_on=date(2020, 1, 1))
    item = ClaimItemFactory(claim=ClaimFactory(order=line.order), order_line=line, serial_number="CAGE-7777")

    assert selectors.claim_warranty_flags(item.claim) == []


# --- defects_by_sku -------------------------------------------------------------------


def defect(sku, claim_type, *, doa_reason="", status=ClaimStatus.REQUESTED, quantity=1, days_ago=1):
    line = OrderLineFactory(product=ProductFactory(sku=sku), quantity=quantity)
    return ClaimItemFactory(
        claim=ClaimFactory(
            order=line.order,
            claim_type=claim_type,
            doa_reason=doa_reason,
            status=status,
            submitted_at=timezone.now() - timedelta(days=days_ago),
        ),
        order_line=line,
        quantity=quantity,
    )


def test_defects_by_sku_counts_warranty_and_doa_quality_claims():
    defect("CAGE-A", ClaimType.WARRANTY, quantity=2)
    defect("CAGE-A", ClaimType.WARRANTY)
    defect("CAGE-A", ClaimType.DOA, doa_reason=DoaReason.QUALITY_ISSUE)
    defect("ARM-B", ClaimType.DOA, doa_reason=DoaReason.QUALITY_ISSUE)
    # Not defects: other DOA reasons, no-reason returns, closed without a defect, too old.
    defect("ARM-B", ClaimType.DOA, doa_reason=DoaReason.WRONG_ITEM)
    defect("ARM-B", ClaimType.NO_REASON)
    defect("ARM-B", ClaimType.WARRANTY, status=ClaimStatus.REJECTED)
    defect("ARM-B", ClaimType.WARRANTY, status=ClaimStatus.RESOLVED)
    defect("ARM-B", ClaimType.WARRANTY, status=ClaimStatus.CANCELLED)
    defect("ARM-B", ClaimType.WARRANTY, days_ago=40)

    counts = selectors.defects_by_sku(timezone.localdate() - timedelta(days=30))

    assert [(c.sku, c.warranty_claims, c.doa_quality_claims, c.claims, c.units) for c in counts] == [
        ("CAGE-A", 2, 1, 3, 4),
        ("ARM-B", 0, 1, 1, 1),
    ]


def test_defects_by_sku_counts_the_replacements_shipped():
    shipped_replacement(faulty_serial="CAGE-1001", replacement_serial="CAGE-9001", line=line_with(["CAGE-1001"]))
    sku = Replacement.objects.get().claim_item.order_line.product.sku

    (count,) = selectors.defects_by_sku(timezone.now() - timedelta(days=1))

    assert (count.sku, count.warranty_claims, count.replacements_shipped) == (sku, 1, 1)


def test_defects_by_sku_since_a_day_counts_that_whole_day():
    item = defect("CAGE-A", ClaimType.WARRANTY, days_ago=0)
    day = timezone.localdate(item.claim.submitted_at)

    assert [c.sku for c in selectors.defects_by_sku(day)] == ["CAGE-A"]
    assert selectors.defects_by_sku(day + timedelta(days=1)) == []
