"""``seed_volume``: a small volume (2,000 claims) on the test database, checked the way the services would leave it."""

import io
import itertools
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import F

from returns import services
from returns.models import (
    OPEN_STATUSES,
    Claim,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    Order,
    OrderLine,
    Product,
    RmaSequence,
)
from returns.tests.factories import ClaimFactory

pytestmark = pytest.mark.django_db

AS_OF = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
CLAIMS, DUE = 2000, 60
RMA = re.compile(r"RMA-(\d{4})-(\d{6})")


def seed_volume(*extra) -> str:
    out = io.StringIO()
    call_command(
        "seed_volume", "--claims", str(CLAIMS), "--due", str(DUE), "--as-of", AS_OF.isoformat(), "--force", *extra,
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


def schema() -> set:
    """Every index and every constraint of the returns tables, as PostgreSQL would recreate them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename LIKE 'returns\\_%'")
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text LIKE 'returns\\_%'"
        )
        return indexes | set(cursor.fetchall())


def test_seed_volume_refuses_a_database_not_named_bench(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "NAME", "rma_production")
    with pytest.raises(CommandError, match="contains 'bench'"):
        call_command("seed_volume", "--claims", "10", stdout=io.StringIO())
    assert not Claim.objects.exists()


def test_seed_volume_writes_the_counts_it_prints():
    output = seed_volume("--truncate")
    assert Claim.objects.count() == CLAIMS
    assert Order.objects.count() == CLAIMS  # one order a claim
    assert Product.objects.count() == 300
    assert CLAIMS < OrderLine.objects.count() < 2 * CLAIMS
    assert not Claim.objects.filter(items__isnull=True).exists()
    assert re.search(rf"claims\s+returns_claim\s+{CLAIMS:,}\s", output)
    assert re.search(rf"claim events\s+returns_claimevent\s+{ClaimEvent.objects.count():,}\s", output)


def test_seeded_claims_pass_the_models_validation():
    seed_volume()
    # Foreign keys are checked by the database (re-added, validated, after the COPY); the rest here:
    # choices, e-mail addresses, lengths and the check constraints, as the admin's forms would.
    for claim in Claim.objects.all():
        claim.full_clean(exclude=["order", "policy_version", "created_by"], validate_unique=False)
    for model in (Order, OrderLine, ClaimItem, Product):
        for row in model.objects.all()[:500]:
            row.full_clean(exclude=["order", "product", "claim", "order_line"], validate_unique=False)


def test_seeded_claims_are_consistent_with_their_orders_and_items():
    seed_volume()
    claims = Claim.objects.select_related("order")
    assert all(c.order_number == c.order.number and c.customer_email == c.order.customer_email.lower() for c in claims)
    assert any(c.customer_email != c.order.customer_email for c in claims)  # some shops send capitals
    foreign = ClaimItem.objects.exclude(order_line__order_id=F("claim__order_id"))
    assert not foreign.exists()  # every item is a line of the claim's own order
    electronic = {c.pk for c in Claim.objects.filter(items__order_line__product__is_electronic=True)}
    assert electronic == set(Claim.objects.filter(is_electronic=True).values_list("pk", flat=True))
    received = Order.objects.values_list("received_on", flat=True)
    assert (max(received) - min(received)).days > 600  # spread over two years
    assert Claim.objects.filter(submitted_at__gt=AS_OF).count() == 0


def test_every_claim_has_a_create_event_and_events_that_lead_to_its_status():
    seed_volume()
    events = defaultdict(list)
    for event in ClaimEvent.objects.order_by("claim_id", "id"):
        events[event.claim_id].append(event)
    statuses = dict(Claim.objects.values_list("pk", "status"))
    assert set(events) == set(statuses)
    for claim_id, history in events.items():
        assert [e.action for e in history].count("create") == 1
        assert history[0].action == "create" and history[0].to_status == ClaimStatus.REQUESTED
        changes = [e for e in history if not e.action.startswith("sla_")]
        for before, after in itertools.pairwise(changes):
            assert after.from_status == before.to_status, (claim_id, before.action, after.action)
        assert changes[-1].to_status == statuses[claim_id]
        assert [e.created_at for e in history] == sorted(e.created_at for e in history)
        if statuses[claim_id] != ClaimStatus.REQUESTED:
            assert len(history) >= 2


def test_seeded_claims_span_every_type_and_status_and_most_are_closed():
    seed_volume()
    assert set(Claim.objects.values_list("status", flat=True)) == set(ClaimStatus.values)
    assert set(Claim.objects.values_list("claim_type", flat=True)) == {"doa", "no_reason", "warranty"}
    assert Claim.objects.filter(status__in=OPEN_STATUSES).count() < CLAIMS * 0.2


def test_rma_numbers_are_unique_given_on_approval_and_the_counter_continues_after_them():
    seed_volume()
    numbers = list(Claim.objects.exclude(rma_number=None).values_list("rma_number", flat=True))
    approved = set(ClaimEvent.objects.filter(action="approve").values_list("claim_id", flat=True))
    assert set(Claim.objects.exclude(rma_number=None).values_list("pk", flat=True)) == approved
    assert not Claim.objects.filter(
        status__in=[ClaimStatus.APPROVED, ClaimStatus.SHIPPED, ClaimStatus.INSPECTED, ClaimStatus.REFUNDED],
        rma_number=None,
    ).exists()
    assert len(set(numbers)) == len(numbers) > CLAIMS / 2
    last = defaultdict(int)
    for number in numbers:
        year, value = map(int, RMA.fullmatch(number).groups())
        last[year] = max(last[year], value)
    assert dict(RmaSequence.objects.values_list("year", "last_value")) == dict(last)
    with transaction.atomic():
        assert services._next_rma_number() not in numbers


def test_the_due_claims_are_exactly_what_the_sla_sweep_finds_at_the_seeds_moment():
    seed_volume()
    assert services.sla_sweep(now=AS_OF) == {"reminded": DUE // 2, "escalated": DUE // 2}
    assert services.sla_sweep(now=AS_OF) == {"reminded": 0, "escalated": 0}
    running = Claim.objects.exclude(first_response_due_at=None)
    assert set(running.values_list("status", flat=True)) == {ClaimStatus.REQUESTED}
    assert running.filter(first_response_due_at__gt=AS_OF + timedelta(hours=4)).exists()  # fresh claims, due later


def test_seeding_puts_back_every_index_and_constraint_and_the_id_sequences():
    before = schema()
    seed_volume("--truncate")
    assert schema() == before
    ClaimFactory()  # the ORM's next ids do not collide with the copied ones


def test_seeding_leaves_statistics_for_the_rebuilt_expression_indexes():
    """The planner reads an expression index's statistics; an ANALYZE before its rebuild leaves none."""
    seed_volume("--truncate")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'refund_final_approval'")
        assert cursor.fetchone()[0] == 1


def test_seeded_parcel_clocks_are_what_the_services_and_the_parcel_sweep_would_leave():
    seed_volume()
    approvals = dict(ClaimEvent.objects.filter(action="approve").values_list("claim_id", "created_at"))
    received = set(ClaimEvent.objects.filter(action="receive").values_list("claim_id", flat=True))
    claims = list(Claim.objects.all())
    for claim in claims:
        assert claim.approved_at == approvals.get(claim.pk), claim.pk
        awaited = (
            claim.pk in approvals
            and not claim.is_returnless
            and claim.status in (ClaimStatus.APPROVED, ClaimStatus.SHIPPED)
            and claim.pk not in received
        )
        assert claim.awaiting_parcel_since == (claim.approved_at if awaited else None), claim.pk
    for action, marker in (("parcel_reminded", "parcel_reminded_at"), ("parcel_escalated", "parcel_escalated_at")):
        events = dict(ClaimEvent.objects.filter(action=action).values_list("claim_id", "created_at"))
        assert events, action  # two years of history: some parcels came late
        assert {c.pk: getattr(c, marker) for c in claims if getattr(c, marker)} == events
        assert set(ClaimEvent.objects.filter(action=action).values_list("actor_kind", flat=True)) == {"system"}
    for claim in Claim.objects.filter(parcel_reminded_at__isnull=False):
        assert claim.parcel_reminded_at - claim.approved_at >= timedelta(days=7)
    assert Claim.objects.filter(awaiting_parcel_since__isnull=False).exists()

    report = services.parcel_sweep(now=AS_OF)

    # The seed wrote what a beat every five minutes did; at as_of only a threshold passed in those minutes is due.
    assert report["expired"] == 0
    for claim in Claim.objects.filter(parcel_reminded_at=AS_OF):
        assert claim.awaiting_parcel_since > AS_OF - timedelta(days=7, minutes=5)
    for claim in Claim.objects.filter(parcel_escalated_at=AS_OF):
        assert claim.awaiting_parcel_since > AS_OF - timedelta(days=14, minutes=5)
