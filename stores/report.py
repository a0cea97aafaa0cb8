"""What an import did, for the person who ran it: counts, and every row not loaded with its line and reasons."""

from dataclasses import dataclass, field

from returns.orders import CREATED, UNCHANGED, UPDATED, UpsertReport

# Rows listed in the report at most (each kind); beyond, they are counted. A broken file of a million rows
# must not hold a million reasons in memory.
MAX_LISTED = 1000


class ImportFileError(Exception):
    """The file cannot be imported at all; the message says why, for a person."""


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.reason}"


def _counts():
    return {CREATED: 0, UPDATED: 0, UNCHANGED: 0}


@dataclass
class ImportReport:
    format_label: str = ""
    rows_read: int = 0
    lines: dict[str, int] = field(default_factory=_counts)
    orders: dict[str, int] = field(default_factory=_counts)
    products: dict[str, int] = field(default_factory=_counts)
    rejected: list[Rejected] = field(default_factory=list)
    rejected_rows: int = 0
    left_out: list[Rejected] = field(default_factory=list)
    left_out_rows: int = 0
    # Set when the file could not be read to its end: what was read before loaded.
    stopped: str = ""

    def reject(self, line: int, reason: str) -> None:
        self.rejected_rows += 1
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append(Rejected(line, reason))

    def leave_out(self, line: int, reason: str) -> None:
        self.left_out_rows += 1
        if len(self.left_out) < MAX_LISTED:
            self.left_out.append(Rejected(line, reason))

    def absorb(self, part: UpsertReport, sources: dict[str, tuple[str, list[int]]]) -> None:
        """Add one call of ``orders_upsert``; ``sources``: origin -> (order number, the rows it came from)."""
        for mine, theirs in ((self.orders, part.orders), (self.lines, part.lines), (self.products, part.products)):
            for outcome, count in theirs.items():
                mine[outcome] += count
        for origin, reason in part.refused:
            number, rows = sources[origin]
            self.reject(rows[0], reason)
            for line in rows[1:]:
                self.reject(line, f"order {number} is not loaded: see line {rows[0]}.")

    def summary(self) -> str:
        self.rejected.sort(key=lambda rejected: rejected.line)
        self.left_out.sort(key=lambda rejected: rejected.line)
        text = [
            f"{self.rows_read} rows read" + (f" ({self.format_label})." if self.format_label else "."),
            f"Order lines: {self.lines[CREATED]} created, {self.lines[UPDATED]} updated, "
            f"{self.lines[UNCHANGED]} unchanged.",
            f"Orders: {self.orders[CREATED]} created, {self.orders[UPDATED]} updated, "
            f"{self.orders[UNCHANGED]} unchanged.",
            f"Products: {self.products[CREATED]} created, {self.products[UPDATED]} updated.",
        ]
        if self.left_out_rows:
            text.append(f"Left out: {_rows(self.left_out_rows)}.")
            text.extend(f"  {row}" for row in self.left_out)
            if self.left_out_rows > len(self.left_out):
                text.append(f"  … and {self.left_out_rows - len(self.left_out)} more.")
        text.append(f"Rejected: {_rows(self.rejected_rows)}.")
        text.extend(f"  {row}" for row in self.rejected)
        if self.rejected_rows > len(self.rejected):
            text.append(f"  … and {self.rejected_rows - len(self.rejected)} more.")
        if self.stopped:
            text.append(f"Stopped: {self.stopped} The rows before it were loaded.")
        return "\n".join(text)


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"
