"""The search box finds a claim by any of its numbers, exactly, through indexes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice import search
from returns.models import Claim, ClaimStatus
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, staff_user
from shipments.models import OutboundParcel, OutboundPurpose, ReturnParcel

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/returns/claim/"


@pytest.fixture
def claims():
    """The wanted claim, with every kind of number, among others."""
    wanted = ClaimFactory(rma_number="RMA-2026-000042", status=ClaimStatus.SHIPPED)
    ClaimItemFactory(claim=wanted, serial_number="SN-CAGE-0042")
    ReturnParcel.objects.create(claim=wanted, entered_via="staff", carrier="DHL", tracking_number="JD014600006281")
    OutboundParcel.objects.create(claim=wanted, purpose=OutboundPurpose.REPLACEMENT, tracking_number="SF1234567890")
    for _ in range(3):
        ClaimItemFactory(serial_number="SN-OTHER")
    return wanted


@pytest.mark.parametrize(
    "term",
    [
        "RMA-2026-000042",
        "rma-2026-000042",  # RMA numbers are stored in capitals
        "order",  # the claim's order number
        "email",  # the customer's email, in any case
        "JD014600006281",  # the return parcel's tracking number
        "jd014600006281",
        "SF1234567890",  # the replacement's tracking number
        "SN-CAGE-0042",  # the serial the customer gave
        "  SN-CAGE-0042  ",
    ],
)
def test_a_claim_is_found_by_any_of_its_numbers(client, django_user_model, claims, term):
    term = {"order": claims.order_number, "email": claims.customer_email.upper()}.get(term, term)
    client.force_login(staff_user(django_user_model, "agent", ROLES["cs"]))

    response = client.get(CHANGELIST, {"q": term})

    assert list(response.context["cl"].result_list) == [claims]


@pytest.mark.parametrize("term", ["RMA-2026", "JD0146", "SN-CAGE", "example.com", "x" * 300])
def test_a_part_of_a_number_finds_nothing(claims, term):
    """Exact matches only: a prefix or a part would need a scan; a person types or scans the whole number."""
    assert not search.find_claims(Claim.objects.all(), term).exists()


def test_the_search_is_one_query_of_index_lookups(claims):
    queryset = search.find_claims(Claim.objects.all(), "SN-CAGE-0042")

    with CaptureQueriesContext(connection) as captured:
        found = list(queryset)
    with connection.cursor() as cursor:
        for table in ("returns_claim", "returns_claimitem", "shipments_returnparcel", "shipments_outboundparcel"):
            cursor.execute(f"ANALYZE {table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()

    assert found == [claims] and len(captured) == 1
    assert "Seq Scan" not in plan, plan
    for index in ("claim_item_serial", "outbound_tracking", "returns_claim_pkey", "replacement_faulty_serial"):
        assert index in plan, (index, plan)
