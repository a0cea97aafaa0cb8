"""The big lists stay fast: a fixed number of queries, no COUNT(*) over the table, indexed search."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice import navigation
from backoffice.paginators import EstimatedCountPaginator, estimate_or_count_sql
from inspections.models import Inspection
from refunds.models import OPEN_STATUSES, QUEUE_OPEN_BELOW, QUEUE_ORDER, Refund, RefundPurpose, RefundStatus
from returns.models import Claim, ClaimStatus
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, staff_user
from shipments.models import ReturnParcel

pytestmark = pytest.mark.django_db

COUNT = re.compile(r"\bCOUNT\(", re.IGNORECASE)
# The paginator's count (Django's ``QuerySet.count()``); a grouped report (the refunds' open totals) is not one.
ROW_COUNT = re.compile(r"SELECT COUNT\(\*\)")


@pytest.fixture
def manager(django_user_model):
    return staff_user(django_user_model, "boss", ROLES["manager"])


def page_queries(client, url: str) -> list[str]:
    """The page's own queries: without the sidebar's badges (each capped, one query on every page; pinned in
    backoffice/tests/test_navigation.py)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return [query["sql"] for query in captured.captured_queries if not query["sql"].startswith(navigation.SQL_MARK)]


def full_counts(queries: list[str]) -> list[str]:
    """Row counts without a LIMIT inside: counts of a whole table or filter."""
    return [sql for sql in queries if ROW_COUNT.search(sql) and "LIMIT" not in sql]


def make_claims(n: int) -> None:
    for _ in range(n):
        ClaimItemFactory()


CLAIM_LISTS = [
    "/admin/returns/claim/",
    "/admin/returns/claim/?status__exact=requested",
    "/admin/returns/claim/?claim_type__exact=no_reason&is_electronic__exact=0",
    "/admin/returns/claim/?is_electronic__isnull=True",
    "/admin/returns/claim/?order__received_on__isnull=True",
    "/admin/returns/claim/?q=customer1@example.com",
    "/admin/returns/claim/?sku=SKU-00001",
    "/admin/returns/claim/?first_response=overdue",
    "/admin/returns/claim/?parcel=any",
    "/admin/returns/claim/?parcel=escalated",
]


@pytest.mark.parametrize("url", CLAIM_LISTS)
def test_claim_list_queries_do_not_grow_with_the_claims(client, manager, url):
    client.force_login(manager)
    make_claims(3)
    few = page_queries(client, url)
    make_claims(40)

    many = page_queries(client, url)

    assert len(many) == len(few) <= 8
    assert not full_counts(many)


def test_claim_list_query_count_is_pinned(client, manager, django_assert_num_queries):
    client.force_login(manager)
    make_claims(5)
    # session, user, the user's and the groups' permissions, the manager check (export links),
    # the sidebar's queue badges (one query, backoffice/navigation.py),
    # the count (estimate or bounded count, one statement), the page of claims with their orders
    with django_assert_num_queries(8):
        assert client.get("/admin/returns/claim/").status_code == 200


def test_unfiltered_list_takes_the_planners_estimate_of_a_big_table(client, manager, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 5)
    client.force_login(manager)
    make_claims(12)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE returns_claim")

    queries = page_queries(client, "/admin/returns/claim/")
    response = client.get("/admin/returns/claim/")

    [count] = [sql for sql in queries if COUNT.search(sql)]
    assert "reltuples" in count
    paginator = response.context["cl"].paginator
    assert paginator.estimated and paginator.count == 12  # ANALYZE saw every row of a small table


def test_the_estimate_leaves_the_bounded_count_unexecuted_on_a_big_table():
    make_claims(12)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE returns_claim")
        sql, params = estimate_or_count_sql(Claim.objects.all(), cap=5)
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "(never executed)" in plan, plan  # the bounded count's subplan


def test_a_small_table_is_counted_exactly(client, manager):
    client.force_login(manager)
    make_claims(7)

    response = client.get("/admin/returns/claim/")

    assert response.context["cl"].result_count == 7
    assert not response.context["cl"].paginator.estimated


def test_filtered_list_counts_at_most_cap_plus_one(client, manager, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 5)
    client.force_login(manager)
    make_claims(8)

    queries = page_queries(client, "/admin/returns/claim/?status__exact=requested")
    response = client.get("/admin/returns/claim/?status__exact=requested")

    [count] = [sql for sql in queries if COUNT.search(sql)]
    assert "LIMIT 6" in count
    assert response.context["cl"].result_count == 6


def _plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("term", ["RMA-2026-000007", "SO-100007", "Customer7@Example.com"])
def test_claim_search_uses_an_index(manager, term):
    make_claims(3)
    request = RequestFactory().get("/admin/returns/claim/", {"q": term})
    request.user = manager
    queryset = site._registry[Claim].get_changelist_instance(request).queryset

    plan = _plan(*queryset.query.sql_with_params())

    assert "Seq Scan on returns_claim" not in plan, plan
    assert "Index" in plan, plan


def _refunds(n: int) -> None:
    for k in range(n):
        claim = ClaimFactory(status=ClaimStatus.INSPECTED, rma_number=f"RMA-2026-{500000 + Refund.objects.count():06d}")
        status = (RefundStatus.PROPOSED, RefundStatus.APPROVED, RefundStatus.FAILED)[k % 3]
        Refund.objects.create(
            claim=claim,
            purpose=RefundPurpose.INSPECTION,
            currency="USD",
            total=Decimal("10.00"),
            status=status,
            approved_at=timezone.now() - timedelta(days=k) if status != RefundStatus.PROPOSED else None,
        )


@pytest.mark.parametrize("url", ["/admin/refunds/refund/", "/admin/refunds/refund/?status=all"])
def test_refunds_queue_queries_do_not_grow_with_the_refunds(client, manager, url):
    client.force_login(manager)
    _refunds(3)
    few = page_queries(client, url)
    _refunds(30)

    many = page_queries(client, url)

    assert len(many) == len(few) == REFUNDS_QUEUE_QUERIES
    assert not full_counts(many)


# session, user, two permission queries, the manager check (export links), the count, the page, the open
# totals, the closure days for the ages
REFUNDS_QUEUE_QUERIES = 9


def test_refunds_queue_is_ordered_by_the_stored_priority_then_age(client, manager):
    client.force_login(manager)
    _refunds(6)
    Refund.objects.filter(pk=Refund.objects.order_by("pk").first().pk).update(status=RefundStatus.SUCCEEDED)

    shown = list(client.get("/admin/refunds/refund/?status=all").context["cl"].result_list)

    # The database keeps the rank in step with the status, whatever wrote it (here a bare update).
    assert [refund.queue_priority for refund in shown] == [QUEUE_ORDER.index(r.status) for r in shown]
    assert [(r.queue_priority, r.created_at) for r in shown] == sorted((r.queue_priority, r.created_at) for r in shown)
    assert shown[-1].status == RefundStatus.SUCCEEDED


def test_open_refunds_rank_before_the_closed_ones():
    """The queue's default filter is ``queue_priority < QUEUE_OPEN_BELOW``: it must mean "open"."""
    assert set(QUEUE_ORDER[:QUEUE_OPEN_BELOW]) == set(OPEN_STATUSES)
    assert set(QUEUE_ORDER[QUEUE_OPEN_BELOW:]) == set(RefundStatus) - set(OPEN_STATUSES)


@pytest.mark.parametrize("url", ["/admin/refunds/refund/", "/admin/refunds/refund/?status=all"])
def test_refunds_queue_reads_its_index(manager, url):
    _refunds(3)
    request = RequestFactory().get(url)
    request.user = manager
    changelist = site._registry[Refund].get_changelist_instance(request)
    sql, params = changelist.queryset[:100].query.sql_with_params()

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")  # only an index can give the order then
        plan = _plan(sql, params)

    assert "refund_queue_order" in plan, plan
    assert "Sort" not in plan, plan


def _inspected(n: int, inspector) -> None:
    for _ in range(n):
        item = ClaimItemFactory(claim__status=ClaimStatus.SHIPPED)
        ReturnParcel.objects.create(
            claim=item.claim, carrier="DHL", tracking_number=f"T{item.pk}", received_at=timezone.now()
        )
        Inspection.objects.create(claim_item=item, inspector=inspector)


@pytest.mark.parametrize("url", ["/admin/inspections/inspection/", "/admin/inspections/inspection/queue/"])
def test_inspection_pages_queries_do_not_grow(client, manager, url):
    client.force_login(manager)
    _inspected(3, manager)
    few = page_queries(client, url)
    _inspected(30, manager)

    many = page_queries(client, url)

    assert len(many) == len(few) <= 8
    assert not full_counts(many)


# --- seed_volume's refunds step (the data the benchmarks run on) -------------------------------


def _refund_schema() -> set:
    with connection.cursor() as cursor:
        # Names: a partial index's definition reads back with different casts once made again.
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'refunds\\_refund%'")
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text LIKE 'refunds\\_refund%'"
        )
        return indexes | set(cursor.fetchall())


def test_seed_volume_writes_a_refund_for_each_refunded_and_inspected_claim():
    import io
    from collections import defaultdict
    from datetime import UTC, datetime

    from django.core.management import call_command
    from django.db.models import Sum

    from refunds.models import LineKind, RefundLine
    from returns.models import ClaimEvent, ClaimType

    before = _refund_schema()
    as_of = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    out = io.StringIO()
    call_command("seed_volume", "--claims", "2000", "--as-of", as_of.isoformat(), "--force", "--truncate", stdout=out)

    refunds = {refund.claim_id: refund for refund in Refund.objects.select_related("claim")}
    refunded = set(Claim.objects.filter(status=ClaimStatus.REFUNDED).values_list("pk", flat=True))
    inspected = set(
        Claim.objects.filter(status=ClaimStatus.INSPECTED)
        .exclude(claim_type=ClaimType.WARRANTY)
        .values_list("pk", flat=True)
    )
    assert refunded and inspected
    assert set(refunds) == refunded | inspected
    assert re.search(rf"refunds and their lines\s+refunds_refund\s+{len(refunds):,}\s", out.getvalue())
    paid_on = dict(ClaimEvent.objects.filter(action="refund").values_list("claim_id", "created_at"))
    lines = defaultdict(list)
    for line in RefundLine.objects.select_related("order_line"):
        lines[line.refund_id].append(line)
    for claim_id, refund in refunds.items():
        if claim_id in refunded:
            assert refund.status == RefundStatus.SUCCEEDED and refund.succeeded_at == paid_on[claim_id]
            assert refund.approved_at < refund.succeeded_at
        else:
            assert refund.status in (RefundStatus.PROPOSED, RefundStatus.APPROVED) and refund.succeeded_at is None
        if refund.approved_at:
            assert refund.approved_at < refund.refund_target_at < refund.refund_due_at
        goods = [line for line in lines[refund.pk] if line.kind == LineKind.GOODS]
        deductions = [line for line in lines[refund.pk] if line.kind == LineKind.DEDUCTION]
        assert goods and refund.total == sum(g.amount for g in goods) - sum(d.amount for d in deductions)
        assert {g.order_line.currency for g in goods} == {refund.currency}
        assert {g.order_line.order_id for g in goods} == {refund.claim.order_id}
    assert RefundLine.objects.aggregate(n=Sum("amount"))["n"] > 0
    assert _refund_schema() == before
    Refund.objects.create(claim=ClaimFactory(), purpose="inspection", currency="USD")  # the sequences moved on


# --- Every admin search is served by indexes --------------------------------------------------------------

# Tables that stay small whatever the business's size (staff, their devices and lockouts, the catalogue,
# the few parcels no claim matched): reading them whole is cheaper than another index to keep.
SMALL_TABLES = {
    "auth_user",
    "auth_group",
    "otp_totp_totpdevice",
    "otp_static_staticdevice",
    "axes_accessattempt",
    "returns_product",
    "shipments_unmatchedparcel",
}
SEARCH_TERMS = ["RMA-2026-000042", "#1001", "Customer@Example.com", "SN-CAGE-0042", "4503599627370496"]


def _searched_by_reading_all(plan: dict, terms: list[str]) -> tuple[list[str], list[str]]:
    """(whole reads under ``plan``, the nodes that apply a search term by filtering rows of a whole read).

    A whole read is a sequential scan, or an index scan with no condition on its (non-partial) index: every
    entry in the index's order. Whether PostgreSQL joins the other tables by nested loops or by reading them
    whole depends on their statistics, which a test database's empty tables make arbitrary; a term that only
    a filter over a whole read can apply does not (no index serves it)."""
    whole = []
    flagged = []
    for child in plan.get("Plans", []):
        child_whole, child_flagged = _searched_by_reading_all(child, terms)
        whole += child_whole
        flagged += child_flagged
    node = plan["Node Type"]
    if plan.get("Relation Name") not in SMALL_TABLES and (
        node == "Seq Scan" or (node in ("Index Scan", "Index Only Scan") and "Index Cond" not in plan)
    ):
        whole.append(f"{node} on {plan['Relation Name']}")
    filters = f"{plan.get('Filter', '')} {plan.get('Join Filter', '')}".lower()
    if whole and any(term.lower() in filters for term in terms):
        flagged.append(f"{node}: {filters.strip()} over {', '.join(whole)}")
    return whole, flagged


def _searched_by_reading_all_of(sql: str, params, terms: list[str]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # what no index can serve is still read whole
        # Plan as for tables of unknown size, as on a fresh database, whatever earlier tests and autovacuum
        # left in the statistics: an empty table once analysed makes every plan cost nothing, and the planner
        # may then filter a whole index rather than use the one that serves the term. Undone with the test.
        cursor.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0 "
            "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        )
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        [[explained]] = cursor.fetchall()
    return _searched_by_reading_all(explained[0]["Plan"], terms)[1]


@pytest.mark.parametrize(
    "model_admin", [ma for ma in site._registry.values() if ma.search_fields], ids=lambda ma: ma.model._meta.label
)
@pytest.mark.parametrize("term", SEARCH_TERMS)
def test_every_admin_search_reads_indexes_not_whole_tables(manager, model_admin, term):
    """Django's ``=field`` search compares ``UPPER(column)``, which a plain index does not serve, and its
    default search ``icontains``; each list's search is exact and indexed (an expression index where the
    case may differ), so a search answers as fast at a million rows as at ten."""
    request = RequestFactory().get("/", {"q": term})
    request.user = manager
    queryset, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), term)

    sql, params = queryset.order_by().query.sql_with_params()
    assert _searched_by_reading_all_of(sql, params, [term, term.lstrip("#")]) == []


def test_the_portal_and_the_inbox_find_orders_through_indexes():
    """An order as the customer types it (``portal.services.order_find``), and the sender's orders beside an
    email (``inbox.selectors.candidate_orders``): every query an index lookup."""
    from inbox.models import InboundMessage
    from inbox.selectors import candidate_orders
    from portal.services import order_find

    message = InboundMessage(sender_email="Customer@Example.com", subject="About order 1001", body_text="")
    with CaptureQueriesContext(connection) as captured:
        order_find(order_number="#1001", email="customer@example.com")
        candidate_orders(message)

    assert len(captured) >= 4  # three spellings of the number, then the inbox's two reads
    for query in captured.captured_queries:
        assert _searched_by_reading_all_of(query["sql"], None, ["1001", "customer@example.com"]) == [], query["sql"]
