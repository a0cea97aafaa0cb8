"""The execution task's common path in a few hand-written statements (issue 17: refunds at the queue's speed).

Nearly every refund the task sends takes the same two steps: approved → processing (the attempt taken),
then processing → succeeded with its claim refunded. Through the ORM those cost 16 statements and 10-13 ms
of CPU a refund, the email included (lock, whole-row saves, an event a statement, a savepoint for the claim); here each
step is **one statement** that does what the services' rules say, in the same order and with the same rows:

- the row is "locked and checked" by the ``UPDATE … WHERE status = <the transition's source>`` itself:
  PostgreSQL takes the row lock and re-checks the condition once it has it, so of two workers exactly one
  moves the row and the other gets no row back;
- the source and target come from the state tables (``refunds.states``, ``returns.states``) as the system
  actor, never written here; the claim also keeps ``claim_mark_refunded``'s own rule (an approved claim is
  refunded before its parcel only when it is returnless);
- each move writes its event in the same statement (a data-modifying ``WITH``), with the payload the
  ORM path writes, so the history reads the same whichever path ran;
- side effects (the customer's email) are written in the transaction and sent after it commits, as before.

Anything else (a refund not in the expected state, an expired lease to resume, a manual provider, a claim
that cannot follow) returns ``None`` and ``refunds.services`` handles it on the ORM path, which stays whole
and the reference: ``refunds/tests/test_execution_sql.py`` runs both on twin refunds and compares every row.
The statements are PostgreSQL's (data-modifying ``WITH``, ``FOR UPDATE``, ``jsonb``): on another database
(the embedded SQLite default of ``scripts/run.sh``) both functions return None and the ORM path runs.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from core import actors
from core.events import PayloadEncoder
from refunds import states
from refunds.models import Refund, RefundEvent, RefundLine, RefundStatus
from returns import states as claim_states
from returns.models import Claim, ClaimEvent, ClaimStatus, Order, OutboundEmail

SYSTEM = actors.SYSTEM
_START = states.require(RefundStatus.APPROVED, "start", SYSTEM)
_SUCCEED = states.require(RefundStatus.PROCESSING, "succeed", SYSTEM)
# The claim's "refund" moves the system may take, from the claim's state table.
_CLAIM_REFUND_SOURCES = [t.source for t in claim_states.TRANSITIONS if t.action == "refund" and t.system]
_CLAIM_REFUND = claim_states.require(ClaimStatus.INSPECTED, "refund", SYSTEM)

_EVENT_COLUMNS = "actor_id, actor_kind, action, from_status, to_status, payload, created_at"
_REFUND = Refund._meta.db_table
_REFUND_EVENT = RefundEvent._meta.db_table
_CLAIM = Claim._meta.db_table
_CLAIM_EVENT = ClaimEvent._meta.db_table
_ORDER = Order._meta.db_table
_REFUND_LINE = RefundLine._meta.db_table
_EMAIL = OutboundEmail._meta.db_table
# The claim's columns the email reads (``notifications.email_customer``, the template, the status link).
_CLAIM_FIELDS = (
    "id",
    "status",
    "is_returnless",
    "order_id",
    "order_number",
    "customer_email",
    "rma_number",
    "language",
    "reply_token",
    "customer_last_message_id",
    "customer_thread_references",
)

START_SQL = f"""
WITH started AS (
    UPDATE {_REFUND}
    SET status = %(target)s, attempts = attempts + 1, processing_started_at = %(now)s, updated_at = %(now)s
    WHERE id = %(id)s AND status = %(source)s
    RETURNING id, claim_id, attempts, execution_round, payment_reference, total, currency, key, provider
), event AS (
    INSERT INTO {_REFUND_EVENT} (refund_id, {_EVENT_COLUMNS})
    SELECT id, NULL, %(system)s, %(action)s, %(source)s, %(target)s,
           jsonb_build_object('attempt', attempts, 'round', execution_round), %(now)s
    FROM started
)
SELECT started.attempts, started.execution_round, started.payment_reference, started.total, started.currency,
       started.key, started.provider, started.claim_id, claim.rma_number
FROM started JOIN {_CLAIM} AS claim ON claim.id = started.claim_id
"""

# The claim is locked after the refund (the ORM path's order); ``before`` reads it under that lock, so the
# claim's event says where it really moved from, and the email is written from its latest row. The last
# statement also reads what the email needs: the order's customer name, the refund's lines and our last
# email on the claim (``notifications.thread_headers``), so no query follows it.
SUCCEED_SQL = f"""
WITH done AS (
    UPDATE {_REFUND}
    SET status = %(target)s, succeeded_at = %(now)s, processing_started_at = NULL, failure_reason = '',
        provider_reference = %(reference)s, provider_status = %(provider_status)s, updated_at = %(now)s
    WHERE id = %(id)s AND status = %(source)s
    RETURNING id, claim_id, total, currency
), refund_event AS (
    INSERT INTO {_REFUND_EVENT} (refund_id, {_EVENT_COLUMNS})
    SELECT id, NULL, %(system)s, %(action)s, %(source)s, %(target)s, %(payload)s::jsonb, %(now)s FROM done
), before AS (
    SELECT {", ".join(_CLAIM_FIELDS)} FROM {_CLAIM} WHERE id = (SELECT claim_id FROM done) FOR UPDATE
), moved AS (
    UPDATE {_CLAIM} AS claim SET status = %(claim_target)s, updated_at = %(now)s
    FROM before
    WHERE claim.id = before.id
      AND before.status = ANY(%(claim_sources)s)
      AND (before.status <> %(approved)s OR before.is_returnless)
    RETURNING claim.id, before.status AS from_status
), claim_event AS (
    INSERT INTO {_CLAIM_EVENT} (claim_id, {_EVENT_COLUMNS})
    SELECT moved.id, NULL, %(system)s, %(claim_action)s, moved.from_status, %(claim_target)s,
           jsonb_build_object('refund_id', done.id, 'total', done.total::text, 'currency', done.currency,
                              'provider_reference', %(reference)s::text),
           %(now)s
    FROM moved, done
)
SELECT done.total, done.currency, moved.id IS NOT NULL, {", ".join(f"before.{f}" for f in _CLAIM_FIELDS)},
       customer_order.customer_name,
       (SELECT jsonb_agg(jsonb_build_array(line.kind, line.description, line.amount::text, line.reason)
                         ORDER BY line.id)
        FROM {_REFUND_LINE} AS line WHERE line.refund_id = done.id AND line.amount <> 0),
       last_email.message_id, last_email.references
FROM done
JOIN before ON true
JOIN {_ORDER} AS customer_order ON customer_order.id = before.order_id
LEFT JOIN moved ON true
LEFT JOIN LATERAL (
    SELECT message_id, "references" FROM {_EMAIL}
    WHERE claim_id = before.id AND message_id <> '' ORDER BY id DESC LIMIT 1
) AS last_email ON true
"""


@dataclass(frozen=True)
class Started:
    """What the provider call needs, read back by the statement that took the attempt."""

    attempt: int
    execution_round: int
    payment_reference: str
    total: Decimal
    currency: str
    key: str
    provider: str
    claim_id: int
    rma_number: str | None


@dataclass(frozen=True)
class Succeeded:
    total: Decimal
    currency: str
    claim_moved: bool
    # The claim as locked (before it moved), its order's customer name set: what the email reads.
    claim: Claim
    # The lines the email lists (those with an amount), unsaved.
    lines: list[RefundLine]
    # Our last email on the claim (message id, references), or None: its thread headers.
    last_email: tuple[str, str] | None


def start(refund_id: int, now: datetime) -> Started | None:
    """approved → processing, the attempt counted and its event written: one statement, so one transaction
    of its own in autocommit (the task's case). None: the refund was not approved (the ORM path decides)."""
    row = _move(START_SQL, refund_id, now, _START)
    return Started(*row[:5], str(row[5]), *row[6:]) if row else None


def succeed(refund_id: int, now: datetime, *, reference: str, provider_status: str, payload: dict) -> Succeeded | None:
    """processing → succeeded with its event, and the claim refunded with its event, in one statement; run
    it inside the caller's transaction (the email is written in the same one). None: the refund was not
    processing any more (the ORM path decides); ``claim_moved`` False: the claim could not follow."""
    row = _move(
        SUCCEED_SQL,
        refund_id,
        now,
        _SUCCEED,
        reference=reference,
        provider_status=provider_status,
        payload=json.dumps(payload, cls=PayloadEncoder),
        claim_sources=_CLAIM_REFUND_SOURCES,
        claim_target=_CLAIM_REFUND.target,
        claim_action=_CLAIM_REFUND.action,
        approved=ClaimStatus.APPROVED,
    )
    if row is None:
        return None
    total, currency, claim_moved, *claim_values = row[: 3 + len(_CLAIM_FIELDS)]
    customer_name, lines, last_message_id, last_references = row[3 + len(_CLAIM_FIELDS) :]
    claim = Claim(**dict(zip(_CLAIM_FIELDS, claim_values, strict=True)))
    claim.order = Order(id=claim.order_id, number=claim.order_number, customer_name=customer_name)
    return Succeeded(
        total=total,
        currency=currency,
        claim_moved=claim_moved,
        claim=claim,
        lines=[
            RefundLine(kind=kind, description=description, amount=Decimal(amount), reason=reason)
            # Django has psycopg hand json over as text (its JSONField decodes it): decoded here.
            for kind, description, amount, reason in json.loads(lines or "[]")
        ],
        last_email=(last_message_id, last_references) if last_message_id else None,
    )


def _move(sql: str, refund_id: int, now: datetime, transition: states.Transition, **params) -> tuple | None:
    """The statement's one row for the refund's ``transition``, or None: the refund was not in its source
    state, or the database is not PostgreSQL (whose statements these are: the ORM path runs instead)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "id": refund_id,
                "now": now,
                "source": transition.source,
                "target": transition.target,
                "action": transition.action,
                "system": SYSTEM.kind,
                **params,
            },
        )
        return cursor.fetchone()
