"""Volume data for PostgreSQL: a million claims in minutes, written with COPY.

The demo (``backoffice/demo.py``) goes through the services a claim at a time,
which is right for twenty claims and takes hours for a million. This module
writes the rows the services would have left (orders, lines, claims, items and
their ``ClaimEvent`` history) straight into the tables with ``COPY … FROM
STDIN`` through the raw psycopg connection, in one transaction. It exists to
measure the back-office at production size (``benchmarks/sla_sweep.py``) and to
try the admin on it; never point it at a database that holds real claims.

Everything is relative to one moment, ``as_of`` (now, by default):

- products: a few hundred SKUs, a third electronic;
- one order per claim, received over the two years before ``as_of``, with one or
  two lines; customers order more than once;
- history claims: each claim's life is played forward from its arrival (first
  answer, the customer's reply, approval, the parcel, inspection, refund or
  replacement) and stops at ``as_of``, so old claims are closed and the last
  weeks' are open: approved, shipped, inspected, awaiting the customer. Their
  first-response clocks are all stopped or answered;
- ``due`` claims whose first-response clock runs and falls due in the four hours
  after ``as_of`` (half of them) or already passed (the other half, by up to 20
  hours), with no reminder or escalation yet: a backlog the SLA sweep must work
  through, as after a day without Celery beat;
- ``fresh`` claims that arrived in the last 20 hours: running, due later;
- a ``create`` event per claim, one per later transition, and the SLA
  reminders and escalations the sweep would have written for late answers;
- the parcel clock as the services leave it: ``approved_at`` on every approved
  claim, ``awaiting_parcel_since`` while the parcel is awaited (approved or
  shipped, not received, not returnless), and the parcel sweep's reminders,
  escalations and expiries (events and markers) at each claim's policy
  version's days, as a beat running every five minutes would have written them.

The work is a list of steps (``STEPS``), each writing one table and returning
its row count. The refunds step (``copy_refunds``) writes a ``Refund`` with its
goods lines for every refunded claim (succeeded, paid on the claim's ``refund``
event) and for every inspected DOA or no-reason claim (proposed, or approved
and waiting to be sent), with the 5- and 7-working-day deadlines the refund
SLA would have set; no ``RefundEvent`` rows. Rows of the other apps (return
parcels, inspections, replacements) are not written: shipped, inspected,
refunded and replaced claims have their events but no parcel or inspection rows.
"""

import bisect
import json
import random
import secrets
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction

from backoffice import roles, summaries
from refunds.models import LineKind, RefundPurpose, RefundStatus
from returns import workdays
from returns.models import ClaimStatus, ClaimType, DoaReason

HOUR = 3600.0
DAY = 86400.0
SOON_HOURS = 4  # the sweep's reminder threshold (settings.SLA_REMIND_BEFORE_HOURS) when seeding
FIRST_RESPONSE_HOURS = 24
HISTORY_GAP_HOURS = 44  # no history claim arrives later than this before as_of: its first answer is in the past
FRESH_HOURS = FIRST_RESPONSE_HOURS - SOON_HOURS  # fresh claims arrived this recently: due after the threshold
COMMENT_PREFIX = "seed_volume "

# Tables emptied by --truncate (CASCADE also empties the other apps' rows that point at them).
RETURNS_TABLES = (
    "returns_claimevent",
    "returns_claimitem",
    "returns_evidence",
    "returns_outboundemail",
    "returns_claim",
    "returns_orderline",
    "returns_order",
    "returns_product",
    "returns_rmasequence",
)

REQ, AWAIT, APPR, SHIP, INSP = "requested", "awaiting_customer", "approved", "shipped", "inspected"
REFD, REPL, RESO, REJ, CANC = "refunded", "replaced", "resolved", "rejected", "cancelled"
assert {REQ, AWAIT, APPR, SHIP, INSP, REFD, REPL, RESO, REJ, CANC} == set(ClaimStatus.values)

TYPES = (ClaimType.DOA.value, ClaimType.NO_REASON.value, ClaimType.WARRANTY.value)
TYPE_CUM = (0.30, 0.75, 1.0)  # 30 % DOA, 45 % no-reason, 25 % warranty
REASONS = (
    DoaReason.WRONG_ITEM.value,
    DoaReason.MISSING_ITEM.value,
    DoaReason.DAMAGE.value,
    DoaReason.QUALITY_ISSUE.value,
)
REASON_CUM = (0.20, 0.35, 0.70, 1.0)
# The first answer, by type: ask for information, else a verdict.
ASK_SHARE = {TYPES[0]: 0.15, TYPES[1]: 0.12, TYPES[2]: 0.25}
# Verdicts by type (cumulative): approve, resolve, reject, cancel.
VERDICT_CUM = {TYPES[0]: (0.72, 0.82, 0.94, 1.0), TYPES[1]: (0.78, 0.82, 0.94, 1.0), TYPES[2]: (0.60, 0.82, 0.95, 1.0)}
VERDICTS = ("approve", "resolve", "reject", "cancel")

DESCRIPTIONS = {
    TYPES[0]: (
        "The box holds a different cage from the one I ordered.",
        "One of the two plates is missing from the box.",
        "The handle arrived with a deep scratch along the top.",
        "The battery does not charge: the LEDs stay off on two chargers.",
        "The light flickers below 10% brightness.",
    ),
    TYPES[1]: (
        "Too small for my camera; I would like to return it.",
        "I ordered the wrong size, it is still sealed.",
        "Not what I expected, never used.",
        "Bought two by mistake, returning one.",
    ),
    TYPES[2]: (
        "The quick-release clamp no longer locks after six months.",
        "The monitor stopped turning on; no drop, no water.",
        "The tripod leg lock cracked during normal use.",
        "The fan in the LED panel makes a grinding noise.",
    ),
}
ASK_MESSAGES = (
    "Please send a photo of the whole package, as it arrived.",
    "Could you send the serial number on the label under the battery?",
    "Does the issue happen with another charger as well?",
)
ANSWERS = ("Photo of the box attached.", "The serial is on the photo attached.", "Yes, with two other chargers.")
RESOLVE_NOTES = ("The firmware update fixed it.", "Tightening the clamp screw as shown fixed it.")
REJECT_REASONS = (
    "The claim was made after the policy window ended.",
    "The photos show damage from a drop, which the warranty does not cover.",
)
CANCEL_REASONS = ("The customer decided to keep the item.", "No answer from the customer for 14 days.")
DEDUCTION_REASON = "Opened and used: signs of installation on the mount."
DAMAGE_REASON = "The inspection found physical damage caused by a drop: not covered by the warranty."
OVERRIDE_REASON = "Long-standing customer; the parcel was delayed by customs."
RETURNLESS_REASON = "The item was never delivered: nothing to send back."
CARRIERS = ("SF Express", "DHL", "UPS", "FedEx")
FIRST_NAMES = ("Ana", "Ben", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jin", "Kofi", "Lena", "Mia")
LAST_NAMES = ("Ng", "Smith", "Garcia", "Kowalski", "Li", "Okafor", "Rossi", "Sato", "Weber", "Yilmaz", "Dubois")
DOMAINS = ("example.com", "example.org", "mail.example.net", "photo.example.com")
FAMILIES = (
    ("CAGE", "Camera cage for {}", False),
    ("PLATE", "Quick-release plate for {}", False),
    ("HANDLE", "Top handle {}", False),
    ("ARM", "Magic arm {}", False),
    ("TRIPOD", "Mini tripod {}", False),
    ("VMOUNT", "V-mount battery {}", True),
    ("LED", "LED panel {}", True),
    ("MONITOR", "Field monitor {}", True),
)
CURRENCIES = (("USD", 1.0, 0.70), ("EUR", 0.92, 0.85), ("GBP", 0.79, 0.93), ("CNY", 7.2, 1.0))  # rate, cumulative share
STAFF = {  # role: (group, how many); usernames volume-<role>-<n>
    "cs": (roles.CUSTOMER_SERVICE, 5),
    "warehouse": (roles.WAREHOUSE, 2),
    "finance": (roles.FINANCE, 1),
    "manager": (roles.MANAGER, 1),
}
RANDOMS_PER_CLAIM = 12


@dataclass(frozen=True)
class Plan:
    claims: int
    due: int = 0
    fresh: int | None = None  # default: about 20 hours of arrivals at the history's rate
    products: int = 300
    seed: int = 20261125
    as_of: datetime | None = None

    def fresh_count(self) -> int:
        if self.fresh is not None:
            return self.fresh
        return min(self.claims - self.due, round(self.claims * FRESH_HOURS / (730 * 24)))


class VolumeError(Exception):
    """The database is not one to fill, or the plan does not add up."""


@dataclass
class StepResult:
    name: str
    table: str
    rows: int
    seconds: float


@dataclass
class Context:
    """What the steps share: the plan, the raw cursor, ids, and each claim's plan as compact rows."""

    plan: Plan
    cursor: object  # the raw psycopg cursor
    as_of: float
    rng: random.Random
    tz: ZoneInfo
    base: dict = field(default_factory=dict)  # table → the largest id before this run
    staff: dict = field(default_factory=dict)  # role → list of user ids
    products: list = field(default_factory=list)  # (id, is_electronic, price, sku)
    policies: list = field(default_factory=list)  # (effective_from timestamp, id), ascending
    parcel_days: dict = field(default_factory=dict)  # policy id → (reminder, escalation, expiry) days
    specs: list = field(default_factory=list)  # one tuple a claim, in arrival order (see _plan_claims)
    randoms: array = field(default_factory=lambda: array("d"))
    line_base: array = field(default_factory=lambda: array("q"))  # first order line id of claim i's order
    rma: list = field(default_factory=list)  # claim index → RMA number or None (set by the claims step)
    status: list = field(default_factory=list)  # claim index → status (set by the claims step)
    rma_last: dict = field(default_factory=dict)  # year → last RMA number used
    freeze: bool = False  # the tables were truncated in this transaction: COPY … FREEZE
    year_starts: list = field(default_factory=list)  # (timestamp of Jan 1 local, year), ascending


@dataclass(frozen=True)
class Step:
    name: str
    table: str
    run: Callable[[Context], int]


@dataclass
class Report:
    plan: Plan
    as_of: datetime
    steps: list
    analyze_seconds: float
    total_seconds: float
    truncated: bool


# --- Safety ---------------------------------------------------------------------------


def check_database(force: bool = False) -> str:
    """The database's name, if it is PostgreSQL and meant for this (its name says bench), else VolumeError."""
    if connection.vendor != "postgresql":
        raise VolumeError(f"seed_volume writes with PostgreSQL COPY; the database is {connection.vendor}.")
    name = connection.settings_dict["NAME"]
    if "bench" not in name and not force:
        raise VolumeError(
            f"Refusing to fill database {name!r}: it writes a million rows. "
            "Use a database whose name contains 'bench', or pass --force."
        )
    return name


# --- The run ----------------------------------------------------------------------------


def seed(plan: Plan, *, truncate: bool = False, progress: Callable[[StepResult], None] | None = None) -> Report:
    """Write the plan's rows in one transaction, then ANALYZE; the caller has checked the database."""
    if plan.claims < 0 or plan.due < 0 or plan.products < 2:
        raise VolumeError("--claims and --due cannot be negative, --products must be at least 2.")
    if plan.due + plan.fresh_count() > plan.claims:
        raise VolumeError(
            f"--due {plan.due} and {plan.fresh_count()} fresh claims are more than --claims {plan.claims}."
        )
    as_of = (plan.as_of or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    results = []
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as django_cursor:
        ctx = Context(
            plan=plan,
            cursor=django_cursor.cursor,
            as_of=as_of.timestamp(),
            rng=random.Random(plan.seed),
            tz=ZoneInfo(settings.TIME_ZONE),
        )
        if truncate:
            step_started = time.perf_counter()
            ctx.cursor.execute(f"TRUNCATE {', '.join(RETURNS_TABLES)} RESTART IDENTITY CASCADE")
            ctx.freeze = True
            _note(results, progress, StepResult("truncate", "returns_*", 0, time.perf_counter() - step_started))
        step_started = time.perf_counter()
        dropped = _drop_indexes_and_foreign_keys(ctx.cursor)
        # The dashboard summaries' triggers (backoffice/summaries.py) would log every row: off for the COPYs
        # (inside the transaction), the summaries rebuilt once at the end.
        for table in LOADED_TABLES:
            ctx.cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        _note(
            results,
            progress,
            StepResult(f"drop {len(dropped)} indexes, FKs", "returns_*", 0, time.perf_counter() - step_started),
        )
        for step in STEPS:
            step_started = time.perf_counter()
            rows = step.run(ctx)
            _note(results, progress, StepResult(step.name, step.table, rows, time.perf_counter() - step_started))
        for kind, label in (("index", "rebuild indexes, uniques"), ("foreign key", "re-add FKs (validated)")):
            step_started = time.perf_counter()
            ctx.cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for statement in (statement for what, statement in dropped if what == kind):
                ctx.cursor.execute(statement)
            count = sum(1 for what, _ in dropped if what == kind)
            _note(
                results, progress, StepResult(f"{label} ({count})", "returns_*", 0, time.perf_counter() - step_started)
            )
        for table in LOADED_TABLES:
            ctx.cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        comment = json.dumps(
            {"as_of": as_of.isoformat(), "claims": plan.claims, "due": plan.due, "fresh": plan.fresh_count()}
        )
        ctx.cursor.execute(f"COMMENT ON TABLE returns_claim IS '{COMMENT_PREFIX}{comment}'")
    step_started = time.perf_counter()
    with connection.cursor() as cursor:
        # Every loaded table, once its indexes are back: an expression index (the refunds' final approval) has
        # statistics only from an ANALYZE that ran while it existed, and without them the planner took a two-year
        # range of it for 2,395 rows instead of 477,111 (the dashboard's late refunds: 38 ms instead of 3).
        cursor.execute(f"ANALYZE {', '.join(dict.fromkeys((*RETURNS_TABLES, *LOADED_TABLES)))}")
    analyze_seconds = time.perf_counter() - step_started
    if summaries.in_use():
        step_started = time.perf_counter()
        written = summaries.rebuild()
        _note(
            results,
            progress,
            StepResult(
                "dashboard summaries", "backoffice_*", sum(written.values()), time.perf_counter() - step_started
            ),
        )
    return Report(plan, as_of, results, analyze_seconds, time.perf_counter() - started, truncate)


def seeded() -> dict | None:
    """What the last seed wrote (as_of, claims, due, fresh), from the comment it leaves on returns_claim."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description('returns_claim'::regclass, 'pg_class')")
        (comment,) = cursor.fetchone()
    if not comment or not comment.startswith(COMMENT_PREFIX):
        return None
    info = json.loads(comment[len(COMMENT_PREFIX) :])
    info["as_of"] = datetime.fromisoformat(info["as_of"])
    return info


# The tables the steps fill: their secondary indexes, unique constraints and foreign keys are dropped
# before the COPYs and made again after, inside the same transaction (PostgreSQL's DDL is transactional:
# a failure puts them back). Building an index over sorted rows is many times faster than a million
# index insertions, and Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: kept, every row would
# queue a check that runs one lookup at a time at COMMIT; re-added, one join validates them all.
LOADED_TABLES = (
    "returns_product",
    "returns_order",
    "returns_orderline",
    "returns_claim",
    "returns_claimitem",
    "returns_claimevent",
    "refunds_refund",
    "refunds_refundline",
)


def _drop_indexes_and_foreign_keys(cursor) -> list[tuple[str, str]]:
    """Drop them; return ("index" | "foreign key", statement that makes it again), in that order."""
    tables = list(LOADED_TABLES)
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('u', 'f')
        ORDER BY c.contype DESC, c.conname
        """,
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
        ORDER BY 1
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    remade = []
    for table, name, contype, definition in constraints:  # unique ('u') after foreign keys ('f'): none depends on them
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        kind = "foreign key" if contype == "f" else "index"
        remade.append((kind, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for name, _table, definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
        remade.append(("index", definition))
    return remade


def _note(results, progress, result):
    results.append(result)
    if progress:
        progress(result)


# --- Steps ------------------------------------------------------------------------------


def prepare(ctx: Context) -> int:
    """Ids already taken, the policy versions, the staff who act in the events, and every claim's plan."""
    cursor = ctx.cursor
    for table in ("returns_product", "returns_order", "returns_orderline", "returns_claim", "returns_claimitem"):
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        ctx.base[table] = cursor.fetchone()[0]
    cursor.execute(
        "SELECT effective_from, id, parcel_reminder_days, parcel_escalation_days, parcel_expiry_days "
        "FROM returns_policyversion ORDER BY effective_from"
    )
    versions = cursor.fetchall()
    ctx.policies = [(moment.timestamp(), pk) for moment, pk, *_ in versions]
    ctx.parcel_days = {pk: tuple(days) for _, pk, *days in versions}
    if not ctx.policies:
        raise VolumeError("No PolicyVersion: run migrate first (it adds the published policy).")
    cursor.execute("SELECT year, last_value FROM returns_rmasequence")
    ctx.rma_last = dict(cursor.fetchall())
    ctx.year_starts = [(datetime(year, 1, 1, tzinfo=ctx.tz).timestamp(), year) for year in range(1990, 2200)]
    ctx.staff = _staff_users()
    _make_products(ctx)
    _plan_claims(ctx)
    return len(ctx.specs)


def _staff_users() -> dict:
    """A few staff users per role (made once, reused), with email addresses: they receive the SLA digests."""
    user_model = get_user_model()
    staff = {}
    for role, (group_name, count) in STAFF.items():
        group = Group.objects.get(name=group_name)
        ids = []
        for n in range(1, count + 1):
            username = f"volume-{role}-{n}"
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model(username=username, email=f"{username}@staff.example.com", is_staff=True)
                user.set_unusable_password()
                user.save()
                user.groups.add(group)
            ids.append(user.pk)
        staff[role] = ids
    return staff


def _make_products(ctx: Context) -> None:
    rng, base = ctx.rng, ctx.base["returns_product"]
    for n in range(ctx.plan.products):
        family, _, electronic = FAMILIES[n % len(FAMILIES)]
        if not electronic and rng.random() < 0.15:
            electronic = True  # a cage with a built-in power pass-through, and the like
        pk = base + n + 1
        price = round(rng.uniform(9, 60) if not electronic else rng.uniform(40, 400), 2)
        ctx.products.append((pk, electronic, price, f"SR-{family}-{pk:05d}"))


def copy_products(ctx: Context) -> int:
    rows = [
        (pk, sku, FAMILIES[n % len(FAMILIES)][1].format(f"model {1000 + pk}"), electronic)
        for n, (pk, electronic, _, sku) in enumerate(ctx.products)
    ]
    return _copy(ctx, "returns_product", ("id", "sku", "name", "is_electronic"), rows)


def copy_orders(ctx: Context) -> int:
    rng, base, tz = ctx.rng, ctx.base["returns_order"], ctx.tz

    def rows():
        for i, spec in enumerate(ctx.specs):
            received, customer = spec[6], spec[7]
            pk = base + i + 1
            email, name = _customer(customer)
            placed = received - (2 + 6 * ctx.randoms[i * RANDOMS_PER_CLAIM + 11]) * DAY
            yield (
                pk,
                f"SO-{pk:08d}",
                email,
                name,
                datetime.fromtimestamp(received, tz).date(),
                f"pi_{rng.getrandbits(96):024x}",
                datetime.fromtimestamp(placed, UTC),
                datetime.fromtimestamp(received, UTC),
            )

    columns = ("id", "number", "customer_email", "customer_name", "received_on", "payment_reference")
    return _copy(ctx, "returns_order", (*columns, "created_at", "updated_at"), rows())


def copy_order_lines(ctx: Context) -> int:
    base = ctx.base["returns_order"]
    products = ctx.products

    def rows():
        line_id = ctx.base["returns_orderline"]
        for i, spec in enumerate(ctx.specs):
            order_id = base + i + 1
            currency, rate = spec[8], CURRENCIES[spec[8]][1]
            for product_index, quantity in ((spec[9], spec[10]), (spec[11], spec[12])):
                if product_index < 0:
                    continue
                line_id += 1
                pk, electronic, price, _ = products[product_index]
                serials = json.dumps([f"SN{pk:05d}{order_id:09d}{k}" for k in range(quantity)]) if electronic else "[]"
                unit_price = f"{price * rate:.2f}"
                yield (line_id, order_id, pk, quantity, unit_price, CURRENCIES[currency][0], serials)

    columns = ("id", "order_id", "product_id", "quantity", "unit_price", "currency", "serial_numbers")
    return _copy(ctx, "returns_orderline", columns, rows())


def copy_claims(ctx: Context) -> int:
    """The claims as their story left them at ``as_of``; remembers each one's status and RMA number."""
    base, order_base = ctx.base["returns_claim"], ctx.base["returns_order"]
    ts = _timestamp
    ctx.rma = [None] * len(ctx.specs)
    ctx.status = [None] * len(ctx.specs)

    def rows():
        for i, spec in enumerate(ctx.specs):
            story = _story(ctx, i, spec)
            ctype, reason, electronic, customer = spec[2], spec[3], spec[4], spec[7]
            rma = None
            if story.approved_at is not None:
                rma = ctx.rma[i] = _next_rma(ctx, story.approved_at)
            ctx.status[i] = story.status
            submission_key = uuid.UUID(int=ctx.rng.getrandbits(128), version=4) if spec[13] else None
            yield (
                base + i + 1,
                order_base + i + 1,
                f"SO-{order_base + i + 1:08d}",
                _customer(customer)[0].lower(),
                ctype,
                REASONS[reason] if reason >= 0 else "",
                _description(ctype, reason, ctx.randoms[i * RANDOMS_PER_CLAIM + 10]),
                story.status,
                electronic,
                _policy(ctx, story.submitted),
                ts(story.submitted),
                rma,
                story.returnless,
                RETURNLESS_REASON if story.returnless else "",
                OVERRIDE_REASON if story.override else "",
                story.rejection_reason,
                submission_key,
                None if spec[13] else ctx.staff["cs"][i % len(ctx.staff["cs"])],
                ts(story.due_at) if story.due_at is not None else None,
                story.met,
                ts(story.reminded_at) if story.reminded_at is not None else None,
                ts(story.breached_at) if story.breached_at is not None else None,
                ts(story.events[0][3]),
                ts(_last_change(story.events)),
                *(
                    ts(moment) if moment is not None else None
                    for moment in (
                        story.approved_at,
                        story.awaiting_parcel_since,
                        story.parcel_reminded_at,
                        story.parcel_escalated_at,
                    )
                ),
                # The reply token is a secret (docs/inbox.md): from the OS, not the seeded generator.
                secrets.token_hex(12),
            )

    columns = (
        "id", "order_id", "order_number", "customer_email", "claim_type", "doa_reason", "description", "status",
        "is_electronic", "policy_version_id", "submitted_at", "rma_number", "is_returnless", "returnless_reason",
        "window_override_reason", "rejection_reason", "submission_key", "created_by_id", "first_response_due_at",
        "first_response_met", "sla_reminded_at", "sla_breached_at", "created_at", "updated_at", "approved_at",
        "awaiting_parcel_since", "parcel_reminded_at", "parcel_escalated_at", "reply_token",
    )  # fmt: skip
    return _copy(ctx, "returns_claim", columns, rows())


def copy_claim_items(ctx: Context) -> int:
    base, order_base = ctx.base["returns_claim"], ctx.base["returns_order"]
    products = ctx.products

    def rows():
        item_id = ctx.base["returns_claimitem"]
        for i, spec in enumerate(ctx.specs):
            line_id = ctx.line_base[i]
            for product_index, quantity, claimed in ((spec[9], spec[10], True), (spec[11], spec[12], spec[14])):
                if product_index < 0:
                    continue
                line_id += 1
                if not claimed:
                    continue
                item_id += 1
                pk, electronic = products[product_index][:2]
                claimed_quantity = 1 if quantity > 1 and ctx.randoms[i * RANDOMS_PER_CLAIM + 9] < 0.3 else quantity
                serial = f"SN{pk:05d}{order_base + i + 1:09d}0" if electronic else ""
                yield (item_id, base + i + 1, line_id, claimed_quantity, serial)

    return _copy(ctx, "returns_claimitem", ("id", "claim_id", "order_line_id", "quantity", "serial_number"), rows())


def copy_claim_events(ctx: Context) -> int:
    """Each claim's story again (it is deterministic), one row per event; ids are the table's own."""
    base = ctx.base["returns_claim"]
    ts = _timestamp
    staff = ctx.staff

    def rows():
        for i, spec in enumerate(ctx.specs):
            story = _story(ctx, i, spec)
            claim_id = base + i + 1
            for action, source, target, moment, role, payload in story.events:
                actor = staff[role][claim_id % len(staff[role])] if role else None
                if action == "create":
                    payload = _create_payload(ctx, i, spec)
                elif action == "approve":
                    payload = json.dumps({"rma_number": ctx.rma[i], **payload})
                elif action.startswith("sla_"):
                    payload = f'{{"first_response_due_at": "{ts(payload).isoformat()}"}}'
                else:
                    payload = _payload_json(payload)
                kind = "staff" if actor else ("customer" if action == "ship" else "system")
                yield (claim_id, actor, kind, action, source, target, payload, ts(moment))

    columns = ("claim_id", "actor_id", "actor_kind", "action", "from_status", "to_status", "payload", "created_at")
    return _copy(ctx, "returns_claimevent", columns, rows())


def copy_refunds(ctx: Context) -> int:
    """A refund per refunded claim (succeeded) and per inspected DOA or no-reason claim (proposed or approved).

    Amounts are the claimed items' goods (unit price × claimed quantity, as ``refunds.services``
    proposes them), one goods line each, and for a tenth of the no-reason returns a 15 %
    deduction line. Times come from each claim's story (played again: it is deterministic):
    paid on its ``refund`` event, approved between the inspection (or the returnless
    approval) and the payment. The clock starts at the inspection (or the returnless approval),
    and the deadlines count working days from its company-local day (``returns.workdays``, closure days read once). Two COPYs, each fed
    by a generator: no list of all rows is held.
    """
    cursor, rng, tz = ctx.cursor, ctx.rng, ctx.tz
    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM refunds_refund")
    first_refund_id = cursor.fetchone()[0] + 1
    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM refunds_refundline")
    first_line_id = cursor.fetchone()[0] + 1
    cursor.execute("SELECT day FROM returns_closureday")
    closed = {row[0] for row in cursor.fetchall()}
    target_days, due_days = settings.SLA_REFUND_TARGET_WORKING_DAYS, settings.SLA_REFUND_DUE_WORKING_DAYS
    deadlines: dict = {}

    def deadline(moment: float, count: int) -> datetime:
        day = datetime.fromtimestamp(moment, tz).date()
        if (day, count) not in deadlines:
            remaining, current = count, day
            while remaining:
                current = date.fromordinal(current.toordinal() + 1)
                if workdays.is_working_day(current, closed):
                    remaining -= 1
            deadlines[day, count] = datetime.combine(current, dt_time.max, tz)
        return deadlines[day, count]

    base, finance = ctx.base["returns_claim"], ctx.staff["finance"]
    chosen = array("q")  # claim indexes with a refund, in refund id order

    def refunds():
        refund_id = first_refund_id - 1
        for i, spec in enumerate(ctx.specs):
            status = ctx.status[i]
            if status not in (REFD, INSP) or (status == INSP and spec[2] == TYPES[2]):
                continue
            story = _story(ctx, i, spec)
            moments = {event[0]: event[3] for event in story.events}
            started = moments.get("inspect", story.approved_at)
            u8 = ctx.randoms[i * RANDOMS_PER_CLAIM + 8]
            if status == REFD:
                paid = moments["refund"]
                approved = started + (paid - started) * (0.3 + 0.4 * u8)
                refund_status = RefundStatus.SUCCEEDED
            else:
                paid = None
                approved = started + DAY if u8 < 0.5 and started + DAY <= ctx.as_of else None
                refund_status = RefundStatus.APPROVED if approved is not None else RefundStatus.PROPOSED
            refund_id += 1
            chosen.append(i)
            total = sum(line[2] if line[0] == LineKind.GOODS else -line[2] for line in _refund_lines(ctx, i, spec))
            yield (
                refund_id, base + i + 1, RefundPurpose.RETURNLESS if story.returnless else RefundPurpose.INSPECTION,
                uuid.UUID(int=rng.getrandbits(128), version=4), CURRENCIES[spec[8]][0], total, refund_status,
                "manual", "", 1, f"MANUAL-{refund_id:08d}" if paid is not None else "", "", 0, "", "", None,
                finance[refund_id % len(finance)] if approved is not None else None,
                _timestamp(approved) if approved is not None else None, None, None,
                _timestamp(started + 300), _timestamp(paid or approved or started + 300), None,
                _timestamp(paid) if paid is not None else None,
                _timestamp(started), deadline(started, target_days), deadline(started, due_days),
                None, None,
            )  # fmt: skip

    def lines():
        line_id = first_line_id - 1
        for n, i in enumerate(chosen):
            for kind, description, amount, order_line, reason, units in _refund_lines(ctx, i, ctx.specs[i]):
                line_id += 1
                yield (line_id, first_refund_id + n, kind, description, amount, False, order_line, reason, units)

    columns = (
        "id", "claim_id", "purpose", "key", "currency", "total", "status", "provider", "payment_reference",
        "execution_round", "provider_reference", "provider_status", "attempts", "last_error", "failure_reason",
        "proposed_by_id", "approved_by_id", "approved_at", "second_approved_by_id", "second_approved_at",
        "created_at", "updated_at", "processing_started_at", "succeeded_at", "clock_started_at", "refund_target_at",
        "refund_due_at", "sla_reminded_at", "sla_breached_at",
    )  # fmt: skip
    written = _copy(ctx, "refunds_refund", columns, refunds())
    line_columns = (
        "id", "refund_id", "kind", "description", "amount", "amount_to_enter", "order_line_id", "reason", "units",
    )  # fmt: skip
    _copy(ctx, "refunds_refundline", line_columns, lines())
    for table in ("refunds_refund", "refunds_refundline"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )
    return written


def _refund_lines(ctx: Context, i: int, spec: tuple) -> list:
    """(kind, description, amount, order line id, reason, units) of claim ``i``'s refund: its claimed items' goods."""
    rate = CURRENCIES[spec[8]][1]
    result, goods = [], Decimal(0)
    line = ctx.line_base[i]
    for product_index, quantity, claimed in ((spec[9], spec[10], True), (spec[11], spec[12], spec[14])):
        if product_index < 0:
            continue
        line += 1
        if not claimed:
            continue
        price, sku = ctx.products[product_index][2:4]
        claimed_quantity = 1 if quantity > 1 and ctx.randoms[i * RANDOMS_PER_CLAIM + 9] < 0.3 else quantity
        amount = Decimal(f"{price * rate:.2f}") * claimed_quantity
        goods += amount
        result.append((LineKind.GOODS, f"{sku} × {claimed_quantity}", amount, line, "", claimed_quantity))
    if spec[2] == TYPES[1] and ctx.randoms[i * RANDOMS_PER_CLAIM + 7] < 0.1:
        deduction = (goods * Decimal("0.15")).quantize(Decimal("0.01"))
        result.append((LineKind.DEDUCTION, "Deduction (15%)", deduction, None, DEDUCTION_REASON, 0))
    return result


def update_rma_sequence(ctx: Context) -> int:
    """New approvals continue after the numbers given here (the services lock and bump this row)."""
    for year, last in sorted(ctx.rma_last.items()):
        ctx.cursor.execute(
            "INSERT INTO returns_rmasequence (year, last_value) VALUES (%s, %s) ON CONFLICT (year) "
            "DO UPDATE SET last_value = GREATEST(returns_rmasequence.last_value, EXCLUDED.last_value)",
            [year, last],
        )
    return len(ctx.rma_last)


def reset_id_sequences(ctx: Context) -> int:
    """The identity sequences after the explicit ids, so the ORM's next insert does not collide."""
    tables = ("returns_product", "returns_order", "returns_orderline", "returns_claim", "returns_claimitem")
    for table in tables:
        ctx.cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )
    return len(tables)


STEPS = (
    Step("plan (in memory), staff users", "auth_user", prepare),
    Step("products", "returns_product", copy_products),
    Step("orders", "returns_order", copy_orders),
    Step("order lines", "returns_orderline", copy_order_lines),
    Step("claims", "returns_claim", copy_claims),
    Step("claim items", "returns_claimitem", copy_claim_items),
    Step("claim events", "returns_claimevent", copy_claim_events),
    Step("refunds and their lines", "refunds_refund", copy_refunds),
    Step("RMA counter", "returns_rmasequence", update_rma_sequence),
    Step("id sequences", "(sequences)", reset_id_sequences),
)


def _copy(ctx: Context, table: str, columns, rows) -> int:
    count = 0
    freeze = " WITH (FREEZE)" if ctx.freeze else ""
    with ctx.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{freeze}") as copy:
        write = copy.write_row
        for row in rows:
            write(row)
            count += 1
    return count


# --- Each claim's plan ---------------------------------------------------------------------
# A spec is a tuple: (submitted, kind, claim type, DOA reason index or -1, electronic, window kept,
# received, customer, currency index, product index 1, quantity 1, product index 2 or -1, quantity 2,
# from the public form, second line claimed). Times are POSIX seconds.

HISTORY, DUE, FRESH = 0, 1, 2


def _plan_claims(ctx: Context) -> None:
    plan, rng, as_of = ctx.plan, ctx.rng, ctx.as_of
    fresh = plan.fresh_count()
    history = plan.claims - plan.due - fresh
    n_products = len(ctx.products)
    electronic_products = [product[1] for product in ctx.products]
    customers = max(1, int(plan.claims * 0.6))
    random_ = rng.random
    specs = []
    latest_history = as_of - HISTORY_GAP_HOURS * HOUR
    earliest = as_of - 730 * DAY
    for n in range(plan.claims):
        ctype = TYPES[bisect.bisect(TYPE_CUM, random_())]
        reason = bisect.bisect(REASON_CUM, random_()) if ctype == TYPES[0] else -1
        p1 = int(random_() * n_products)
        q1 = 1 if random_() < 0.85 else (2 if random_() < 0.8 else 3)
        if random_() < 0.3:
            p2 = (p1 + 1 + int(random_() * (n_products - 1))) % n_products
            q2 = 1 if random_() < 0.85 else 2
            second_claimed = random_() < 0.25
        else:
            p2, q2, second_claimed = -1, 0, False
        electronic = electronic_products[p1] or (second_claimed and electronic_products[p2])
        window = _window_days(ctype, electronic)
        late = random_() < (0.05 if ctype != TYPES[2] else 0.04)
        delay = (window + random_() * (30 if ctype != TYPES[2] else 180)) if late else random_() * window
        if n < history:
            kind = HISTORY
            received = earliest + random_() * (latest_history - earliest - 2 * DAY)
            submitted = received + delay * DAY
            if submitted > latest_history:  # keep the claim inside the history: a shorter delay
                delay = random_() * (latest_history - received) / DAY
                submitted = received + delay * DAY
        else:
            if n < history + plan.due:
                kind = DUE
                k = n - history
                offset = SOON_HOURS * HOUR * random_() if k % 2 == 0 else -FRESH_HOURS * HOUR * random_()
                # the clock started 24 h before it falls due; submitted_at is then or, after a
                # request for information, earlier (see _story)
                submitted = as_of + offset - FIRST_RESPONSE_HOURS * HOUR
            else:
                kind = FRESH
                submitted = as_of - FRESH_HOURS * HOUR * random_() * 0.999
            if kind == DUE:
                delay += 3  # room for a request for information before the clock restarted (see _story)
            received = submitted - delay * DAY
        window_kept = delay <= window
        currency = bisect.bisect([share for _, _, share in CURRENCIES], random_())
        specs.append(
            (
                submitted,
                kind,
                ctype,
                reason,
                electronic,
                window_kept,
                received,
                int(random_() * customers),
                min(currency, len(CURRENCIES) - 1),
                p1,
                q1,
                p2,
                q2,
                random_() < 0.35,  # made through the public form: a submission key, no staff creator
                second_claimed,
            )
        )
    # Ids follow arrival, as they would; the due and fresh claims are the newest.
    specs.sort(key=lambda spec: spec[0])
    ctx.specs = specs
    ctx.randoms = array("d", (random_() for _ in range(len(specs) * RANDOMS_PER_CLAIM)))
    line_base = array("q", bytes(8 * len(specs)))
    line = ctx.base["returns_orderline"]
    for i, spec in enumerate(specs):
        line_base[i] = line
        line += 1 if spec[11] < 0 else 2
    ctx.line_base = line_base


def _window_days(ctype: str, electronic: bool) -> float:
    if ctype == TYPES[0]:
        return 7
    if ctype == TYPES[1]:
        return 30 if electronic else 45
    return 365 if electronic else 730


# --- Each claim's story ------------------------------------------------------------------


@dataclass
class Story:
    events: list  # (action, from, to, time, actor role or None, payload)
    submitted: float
    status: str = REQ
    due_at: float | None = None
    met: bool | None = None
    reminded_at: float | None = None
    breached_at: float | None = None
    approved_at: float | None = None
    # The parcel clock (returns/sla.py): running from approval until the parcel is received or the claim closes.
    awaiting_parcel_since: float | None = None
    parcel_reminded_at: float | None = None
    parcel_escalated_at: float | None = None
    returnless: bool = False
    override: bool = False
    rejection_reason: str = ""


def _story(ctx: Context, i: int, spec: tuple) -> Story:
    """The claim's life from arrival to ``as_of``, from its spec and its own random numbers (deterministic)."""
    story = _transitions(ctx, i, spec)
    if story.approved_at is not None and not story.returnless:
        days = ctx.parcel_days[_policy(ctx, story.submitted)]
        _parcel_clock(story, ctx.as_of, days, ctx.randoms[i * RANDOMS_PER_CLAIM + 2])
    return story


def _transitions(ctx: Context, i: int, spec: tuple) -> Story:
    """The claim's transitions and first-response reminders, from arrival to ``as_of``."""
    submitted, kind, ctype, reason, _electronic, window_kept = spec[:6]
    u = ctx.randoms[i * RANDOMS_PER_CLAIM : (i + 1) * RANDOMS_PER_CLAIM]
    as_of = ctx.as_of
    created_by = None if spec[13] else "cs"
    story = Story(events=[], submitted=submitted)
    events = story.events

    if kind == FRESH:
        events.append(("create", "", REQ, min(submitted + 600 * u[0], as_of), created_by, None))
        story.due_at = submitted + FIRST_RESPONSE_HOURS * HOUR
        return story
    if kind == DUE:
        clock = submitted  # the moment the running clock started; due 24 h later
        if u[1] < 0.2:  # asked for information earlier; the customer's answer restarted the clock
            submitted = story.submitted = clock - (1 + 2 * u[2]) * DAY
            asked = submitted + (1 + 18 * u[3]) * HOUR
            events.append(("create", "", REQ, submitted + 600 * u[0], created_by, None))
            _first_clock(story, submitted, asked, u[4])
            events.append(("ask_for_information", REQ, AWAIT, asked, "cs", ("message", ASK_MESSAGES, u[5])))
            story.met = asked <= submitted + FIRST_RESPONSE_HOURS * HOUR
            events.append(("record_customer_answer", AWAIT, REQ, clock, "cs", ("answer", ANSWERS, u[5])))
            story.reminded_at = story.breached_at = None
        else:
            events.append(("create", "", REQ, submitted, created_by, None))
        story.due_at = clock + FIRST_RESPONSE_HOURS * HOUR
        return story

    # History: every first answer is in the past.
    events.append(("create", "", REQ, submitted + 600 * u[0], created_by, None))
    answered = submitted + _response_hours(u[1]) * HOUR
    _first_clock(story, submitted, answered, u[2])
    story.met = answered <= submitted + FIRST_RESPONSE_HOURS * HOUR
    status = REQ
    if u[3] < ASK_SHARE[ctype]:
        events.append(("ask_for_information", REQ, AWAIT, answered, "cs", ("message", ASK_MESSAGES, u[4])))
        status = AWAIT
        if u[5] < 0.7:  # the customer answers within days
            replied = answered + (4 * HOUR + u[6] * 5 * DAY)
            if replied + HISTORY_GAP_HOURS * HOUR > as_of:
                story.status = AWAIT
                return story
            events.append(("record_customer_answer", AWAIT, REQ, replied, "cs", ("answer", ANSWERS, u[4])))
            status = REQ
            answered = replied + _response_hours(u[7]) * HOUR
            story.reminded_at = story.breached_at = None
            _first_clock(story, replied, answered, u[2])
        else:  # never answers: cancelled after 14 days
            cancelled = answered + 14 * DAY
            if cancelled <= as_of:
                events.append(("cancel", AWAIT, CANC, cancelled, "cs", ("reason", CANCEL_REASONS[1:], 0)))
                status = CANC
            story.status = status
            return story

    verdict = (
        VERDICTS[bisect.bisect(VERDICT_CUM[ctype], u[8])] if window_kept else ("reject" if u[8] < 0.85 else "approve")
    )
    if verdict == "resolve":
        events.append(("resolve", status, RESO, answered, "cs", ("note", RESOLVE_NOTES, u[9])))
        story.status = RESO
        return story
    if verdict == "reject":
        story.rejection_reason = REJECT_REASONS[0] if not window_kept else REJECT_REASONS[1]
        events.append(("reject", status, REJ, answered, "cs", {"reason": story.rejection_reason}))
        story.status = REJ
        return story
    if verdict == "cancel":
        events.append(("cancel", status, CANC, answered, "cs", ("reason", CANCEL_REASONS[:1], 0)))
        story.status = CANC
        return story

    # Approved: an RMA number, then the parcel, its inspection, and the refund or the replacement.
    payload = {}
    approver = "cs"
    if not window_kept:
        story.override, approver = True, "manager"
        payload = {"window_override_reason": OVERRIDE_REASON}
    returnless = reason == 1 and u[9] < 0.6  # a missing item: nothing to send back
    if returnless:
        story.returnless = True
        payload = {**payload, "returnless_reason": RETURNLESS_REASON}
    events.append(("approve", status, APPR, answered, approver, payload))
    story.approved_at, story.status = answered, APPR
    moment = answered
    if returnless:
        _then(story, as_of, "refund", APPR, REFD, moment + (2 + 4 * u[10]) * DAY, "finance", {})
        return story
    if u[10] < 0.05:  # the customer changes their mind before sending
        _then(
            story, as_of, "cancel", APPR, CANC, moment + (7 + 13 * u[11]) * DAY, "cs", ("reason", CANCEL_REASONS[:1], 0)
        )
        return story
    moment += (1 + 9 * u[10]) * DAY
    carrier = CARRIERS[int(u[11] * len(CARRIERS))]
    if u[11] < 0.85:
        tracking = {"carrier": carrier, "tracking_number": f"{carrier[:2].upper()}{i:010d}"}
        if not _then(story, as_of, "ship", APPR, SHIP, moment, None, tracking):
            return story
        moment += (3 + 5 * u[6]) * DAY
        if not _then(story, as_of, "receive", SHIP, SHIP, moment, "warehouse", {"condition": "intact"}):
            return story
    elif not _then(story, as_of, "receive", APPR, SHIP, moment, "warehouse", {"condition": "intact"}):
        return story
    moment += (1 + 2 * u[7]) * DAY
    damaged = ctype == TYPES[2] and u[9] < 0.1
    outcome = (
        "Not covered: human or physical damage."
        if damaged
        else ("Replacement approved." if ctype == TYPES[2] else "Full refund.")
    )
    if not _then(story, as_of, "inspect", SHIP, INSP, moment, "warehouse", {"outcome": outcome}):
        return story
    if damaged:
        story.rejection_reason = DAMAGE_REASON
        _then(story, as_of, "reject_after_inspection", INSP, REJ, moment + 300, "warehouse", {"reason": DAMAGE_REASON})
        return story
    moment += (2 + 5 * u[5]) * DAY
    if ctype == TYPES[2]:
        _then(story, as_of, "replace", INSP, REPL, moment, "warehouse", {"carrier": carrier})
    else:
        _then(story, as_of, "refund", INSP, REFD, moment, "finance", {})
    return story


PARCEL_ENDS = ("receive", "cancel", "expire")  # returns.sla.PARCEL_ARRIVED_OR_GONE


def _parcel_clock(story: Story, as_of: float, days: tuple, jitter: float) -> None:
    """What the parcel sweep (``returns.services.parcel_sweep``, every five minutes) would have done to an
    approved claim by ``as_of``: its reminder, its escalation and its expiry, with their events and markers."""
    approved = story.approved_at
    reminder_days, escalation_days, expiry_days = days
    moments = {}
    for action, _source, _target, moment, *_ in story.events:
        moments.setdefault(action, moment)
    ends = min((moments[a] for a in PARCEL_ENDS if a in moments), default=None)
    # Still approved (no tracking, nothing received, not cancelled) until the first of these.
    approved_until = min((moments[a] for a in ("ship", *PARCEL_ENDS) if a in moments), default=float("inf"))
    late = 60 + 240 * jitter
    expiry = approved + expiry_days * DAY + late
    if expiry <= as_of and expiry < approved_until:
        # No parcel news: the sweep expired the claim, so nothing after the approval happened.
        story.events[:] = [event for event in story.events if event[3] <= approved]
        story.events.append(
            ("expire", APPR, CANC, expiry, None, {"approved_at": _iso(approved), "expiry_days": expiry_days})
        )
        story.status, ends, approved_until = CANC, expiry, expiry
    parcel_events = []
    reminder = approved + reminder_days * DAY + late
    if reminder <= as_of and reminder < approved_until:
        parcel_events.append(("parcel_reminded", APPR, APPR, reminder, None, _waited(approved, reminder)))
        story.parcel_reminded_at = reminder
    escalation = approved + escalation_days * DAY + late
    if escalation <= as_of and (ends is None or escalation < ends):
        status = APPR if escalation < approved_until else SHIP
        parcel_events.append(("parcel_escalated", status, status, escalation, None, _waited(approved, escalation)))
        story.parcel_escalated_at = escalation
    story.events.extend(parcel_events)
    story.events.sort(key=lambda event: event[3])  # stable: same-moment events keep their order
    story.awaiting_parcel_since = approved if ends is None else None


def _waited(approved: float, moment: float) -> dict:
    return {"awaiting_parcel_since": _iso(approved), "days_waiting": int((moment - approved) // DAY)}


def _iso(moment: float) -> str:
    return _timestamp(moment).isoformat()


def _then(story: Story, as_of: float, action, source, target, moment, role, payload) -> bool:
    """The next transition if it has happened by ``as_of``; False ends the story."""
    if moment > as_of:
        return False
    story.events.append((action, source, target, moment, role, payload))
    story.status = target
    return True


def _first_clock(story: Story, started: float, answered: float, jitter: float) -> None:
    """The sweep's reminder and escalation for a clock answered at ``answered`` (the beat runs every 5 minutes)."""
    due = started + FIRST_RESPONSE_HOURS * HOUR
    late = 60 + 240 * jitter
    reminded, breached = due - SOON_HOURS * HOUR + late, due + late
    if answered > reminded:
        story.events.append(("sla_reminded", REQ, REQ, reminded, None, due))
        story.reminded_at = reminded
    if answered > breached:
        story.events.append(("sla_breached", REQ, REQ, breached, None, due))
        story.breached_at = breached


def _response_hours(x: float) -> float:
    """Most claims are answered well within 24 hours; some near the deadline, a few late."""
    if x < 0.80:
        return 1 + 18 * x / 0.80
    if x < 0.92:
        return 19 + 5 * (x - 0.80) / 0.12
    return 24 + 20 * (x - 0.92) / 0.08


# --- Small helpers -----------------------------------------------------------------------------


def _timestamp(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _customer(n: int) -> tuple[str, str]:
    """(email as the store sent it, name): some addresses capitalised, as shops export them."""
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    last = LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)]
    local = f"{first}.{last}{n}" if n % 5 == 0 else f"{first.lower()}.{last.lower()}{n}"
    return f"{local}@{DOMAINS[n % len(DOMAINS)]}", f"{first} {last}"


def _policy(ctx: Context, moment: float) -> int:
    index = bisect.bisect(ctx.policies, (moment, float("inf"))) - 1
    return ctx.policies[max(index, 0)][1]


def _next_rma(ctx: Context, moment: float) -> str:
    year = ctx.year_starts[bisect.bisect(ctx.year_starts, (moment, 10**6)) - 1][1]
    value = ctx.rma_last.get(year, 0) + 1
    ctx.rma_last[year] = value
    return f"RMA-{year}-{value:06d}"


def _create_payload(ctx: Context, i: int, spec: tuple) -> str:
    first = ctx.line_base[i] + 1
    lines = [first, first + 1] if spec[11] >= 0 and spec[14] else [first]
    return f'{{"order_line_ids": {lines}}}'


def _payload_json(payload) -> str:
    if payload is None:
        return "{}"
    if isinstance(payload, tuple):  # (key, choices, random number): a text picked from a list
        key, choices, x = payload
        return json.dumps({key: choices[int(x * len(choices)) % len(choices)]})
    return json.dumps(payload)


def _description(ctype: str, reason: int, x: float) -> str:
    texts = DESCRIPTIONS[ctype]
    if reason >= 0:  # DOA: the text of its reason (the last reason, quality, has two)
        return texts[reason + (1 if reason == 3 and x < 0.5 else 0)]
    return texts[int(x * len(texts))]


def _last_change(events: list) -> float:
    """``updated_at``: the last save; the sweeps mark their rows with ``update()``, which leaves it alone."""
    for event in reversed(events):
        if not event[0].startswith(("sla_", "parcel_")):
            return event[3]
    return events[0][3]
