"""A store's CSV export as it comes: UTF-8 with or without a BOM, commas, semicolons or tabs, CRLF or LF line
ends, quoted cells holding the delimiter, quotes or line breaks. The file is checked (UTF-8, header, format)
before anything loads, then its rows are streamed with their line numbers as a spreadsheet shows them (the
header is line 1, a blank row still counts, a quoted cell spanning several lines is one row): a file of any
length is read in bounded memory.
"""

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from stores import own_layout, shopify
from stores.report import ImportFileError

# The formats, by the name ``--format`` takes.
FORMATS = {own_layout.NAME: own_layout, shopify.NAME: shopify}
DELIMITERS = (",", ";", "\t")
# A store's notes can be long; csv's default limit (128 KiB a cell) would stop an import at one long note.
csv.field_size_limit(16 * 1024 * 1024)


def column_name(cell: str) -> str:
    """Header names matched loosely: ``Order Number``, ``order-number`` and ``order_number`` are one column."""
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


@dataclass
class OrderFile:
    """An export whose header is checked: its format, and its rows read again from the start on each call."""

    label: str  # for messages: the path, or "The file"
    file_name: str  # the reason of a received date it changes: "orders.csv", or "" for bytes
    format: object  # a format module (``stores.own_layout``, ``stores.shopify``)
    columns: list[str]
    delimiter: str
    _open: Callable[[], contextlib.AbstractContextManager[TextIO]]

    def rows(self) -> Iterator[tuple[int, dict]]:
        """(line number, {column: text}) for the columns the format reads; a row with more cells than the header
        has columns holds the extra ones under ``None``."""
        width = len(self.columns)
        wanted = [(name, self.columns.index(name)) for name in self.format.COLUMNS_READ if name in self.columns]
        line = 1
        with self._open() as text:
            reader = csv.reader(text, delimiter=self.delimiter)
            try:
                next(reader, None)  # the header
                for line, record in enumerate(reader, start=2):
                    if not any(record) or not any(cell.strip() for cell in record):
                        continue
                    if len(record) == width:
                        row = {name: record[index] for name, index in wanted}
                    else:
                        row = {name: record[index] if index < len(record) else "" for name, index in wanted}
                        if len(record) > width:
                            # A shifted row, even when the extra cell is blank: its values are in the wrong columns.
                            row[None] = record[width:]
                    yield line, row
            except csv.Error as error:
                raise ImportFileError(f"{self.label} cannot be read as CSV after line {line} ({error}).") from None


def read_order_csv(path: str | Path, *, format: str | None = None) -> OrderFile:
    """Check the file (readable, UTF-8, a header of a known format); raises ``ImportFileError``."""
    path = Path(path)
    label = str(path)
    try:
        _check_utf8(path, label)
        with open(path, encoding="utf-8-sig", newline="") as text:
            first_line = text.readline()
            rest = "" if first_line.strip() else text.read(4096)
    except OSError as error:
        raise ImportFileError(f"Cannot read {path}: {error.strerror or error}.") from None
    return _order_file(first_line, rest, label, path.name, format, lambda: open(path, encoding="utf-8-sig", newline=""))


def parse_order_csv(data: bytes, *, name: str = "The file", format: str | None = None) -> OrderFile:
    """The same for a file's bytes already in memory (an upload, a test)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(_not_utf8(name, error.start)) from None
    first_line = text.split("\n", 1)[0]
    return _order_file(first_line, text, name, "", format, lambda: io.StringIO(text, newline=""))


def _order_file(first_line: str, rest: str, label: str, file_name: str, format: str | None, opener) -> OrderFile:
    if not first_line.strip() and not rest.strip():
        raise ImportFileError(
            f"{label} is empty: it needs a header line naming its columns "
            f"({own_layout.LABEL}: {', '.join(own_layout.REQUIRED_COLUMNS)}; or {shopify.LABEL})."
        )
    # The column names hold none of these, so the header's most frequent one is the delimiter.
    delimiter = max(DELIMITERS, key=first_line.count)
    header = next(csv.reader([first_line.rstrip("\r\n")], delimiter=delimiter), [])
    columns = [column_name(cell) for cell in header]
    if format is None:
        chosen = shopify if shopify.recognises(columns) else own_layout
    elif format in FORMATS:
        chosen = FORMATS[format]
    else:
        raise ImportFileError(f"Unknown format “{format}”: choose {' or '.join(FORMATS)}.")
    chosen.check_header(columns, label)
    repeated = sorted({column for column in columns if column and columns.count(column) > 1})
    if repeated:
        raise ImportFileError(f"{label}: the header has the column {', '.join(repeated)} more than once.")
    return OrderFile(label, file_name, chosen, columns, delimiter, opener)


def _check_utf8(path: Path, label: str) -> None:
    """The whole file decodes as UTF-8, checked block by block before any row loads."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as raw:
        while True:
            block = raw.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                raise ImportFileError(_not_utf8(label, max(offset + error.start, 0))) from None
            if not block:
                return
            offset += len(block)


def _not_utf8(label: str, start: int) -> str:
    return f"{label} is not UTF-8 text (byte {start + 1} cannot be read): export it as “CSV UTF-8”."
