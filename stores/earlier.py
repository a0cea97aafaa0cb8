"""What earlier rows of a file said about each order, so a later row that contradicts them is refused.

The rows of one order usually follow each other, and those are compared in memory. An order met again
further down needs what was said of it before: that is kept on disk, in a private temporary SQLite database
(Python's own ``sqlite3``, deleted when closed), so a file of any length is checked in bounded memory.
"""

import marshal
import sqlite3

_FLUSH_EVERY = 5000


class EarlierOrders:
    def __init__(self):
        # "": a private temporary database on disk, removed when the connection closes.
        self._db = sqlite3.connect("")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE said (number TEXT PRIMARY KEY, facts BLOB) WITHOUT ROWID")
        self._pending: dict[str, tuple] = {}

    def get(self, number: str) -> tuple | None:
        """What was kept of the order, or None when the file did not mention it before."""
        if number in self._pending:
            return self._pending[number]
        found = self._db.execute("SELECT facts FROM said WHERE number = ?", (number,)).fetchone()
        return marshal.loads(found[0]) if found else None

    def put(self, number: str, facts: tuple) -> None:
        """Keep ``facts`` (made of str, int, None, tuples and dicts) for the order."""
        self._pending[number] = facts
        if len(self._pending) >= _FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO said (number, facts) VALUES (?, ?)",
            ((number, marshal.dumps(facts)) for number, facts in self._pending.items()),
        )
        self._pending.clear()

    def close(self) -> None:
        self._db.close()
