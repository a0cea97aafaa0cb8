"""The dashboard's daily summaries: kept by a sweep that recounts only the days that changed.

Every chart of the dashboard (``backoffice/dashboard.py``) counts claims by the day they were made,
refunds by the day they were paid or their clock started, and units sold by the day the order was
received. At a million claims, counting the raw rows on every view took seconds. Here the same
figures are kept per company-local day (``backoffice.models``), and the dashboard sums a period's days.

How they stay equal to the raw rows (``docs/reports.md``):

- PostgreSQL triggers (migration ``backoffice/0003``) append to ``SummaryDirty`` the moments whose days
  a write changed (old and new), in the writer's transaction: claims (made, type, reason, category,
  first response), their items, refunds (status, amounts, approvals, deadlines), order lines and the
  orders' received day, a claim's approval. A bulk update or the seed is seen as much as a service.
- ``sweep()`` takes the log, and recounts each of its days (and their months) from the raw rows: a few
  indexed range reads per day, and only the summary rows whose figures changed are written (``_put``).
  Beat runs it every minute, and every dashboard selector runs it before it reads (one cheap read when
  nothing changed), so the figures are always the raw rows'.
- What depends on the moment of viewing (a first response or a refund deadline passed unanswered) is not
  stored: those few open rows are counted live, through partial indexes.

``rebuild()`` (``manage.py rebuild_summaries``) recounts everything. SQLite (the embedded run) keeps
no summaries: the dashboard reads the raw rows there (``in_use()``).
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from backoffice.models import (
    ClaimDay,
    ClaimMonth,
    ParcelDay,
    RefundClockDay,
    RefundPaidDay,
    RefundStartDay,
    SoldDay,
    SoldMonth,
)
from refunds.models import QUEUE_OPEN_BELOW, Refund, RefundStatus
from returns.models import Claim, ClaimAction, ClaimStatus, Product

LOCK_KEY = 1_700_017  # pg_advisory_xact_lock: one recount at a time (two would insert a day twice)
SUMMARY_TABLES = (
    "backoffice_claimday",
    "backoffice_soldday",
    "backoffice_refundpaidday",
    "backoffice_refundclockday",
    "backoffice_refundstartday",
    "backoffice_parcelday",
)
MONTH_TABLES = ("backoffice_claimmonth", "backoffice_soldmonth")


def in_use() -> bool:
    return connection.vendor == "postgresql" and settings.DASHBOARD_SUMMARIES


# --- Keeping them --------------------------------------------------------------------------------


def sweep() -> int:
    """Recount the days the log names, and empty it; returns how many days were recounted."""
    if not in_use():
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM backoffice_summarydirty)")
        if not cursor.fetchone()[0]:
            return 0  # the common case: one cheap read
    company = timezone.get_default_timezone()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute("DELETE FROM backoffice_summarydirty RETURNING at, on_day")
        days = set()
        for at, on_day in cursor.fetchall():
            if at is not None:
                days.add(timezone.localtime(at, company).date())
            if on_day is not None:
                days.add(on_day)
        if days:
            _recount(cursor, _spans(sorted(days)))
    return len(days)


def rebuild() -> dict[str, int]:
    """Every summary counted again from the raw rows; returns the rows written per table."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute(f"TRUNCATE {', '.join(SUMMARY_TABLES + MONTH_TABLES)}, backoffice_summarydirty")
        return _recount(cursor, None)


def _spans(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) spans: a few range conditions, not one a day."""
    spans = []
    for day in days:
        if spans and day == spans[-1][1] + timedelta(days=1):
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    company = timezone.get_default_timezone()
    return (
        timezone.make_aware(datetime.combine(first, time.min), company),
        timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), company),
    )


def _instant_in(expression: str, spans) -> tuple[str, list]:
    """``expression`` (an instant) falls on one of the spans' company-local days; or TRUE for all."""
    if spans is None:
        return f"{expression} IS NOT NULL", []
    params = []
    for first, last in spans:
        params.extend(_bounds(first, last))
    return "(" + " OR ".join(f"({expression} >= %s AND {expression} < %s)" for _ in spans) + ")", params


def _day_in(expression: str, spans) -> tuple[str, list]:
    if spans is None:
        return f"{expression} IS NOT NULL", []
    params = [day for span in spans for day in span]
    return "(" + " OR ".join(f"({expression} BETWEEN %s AND %s)" for _ in spans) + ")", params


def _put(cursor, model, key: str, figures: str, select: str, params: list, scope: tuple[str, list] | None) -> int:
    """Make ``model``'s rows within ``scope`` (a condition on the table as ``t``) the rows ``select`` counts,
    its columns ``key`` then ``figures``; returns how many rows were inserted. ``scope`` None: a rebuild,
    into an emptied table.

    Only what differs is written: a row whose figures changed is updated in place (no index holds a figure,
    so PostgreSQL can keep the update on its page), a key no longer counted is deleted, a new key inserted;
    a row that did not change is left alone. Deleting and inserting every row of the recounted days and
    months left most of the month tables' index entries dead under a steady trickle of changes (242,000
    entries scanned for 1,648 live rows at 100,000 claims), and the month was two thirds of a one-day sweep.
    The three writes touch different keys; the sweep's advisory lock keeps other writers out meanwhile.
    """
    table = model._meta.db_table
    keys, values = _names(key), _names(figures)
    columns = ", ".join(keys + values)
    if scope is None:
        cursor.execute(f"INSERT INTO {table} ({columns}) {select}", params)
        return cursor.rowcount
    where, where_params = scope
    nullable = {field.column for field in model._meta.concrete_fields if field.null}
    same_key = " AND ".join(
        f"t.{name} IS NOT DISTINCT FROM f.{name}" if name in nullable else f"t.{name} = f.{name}" for name in keys
    )

    def listed(alias: str, names: list[str]) -> str:
        return ", ".join(f"{alias}.{name}" for name in names)

    # ``current``: the stored rows, read once; ``matched``: each counted row with its stored row's id, or NULL.
    cursor.execute(
        f"""
        WITH fresh ({columns}) AS MATERIALIZED ({select}),
        current AS MATERIALIZED (SELECT t.id, {listed("t", keys + values)} FROM {table} AS t WHERE {where}),
        matched AS MATERIALIZED (SELECT t.id, f.* FROM fresh AS f LEFT JOIN current AS t ON {same_key}),
        changed AS (
            UPDATE {table} AS t SET {", ".join(f"{name} = m.{name}" for name in values)}
            FROM matched AS m JOIN current AS c ON c.id = m.id
            WHERE t.id = m.id AND ({listed("c", values)}) IS DISTINCT FROM ({listed("m", values)})
        ),
        gone AS (
            DELETE FROM {table} WHERE id IN (SELECT id FROM current EXCEPT SELECT id FROM matched)
        )
        INSERT INTO {table} ({columns}) SELECT {columns} FROM matched WHERE id IS NULL
        """,
        [*params, *where_params],
    )
    return cursor.rowcount


def _names(columns: str) -> list[str]:
    return [name.strip() for name in columns.split(",")]


def _scope(spans, condition: str = "") -> tuple[str, list] | None:
    """The summary rows (``t``) of the spans' days (and ``condition``), or None for a rebuild."""
    if spans is None:
        return None
    where, params = _day_in("t.day", spans)
    return (f"{condition} AND {where}" if condition else where), params


def _recount(cursor, spans) -> dict[str, int]:
    """Count the spans' days again from the raw rows (every day when ``spans`` is None: a rebuild into
    emptied tables); returns the summary rows inserted per kind."""
    zone = timezone.get_default_timezone_name()
    written = {}

    made, made_params = _instant_in("c.submitted_at", spans)
    written["claims"] = _put(
        cursor,
        ClaimDay,
        "day, product_id, claim_type, doa_reason, is_electronic",
        "claims, units, answered, met",
        f"""
        SELECT (c.submitted_at AT TIME ZONE %s)::date, NULL::bigint, c.claim_type, c.doa_reason, c.is_electronic,
               count(*)::integer, NULL::integer, count(*) FILTER (WHERE c.first_response_met IS NOT NULL)::integer,
               count(*) FILTER (WHERE c.first_response_met)::integer
        FROM returns_claim c WHERE {made}
        GROUP BY 1, 3, 4, 5
        """,
        [zone, *made_params],
        _scope(spans, "t.product_id IS NULL"),
    )
    written["claims per product"] = _put(
        cursor,
        ClaimDay,
        "day, product_id, claim_type, doa_reason, is_electronic",
        "claims, units, answered, met",
        f"""
        SELECT day, product_id, claim_type, doa_reason, is_electronic, count(*)::integer, sum(units)::integer,
               count(*) FILTER (WHERE first_response_met IS NOT NULL)::integer,
               count(*) FILTER (WHERE first_response_met)::integer
        FROM (
            SELECT (c.submitted_at AT TIME ZONE %s)::date AS day, l.product_id, c.claim_type, c.doa_reason,
                   c.is_electronic, c.first_response_met, sum(i.quantity) AS units
            FROM returns_claim c
            JOIN returns_claimitem i ON i.claim_id = c.id
            JOIN returns_orderline l ON l.id = i.order_line_id
            WHERE {made}
            GROUP BY c.id, l.product_id
        ) per_claim
        GROUP BY 1, 2, 3, 4, 5
        """,
        [zone, *made_params],
        _scope(spans, "t.product_id IS NOT NULL"),
    )

    received, received_params = _day_in("o.received_on", spans)
    written["units sold"] = _put(
        cursor,
        SoldDay,
        "day, product_id",
        "units",
        f"""
        SELECT o.received_on, l.product_id, sum(l.quantity)::bigint
        FROM returns_orderline l JOIN returns_order o ON o.id = l.order_id
        WHERE {received}
        GROUP BY 1, 2
        """,
        received_params,
        _scope(spans),
    )

    paid, paid_params = _instant_in("r.succeeded_at", spans)
    written["refunds paid"] = _put(
        cursor,
        RefundPaidDay,
        "day, product_id, currency, claim_type, is_electronic",
        "refunds, total, approved, approval_to_paid_us",
        f"""
        WITH paid AS (
            SELECT r.id, r.claim_id, (r.succeeded_at AT TIME ZONE %s)::date AS day, r.currency, r.total,
                   c.claim_type, c.is_electronic,
                   r.succeeded_at - (
                       SELECT e.created_at FROM returns_claimevent e
                       WHERE e.claim_id = r.claim_id AND e.action = %s ORDER BY e.id LIMIT 1
                   ) AS wait
            FROM refunds_refund r JOIN returns_claim c ON c.id = r.claim_id
            WHERE r.status = %s AND {paid}
        )
        SELECT day, product_id, currency, claim_type, is_electronic, count(*)::integer, sum(total),
               count(wait)::integer, coalesce(sum((extract(epoch FROM wait) * 1000000)::bigint), 0)::bigint
        FROM (
            SELECT paid.*, NULL::bigint AS product_id FROM paid
            UNION ALL
            SELECT paid.*, products.product_id FROM paid
            JOIN LATERAL (
                SELECT DISTINCT l.product_id FROM returns_claimitem i
                JOIN returns_orderline l ON l.id = i.order_line_id WHERE i.claim_id = paid.claim_id
            ) products ON TRUE
        ) rows
        GROUP BY 1, 2, 3, 4, 5
        """,
        [zone, ClaimAction.APPROVE, RefundStatus.SUCCEEDED, *paid_params],
        _scope(spans),
    )

    started, started_params = _instant_in('COALESCE(r."second_approved_at", r."approved_at")', spans)
    written["refund clocks"] = _put(
        cursor,
        RefundClockDay,
        "day, product_id, claim_type, is_electronic",
        "refunds, sent, within_target, within_due",
        f"""
        WITH clock AS (
            SELECT r.id, r.claim_id, (COALESCE(r.second_approved_at, r.approved_at) AT TIME ZONE %s)::date AS day,
                   c.claim_type, c.is_electronic, r.status = %s AS sent,
                   r.status = %s AND r.succeeded_at <= r.refund_target_at AS within_target,
                   r.status = %s AND r.succeeded_at <= r.refund_due_at AS within_due
            FROM refunds_refund r JOIN returns_claim c ON c.id = r.claim_id
            WHERE r.refund_due_at IS NOT NULL AND r.status <> %s AND {started}
        )
        SELECT day, product_id, claim_type, is_electronic, count(*)::integer,
               count(*) FILTER (WHERE sent)::integer, count(*) FILTER (WHERE within_target)::integer,
               count(*) FILTER (WHERE within_due)::integer
        FROM (
            SELECT clock.*, NULL::bigint AS product_id FROM clock
            UNION ALL
            SELECT clock.*, products.product_id FROM clock
            JOIN LATERAL (
                SELECT DISTINCT l.product_id FROM returns_claimitem i
                JOIN returns_orderline l ON l.id = i.order_line_id WHERE i.claim_id = clock.claim_id
            ) products ON TRUE
        ) rows
        GROUP BY 1, 2, 3, 4
        """,
        [zone, *[RefundStatus.SUCCEEDED] * 3, RefundStatus.CANCELLED, *started_params],
        _scope(spans),
    )
    written.update(_recount_sla(cursor, spans, zone))
    written.update(_recount_months(cursor, spans))
    return written


def _recount_sla(cursor, spans, zone: str) -> dict[str, int]:
    """The SLA page's days (``backoffice/sla.py``): refunds by their clock's start, return parcels by the
    claim's approval. The same conditions as the page's raw queries (``sla.refund_weeks``, ``sla.parcel_weeks``)."""
    started, started_params = _instant_in("r.clock_started_at", spans)
    written = {
        "refund clocks (SLA page)": _put(
            cursor,
            RefundStartDay,
            "day",
            "refunds, sent, within_target, within_due",
            f"""
            SELECT (r.clock_started_at AT TIME ZONE %s)::date, count(*)::integer,
                   count(*) FILTER (WHERE r.status = %s)::integer,
                   count(*) FILTER (WHERE r.status = %s AND r.succeeded_at <= r.refund_target_at)::integer,
                   count(*) FILTER (WHERE r.status = %s AND r.succeeded_at <= r.refund_due_at)::integer
            FROM refunds_refund r
            WHERE r.refund_due_at IS NOT NULL AND r.status <> %s AND {started}
            GROUP BY 1
            """,
            [zone, *[RefundStatus.SUCCEEDED] * 3, RefundStatus.CANCELLED, *started_params],
            _scope(spans),
        )
    }
    approved, approved_params = _instant_in("c.approved_at", spans)
    written["return parcels (SLA page)"] = _put(
        cursor,
        ParcelDay,
        "day",
        "approved, received, received_in_time, awaited, expired",
        f"""
        SELECT (c.approved_at AT TIME ZONE %s)::date, count(*)::integer,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM returns_claimevent e WHERE e.action = %s AND e.claim_id = c.id))::integer,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM returns_claimevent e WHERE e.action = %s AND e.claim_id = c.id
                   AND e.created_at <= c.approved_at + p.parcel_escalation_days * interval '1 day'))::integer,
               count(*) FILTER (WHERE c.awaiting_parcel_since IS NOT NULL)::integer,
               count(*) FILTER (WHERE c.status = %s AND EXISTS (
                   SELECT 1 FROM returns_claimevent e WHERE e.action = %s AND e.claim_id = c.id))::integer
        FROM returns_claim c JOIN returns_policyversion p ON p.id = c.policy_version_id
        WHERE NOT c.is_returnless AND {approved}
        GROUP BY 1
        """,
        [
            zone,
            ClaimAction.RECEIVE,
            ClaimAction.RECEIVE,
            ClaimStatus.CANCELLED,
            ClaimAction.EXPIRE,
            *approved_params,
        ],
        _scope(spans),
    )
    return written


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _months_of(first: date, last: date) -> list[date]:
    """The first day of each month from ``first``'s to ``last``'s."""
    months = [date(first.year, first.month, 1)]
    while _next_month(months[-1]) <= last:
        months.append(_next_month(months[-1]))
    return months


def _recount_months(cursor, spans) -> dict[str, int]:
    """The months of the spans' days, summed again from the day rows just written."""
    if spans is None:
        where, params, scope = "TRUE", [], None
    else:
        # Every month a span touches, not only its first and last days' months: a sweep over consecutive days
        # from October to December recounts November too (the demo's load and a bulk import make such spans).
        months = sorted({month for first, last in spans for month in _months_of(first, last)})
        # The months' days as ranges, which the (day, product_id) indexes serve; ``date_trunc(day) = ANY``
        # read every day row (0.4 s of a one-day sweep at a million claims).
        where = "(" + " OR ".join("(day >= %s AND day < %s)" for _ in months) + ")"
        params = [bound for month in months for bound in (month, _next_month(month))]
        scope = ("t.month = ANY(%s)", [months])
    claims = _put(
        cursor,
        ClaimMonth,
        "month, product_id, claim_type, doa_reason, is_electronic",
        "claims, units",
        f"""
        SELECT date_trunc('month', day)::date, product_id, claim_type, doa_reason, is_electronic,
               sum(claims)::integer, sum(units)::integer
        FROM backoffice_claimday WHERE product_id IS NOT NULL AND {where}
        GROUP BY 1, 2, 3, 4, 5
        """,
        params,
        scope,
    )
    sold = _put(
        cursor,
        SoldMonth,
        "month, product_id",
        "units",
        f"""
        SELECT date_trunc('month', day)::date, product_id, sum(units)::bigint FROM backoffice_soldday
        WHERE {where}
        GROUP BY 1, 2
        """,
        params,
        scope,
    )
    return {"claims per product, months": claims, "units sold, months": sold}


# --- Reading them: the dashboard's selectors, same names and results --------------------------------


def _rows(model, filters):
    """The period's summary rows under the dashboard's filters, with their ISO week (``week``: its Monday)."""
    rows = _filtered(model.objects.filter(day__range=(filters.start, filters.end)), filters)
    return rows.annotate(week=TruncWeek("day", output_field=DateField()))


def _filtered(rows, filters, *, per_product: bool = False):
    """A SKU reads its product's rows, otherwise the all-products rows (or, ``per_product``, every product's);
    the type and category filters as they are."""
    if filters.sku:
        rows = rows.filter(product_id__in=Product.objects.filter(sku=filters.sku).values("pk"))
    else:
        rows = rows.filter(product_id__isnull=not per_product)
    if filters.claim_type:
        rows = rows.filter(claim_type=filters.claim_type)
    if filters.electronic is not None:
        rows = rows.filter(is_electronic=filters.electronic)
    if filters.category_unknown:
        rows = rows.filter(is_electronic__isnull=True)
    return rows.order_by()


def _months_and_days(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The whole calendar months inside [start, end] as (first month, last month), and the days around them."""
    first = start if start.day == 1 else _next_month(start)
    after = end + timedelta(days=1)
    stop = date(after.year, after.month, 1)  # the first day after the last whole month
    if first >= stop:
        return None, [(start, end)]
    last_month = date(stop.year - (stop.month == 1), (stop.month - 2) % 12 + 1, 1)
    edges = [(a, b) for a, b in ((start, first - timedelta(days=1)), (stop, end)) if a <= b]
    return (first, last_month), edges


def _product_rows(day_model, month_model, filters, fields: list[str], totals: list[str]) -> list[dict]:
    """Per-product summary rows of the period, ``totals`` summed by ``fields``: whole months from
    ``month_model``, the days around them from ``day_model``."""
    months, edges = _months_and_days(filters.start, filters.end)
    sums = defaultdict(lambda: dict.fromkeys(totals, 0))
    parts = []
    if months:
        parts.append(_filtered(month_model.objects.filter(month__range=months), filters, per_product=True))
    for first, last in edges:
        parts.append(_filtered(day_model.objects.filter(day__range=(first, last)), filters, per_product=True))
    for part in parts:
        for row in part.values(*fields).annotate(**{f"sum_{total}": Sum(total) for total in totals}):
            group = sums[tuple(row[field] for field in fields)]
            for total in totals:
                group[total] += row[f"sum_{total}"]
    return [{**dict(zip(fields, key, strict=True)), **group} for key, group in sums.items()]


def claims_per_week_by_type(filters) -> dict[tuple[date, str], int]:
    counts = defaultdict(int)
    for row in _rows(ClaimDay, filters).values("week", "claim_type").annotate(n=Sum("claims")):
        counts[(row["week"], row["claim_type"])] += row["n"]
    return dict(counts)


def top_reasons(filters) -> list:
    from backoffice.dashboard import Reason

    rows = (
        _rows(ClaimDay, filters)
        .values("claim_type", "doa_reason")
        .annotate(claims=Sum("claims"))
        .order_by("-claims", "claim_type", "doa_reason")
    )
    return [Reason(row["claim_type"], row["doa_reason"], row["claims"]) for row in rows]


def sku_claim_rates(filters, limit: int | None = None) -> tuple[list, int]:
    from backoffice.dashboard import TOP_SKUS, SkuRate, reason_key

    rows = _product_rows(ClaimDay, ClaimMonth, filters, ["product_id", "claim_type", "doa_reason"], ["claims", "units"])
    found = Product.objects.filter(pk__in={row["product_id"] for row in rows}).values_list("pk", "sku", "name")
    products, names = {}, {}
    for pk, sku, name in found:
        products[pk], names[pk] = sku, name
    by_sku = {}
    for row in rows:
        sku = products[row["product_id"]]
        rate = by_sku.setdefault(sku, SkuRate(sku, names[row["product_id"]], 0, reasons={}))
        rate.reasons[reason_key(row["claim_type"], row["doa_reason"])] = (
            row["claim_type"],
            row["doa_reason"],
            row["units"],
        )
        rate.claims += row["claims"]
        rate.units_claimed += row["units"]
    if products:
        months, edges = _months_and_days(filters.start, filters.end)
        sold = [SoldMonth.objects.filter(month__range=months)] if months else []
        sold += [SoldDay.objects.filter(day__range=edge) for edge in edges]
        for part in sold:
            for row in (
                part.filter(product_id__in=products).values("product_id").annotate(units=Sum("units")).order_by()
            ):
                by_sku[products[row["product_id"]]].units_sold += row["units"]
    ranked = [rate for rate in by_sku.values() if rate.units_sold]
    ranked.sort(key=lambda rate: (-rate.rate, -rate.units_claimed, rate.sku))
    return ranked[: limit or TOP_SKUS], len(by_sku) - len(ranked)


def refund_value_per_week(filters) -> dict[tuple[date, str], tuple]:
    weeks = {}
    rows = _rows(RefundPaidDay, filters).values("week", "currency").annotate(total=Sum("total"), n=Sum("refunds"))
    for row in rows:
        key = (row["week"], row["currency"])
        total, refunds = weeks.get(key, (0, 0))
        weeks[key] = (total + row["total"], refunds + row["n"])
    return weeks


def first_response_per_week(filters, now: datetime) -> dict[date, dict]:
    weeks = {}
    rows = _rows(ClaimDay, filters).values("week").annotate(n=Sum("claims"), answered=Sum("answered"), met=Sum("met"))
    for row in rows:
        week = weeks.setdefault(row["week"], {"claims": 0, "judged": 0, "met": 0})
        week["claims"] += row["n"]
        week["judged"] += row["answered"]
        week["met"] += row["met"]
    # Not answered and past the 24 hours: judged (a miss) at the moment of viewing; few, indexed.
    start, end = filters.bounds
    late = (
        Claim.objects.filter(
            *filters.claim_conditions(),
            submitted_at__gte=start,
            submitted_at__lt=end,
            first_response_met__isnull=True,
            first_response_due_at__lt=now,
        )
        .annotate(week=TruncWeek("submitted_at", tzinfo=timezone.get_default_timezone()))
        .values("week")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in late:
        monday = timezone.localtime(row["week"], timezone.get_default_timezone()).date()
        weeks.setdefault(monday, {"claims": 0, "judged": 0, "met": 0})["judged"] += row["n"]
    for monday, week in weeks.items():
        week["week"] = monday
    return weeks


def refund_sla_per_week(filters, now: datetime) -> dict[date, dict]:
    weeks = {}
    rows = (
        _rows(RefundClockDay, filters)
        .values("week")
        .annotate(n=Sum("refunds"), sent=Sum("sent"), target=Sum("within_target"), due=Sum("within_due"))
    )
    empty = {"refunds": 0, "target_judged": 0, "within_target": 0, "due_judged": 0, "within_due": 0}
    for row in rows:
        week = weeks.setdefault(row["week"], dict(empty))
        week["refunds"] += row["n"]
        week["target_judged"] += row["sent"]
        week["due_judged"] += row["sent"]
        week["within_target"] += row["target"]
        week["within_due"] += row["due"]
    # Not sent and past a deadline: judged at the moment of viewing.
    late = Refund.objects.filter(*filters.claim_conditions("claim__")).annotate(
        started=Coalesce("second_approved_at", "approved_at")
    )
    _add_late_refunds(weeks, late, "started", filters.bounds, now, empty)
    return weeks


def _add_late_refunds(weeks: dict, refunds, started: str, bounds, now: datetime, empty: dict) -> None:
    """Add to ``weeks`` (Monday → figures) the open refunds whose clock ``started`` within ``bounds``, per week of
    that start, judged against ``now``: past their 5-day target, past their 7-day due date. Unsent refunds are
    judged at the moment of viewing, so they are counted live, not stored: a few, on the open refunds' index."""
    company = timezone.get_default_timezone()
    start, end = bounds
    rows = (
        refunds.filter(
            queue_priority__lt=QUEUE_OPEN_BELOW,
            refund_due_at__isnull=False,
            **{f"{started}__gte": start, f"{started}__lt": end},
        )
        .annotate(week=TruncWeek(started, tzinfo=company))
        .values("week")
        .annotate(
            target=Count("pk", filter=Q(refund_target_at__lt=now)), due=Count("pk", filter=Q(refund_due_at__lt=now))
        )
        .order_by()
    )
    for row in rows:
        week = weeks.setdefault(timezone.localtime(row["week"], company).date(), dict(empty))
        week["target_judged"] += row["target"]
        week["due_judged"] += row["due"]


def approval_to_refund_per_week(filters) -> dict[date, tuple[float, int]]:
    sums = defaultdict(lambda: [0, 0])
    rows = _rows(RefundPaidDay, filters).values("week").annotate(n=Sum("approved"), us=Sum("approval_to_paid_us"))
    for row in rows:
        if row["n"]:
            week = sums[row["week"]]
            week[0] += row["us"]
            week[1] += row["n"]
    return {monday: (us / n / 1_000_000 / 86400, n) for monday, (us, n) in sums.items()}


# --- Reading them: the SLA page (backoffice/sla.py), same results as its raw queries --------------------


def _weeks(model, first: date, last: date, **sums) -> list[dict]:
    """The days' rows summed per ISO week (``week``: its Monday), ``name=field`` each."""
    rows = model.objects.filter(day__range=(first, last)).annotate(week=TruncWeek("day", output_field=DateField()))
    rows = rows.values("week").annotate(**{f"sum_{name}": Sum(field) for name, field in sums.items()}).order_by()
    return [{"week": row["week"], **{name: row[f"sum_{name}"] for name in sums}} for row in rows]


def sla_claim_weeks(first: date, last: date, now: datetime) -> dict[date, dict]:
    """Monday → claims made (``received``), judged, answered within 24 h: the dashboard's first responses."""
    from backoffice.dashboard import Filters

    weeks = first_response_per_week(Filters(first, last), now)
    return {monday: {"received": w["claims"], "judged": w["judged"], "met": w["met"]} for monday, w in weeks.items()}


def sla_refund_weeks(first: date, last: date, now: datetime) -> dict[date, dict]:
    """Monday of the clock's start → refunds, judged and sent within 5 and 7 working days.

    Sent refunds are stored per day; the unsent (open) ones are judged against ``now``: a few, on an index."""
    weeks = {}
    for row in _weeks(RefundStartDay, first, last, n="refunds", sent="sent", target="within_target", due="within_due"):
        weeks[row["week"]] = {
            "started": row["n"],
            "target_judged": row["sent"],
            "within_target": row["target"],
            "due_judged": row["sent"],
            "within_due": row["due"],
        }
    empty = {"started": 0, "target_judged": 0, "within_target": 0, "due_judged": 0, "within_due": 0}
    _add_late_refunds(weeks, Refund.objects.all(), "clock_started_at", _bounds(first, last), now, empty)
    return weeks


def sla_parcel_weeks(first: date, last: date) -> dict[date, dict]:
    """Monday of the approval → return parcels approved, received, received in time, awaited, expired."""
    names = ("approved", "received", "received_in_time", "awaited", "expired")
    rows = _weeks(ParcelDay, first, last, **{name: name for name in names})
    return {row["week"]: {name: row[name] for name in names} for row in rows}
