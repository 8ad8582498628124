"""The stock ledger's rules, as pure decisions.

A SKU's stock: `on_hand = held + reserved + sold + available`, `available >= 0`, always.
Each event is decided here into a `Move` (how the counters change and what must hold for it to
apply) plus the order's next status; the store applies a move as one conditional write, so the
rule is checked by the database at write time, never by a read-then-write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from stockpulse.domain.events import EventType, OrderEvent


class OrderStatus(StrEnum):
    RESERVED = "reserved"
    SOLD = "sold"
    RELEASED = "released"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REFUND_REQUIRED = "refund_required"


class Reason(StrEnum):
    """Why an event was refused (the report's `rejected` keys)."""

    INVALID = "invalid"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_ORDER = "unknown_order"
    SKU_PAUSED = "sku_paused"
    QUOTA_EXCEEDED = "quota_exceeded"
    INSUFFICIENT_STOCK = "insufficient_stock"
    INSUFFICIENT_HELD = "insufficient_held"


class Result(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    result: Result
    reason: Reason | None = None
    order_status: OrderStatus | None = None
    changed_stock: bool = False
    # A duplicate of a remembered event: the outcome that event had when it was applied.
    original: Outcome | None = None

    @classmethod
    def processed(cls, status: OrderStatus | None = None, *, changed_stock: bool) -> Outcome:
        return cls(Result.PROCESSED, order_status=status, changed_stock=changed_stock)

    @classmethod
    def duplicate(cls, original: Outcome | None = None) -> Outcome:
        return cls(Result.DUPLICATE, original=original)

    @property
    def code(self) -> str:
        """The outcome as the ledger remembers it beside the event id: `result|reason|status|changed`."""
        return "|".join(
            (self.result.value, self.reason or "", self.order_status or "", "1" if self.changed_stock else "")
        )

    @classmethod
    def from_code(cls, code: str) -> Outcome:
        result, reason, status, changed = code.split("|")
        return cls(
            Result(result),
            reason=Reason(reason) if reason else None,
            order_status=OrderStatus(status) if status else None,
            changed_stock=bool(changed),
        )

    @classmethod
    def rejected(cls, reason: Reason, status: OrderStatus | None = None) -> Outcome:
        return cls(Result.REJECTED, reason=reason, order_status=status)


@dataclass(frozen=True)
class StockLevels:
    """A SKU's ledger as stored on its stock item."""

    on_hand: int
    held: int
    reserved: int
    sold: int
    available: int
    paused: bool = False
    restocked: int = 0
    taken: int = 0  # cumulative units that left `available` for orders: the sales counter
    headroom: Mapping[str, int] = field(default_factory=dict)  # capped platforms only: cap - usage
    used: Mapping[str, int] = field(default_factory=dict)  # platform usage: reserved + sold units

    @property
    def consumption(self) -> int:
        return self.reserved + self.sold

    @property
    def kept_share(self) -> float:
        """The share of the units taken that are still taken (the rest expired or were cancelled)."""
        return self.consumption / self.taken if self.taken > 0 else 1.0

    @property
    def sold_out(self) -> bool:
        """Nothing left to sell while units are taken (the contract's available-0 red)."""
        return self.available == 0 and self.consumption > 0

    def counts(self) -> dict[str, int]:
        """The five counts as reports and status lines show them, in the invariant's order."""
        return {
            "on_hand": self.on_hand,
            "held": self.held,
            "reserved": self.reserved,
            "sold": self.sold,
            "available": self.available,
        }

    @property
    def balanced(self) -> bool:
        """The invariant: every count non-negative and on_hand = held + reserved + sold + available."""
        counts = (self.held, self.reserved, self.sold, self.available)
        return min(counts) >= 0 and self.on_hand == sum(counts)


@dataclass(frozen=True)
class OrderRecord:
    """An order as first created: later events act on its own SKU, platform and quantity."""

    order_id: str
    sku_id: str
    platform: str
    quantity: int
    status: OrderStatus
    created_ms: int
    hold_until_ms: int

    def live_at(self, at_ms: int) -> bool:
        """A reservation is expired at any instant >= its hold end, swept or not."""
        return self.status is OrderStatus.RESERVED and at_ms < self.hold_until_ms


@dataclass(frozen=True)
class Move:
    """A change of the counters and the conditions the write must check.

    `take` units leave `available` for an order of `platform`: the SKU must be selling, the platform
    within its quota and the units available. `need_available` / `need_held` guard hold moves.
    `platform_usage` is the change of the order's platform usage (reserved + sold units).
    """

    on_hand: int = 0
    held: int = 0
    reserved: int = 0
    sold: int = 0
    available: int = 0
    restocked: int = 0
    taken: int = 0
    platform: str | None = None
    platform_usage: int = 0
    take: int = 0
    need_available: int = 0
    need_held: int = 0
    paused: bool | None = None

    def applied_to(self, s: StockLevels) -> StockLevels:
        used = dict(s.used)
        headroom = dict(s.headroom)
        if self.platform is not None and self.platform_usage:
            used[self.platform] = used.get(self.platform, 0) + self.platform_usage
            if self.platform in headroom:
                headroom[self.platform] -= self.platform_usage
        return StockLevels(
            on_hand=s.on_hand + self.on_hand,
            held=s.held + self.held,
            reserved=s.reserved + self.reserved,
            sold=s.sold + self.sold,
            available=s.available + self.available,
            paused=s.paused if self.paused is None else self.paused,
            restocked=s.restocked + self.restocked,
            taken=s.taken + self.taken,
            headroom=headroom,
            used=used,
        )


def take_refusal(stock: StockLevels, platform: str, quantity: int) -> Reason | None:
    """Why `quantity` units cannot leave `available` for `platform` now, checked in contract order."""
    if stock.paused:
        return Reason.SKU_PAUSED
    if platform in stock.headroom and stock.headroom[platform] < quantity:
        return Reason.QUOTA_EXCEEDED
    if stock.available < quantity:
        return Reason.INSUFFICIENT_STOCK
    return None


def move_refusal(stock: StockLevels, move: Move) -> Reason | None:
    """Why `move` cannot apply to `stock`, or None when it can."""
    if move.take:
        assert move.platform is not None
        return take_refusal(stock, move.platform, move.take)
    if stock.available < move.need_available:
        return Reason.INSUFFICIENT_STOCK
    if stock.held < move.need_held:
        return Reason.INSUFFICIENT_HELD
    return None


def reserve(platform: str, quantity: int) -> Move:
    return Move(
        reserved=quantity,
        available=-quantity,
        taken=quantity,
        platform=platform,
        platform_usage=quantity,
        take=quantity,
    )


def confirm(quantity: int) -> Move:
    """A live reservation is paid: reserved -> sold (allowed while paused)."""
    return Move(reserved=-quantity, sold=quantity)


def retake(platform: str, quantity: int) -> Move:
    """Payment without a live reservation: take the units from `available` now."""
    return Move(
        sold=quantity,
        available=-quantity,
        taken=quantity,
        platform=platform,
        platform_usage=quantity,
        take=quantity,
    )


def release(platform: str, quantity: int) -> Move:
    """A reservation cancelled or expired: reserved -> available, quota usage given back."""
    return Move(reserved=-quantity, available=quantity, platform=platform, platform_usage=-quantity)


def give_back(platform: str, quantity: int) -> Move:
    """A paid order cancelled before shipping: sold -> available."""
    return Move(sold=-quantity, available=quantity, platform=platform, platform_usage=-quantity)


def stock_move(event: OrderEvent) -> Move:
    """The move of a `stock.*` or `sku.*` event."""
    kind = event.type
    if kind is EventType.STOCK_RESTOCKED:
        return Move(on_hand=event.units, available=event.units, restocked=event.units)
    if kind is EventType.STOCK_HELD:
        return Move(held=event.units, available=-event.units, need_available=event.units)
    if kind is EventType.STOCK_UNHELD:
        return Move(held=-event.units, available=event.units, need_held=event.units)
    if kind is EventType.SKU_PAUSED:
        return Move(paused=True)
    if kind is EventType.SKU_RESUMED:
        return Move(paused=False)
    raise ValueError(f"{kind.value} is an order event")


class Step(StrEnum):
    """What an order event does to the order it names, given the order's current record."""

    RESERVE = "reserve"
    CONFIRM = "confirm"
    RETAKE = "retake"
    RELEASE = "release"
    GIVE_BACK = "give_back"
    EXPIRE_FIRST = "expire_first"  # the reservation ran out unswept: expire it, then decide again
    DUPLICATE = "duplicate"
    UNKNOWN_ORDER = "unknown_order"
    NO_EFFECT = "no_effect"


def hold_until(created_ms: int, hold_ms: int, now_ms: int | None) -> int:
    """When a reservation made at `created_ms` (the event's instant) stops holding stock.

    `hold_ms` after the order, but never later than `hold_ms` after the processing clock
    `now_ms`: an order dated in the future (a platform clock ahead, or 2030) holds stock for
    `hold_minutes` from now, not until its date. A replay's clock has reached every event it
    processes, so there it is exactly `created_ms + hold_ms` (the contract's rule).
    """
    start = created_ms if now_ms is None else min(created_ms, now_ms)
    return start + hold_ms


def order_step(event: OrderEvent, order: OrderRecord | None) -> Step:
    at = event.occurred_ms
    kind = event.type
    if kind is EventType.ORDER_CREATED:
        return Step.DUPLICATE if order is not None else Step.RESERVE
    if order is None:
        return Step.UNKNOWN_ORDER if kind is EventType.ORDER_PAID else Step.NO_EFFECT
    if order.status is OrderStatus.RESERVED and not order.live_at(at):
        return Step.EXPIRE_FIRST
    if kind is EventType.ORDER_PAID:
        if order.status is OrderStatus.RESERVED:
            return Step.CONFIRM
        if order.status in (OrderStatus.SOLD, OrderStatus.REFUND_REQUIRED):
            return Step.DUPLICATE
        return Step.RETAKE
    if order.status is OrderStatus.RESERVED:
        return Step.RELEASE
    if order.status is OrderStatus.SOLD:
        return Step.GIVE_BACK
    return Step.NO_EFFECT


# The order status each step leads to, when it applies and when the stock refuses it.
STEP_STATUS: dict[Step, OrderStatus] = {
    Step.RESERVE: OrderStatus.RESERVED,
    Step.CONFIRM: OrderStatus.SOLD,
    Step.RETAKE: OrderStatus.SOLD,
    Step.RELEASE: OrderStatus.RELEASED,
    Step.GIVE_BACK: OrderStatus.RELEASED,
}
REFUSED_STATUS: dict[Step, OrderStatus] = {
    Step.RESERVE: OrderStatus.REJECTED,
    Step.RETAKE: OrderStatus.REFUND_REQUIRED,
}


def step_move(step: Step, order: OrderRecord | None, event: OrderEvent) -> Move:
    if step is Step.RESERVE:
        assert event.platform is not None
        return reserve(event.platform, event.units)
    assert order is not None
    moves = {
        Step.CONFIRM: confirm(order.quantity),
        Step.RETAKE: retake(order.platform, order.quantity),
        Step.RELEASE: release(order.platform, order.quantity),
        Step.GIVE_BACK: give_back(order.platform, order.quantity),
    }
    return moves[step]
