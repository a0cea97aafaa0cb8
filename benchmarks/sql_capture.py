"""A pytest plugin for ``query_audit.py``: every statement Django sends to PostgreSQL, as the server got it.

    SQL_CAPTURE=var/statements.jsonl PYTHONPATH=benchmarks bash scripts/test.sh -p sql_capture -m "not browser"

One JSON string a line (``connection.ops.last_executed_query``: the parameters bound in). Nothing else
changes in the tests; the file grows by every statement of the run (a few hundred MB for the whole suite).
"""

import json
import os

from django.db.backends import utils

_execute = utils.CursorWrapper._execute
# Open for the whole run: written by every statement, closed by the interpreter at its end.
_out = open(os.environ["SQL_CAPTURE"], "a", encoding="utf-8")  # noqa: SIM115


def _captured(self, sql, params, *ignored_wrappers):
    result = _execute(self, sql, params, *ignored_wrappers)
    if self.db.vendor == "postgresql":
        _out.write(json.dumps(self.db.ops.last_executed_query(self.cursor, sql, params)) + "\n")
    return result


utils.CursorWrapper._execute = _captured
