"""The SLA sweep is "an indexed range query, not a scan" (DESIGN.md, SLAs): its selecting queries can use
the partial index on ``first_response_due_at``. benchmarks/sla_sweep.py shows the same plans on a million claims.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from returns import services
from returns.models import Claim, ClaimStatus, ClaimType, PolicyVersion
from returns.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def claims():
    """A few hundred claims: most answered (no clock), some running and due later, five due soon, five overdue."""
    order = OrderFactory()
    policy = PolicyVersion.objects.latest()

    def claim(status, due):
        return Claim(
            order=order,
            order_number=order.number,
            customer_email=order.customer_email,
            claim_type=ClaimType.NO_REASON,
            description="Not for me.",
            policy_version=policy,
            submitted_at=NOW - dt.timedelta(days=2),
            status=status,
            first_response_due_at=due,
        )

    Claim.objects.bulk_create(
        [claim(ClaimStatus.APPROVED, None) for _ in range(300)]
        + [claim(ClaimStatus.REQUESTED, NOW + dt.timedelta(hours=8, minutes=n)) for n in range(40)]
        + [claim(ClaimStatus.REQUESTED, NOW + dt.timedelta(minutes=30 + n)) for n in range(5)]
        + [claim(ClaimStatus.REQUESTED, NOW - dt.timedelta(minutes=30 + n)) for n in range(5)]
    )


def sweep_selecting_queries() -> list[str]:
    """Run the sweep and return the SQL of its SELECTs of claims by their deadline, as Django sent them."""
    with CaptureQueriesContext(connection) as captured:
        report = services.sla_sweep(now=NOW)
    assert report == {"reminded": 5, "escalated": 5}
    return [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT")
        and 'FROM "returns_claim"' in query["sql"]
        and "first_response_due_at" in query["sql"]
    ]


def test_sla_sweep_selects_due_claims_through_the_partial_index(claims):
    statements = sweep_selecting_queries()
    assert len(statements) == 2  # due soon, overdue
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for sql in statements:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    for plan in plans:
        assert "Seq Scan on returns_claim" not in plan, plan
        assert "claim_first_response_due" in plan, plan
