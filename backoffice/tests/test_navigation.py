"""Each role's sidebar and home: its queues, counted in one capped query, one click away."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice import navigation
from inspections.tests.conftest import approved_claim, receive, requested_claim
from refunds.models import Refund, RefundPurpose, RefundStatus
from refunds.tests.conftest import finance_user
from returns.models import Claim, ClaimStatus
from returns.tests.factories import ROLES, ClaimFactory, staff_user
from shipments.models import UnmatchedParcel, UnmatchedReason

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(django_user_model):
    return {
        "cs": staff_user(django_user_model, "agent", ROLES["cs"]),
        "warehouse": staff_user(django_user_model, "picker", ROLES["warehouse"]),
        "finance": finance_user(django_user_model, "payer"),
        "manager": staff_user(django_user_model, "boss", ROLES["manager"]),
    }


@pytest.fixture
def work(users):
    """Something in every queue: 2 claims to answer (one overdue), 1 awaiting the customer, 1 parcel awaited,
    1 parcel received to inspect, 1 unmatched parcel, 1 refund to approve and 1 failed."""
    cs, warehouse = users["cs"], users["warehouse"]
    requested_claim(cs)
    late = requested_claim(cs)
    Claim.objects.filter(pk=late.pk).update(first_response_due_at=timezone.now() - dt.timedelta(hours=1))
    ClaimFactory(status=ClaimStatus.AWAITING_CUSTOMER)
    approved_claim(cs)
    receive(approved_claim(cs), warehouse)
    UnmatchedParcel.objects.create(reason=UnmatchedReason.NO_RMA, received_by=warehouse)
    for status in (RefundStatus.PROPOSED, RefundStatus.FAILED):
        Refund.objects.create(
            claim=ClaimFactory(status=ClaimStatus.INSPECTED),
            purpose=RefundPurpose.INSPECTION,
            currency="USD",
            status=status,
        )


def badges(html: str) -> dict[str, str]:
    """The sidebar's items with a badge: title → what the badge reads."""
    found = {}
    for title, badge in re.findall(r"<span>([^<]+)</span>\s*<span[^>]*>\s*([^<]*?)\s*</span>", html):
        if badge:
            found[title.strip()] = badge
    return found


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("cs", {"Claims to answer": "2", "Awaiting the customer": "1", "Unmatched parcels": "1"}),
        ("warehouse", {"Parcels to receive": "1", "Items to inspect": "1"}),
        ("finance", {"Refunds to approve": "1", "Failed refunds": "1"}),
        (
            "manager",
            {"Claims to answer": "2", "Awaiting the customer": "1", "Unmatched parcels": "1"},
        ),
    ],
)
def test_each_role_sees_the_badges_of_its_own_queues(client, users, work, role, expected):
    client.force_login(users[role])

    html = client.get("/admin/returns/claim/").content.decode()

    assert badges(html) == expected


def test_the_badges_are_one_query_on_every_page(client, users, work):
    client.force_login(users["manager"])

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/admin/returns/claim/").status_code == 200

    marked = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(navigation.SQL_MARK)]
    assert len(marked) == 1
    assert marked[0].count("LIMIT 100") == 6  # the manager's five queues and the urgent answers, each capped


def test_the_badges_query_reads_indexes_not_the_claim_table(client, users, work):
    request = type("Request", (), {"user": users["manager"]})()
    with CaptureQueriesContext(connection) as captured:
        navigation.counts(request)
    (sql,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(navigation.SQL_MARK)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE returns_claim")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on returns_claim" not in plan, plan
    assert "claim_first_response_due" in plan and "claim_status_recent" in plan, plan


def test_claims_to_answer_turn_red_when_the_24_hours_are_near(client, users):
    cs = users["cs"]
    claim = requested_claim(cs)
    client.force_login(cs)
    calm = client.get("/admin/").content.decode()

    Claim.objects.filter(pk=claim.pk).update(first_response_due_at=timezone.now() + dt.timedelta(hours=2))
    near = client.get("/admin/").content.decode()

    assert "bg-blue-100" in badge_classes(calm, "Claims to answer") and "queue-urgent" not in calm
    assert "bg-red-500" in badge_classes(near, "Claims to answer") and "queue-urgent" in near


def badge_classes(html: str, title: str) -> str:
    """The classes of the sidebar badge beside ``title``."""
    return re.search(rf"<span>{title}</span>\s*<span class=\"([^\"]*)\"", html).group(1)


def test_a_badge_reads_cap_minus_one_plus_past_the_cap(client, users, monkeypatch):
    monkeypatch.setattr(navigation, "CAP", 3)
    for _ in range(4):
        ClaimFactory(status=ClaimStatus.AWAITING_CUSTOMER)
    client.force_login(users["cs"])

    assert badges(client.get("/admin/").content.decode())["Awaiting the customer"] == "2+"


def test_an_empty_queue_has_no_badge(client, users):
    client.force_login(users["finance"])

    html = client.get("/admin/").content.decode()

    assert badges(html) == {}
    assert 'id="queue-refunds_to_approve"' in html and 'data-count="0"' in html


def test_the_home_page_lists_the_roles_queues_with_counts_and_links(client, users, work):
    client.force_login(users["warehouse"])

    response = client.get("/admin/")

    queues = {queue["key"]: queue for queue in response.context["queues"]}
    assert set(queues) == {"parcels_to_receive", "items_to_inspect", "replacements_to_ship"}
    assert queues["parcels_to_receive"]["count"] == 1 and queues["items_to_inspect"]["count"] == 1
    html = response.content.decode()
    assert 'href="/admin/inspections/inspection/queue/"' in html
    assert 'href="/admin/shipments/returnparcel/receive/"' in html
    for queue in queues.values():
        assert client.get(queue["url"]).status_code == 200


def test_every_queue_link_lists_what_its_badge_counts(client, users, work):
    """The badge and the page it opens agree: each queue's list shows as many rows as its badge counts."""
    client.force_login(users["manager"])
    request = type("Request", (), {"user": users["manager"]})()
    counts = navigation.counts(request)

    for queue in navigation.QUEUES:
        if queue.key not in counts or queue.url_name == "admin:inspections_queue":
            continue
        response = client.get(navigation.queue_url(queue))
        assert response.status_code == 200, queue.key
        assert response.context["cl"].result_count == counts[queue.key], queue.key


def test_only_managers_see_the_managers_pages_in_the_sidebar(client, users):
    client.force_login(users["cs"])
    assert 'href="/admin/dashboard/"' not in client.get("/admin/").content.decode()

    client.force_login(users["manager"])
    html = client.get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in html and 'href="/admin/sla/"' in html


def test_the_sidebar_search_box_goes_to_the_claim_list(client, users):
    client.force_login(users["warehouse"])

    html = client.get("/admin/").content.decode()

    assert 'id="sidebar-claim-search" role="search"' in html and 'action="/admin/returns/claim/"' in html
