"""The dashboard's numbers on small known data, its filters, and the links to the claims behind each chart.

Two company-local weeks (Asia/Shanghai), Monday 5 to Sunday 18 January 2026. Five claims in it:

| claim | made (local)         | type       | reason       | SKU | electronic | first response |
|-------|----------------------|------------|--------------|-----|------------|----------------|
| c1    | Mon 5 Jan 00:30      | DOA        | wrong item   | A   | no         | met            |
| c2    | Wed 7 Jan            | DOA        | damage       | A   | no         | late           |
| c3    | Mon 12 Jan 01:00     | no-reason  |              | B   | yes        | met            |
| c4    | Wed 14 Jan           | warranty   |              | B   | yes        | not answered, due passed |
| c5    | Thu 15 Jan           | warranty   |              | A   | no         | met            |

and one made on Sun 4 Jan 23:30 local (outside). Units sold on orders received in the
period: A 4 + 6, B 4 (the claims' own orders were received before it).
"""

import html
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice import dashboard
from refunds.models import Refund, RefundPurpose, RefundStatus
from returns.models import Claim, ClaimEvent, ClaimType, DoaReason, Product
from returns.tests.factories import (
    ROLES,
    ClaimFactory,
    ClaimItemFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    staff_user,
)

pytestmark = pytest.mark.django_db

LOCAL = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
WEEK1, WEEK2 = date(2026, 1, 5), date(2026, 1, 12)
PERIOD = dashboard.Filters(start=date(2026, 1, 5), end=date(2026, 1, 18))
QUERY = "start=2026-01-05&end=2026-01-18"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL)


@pytest.fixture(autouse=True)
def company_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def data():
    a = ProductFactory(sku="SR-A", name="Cage A")
    b = ProductFactory(sku="SR-B", name="Monitor B", is_electronic=True)
    for product, quantity in ((a, 4), (a, 6), (b, 4)):
        OrderLineFactory(order=OrderFactory(received_on=date(2026, 1, 9)), product=product, quantity=quantity)
    OrderLineFactory(order=OrderFactory(received_on=date(2026, 1, 30)), product=b, quantity=50)  # after the period

    def claim(made, claim_type, product, met, reason="", **fields):
        made_claim = ClaimFactory(
            order=OrderFactory(received_on=date(2026, 1, 2)),
            submitted_at=made,
            claim_type=claim_type,
            doa_reason=reason,
            is_electronic=product.is_electronic,
            first_response_met=met,
            **fields,
        )
        ClaimItemFactory(claim=made_claim, order_line__product=product)
        return made_claim

    c = {
        "c1": claim(local(2026, 1, 5, 0, 30), ClaimType.DOA, a, True, DoaReason.WRONG_ITEM),
        "c2": claim(local(2026, 1, 7, 9), ClaimType.DOA, a, False, DoaReason.DAMAGE),
        "c3": claim(datetime(2026, 1, 11, 17, tzinfo=UTC), ClaimType.NO_REASON, b, True),
        "c4": claim(local(2026, 1, 14, 9), ClaimType.WARRANTY, b, None, first_response_due_at=local(2026, 1, 15, 9)),
        "c5": claim(local(2026, 1, 15, 9), ClaimType.WARRANTY, a, True),
        "outside": claim(local(2026, 1, 4, 23, 30), ClaimType.DOA, a, True, DoaReason.WRONG_ITEM),
    }

    def approve(claim, moment):
        event = ClaimEvent.objects.create(
            claim=claim, actor_kind="system", action="approve", from_status="requested", to_status="approved"
        )
        ClaimEvent.objects.filter(pk=event.pk).update(created_at=moment)

    approve(c["c1"], local(2026, 1, 5, 12))
    approve(c["c2"], local(2026, 1, 6, 12))
    approve(c["c3"], local(2026, 1, 12, 12))

    def refund(claim, currency, total, status, approved, target, due, succeeded=None):
        return Refund.objects.create(
            claim=claim, purpose=RefundPurpose.INSPECTION, currency=currency, total=Decimal(total), status=status,
            approved_at=approved, refund_target_at=target, refund_due_at=due, succeeded_at=succeeded,
        )  # fmt: skip

    ok = RefundStatus.SUCCEEDED
    refund(
        c["c1"], "USD", "10.00", ok, local(2026, 1, 6), local(2026, 1, 13), local(2026, 1, 15), local(2026, 1, 8, 12)
    )
    refund(
        c["c2"], "USD", "5.50", ok, local(2026, 1, 6), local(2026, 1, 12), local(2026, 1, 14), local(2026, 1, 12, 12)
    )
    refund(c["c3"], "EUR", "20.00", ok, local(2026, 1, 12), local(2026, 1, 19), local(2026, 1, 21), local(2026, 1, 14))
    refund(c["c4"], "USD", "99.00", RefundStatus.FAILED, local(2026, 1, 13), local(2026, 1, 20), local(2026, 1, 22))
    refund(c["c5"], "USD", "7.00", ok, local(2026, 1, 16), local(2026, 1, 23), local(2026, 1, 27), local(2026, 1, 20))
    return c


def test_claims_per_week_by_type_counts_in_company_weeks(data):
    assert dashboard.claims_per_week_by_type(PERIOD) == {
        (WEEK1, "doa"): 2,
        (WEEK2, "no_reason"): 1,  # made on Sunday 11 Jan in UTC, Monday 12 Jan in the company's time
        (WEEK2, "warranty"): 2,
    }


def test_claims_per_week_follows_the_filters(data):
    warranty = dashboard.Filters(PERIOD.start, PERIOD.end, claim_type=ClaimType.WARRANTY)
    electronic = dashboard.Filters(PERIOD.start, PERIOD.end, electronic=True)
    sku_a = dashboard.Filters(PERIOD.start, PERIOD.end, sku="SR-A")

    assert dashboard.claims_per_week_by_type(warranty) == {(WEEK2, "warranty"): 2}
    assert dashboard.claims_per_week_by_type(electronic) == {(WEEK2, "no_reason"): 1, (WEEK2, "warranty"): 1}
    assert dashboard.claims_per_week_by_type(sku_a) == {(WEEK1, "doa"): 2, (WEEK2, "warranty"): 1}


def test_top_reasons_most_first(data):
    reasons = [(r.label, r.claims) for r in dashboard.top_reasons(PERIOD)]

    assert reasons == [
        ("Warranty", 2),
        ("DOA: Physical damage or scratch", 1),
        ("DOA: Wrong item received", 1),
        ("No-reason return", 1),
    ]


def test_sku_claim_rate_is_claims_per_unit_sold_in_the_period(data):
    rates, unsold = dashboard.sku_claim_rates(PERIOD)

    assert [(r.sku, r.claims, r.units_sold, r.rate) for r in rates] == [("SR-B", 2, 4, 0.5), ("SR-A", 3, 10, 0.3)]
    assert rates[1].reasons == {
        "doa:wrong_item": ("doa", "wrong_item", 1),
        "doa:damage": ("doa", "damage", 1),
        "warranty": ("warranty", "", 1),
    }
    assert unsold == 0


def test_sku_claim_rate_counts_units_claimed_not_claims(data):
    claim = ClaimFactory(submitted_at=local(2026, 1, 8), claim_type=ClaimType.NO_REASON)
    ClaimItemFactory(claim=claim, quantity=3, order_line__product=Product.objects.get(sku="SR-A"))

    rates, _ = dashboard.sku_claim_rates(PERIOD)

    [sku_a] = [rate for rate in rates if rate.sku == "SR-A"]
    assert (sku_a.claims, sku_a.units_claimed, sku_a.units_sold) == (4, 6, 10)
    assert sku_a.rate == 0.6  # 6 units claimed of 10 sold, never claims over units
    assert sku_a.reasons["no_reason"] == ("no_reason", "", 3)


def test_sku_claim_rate_leaves_out_skus_that_sold_nothing(data):
    ClaimItemFactory(claim__submitted_at=local(2026, 1, 8), order_line__product=ProductFactory(sku="SR-C"))

    rates, unsold = dashboard.sku_claim_rates(PERIOD)

    assert [r.sku for r in rates] == ["SR-B", "SR-A"]
    assert unsold == 1


def test_refund_value_per_week_per_currency_counts_succeeded_refunds_by_payment_week(data):
    assert dashboard.refund_value_per_week(PERIOD) == {
        (WEEK1, "USD"): (Decimal("10.000"), 1),
        (WEEK2, "USD"): (Decimal("5.500"), 1),
        (WEEK2, "EUR"): (Decimal("20.000"), 1),
    }  # c4's failed refund and c5's, paid on 20 January, are not in it


def test_first_response_compliance_per_week(data):
    weeks = dashboard.first_response_per_week(PERIOD, NOW)

    assert {week: (row["claims"], row["judged"], row["met"]) for week, row in weeks.items()} == {
        WEEK1: (2, 2, 1),
        WEEK2: (3, 3, 2),  # c4 unanswered, its 24 hours passed: judged, missed
    }


def test_refund_sla_compliance_per_week_of_approval(data):
    weeks = dashboard.refund_sla_per_week(PERIOD, NOW)

    assert {
        week: (row["refunds"], row["target_judged"], row["within_target"], row["due_judged"], row["within_due"])
        for week, row in weeks.items()
    } == {
        WEEK1: (2, 2, 1, 2, 2),  # c2's refund missed its 5-day target, made its 7-day due
        WEEK2: (3, 3, 2, 3, 2),  # c4's failed refund missed both
    }


def test_days_from_approval_to_refund_per_week(data):
    weeks = dashboard.approval_to_refund_per_week(PERIOD)

    assert weeks == {WEEK1: (pytest.approx(3.0), 1), WEEK2: (pytest.approx(3.75), 2)}  # (6 + 1.5) / 2


@pytest.fixture
def manager_client(client, django_user_model):
    client.force_login(staff_user(django_user_model, "boss", ROLES["manager"]))
    return client


def test_dashboard_draws_every_chart_with_titles_and_values(manager_client, data):
    page = manager_client.get(f"/admin/dashboard/?{QUERY}").content.decode()

    assert page.count('<svg class="chart"') == 7  # refund value: one chart per currency (EUR, USD)
    for title in (
        "Claims per week by type", "Top reasons", "SKUs by claim rate", "Refund value per week, EUR",
        "Refund value per week, USD", "SLA compliance per week", "Average days from approval to refund",
    ):  # fmt: skip
        assert f">{title}</title>" in page
    assert "<title>Week of 05 Jan 2026: 2 DOA return (7 days) claims</title>" in page
    assert "<title>SR-B: 1 unit claimed for Warranty of 4 sold (25.0%)</title>" in page
    assert "<title>Week of 12 Jan 2026: 20.00 EUR in 1 refund(s)</title>" in page
    assert "<title>Week of 12 Jan 2026: 2 of 3 claims answered within 24 h (66.7%)</title>" in page
    assert "<title>Week of 05 Jan 2026: 1 of 2 refunds sent within 5 working days (50.0%)</title>" in page
    assert "<title>Week of 12 Jan 2026: 3.8 days on average over 2 refund(s)</title>" in page
    assert "Over the period: 3.5 days on average, 3 refund(s)." in page  # (3 + 6 + 1.5) / 3


def _link(page: str, title: str) -> str:
    match = re.search(r'<a href="([^"]+)"><(?:rect|circle) [^>]*><title>' + re.escape(title) + "</title>", page)
    assert match, title
    return html.unescape(match.group(1))


def _claims(client, url: str) -> set:
    response = client.get(url)
    assert response.status_code == 200, url
    assert "?e=1" not in response.get("Location", "")
    return {claim.pk for claim in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Week of 05 Jan 2026: 2 DOA return (7 days) claims", {"c1", "c2"}),
        ("Week of 12 Jan 2026: 2 Warranty claims", {"c4", "c5"}),
        ("DOA: Wrong item received: 1 claims (20%)", {"c1"}),
        ("SR-A: 1 unit claimed for Warranty of 10 sold (10.0%)", {"c5"}),
        ("Week of 12 Jan 2026: 20.00 EUR in 1 refund(s)", {"c3"}),
        ("Week of 12 Jan 2026: 5.50 USD in 1 refund(s)", {"c2"}),
        ("Week of 05 Jan 2026: 1 of 2 claims answered within 24 h (50.0%)", {"c2"}),
        ("Week of 12 Jan 2026: 3.8 days on average over 2 refund(s)", {"c2", "c3"}),
    ],
)
def test_each_charts_link_lists_the_claims_behind_it(manager_client, data, title, expected):
    page = manager_client.get(f"/admin/dashboard/?{QUERY}").content.decode()

    assert _claims(manager_client, _link(page, title)) == {data[name].pk for name in expected}


def test_the_sku_rows_label_links_to_all_its_claims(manager_client, data):
    page = manager_client.get(f"/admin/dashboard/?{QUERY}").content.decode()
    [url] = re.findall(r'<a href="([^"]+)"><text [^>]*>SR-B Monitor B</text>', page)

    assert _claims(manager_client, html.unescape(url)) == {data["c3"].pk, data["c4"].pk}


def test_dashboard_filters_apply_to_every_chart(manager_client, data):
    page = manager_client.get(f"/admin/dashboard/?{QUERY}&electronic=yes").content.decode()

    assert "Refund value per week, EUR" in page
    assert "Refund value per week, USD</title>" not in page  # c4's refund failed; c1, c2, c5 are not electronic
    assert "<title>Week of 12 Jan 2026: 1 No-reason return claim</title>" in page
    assert "SR-A" not in page


def test_the_unknown_category_filter_counts_and_links_the_claims_waiting_for_it(manager_client, data):
    # given c5's product has no category yet (a store's export said nothing of it)
    Claim.objects.filter(pk=data["c5"].pk).update(is_electronic=None)
    unknown = dashboard.Filters(PERIOD.start, PERIOD.end, category_unknown=True)

    page = manager_client.get(f"/admin/dashboard/?{QUERY}&electronic=unknown").content.decode()

    assert dashboard.claims_per_week_by_type(unknown) == {(WEEK2, "warranty"): 1}
    assert unknown.claim_list_params()["is_electronic__isnull"] == "True"
    assert "category unknown" in page
    assert _claims(manager_client, _link(page, "Week of 12 Jan 2026: 1 Warranty claim")) == {data["c5"].pk}


def test_an_average_of_zero_days_still_shows_its_value(manager_client, data):
    Refund.objects.filter(claim=data["c1"]).update(succeeded_at=local(2026, 1, 5, 12, 30))  # 30 min after approval

    page = manager_client.get(f"/admin/dashboard/?{QUERY}").content.decode()

    chart = page[page.index('id="chart-approval-to-refund"') :]
    chart = chart[: chart.index("</svg>")]
    assert "Over the period: 2.5 days on average, 3 refund(s)." in page  # (0.02 + 6 + 1.5) / 3
    assert re.findall(r'<text class="value"[^>]*>([^<]+)</text>', chart) == ["0", "3.8"]


def test_dashboard_runs_a_fixed_number_of_queries(manager_client, data):
    def queries():
        manager_client.get(f"/admin/dashboard/?{QUERY}")  # the summaries recount the changed days first
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(f"/admin/dashboard/?{QUERY}").status_code == 200
        return len(captured)

    before = queries()
    for day in range(5, 19):
        ClaimItemFactory(claim__submitted_at=local(2026, 1, day, 10), order_line__product=ProductFactory())

    # session, user, two permission queries, manager check, the sidebar's queue badges (one query); per chart
    # the summaries' check for changed days (backoffice/summaries.py) and its reads (SKU: claims, products,
    # units sold; SLA: stored and live, for claims and refunds)
    assert queries() == before == 24


def test_only_managers_see_the_dashboard(client, django_user_model):
    client.force_login(staff_user(django_user_model, "agent", ROLES["cs"]))

    assert client.get("/admin/dashboard/").status_code == 403


def test_a_period_that_ends_before_it_starts_is_refused_with_a_message(manager_client):
    response = manager_client.get("/admin/dashboard/?start=2026-02-01&end=2026-01-01")

    assert response.status_code == 200
    assert "The period ends before it starts." in response.content.decode()


def test_a_type_filter_keeps_the_reason_links_to_that_type(manager_client, data):
    page = manager_client.get(f"/admin/dashboard/?{QUERY}&claim_type=doa").content.decode()

    assert _claims(manager_client, _link(page, "DOA: Physical damage or scratch: 1 claims (50%)")) == {data["c2"].pk}
    assert _claims(
        manager_client, _link(page, "SR-A: 1 unit claimed for DOA: Wrong item received of 10 sold (10.0%)")
    ) == {data["c1"].pk}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("start=9999-12-31", "Choose a day between 2000 and 2099."),
        ("end=9999-12-31", "Choose a day between 2000 and 2099."),
        ("start=0001-01-01&end=2026-01-01", "Choose a day between 2000 and 2099."),
        ("start=2000-01-01", "Choose a period of at most two years (from 01 Jan 2000, until"),
        ("start=2020-01-01&end=2026-01-01", "Choose a period of at most two years"),
    ],
)
def test_a_crafted_period_is_refused_with_a_message_and_the_default_period_shown(manager_client, query, words):
    response = manager_client.get(f"/admin/dashboard/?{query}")

    assert response.status_code == 200
    assert words in response.content.decode()
    filters = response.context["filters"]
    assert (filters.end - filters.start).days < dashboard.MAX_DAYS
