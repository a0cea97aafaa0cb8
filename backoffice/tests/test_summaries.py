"""The dashboard's summaries equal a recount from the raw rows after every kind of change.

After each change (a claim made, approved, its day corrected, its product's category set, a refund
approved and paid, a refund or claim cancelled, a closure day added, an order's received day and
lines): every dashboard selector read from the summaries (brought up to date by the sweep) equals
the same selector counting the raw rows (``.raw``), under every filter; and the tables the sweep
kept equal the tables a rebuild from scratch writes.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from backoffice import dashboard, flows, sla, summaries
from backoffice.models import (
    ClaimDay,
    ClaimMonth,
    ParcelDay,
    RefundClockDay,
    RefundPaidDay,
    RefundStartDay,
    SoldDay,
    SoldMonth,
    SummaryDirty,
)
from core import actors
from refunds import services as refund_services
from refunds.models import Refund, RefundStatus
from refunds.tests.conftest import finance_user
from returns import services as claim_services
from returns.models import ClaimType, ClosureDay, DoaReason, Evidence, EvidenceKind, OrderLine
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

TABLES = (ClaimDay, ClaimMonth, SoldDay, SoldMonth, RefundPaidDay, RefundClockDay, RefundStartDay, ParcelDay)


def today() -> date:
    return timezone.localdate(timezone.now(), timezone.get_default_timezone())


def moment(days_ago: int, hour: int = 10) -> datetime:
    day = today() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(hour)), timezone.get_default_timezone())


def periods(skus: list[str]) -> list[dashboard.Filters]:
    """Whole and partial months (the month tables and the day rows around them), every filter."""
    end = today()
    first_of_month = end.replace(day=1)
    spans = [
        (end - timedelta(days=120), end),
        (first_of_month - timedelta(days=1), end),
        (end - timedelta(days=6), end),
        ((first_of_month - timedelta(days=1)).replace(day=1), first_of_month - timedelta(days=1)),
    ]
    found = []
    for start, stop in spans:
        found.append(dashboard.Filters(start, stop))
        found += [dashboard.Filters(start, stop, claim_type=t) for t in ClaimType.values]
        found += [dashboard.Filters(start, stop, electronic=flag) for flag in (True, False)]
        found.append(dashboard.Filters(start, stop, category_unknown=True))
        found += [dashboard.Filters(start, stop, sku=sku) for sku in [*skus, "NO-SUCH-SKU"]]
        found.append(dashboard.Filters(start, stop, claim_type=ClaimType.DOA, sku=skus[0]))
    return found


def _weeks(rows: dict) -> dict:
    return {week: {key: value for key, value in row.items() if key != "week"} for week, row in rows.items()}


def snapshot() -> dict:
    return {
        model.__name__: sorted(tuple(str(value) for value in row) for row in model.objects.values_list(*_fields(model)))
        for model in TABLES
    }


def _fields(model) -> list[str]:
    return [field.name for field in model._meta.fields if field.name != "id"]


def assert_summaries_equal_a_recount(skus: list[str]) -> None:
    now = timezone.now()
    for filters in periods(skus):
        for selector in (
            dashboard.claims_per_week_by_type,
            dashboard.top_reasons,
            dashboard.sku_claim_rates,
            dashboard.refund_value_per_week,
        ):
            assert selector(filters) == selector.raw(filters), (selector.__name__, filters)
        for selector in (dashboard.first_response_per_week, dashboard.refund_sla_per_week):
            assert _weeks(selector(filters, now)) == _weeks(selector.raw(filters, now)), (selector.__name__, filters)
        stored, raw = dashboard.approval_to_refund_per_week(filters), dashboard.approval_to_refund_per_week.raw(filters)
        assert {week: n for week, (_, n) in stored.items()} == {week: n for week, (_, n) in raw.items()}
        for week, (average, _) in stored.items():
            assert average == pytest.approx(raw[week][0], abs=1e-9), filters
    for weeks in sla.WEEK_CHOICES:  # the SLA page reads the same summaries (its own two tables too)
        assert sla.weekly_report(weeks, now) == sla.weekly_report(weeks, now, raw=True), weeks
    kept = snapshot()
    summaries.rebuild()
    assert snapshot() == kept
    assert any(kept.values())


@pytest.fixture
def people(django_user_model):
    return {
        "cs": staff_user(django_user_model, "agent", ROLES["cs"]),
        "finance": finance_user(django_user_model, "payer"),
        "manager": staff_user(django_user_model, "boss", ROLES["manager"]),
    }


@pytest.fixture
def shop():
    """Two products (one electronic, one of unknown category), orders received over the last months, and
    claims made on several days, one with both products."""
    cage = ProductFactory(sku="SR-CAGE", is_electronic=False)
    monitor = ProductFactory(sku="SR-MON", is_electronic=True)
    odd = ProductFactory(sku="SR-ODD", is_electronic=None)
    for days_ago, product, quantity in ((3, cage, 5), (40, cage, 7), (41, monitor, 2), (90, odd, 3), (1, monitor, 4)):
        OrderLineFactory(
            order=OrderFactory(received_on=today() - timedelta(days=days_ago)), product=product, quantity=quantity
        )
    for days_ago, claim_type, reason, products, met in (
        (2, ClaimType.DOA, DoaReason.DAMAGE, [cage], True),
        (9, ClaimType.NO_REASON, "", [monitor, cage], False),
        (38, ClaimType.WARRANTY, "", [monitor], True),
        (70, ClaimType.DOA, DoaReason.WRONG_ITEM, [odd], None),
    ):
        claim = ClaimFactory(
            submitted_at=moment(days_ago),
            claim_type=claim_type,
            doa_reason=reason,
            first_response_met=met,
            first_response_due_at=moment(days_ago) + timedelta(hours=24),
            is_electronic=claim_services.claim_is_electronic(p.is_electronic for p in products),
        )
        for product in products:
            ClaimItemFactory(claim=claim, order_line__product=product, quantity=2)
    return [cage.sku, monitor.sku, odd.sku]


def missing_item_claim(people):
    """A claim made yesterday through the service, with its whole-package photo: ready to approve."""
    order = OrderFactory(received_on=today() - timedelta(days=2))
    line = OrderLineFactory(order=order, product=ProductFactory(sku="SR-LENS", is_electronic=False))
    claim = claim_services.claim_create(
        order=order,
        claim_type=ClaimType.DOA,
        doa_reason=DoaReason.MISSING_ITEM,
        description="The lens cap was not in the box.",
        order_line_ids=[line.pk],
        by=people["cs"],
        submitted_at=moment(1),
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"not really a jpeg", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=17,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return claim


def paid_returnless_refund(people, claim) -> Refund:
    """Approve without a return (its refund proposed in the same flow), approve the refund, pay it by hand."""
    flows.claim_approve(claim_id=claim.pk, by=people["cs"], returnless_reason="Nothing to send back.")
    refund = Refund.objects.get(claim=claim)
    refund_services.refund_approve(refund_id=refund.pk, by=people["finance"])
    refund_services.refund_execute(refund_id=refund.pk)
    return refund_services.refund_record_manual_payment(
        refund_id=refund.pk, by=people["finance"], provider_reference="BANK-1"
    )


def test_summaries_equal_a_recount_of_the_data_as_written(shop):
    assert_summaries_equal_a_recount(shop)


def test_a_claim_made_through_the_service_is_counted(shop, people):
    assert_summaries_equal_a_recount(shop)

    claim = missing_item_claim(people)

    assert summaries.sweep() >= 1
    assert dashboard.claims_per_week_by_type(dashboard.Filters(today() - timedelta(days=7), today()))
    assert_summaries_equal_a_recount([*shop, "SR-LENS"])
    assert ClaimDay.objects.filter(day=timezone.localdate(claim.submitted_at), product_id__isnull=True).exists()


def test_approval_refund_and_payment_are_counted(shop, people):
    claim = missing_item_claim(people)
    assert_summaries_equal_a_recount(shop)

    refund = paid_returnless_refund(people, claim)

    assert refund.status == RefundStatus.SUCCEEDED
    assert_summaries_equal_a_recount([*shop, "SR-LENS"])
    assert RefundPaidDay.objects.filter(product_id__isnull=True, refunds=1).exists()
    paid = dashboard.refund_value_per_week(dashboard.Filters(today() - timedelta(days=7), today()))
    assert sum(n for _, n in paid.values()) == 1


def test_cancelled_claims_and_refunds_are_counted(shop, people):
    claim = missing_item_claim(people)
    flows.claim_approve(claim_id=claim.pk, by=people["cs"], returnless_reason="Nothing to send back.")
    other = missing_item_claim(people)
    assert_summaries_equal_a_recount(shop)

    refund = Refund.objects.get(claim=claim)
    refund_services.refund_cancel(refund_id=refund.pk, by=people["finance"], reason="Paid at the counter.")
    claim_services.claim_cancel(claim_id=other.pk, by=people["cs"], reason="The customer found the cap.")

    assert_summaries_equal_a_recount([*shop, "SR-LENS"])


def test_a_closure_day_that_moves_refund_deadlines_is_counted(shop, people, settings):
    claim = missing_item_claim(people)
    flows.claim_approve(claim_id=claim.pk, by=people["cs"], returnless_reason="Nothing to send back.")
    refund = refund_services.refund_approve(refund_id=Refund.objects.get(claim=claim).pk, by=people["finance"])
    assert_summaries_equal_a_recount(shop)
    before = refund.refund_due_at

    manager = people["manager"]
    manager.is_superuser = True  # the closure-day permissions
    moved = sla.closure_day_save(
        closure_day=ClosureDay(day=today() + timedelta(days=2), reason="Stocktake"), by=manager
    )

    refund.refresh_from_db()
    assert moved == 1 and refund.refund_due_at != before
    assert_summaries_equal_a_recount([*shop, "SR-LENS"])


def test_claim_day_category_and_orders_changed_afterwards_are_counted(shop, people):
    assert_summaries_equal_a_recount(shop)
    claim = missing_item_claim(people)
    summaries.sweep()

    claim_services.claim_set_submitted_at(
        claim_id=claim.pk, by=people["cs"], submitted_at=moment(0, hour=0), reason="The email came in at night."
    )
    claim_services.product_set_category(
        product_ids=[ProductFactory._meta.model.objects.get(sku="SR-ODD").pk], by=actors.SYSTEM, electronic=True
    )
    line = OrderLine.objects.filter(product__sku="SR-CAGE").first()
    OrderLine.objects.filter(pk=line.pk).update(quantity=line.quantity + 10)
    OrderFactory._meta.model.objects.filter(pk=line.order_id).update(received_on=today() - timedelta(days=50))

    assert_summaries_equal_a_recount([*shop, "SR-LENS"])


def test_a_sweep_over_consecutive_days_recounts_every_month_between(shop):
    """Consecutive changed days from one month to a later one are one span (the demo's load, a bulk import of
    orders): the months between its first and last day are recounted too. Found on the first of a month,
    when the month before became a whole month that the dashboard reads from the month tables."""
    cage = ProductFactory._meta.model.objects.get(sku="SR-CAGE")
    for days_ago in range(100, -1, -1):  # an order received every day for a hundred days
        OrderLineFactory(order=OrderFactory(received_on=today() - timedelta(days=days_ago)), product=cage, quantity=1)

    summaries.sweep()

    def per_month(sql: str) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    assert per_month(
        "SELECT month, product_id, sum(units)::bigint FROM backoffice_soldmonth GROUP BY 1, 2 ORDER BY 1, 2"
    ) == per_month(
        "SELECT date_trunc('month', day)::date, product_id, sum(units)::bigint FROM backoffice_soldday "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    assert_summaries_equal_a_recount(shop)


def test_the_sweep_recounts_only_the_days_that_changed(shop):
    summaries.rebuild()
    ClaimFactory(submitted_at=moment(5))

    assert SummaryDirty.objects.count() >= 1
    assert summaries.sweep() == 1
    assert not SummaryDirty.objects.exists()
    assert summaries.sweep() == 0


def test_a_sweep_rewrites_only_the_rows_whose_figures_changed(shop):
    """A claim more on a day with claims: its day's and month's rows are updated in place, and every other
    row of that day and month stays where it was (not deleted and inserted again: that churn left the month
    tables' indexes mostly dead entries)."""
    summaries.rebuild()
    before = {model: _rows_by_id(model) for model in TABLES}
    cage = ProductFactory._meta.model.objects.get(sku="SR-CAGE")
    claim = ClaimFactory(
        submitted_at=moment(2), claim_type=ClaimType.DOA, doa_reason=DoaReason.DAMAGE, first_response_met=True
    )
    ClaimItemFactory(claim=claim, order_line__product=cage, quantity=1)

    assert summaries.sweep() >= 1

    changed = kept = 0
    for model in TABLES:
        after = _rows_by_id(model)
        assert before[model].keys() <= after.keys(), model  # no row deleted and inserted again
        for row_id, (place, figures) in before[model].items():
            moved, differs = after[row_id][0] != place, after[row_id][1] != figures
            assert moved == differs, (model, figures, after[row_id][1])
            changed, kept = changed + differs, kept + (not differs)
    assert changed >= 4 and kept >= 10  # the day's and the month's rows for all products and the cage
    assert_summaries_equal_a_recount(shop)


def _rows_by_id(model) -> dict[int, tuple[str, tuple]]:
    """Each row's physical place (``ctid``: an update or a re-insert moves it) and its values, by id."""
    columns = ", ".join(field.column for field in model._meta.fields if field.name != "id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, ctid::text, {columns} FROM {model._meta.db_table}")
        return {row_id: (place, tuple(values)) for row_id, place, *values in cursor.fetchall()}


def test_a_status_change_alone_leaves_the_summaries_alone(shop):
    summaries.rebuild()
    claim = ClaimFactory._meta.model.objects.first()

    type(claim).objects.filter(pk=claim.pk).update(status="rejected", updated_at=timezone.now())

    assert not SummaryDirty.objects.exists()


def test_rebuild_summaries_command(shop, capsys):
    ClaimDay.objects.all().delete()

    call_command("rebuild_summaries")

    assert "claims per product" in capsys.readouterr().out
    assert ClaimDay.objects.filter(product_id__isnull=True).exists()
    assert_summaries_equal_a_recount(shop)


def test_refund_totals_keep_their_decimals(shop, people):
    refund = paid_returnless_refund(people, missing_item_claim(people))

    [(_, (total, n))] = dashboard.refund_value_per_week(dashboard.Filters(today() - timedelta(days=6), today())).items()

    assert (total, n) == (refund.total, 1)
    assert isinstance(total, Decimal)
