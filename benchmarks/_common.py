"""What every benchmark starts with: the bench database guard and the header lines that say what ran.

The scripts run as ``.venv/bin/python benchmarks/<name>.py``, so this folder is on ``sys.path`` and they
import this module as ``_common``.
"""

import os
import shlex
import sys
from urllib.parse import urlsplit, urlunsplit


def masked_url(url: str) -> str:
    """The URL with its password replaced by ``***``: the header shows where it ran, not the secret."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def require_bench_database(connection, force: bool) -> str:
    """The database's name; exits unless it is PostgreSQL with 'bench' in its name (or ``--force``): the
    benchmarks write, delete and time rows, and their figures are PostgreSQL's."""
    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or ("bench" not in name and not force):
        sys.exit(f"Refusing {connection.vendor} database {name!r}: PostgreSQL with 'bench' in its name (or --force).")
    return name


def server_version(cursor) -> str:
    cursor.execute("SELECT version()")
    return cursor.fetchone()[0]


def claims_estimate(cursor) -> int:
    """The planner's count of claims (``pg_class.reltuples``): a million rows are not counted for a header."""
    cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'returns_claim'::regclass")
    return cursor.fetchone()[0]


def command_line() -> str:
    """The command as run, with the database it ran on (password masked): the header's first line."""
    command = " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv])
    return f"DATABASE_URL={masked_url(os.environ.get('DATABASE_URL', ''))} {command}"
