"""Loading a store's order export: the file is checked whole (``stores.csvfile``), its rows are streamed through
its format (``stores.own_layout``, ``stores.shopify``), which checks each row and groups them into orders, and
the orders go in batches to the one upsert path, ``returns.orders.orders_upsert``. Memory stays bounded: one
batch of orders at a time, and what earlier rows said on disk (``stores.earlier``).

    report = order_rows_import(read_order_csv("orders.csv"))     # the format from the header
    report = order_rows_import(read_order_csv(path, format="shopify"))
"""

from collections.abc import Iterable, Mapping

from returns.orders import BATCH_LINES, orders_upsert
from stores import own_layout
from stores.csvfile import FORMATS, OrderFile, column_name, parse_order_csv, read_order_csv
from stores.report import ImportFileError, ImportReport, Rejected

__all__ = [
    "FORMATS",
    "ImportFileError",
    "ImportReport",
    "OrderFile",
    "Rejected",
    "column_name",
    "order_rows_import",
    "parse_order_csv",
    "read_order_csv",
]


def order_rows_import(
    source: OrderFile | Iterable[tuple[int, Mapping]],
    *,
    format: str | None = None,
    file_name: str | None = None,
    batch_lines: int = BATCH_LINES,
) -> ImportReport:
    """Load the rows of ``source`` (a checked file, or rows of the format named ``format``, by default the
    project's own layout); bad rows are reported and skipped, the others load. ``file_name`` names the export
    in the reason of a received date it changes (by default the file's own name)."""
    if isinstance(source, OrderFile):
        rows, layout = source.rows(), source.format
        file_name = source.file_name if file_name is None else file_name
    else:
        rows, layout = source, FORMATS[format] if format else own_layout
    report = ImportReport(format_label=layout.LABEL)
    pending, sources, size = [], {}, 0

    def flush():
        if pending:
            report.absorb(orders_upsert(pending, batch_lines=batch_lines), sources)
            pending.clear()
            sources.clear()

    try:
        for data, lines in layout.orders(rows, report=report, file_name=file_name or ""):
            pending.append(data)
            sources[data.origin] = (data.number, lines)
            size += len(data.lines)
            if size >= batch_lines:
                flush()
                size = 0
    except ImportFileError as error:
        report.stopped = str(error)
    flush()
    return report
