"""Exports of the admin's lists (claims, inspections, refunds) to CSV and Excel.

One definition per list (``EXPORTS``): the columns in a manager's words, each read
with ``values_list`` from the admin list's own queryset (its filters, search and
ordering), so what is exported is what the list shows. Rows are never held all
at once: the database is read through a server-side cursor in chunks of 2,000
inside a transaction (``Export.raw_chunks``: on PostgreSQL a binary cursor with a
read-ahead thread, elsewhere ``iterator(chunk_size=…)``), each chunk is written
and dropped.

- Money is a number (rounded half up to the currency's minor unit) with a
  ``Currency`` column beside it; dates and times are in the company's time zone
  (``settings.TIME_ZONE``), whatever the viewer's browser says.
- Formula neutralisation (OWASP "CSV injection"): a text cell that starts with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a
  customer's description can never run as a formula in a manager's spreadsheet.
  In Excel files the same text is also written as a string cell, never a formula.
- Up to ``settings.EXPORT_STREAM_MAX_ROWS`` rows (the list's keys read with a query
  bounded by that limit, never ``COUNT(*)`` over the table) stream straight to the
  browser, read back by key a chunk at a time (``Export.chunks_by_pk``);
  more go to a Celery task (``backoffice.tasks.export_to_storage``) that writes a
  temporary file, stores it in the default storage and emails the requester a
  link that expires after ``settings.EXPORT_LINK_EXPIRE_SECONDS``.
"""

import contextlib
import csv
import io
import queue
import re
import tempfile
import threading
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connections, transaction
from django.db.models import Aggregate, CharField, DecimalField, F, Func, Min, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.utils import timezone

from backoffice.models import StoredExport
from inspections.models import Inspection, Outcome
from refunds.models import Provider, Refund, RefundPurpose, RefundStatus
from returns import money
from returns.instants import calendar_words, zone_name
from returns.models import Claim, ClaimItem, ClaimStatus, ClaimType, DoaReason, OutboundEmail, ReceivedDateSource
from returns.notifications import email_address

CHUNK_ROWS = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"csv": CSV_CONTENT_TYPE, "xlsx": XLSX_CONTENT_TYPE}


def stream_max_rows() -> int:
    return getattr(settings, "EXPORT_STREAM_MAX_ROWS", 20_000)


def link_expire_seconds() -> int:
    return getattr(settings, "EXPORT_LINK_EXPIRE_SECONDS", 24 * 3600)


def neutralise(text: str) -> str:
    """A cell a spreadsheet will show as text, never evaluate: ``=1+1`` becomes ``'=1+1``."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# --- Columns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: its header, the ``values_list`` paths it reads, and how they become a cell.

    ``kind``: ``text`` (neutralised), ``label`` (a choice's words), ``yesno``, ``yesno_unknown`` (a
    null is "Unknown", not a blank: a product's category not set yet), ``number``,
    ``date``, ``datetime`` (company time zone), ``money`` (paths: amount, currency).
    """

    header: str
    paths: tuple[str, ...]
    kind: str = "text"
    labels: dict | None = None
    compute: Callable | None = None  # kind "money": (values...) -> (amount or None, currency)
    width: int | None = None  # Excel's column width, in characters; None: from the kind and the header

    @property
    def title(self) -> str:
        if self.kind == "datetime":
            return f"{self.header} ({zone_name()})"
        if self.kind == "date":
            return f"{self.header} ({calendar_words()})"
        return self.header


def col(header: str, path: str, kind: str = "text", labels=None) -> Column:
    return Column(header, (path,), kind, dict(labels) if labels is not None else None)


@dataclass(frozen=True)
class Export:
    name: str  # "claims"
    model: type
    columns: tuple[Column, ...]

    annotations: Callable[[], dict] | None = None  # values computed per row by the database (sums, SKUs)

    @property
    def headers(self) -> list[str]:
        """The columns' titles; a date or time column names the zone it is in (the one rule, ``returns.instants``)."""
        return [column.title for column in self.columns]

    def queryset(self, queryset):
        """The list's queryset with this export's computed values (``annotations``) added."""
        return queryset.annotate(**self.annotations()) if self.annotations else queryset

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(path for column in self.columns for path in column.paths))

    def raw_chunks(self, queryset, target: str = "csv", chunk_size: int = CHUNK_ROWS) -> Iterator[list]:
        """Lists of at most ``chunk_size`` rows: tuples, never model instances, never all rows. In a transaction.

        Elsewhere than PostgreSQL (SQLite, the embedded run): ``values_list().iterator(chunk_size)``.
        On PostgreSQL the queryset's own SQL runs on a binary server-side cursor (psycopg
        parses binary timestamps in C; from text they were most of the read's time), planned
        for the whole result (``cursor_tuple_fraction = 1``), and a reader thread fetches
        the next chunks while this one converts and writes the last: the server and Python
        work at the same time, as they do in a ``COPY``. At most ``READ_AHEAD`` chunks wait.
        For CSV the database also writes the dates and times in the company's time zone.
        """
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            rows = self.queryset(queryset).values_list(*self.paths).iterator(chunk_size=chunk_size)
            while chunk := list(islice(rows, chunk_size)):
                yield chunk
            return
        sql, params = self.values(queryset, target).query.get_compiler(using=queryset.db).as_sql()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
        with connection.connection.cursor(name=f"export_{uuid.uuid4().hex}", binary=True) as cursor:
            cursor.execute(sql, params)
            yield from _read_ahead(lambda: cursor.fetchmany(chunk_size))

    def chunks_by_pk(self, queryset, pks: list, target: str = "csv", chunk_size: int = CHUNK_ROWS) -> Iterator[list]:
        """The rows of these primary keys, in their order, ``chunk_size`` at a time: one query per chunk.

        The streamed export (``admin_exports``) has the list's primary keys in its order already
        (``stream_pks``: the list's own query, narrow and bounded), so no query here filters or
        sorts: each reads its chunk's rows by primary key (index probes, the per-row subqueries for
        those rows only), and the first piece waits for its own rows, not for every row's. On
        PostgreSQL on a binary cursor, the next chunk read by a thread while this one is written
        (``raw_chunks``). A row gone since the keys were read is left out.
        """
        if not pks:
            return
        at = self.paths.index("id")
        model, using = queryset.model, queryset.db
        manager = model._default_manager.db_manager(using)
        parts = iter([pks[n : n + chunk_size] for n in range(0, len(pks), chunk_size)])

        def ordered(chunk: list, rows) -> list:
            found = {row[at]: row for row in rows}
            return [found[pk] for pk in chunk if pk in found]

        connection = connections[using]
        if connection.vendor != "postgresql":
            for chunk in parts:
                if rows := ordered(chunk, self.values(manager.filter(pk__in=chunk).order_by(), target)):
                    yield rows
            return
        import psycopg

        # Compiled here, not in the reader thread: Django's connections are per thread, and the thread's own
        # would connect for its server's version. One SQL text for every chunk, only the keys change.
        queries = [
            (chunk, *self.values(manager.filter(pk__in=chunk).order_by(), target).query.get_compiler(using).as_sql())
            for chunk in parts
        ]
        statements = iter(queries)
        # psycopg's own cursor (server-side binding): Django's client-side one cannot read binary results.
        with psycopg.Cursor(connection.connection) as cursor:

            def fetch() -> list:
                for chunk, sql, params in statements:  # a chunk whose rows are all gone is skipped, not the end
                    if rows := ordered(chunk, cursor.execute(sql, params, binary=True).fetchall()):
                        return rows
                return []

            yield from _read_ahead(fetch)

    def values(self, queryset, target: str = "csv"):
        """The ``values_list`` the export reads (on PostgreSQL, for CSV: dates and times as the database's text)."""
        queryset = self.queryset(queryset)
        if target == "csv" and connections[queryset.db].vendor == "postgresql":
            return queryset.annotate(**self._sql_text()).values_list(*self._sql_paths())
        return queryset.values_list(*self.paths)

    def _sql_text(self) -> dict:
        """Annotations: each date and time column as the CSV's text, formatted by PostgreSQL."""
        tz = Value(settings.TIME_ZONE)
        texts = {}
        for column in self.columns:
            path = column.paths[0]
            if column.kind == "datetime":
                texts[_alias(path)] = Func(tz, F(path), template=LOCAL_MINUTE_SQL, output_field=CharField())
            elif column.kind == "date":
                texts[_alias(path)] = Func(F(path), template="to_char(%(expressions)s, 'YYYY-MM-DD')",
                                           output_field=CharField())  # fmt: skip
        return texts

    def _sql_paths(self) -> list[str]:
        formatted = {column.paths[0] for column in self.columns if column.kind in ("date", "datetime")}
        return [_alias(path) if path in formatted else path for path in self.paths]

    def row_maker(self, target: str, formatted_by_sql: bool = False, styled=None) -> Callable[[tuple], list]:
        """One function from a raw row to the cells of ``target`` (``csv``: text; ``xlsx``: typed values).

        Written as one expression per cell and compiled once: a million rows pay one Python
        call each, not one per cell (the per-cell closures were most of the export's time).
        For Excel, ``styled(value, number_format)`` makes the cell of a money, date or time
        value (``write_xlsx``); without it those cells are plain values.
        """
        index = {path: n for n, path in enumerate(self.paths)}
        namespace = {
            "STARTS": FORMULA_STARTS_TEXT,
            "TZ": zoneinfo.ZoneInfo(settings.TIME_ZONE),
            "quantize": money.quantize,
            "ILLEGAL": ILLEGAL_CHARACTERS_RE.sub,
            "styled": styled or (lambda value, number_format: value),
            "money_xlsx": _money_xlsx,
            "XLSX_DATE": XLSX_DATE,
            "XLSX_DATETIME": XLSX_DATETIME,
        }
        cells = []
        for n, column in enumerate(self.columns):
            at = [index[path] for path in column.paths]
            cells.append(_cell(column, n, at, target, formatted_by_sql, namespace))
        source = "def make(r):\n    return [" + ", ".join(cells) + "]\n"
        exec(source, namespace)  # our own expressions: no exported value is ever part of the source
        return namespace["make"]


READ_AHEAD = 2


def _read_ahead(fetch: Callable[[], list], depth: int = READ_AHEAD) -> Iterator[list]:
    """The chunks ``fetch()`` returns (until an empty one), fetched by a thread ``depth`` chunks ahead.

    The thread only waits on the database (psycopg releases the GIL meanwhile); when the
    reader stops early (a browser that went away), the thread is stopped before the cursor closes.
    """
    chunks: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            while not stop.is_set():
                rows = fetch()
                chunks.put(rows)
                if not rows:
                    return
        except BaseException as error:  # handed to the reader, which raises it
            chunks.put(error)

    thread = threading.Thread(target=produce, name="export-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            rows = chunks.get()
            if isinstance(rows, BaseException):
                raise rows
            if not rows:
                return
            yield rows
    finally:
        stop.set()
        while thread.is_alive():  # make room for a put the thread may be blocked on
            with contextlib.suppress(queue.Empty):
                chunks.get_nowait()
            thread.join(timeout=0.05)


# PostgreSQL's ``timezone(zone, timestamptz)`` is ``AT TIME ZONE``: the wall-clock time there.
LOCAL_MINUTE_SQL = "to_char(timezone(%(expressions)s), 'YYYY-MM-DD HH24:MI')"
FORMULA_STARTS_TEXT = "".join(FORMULA_STARTS)
# What openpyxl refuses in a cell (``openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE``): C0 controls but tab, LF, CR.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010\013\014\016-\037]")


def _alias(path: str) -> str:
    return f"export_{path}"


def _cell(column: Column, n: int, at: list[int], target: str, formatted_by_sql: bool, namespace: dict) -> str:
    """The Python expression of one cell, reading the raw row ``r``."""
    v = f"r[{at[0]}]"
    kind = column.kind
    if kind == "text":
        if target == "xlsx":  # the control characters Excel refuses (openpyxl's IllegalCharacterError) dropped
            v = f'(ILLEGAL("", {v}) if {v} else {v})'
        return f'(("\'" + {v}) if {v} and {v}[0] in STARTS else {v})'
    if kind == "label":
        namespace[f"labels_{n}"] = column.labels
        return f"labels_{n}.get({v}, {v})"
    if kind == "yesno":
        return f"(None if {v} is None else ('Yes' if {v} else 'No'))"
    if kind == "yesno_unknown":
        return f"('Unknown' if {v} is None else ('Yes' if {v} else 'No'))"
    if kind == "number":
        return v
    if kind == "date":
        if target == "xlsx":
            return f"({v} and styled({v}, XLSX_DATE))"
        return v if formatted_by_sql else f"({v}.isoformat() if {v} else None)"
    if kind == "datetime":
        if target == "xlsx":
            return f"({v} and styled({v}.astimezone(TZ).replace(tzinfo=None), XLSX_DATETIME))"
        return v if formatted_by_sql else f"({v}.astimezone(TZ).isoformat(' ', 'minutes')[:16] if {v} else None)"
    if kind == "money":
        namespace[f"money_{n}"] = column.compute or (lambda amount, currency: (amount, currency))
        namespace["money_cell"] = _money_cell
        if target == "xlsx":
            return f"money_xlsx(money_{n}({', '.join(f'r[{i}]' for i in at)}), styled)"
        return f"money_cell(money_{n}({', '.join(f'r[{i}]' for i in at)}))"
    raise ValueError(f"unknown column kind {kind!r}")


def _money_cell(value_currency: tuple):
    value, currency = value_currency
    if value is None or currency not in money.MINOR_UNITS:
        return value
    return money.quantize(value, currency)


# Excel's formats: dates and times as the CSV writes them; money with its currency's decimals.
XLSX_DATE = "yyyy-mm-dd"
XLSX_DATETIME = "yyyy-mm-dd hh:mm"
XLSX_MONEY = {0: "#,##0", 2: "#,##0.00", 3: "#,##0.000"}


def _money_xlsx(value_currency: tuple, styled):
    value, currency = value_currency
    if value is None:
        return None
    return styled(_money_cell(value_currency), XLSX_MONEY.get(money.MINOR_UNITS.get(currency, 2), "#,##0.00"))


def _deduction(amount, percent, unit_price, quantity, currency):
    """The inspection's deduction in money: the amount entered, or the percentage of what was paid."""
    if amount is not None:
        return amount, currency
    if percent is not None:
        return money.quantize(unit_price * quantity, currency) * percent / 100, currency
    return None, currency


class JoinedText(Aggregate):
    """The group's texts in order, joined by ", ": ``STRING_AGG`` on PostgreSQL, ``GROUP_CONCAT`` on SQLite."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ', ' ORDER BY %(expressions)s)"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler, connection, function="GROUP_CONCAT", template="%(function)s(%(expressions)s, ', ')", **extra
        )


def _claim_values() -> dict:
    """Per claim, read by the database with the row: its SKUs, what it claims (units × unit price), the
    currency, and what its succeeded refunds paid back. One index scan of the claim's items or refunds each."""
    items = ClaimItem.objects.filter(claim=OuterRef("pk")).order_by().values("claim")
    paid_back = Refund.objects.filter(claim=OuterRef("pk"), status=RefundStatus.SUCCEEDED).order_by().values("claim")
    value = Sum(F("quantity") * F("order_line__unit_price"), output_field=DecimalField(max_digits=20, decimal_places=3))
    return {
        "export_skus": Subquery(items.annotate(v=JoinedText("order_line__product__sku")).values("v")),
        "export_claimed": Subquery(items.annotate(v=value).values("v")),
        "export_currency": Subquery(items.annotate(v=Min("order_line__currency")).values("v")),
        "export_refunded": Coalesce(
            Subquery(paid_back.annotate(v=Sum("total")).values("v")), Value(Decimal(0)), output_field=DecimalField()
        ),
    }


CLAIMS = Export(
    "claims",
    Claim,
    (
        col("Claim ID", "id", "number"),
        col("RMA number", "rma_number"),
        col("Order number", "order_number"),
        col("Customer name", "order__customer_name"),
        col("Customer email", "customer_email"),
        col("Claim type", "claim_type", "label", ClaimType.choices),
        col("DOA reason", "doa_reason", "label", DoaReason.choices),
        col("Status", "status", "label", ClaimStatus.choices),
        Column("SKUs", ("export_skus",), width=24),
        Column("Claimed value", ("export_claimed", "export_currency"), "money"),
        Column("Refunded", ("export_refunded", "export_currency"), "money"),
        col("Currency", "export_currency"),
        col("Electronic product", "is_electronic", "yesno_unknown"),
        col("Goods received on", "order__received_on", "date"),
        col("Received date from", "order__received_on_source", "label", ReceivedDateSource.choices),
        col("Claim made at", "submitted_at", "datetime"),
        col("First response due at", "first_response_due_at", "datetime"),
        col("First response within 24 h", "first_response_met", "yesno"),
        col("Approved without a return", "is_returnless", "yesno"),
        Column("Customer's description", ("description",), width=50),
        col("Rejection reason", "rejection_reason"),
    ),
    annotations=_claim_values,
)

_ITEM = "claim_item__"
INSPECTIONS = Export(
    "inspections",
    Inspection,
    (
        col("Inspection ID", "id", "number"),
        col("RMA number", f"{_ITEM}claim__rma_number"),
        col("Order number", f"{_ITEM}claim__order_number"),
        col("SKU", f"{_ITEM}order_line__product__sku"),
        col("Product", f"{_ITEM}order_line__product__name"),
        col("Quantity", f"{_ITEM}quantity", "number"),
        col("Serial number", f"{_ITEM}serial_number"),
        col("Inspector", "inspector__username"),
        col("New, no signs of use", "is_new_unused", "yesno"),
        col("Sealed in the original packaging", "original_packaging_sealed", "yesno"),
        col("Label present", "label_present", "yesno"),
        col("No installation marks", "no_installation_marks", "yesno"),
        col("Reported defect confirmed", "defect_confirmed", "yesno"),
        col("Human or physical damage found", "human_or_physical_damage", "yesno"),
        col("Findings", "findings"),
        col("Proposed outcome", "proposed_outcome", "label", Outcome.choices),
        col("Outcome", "outcome", "label", Outcome.choices),
        Column(
            "Deduction",
            (
                "deduction_amount",
                "deduction_percent",
                f"{_ITEM}order_line__unit_price",
                f"{_ITEM}quantity",
                f"{_ITEM}order_line__currency",
            ),
            "money",
            compute=_deduction,
        ),
        col("Deduction percent", "deduction_percent", "number"),
        col("Currency", f"{_ITEM}order_line__currency"),
        col("Deduction reason", "deduction_reason"),
        col("Started at", "started_at", "datetime"),
        col("Completed at", "completed_at", "datetime"),
    ),
)

REFUNDS = Export(
    "refunds",
    Refund,
    (
        col("Refund ID", "id", "number"),
        col("RMA number", "claim__rma_number"),
        col("Order number", "claim__order_number"),
        col("Customer email", "claim__customer_email"),
        col("Purpose", "purpose", "label", RefundPurpose.choices),
        col("Status", "status", "label", RefundStatus.choices),
        Column("Amount", ("total", "currency"), "money"),
        col("Currency", "currency"),
        col("Paid through", "provider", "label", Provider.choices),
        col("Refund's reference", "provider_reference"),
        col("Proposed at", "created_at", "datetime"),
        col("Approved at", "approved_at", "datetime"),
        col("Paid at", "succeeded_at", "datetime"),
        col("Failure reason", "failure_reason"),
    ),
)

EXPORTS = {export.model._meta.label_lower: export for export in (CLAIMS, INSPECTIONS, REFUNDS)}


def export_for(model) -> Export:
    return EXPORTS[model._meta.label_lower]


# --- Stream or task: the list's keys, bounded, instead of a count ----------------------------


def stream_pks(queryset, limit: int | None = None) -> list | None:
    """The list's primary keys in its order when there are at most ``limit`` rows, else None (a task's work).

    One narrow query, the list's own with a bigger ``LIMIT`` (``limit + 1``): it answers "stream or task?"
    as the bounded count did and sorts the keys, so no later query sorts or filters
    (``Export.chunks_by_pk``). At most ``limit`` integers are held.
    """
    limit = stream_max_rows() if limit is None else limit
    pks = list(queryset.values_list("pk", flat=True)[: limit + 1])
    return pks if len(pks) <= limit else None


# --- Writers ------------------------------------------------------------------------------------


def _chunks(export: Export, queryset, target: str, chunk_rows: int, pks: list | None) -> Iterator[list]:
    if pks is None:
        return export.raw_chunks(queryset, target, chunk_rows)
    return export.chunks_by_pk(queryset, pks, target, chunk_rows)


def csv_chunks(export: Export, queryset, chunk_rows: int = CHUNK_ROWS, pks: list | None = None) -> Iterator[str]:
    """The CSV text in pieces of ``chunk_rows`` rows, with a BOM so Excel reads it as UTF-8.

    With ``pks`` (``stream_pks``), those rows in that order; otherwise the queryset's rows, read in one query.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(export.headers)
    make = export.row_maker("csv", formatted_by_sql=connections[queryset.db].vendor == "postgresql")
    with transaction.atomic(using=queryset.db):
        for chunk in _chunks(export, queryset, "csv", chunk_rows, pks):
            writer.writerows(map(make, chunk))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def write_csv(export: Export, queryset, out) -> int:
    """Write the CSV to a text file opened with ``newline=""``; returns the bytes written (as characters)."""
    written = 0
    for piece in csv_chunks(export, queryset):
        out.write(piece)
        written += len(piece)
    return written


def write_xlsx(export: Export, queryset, out, pks: list | None = None) -> None:
    """Write an Excel workbook to a binary file; openpyxl's write-only mode keeps one row in memory.

    A bold header frozen above the rows with a filter on every column, widths from each column's
    kind, money as numbers with the currency's decimals, dates and times as Excel dates.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(export.name.capitalize())
    sheet.freeze_panes = "A2"
    for n, column in enumerate(export.columns, 1):
        sheet.column_dimensions[get_column_letter(n)].width = column.width or _width(column)

    def styled(value, number_format):
        cell = WriteOnlyCell(sheet, value)
        cell.number_format = number_format
        return cell

    bold = Font(bold=True)
    header = []
    for title in export.headers:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    make = export.row_maker("xlsx", styled=styled)
    rows = 0
    with transaction.atomic(using=queryset.db):
        for chunk in _chunks(export, queryset, "xlsx", CHUNK_ROWS, pks):
            for raw in chunk:
                sheet.append(make(raw))
            rows += len(chunk)
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(export.columns))}{rows + 1}"
    workbook.save(out)


WIDTHS = {"datetime": 17, "date": 12, "money": 12, "number": 10, "yesno": 8, "yesno_unknown": 8}


def _width(column: Column) -> int:
    """Room for the header, or for the kind's values when they are wider (text: 24 characters)."""
    return max(min(len(column.title), 30), WIDTHS.get(column.kind, 16 if column.kind == "label" else 24)) + 2


def xlsx_chunks(export: Export, queryset, chunk_bytes: int = 64 * 1024, pks: list | None = None) -> Iterator[bytes]:
    """The workbook, written to a spooled temporary file (in memory up to 1 MB, then on disk), read back in pieces."""
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        write_xlsx(export, queryset, spool, pks=pks)
        spool.seek(0)
        while piece := spool.read(chunk_bytes):
            yield piece


def filename(export: Export, fmt: str, moment: datetime | None = None) -> str:
    local = timezone.localtime(moment or timezone.now(), zoneinfo.ZoneInfo(settings.TIME_ZONE))
    return f"{export.name}-{local:%Y%m%d-%H%M%S}.{fmt}"


# --- The admin list's queryset, rebuilt from its query string --------------------------------


def changelist_queryset(model, query_string: str, user):
    """The queryset the admin list shows ``user`` for these GET parameters: its filters, search and ordering."""
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    model_admin = admin.site._registry[model]
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    request = RequestFactory().get(url, QueryDict(query_string))
    request.user = user
    request.export_only = True  # the queryset only: not the page's count (``ExportMixin.get_changelist``)
    return model_admin.get_changelist_instance(request).queryset


# --- Large exports: a file in storage and an email with a link ----------------------------------


def export_write_to_storage(*, model_label: str, fmt: str, query_string: str, user_id: int) -> str:
    """Write the export to a temporary file, store it, email ``user_id`` a time-limited link; the stored name.

    The task (``backoffice.tasks.export_to_storage``) calls this with ids and the list's
    GET parameters, never a queryset: the queryset is rebuilt here from the admin.
    """
    from django.apps import apps
    from django.contrib.auth import get_user_model

    from backoffice.access import is_manager

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    user = get_user_model().objects.get(pk=user_id)
    if not is_manager(user):
        raise PermissionError(f"{user} may not export")
    model = apps.get_model(model_label)
    export = export_for(model)
    queryset = changelist_queryset(model, query_string, user)
    name = filename(export, fmt)
    with tempfile.TemporaryFile() as scratch:
        if fmt == "csv":
            text = io.TextIOWrapper(scratch, encoding="utf-8", newline="")
            write_csv(export, queryset, text)
            text.flush()
            text.detach()
        else:
            write_xlsx(export, queryset, scratch)
        scratch.seek(0)
        stored = default_storage.save(f"exports/{user.pk}/{name}", File(scratch, name=name))
    StoredExport.objects.create(
        user=user, file=stored, expires_at=timezone.now() + timedelta(seconds=link_expire_seconds())
    )
    _email_link(user, stored, name, export)
    return stored


def export_record_failure(*, model_label: str, fmt: str, user_id: int, error: Exception) -> StoredExport:
    """The export task failed: a row keeps the reason (deleted with the others after its lifetime), the
    manager is emailed it."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    from core.text import single_line

    user = get_user_model().objects.get(pk=user_id)
    reason = single_line(f"{type(error).__name__}: {error}")[:2000]
    with transaction.atomic():
        row = StoredExport.objects.create(
            user=user, error=reason, expires_at=timezone.now() + timedelta(seconds=link_expire_seconds())
        )
        if user.email:
            export = export_for(apps.get_model(model_label))
            email_address(
                to=user.email,
                template="export_failed",
                subject=f"Your export could not be made: {export.name}",
                context={"user": user, "export": export, "fmt": fmt, "reason": reason},
            )
    return row


def signed_url(stored: str) -> str:
    """The emailed link: through the file view (owner only), signed, expiring with the stored file."""
    from backoffice.files import file_link

    return file_link(stored, max_age=link_expire_seconds(), absolute=True)


def exports_delete_expired() -> int:
    """Delete stored exports past their lifetime, file then row (beat: ``delete-expired-exports``); how many.

    A file already gone (deleted by hand) still has its row deleted; a storage fault leaves the row
    for the next run.
    """
    deleted = 0
    for export in StoredExport.objects.filter(expires_at__lte=timezone.now()).order_by("pk"):
        if export.file.name:  # a failed export's row has none
            default_storage.delete(export.file.name)
        export.delete()
        deleted += 1
    return deleted


def _email_link(user, stored: str, name: str, export: Export) -> OutboundEmail | None:
    if not user.email:
        return None
    hours = link_expire_seconds() / 3600
    context = {
        "user": user,
        "export": export,
        "filename": name,
        "url": signed_url(stored),
        "expires_in": f"{hours:g} hour{'s' if hours != 1 else ''}",
    }
    return email_address(
        to=user.email, template="export_ready", subject=f"Your export is ready: {name}", context=context
    )
