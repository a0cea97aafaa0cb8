"""The per-line ledger: how many units of each order line are claimed, refunded or replaced, and how
much has been paid back. Money is bounded by the order, not the claim.

The ledger is derived, never typed in. ``returns`` may not import the apps that pay or replace, so
they register a *source* here (``register``, from their ``AppConfig.ready``): a function that reads
their own rows and returns ``Use``s per order line. The store's own refunds and cancellations
(``OrderLine.store_refunded_*``, ``Order.cancelled_at``) count too.

Who reads it:
- a new claim may take only units still free (``LineLedger.free_units``): not refunded, not in another
  open claim; a clash is shown when the claim is entered, with the claim that holds the units;
- a refund's approval may not take a line's money paid back above what was paid for it
  (``refunds.services``), under ``for_lines(lock=True)``: the order lines' rows are locked in one
  order (by primary key), so two approvals on one line queue and the second sees the first.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from returns import money
from returns.models import OPEN_STATUSES, ClaimItem, OrderLine


@dataclass(frozen=True)
class Use:
    """Units (and money) of an order line taken by a refund or a replacement."""

    order_line_id: int
    kind: str  # "refund" or "replacement"
    units: int
    amount: Decimal  # money paid back or promised (goods less deductions); 0 for a replacement
    claim_id: int
    claim_label: str  # "RMA-2026-000042"
    on: date | None  # the day it was paid or shipped; None while only promised
    key: str  # the source row, e.g. "refund:12", so a caller can leave its own out


Source = Callable[[list[int]], Iterable[Use]]
_SOURCES: list[Source] = []


def register(source: Source) -> None:
    if source not in _SOURCES:
        _SOURCES.append(source)


@dataclass(frozen=True)
class OpenClaimUse:
    claim_id: int
    claim_label: str  # "RMA-2026-000042 / #17" or "#17"
    units: int


@dataclass
class LineLedger:
    line: OrderLine
    uses: list[Use] = field(default_factory=list)
    open_claims: list[OpenClaimUse] = field(default_factory=list)
    # What may still be paid back on the whole order (its lines' refunds, and the store's refunds it did
    # not say the lines of): no line's refundable goes above it.
    order_room: Decimal | None = None

    @property
    def refunded_units(self) -> int:
        return self.line.store_refunded_quantity + sum(u.units for u in self.uses if u.kind == "refund")

    @property
    def replaced_units(self) -> int:
        return sum(u.units for u in self.uses if u.kind == "replacement")

    @property
    def paid_back(self) -> Decimal:
        """Refunded or promised on this line, the store's own refunds included."""
        return self.line.store_refunded_amount + sum((u.amount for u in self.uses), Decimal(0))

    @property
    def refundable(self) -> Decimal:
        """What may still be paid back on this line, within what the order still owes: never below zero."""
        if self.line.order.cancelled_at is not None:
            return Decimal(0)
        room = self.line.paid - self.paid_back
        if self.order_room is not None:
            room = min(room, self.order_room)
        return max(room, Decimal(0))

    @property
    def claimed_units(self) -> int:
        return sum(c.units for c in self.open_claims)

    @property
    def free_units(self) -> int:
        """Units a new claim may take: the line's, less those refunded and those in open claims."""
        return max(self.line.quantity - self.refunded_units - self.claimed_units, 0)

    def without_claim(self, claim_id: int) -> "LineLedger":
        """The line as one claim sees what happened elsewhere: that claim's own refunds and replacements left
        out of the units and the words. ``order_room`` stays: the order's money left, whichever claim paid it."""
        return replace(self, uses=[use for use in self.uses if use.claim_id != claim_id])

    def notes(self) -> list[str]:
        """Each use in words, for the claim form and the claim page."""
        sku = self.line.product.sku
        words = [f"{sku} × {c.units} is already in open claim {c.claim_label}." for c in self.open_claims]
        for use in self.uses:
            when = f" on {use.on:%d %b %Y}" if use.on else " (not sent yet)"
            if use.kind == "refund":
                words.append(
                    f"{sku} × {use.units} refunded under {use.claim_label}{when}: "
                    f"{money.quantize(use.amount, self.line.currency)} {self.line.currency}."
                )
            else:
                words.append(f"{sku} × {use.units} replaced under {use.claim_label}{when}.")
        if self.line.store_refunded_quantity or self.line.store_refunded_amount:
            words.append(
                f"{sku}: the store refunded {self.line.store_refunded_quantity} unit(s), "
                f"{money.quantize(self.line.store_refunded_amount, self.line.currency)} {self.line.currency}."
            )
        order = self.line.order
        if order.store_refunded_total:
            words.append(
                f"The store refunded {money.quantize(order.store_refunded_total, self.line.currency)} "
                f"{self.line.currency} of order {order.number} in all."
            )
        if order.cancelled_at is not None:
            words.append(f"Order {order.number} was cancelled by the store: nothing of it is refundable.")
        return words


def _order_rooms(order_lines: list[OrderLine], uses: list[Use], orders: dict) -> dict[int, Decimal]:
    """Per order: what was paid, less every committed refund of its lines and what the store refunded (its
    lines' known refunds, or its order total when that says more)."""
    line_order = {line.pk: line.order_id for line in order_lines}
    rooms = {}
    for order_id, order in orders.items():
        lines = [line for line in order_lines if line.order_id == order_id]
        store = max(order.store_refunded_total, sum((line.store_refunded_amount for line in lines), Decimal(0)))
        ours = sum((use.amount for use in uses if line_order[use.order_line_id] == order_id), Decimal(0))
        rooms[order_id] = sum((line.paid for line in lines), Decimal(0)) - store - ours
    return rooms


def for_lines(
    line_ids: Iterable[int], *, lock: bool = False, exclude_claim_id: int | None = None, exclude_key: str = ""
) -> dict[int, LineLedger]:
    """The ledger of each order line; ``lock`` takes the lines' row locks first (by primary key).

    ``exclude_claim_id`` leaves a claim out of the open claims (the claim being judged);
    ``exclude_key`` leaves one source row out (the refund being approved).
    """
    ids = sorted(set(line_ids))
    lines = OrderLine.objects.select_related("order", "product").filter(pk__in=ids).order_by("pk")
    if lock:
        lines = lines.select_for_update(of=("self",))
    ledgers = {line.pk: LineLedger(line=line) for line in lines}
    # Every line of the orders concerned: the order's room counts its other lines' refunds too.
    order_lines = list(OrderLine.objects.filter(order__in={lg.line.order_id for lg in ledgers.values()}))
    uses = [use for source in _SOURCES for use in source([line.pk for line in order_lines]) if use.key != exclude_key]
    for use in uses:
        if use.order_line_id in ledgers:
            ledgers[use.order_line_id].uses.append(use)
    rooms = _order_rooms(order_lines, uses, {lg.line.order_id: lg.line.order for lg in ledgers.values()})
    for line_ledger in ledgers.values():
        line_ledger.order_room = rooms[line_ledger.line.order_id]
    items = (
        ClaimItem.objects.filter(order_line_id__in=ids, claim__status__in=OPEN_STATUSES)
        .exclude(claim_id=exclude_claim_id)
        .select_related("claim")
        .order_by("claim_id")
    )
    for item in items:
        if any(u.claim_id == item.claim_id and u.kind == "refund" for u in ledgers[item.order_line_id].uses):
            continue  # its units are counted once, by its refund
        label = f"{item.claim.rma_number} / #{item.claim_id}" if item.claim.rma_number else f"#{item.claim_id}"
        ledgers[item.order_line_id].open_claims.append(OpenClaimUse(item.claim_id, label, item.quantity))
    return ledgers
