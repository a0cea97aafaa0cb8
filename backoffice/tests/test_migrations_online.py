"""The session's index migrations build on PostgreSQL without blocking writes (``core/migration_operations.py``,
``docs/operations.md`` "Upgrade"): what ``sqlmigrate`` would run."""

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def sql_of(app: str, migration: str) -> str:
    out = io.StringIO()
    call_command("sqlmigrate", app, migration, stdout=out)
    return out.getvalue()


def test_the_lookup_indexes_are_built_concurrently_outside_a_transaction():
    sql = sql_of("returns", "0018")

    for index in ("claim_order_number", "claim_customer_email", "order_number_any_case", "email_to_any_case"):
        assert f'CREATE INDEX CONCURRENTLY "{index}"' in sql, index
    # the reply token's unique index built first, then taken by the constraint: no build under a lock
    assert 'CREATE UNIQUE INDEX CONCURRENTLY "claim_unique_reply_token"' in sql
    assert 'ADD CONSTRAINT "claim_unique_reply_token" UNIQUE USING INDEX "claim_unique_reply_token"' in sql
    assert "BEGIN;" not in sql  # atomic = False: PostgreSQL refuses CONCURRENTLY inside a transaction


@pytest.mark.parametrize(
    ("app", "migration", "index"),
    [
        ("inbox", "0002", "inbound_sender_any_case"),
        ("warranty", "0003", "replacement_faulty_serial"),
        ("stores", "0002", "stores_delivery_order_number"),
    ],
)
def test_the_other_apps_indexes_too(app, migration, index):
    sql = sql_of(app, migration)

    assert f'CREATE INDEX CONCURRENTLY "{index}"' in sql
    assert "BEGIN;" not in sql
