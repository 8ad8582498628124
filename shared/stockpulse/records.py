"""The values the service layer and the stores exchange: a stock item and an order as read, the
parts of a ledger write, a transaction's result.

Their own module rather than `ports.py`: they are plain data (no SDK type, nothing DynamoDB-
specific beyond the attribute names the items are parsed from), about as long as the ports
themselves, and both sides import them: `stockpulse.ports` types its protocols with them, the
service modules (guard, evaluator, stock sync, dashboard) build and read them, and the adapters
return them. `ports.py` stays the short list of what the domain needs from outside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stockpulse.domain.ledger import OrderRecord, OrderStatus, StockLevels

# The order item's memory is bounded (an item takes 400 KB; ~820 events with 128-character ids
# filled one): it keeps at most MAX_EVENTS_PER_ORDER ids, counted in MEMORY_COUNT, a condition of
# every write that adds to it. A real order has a handful of events (created, paid, cancelled,
# a few resends); any event beyond the cap is remembered on its own marker item instead, as stock
# events are, so it is still decided exactly once (at the price of a marker read and write).
MAX_EVENTS_PER_ORDER = 50


@dataclass(frozen=True)
class StockItem:
    """The stock item as read: the ledger plus the thresholds and tier state stored beside it."""

    session_id: str
    sku_id: str
    levels: StockLevels
    version: int
    hold_minutes: int
    capped_platforms: frozenset[str]
    raw: Mapping[str, Any]

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> StockItem:
        return cls(
            session_id=str(raw["session_id"]),
            sku_id=str(raw["sku_id"]),
            levels=levels_of(raw),
            version=int(raw["version"]),
            hold_minutes=int(raw["hold_minutes"]),
            capped_platforms=frozenset(raw.get("headroom", {})),
            raw=raw,
        )


def levels_of(raw: Mapping[str, Any]) -> StockLevels:
    return StockLevels(
        on_hand=int(raw["on_hand"]),
        held=int(raw["held"]),
        reserved=int(raw["reserved"]),
        sold=int(raw["sold"]),
        available=int(raw["available"]),
        paused=bool(raw.get("paused", False)),
        restocked=int(raw.get("restocked", 0)),
        taken=int(raw.get("taken", 0)),
        headroom={k: int(v) for k, v in raw.get("headroom", {}).items()},
        used={k: int(v) for k, v in raw.get("used", {}).items()},
    )


def order_of(raw: Mapping[str, Any]) -> OrderRecord:
    return OrderRecord(
        order_id=str(raw["order_id"]),
        sku_id=str(raw["sku_id"]),
        platform=str(raw["platform"]),
        quantity=int(raw["quantity"]),
        status=OrderStatus(raw["status"]),
        created_ms=int(raw["created_ms"]),
        hold_until_ms=int(raw["hold_until_ms"]),
    )


@dataclass(frozen=True)
class OrderWrite:
    """The order item's part of a transaction: a new order, or a status change from `expected`."""

    status: OrderStatus
    expected: OrderStatus | None = None  # None: the order must not exist yet
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventMemory:
    """An event id and the outcome code it had, written with the change it made.

    `on_order`: on the order item the event names (created if the order was never seen);
    otherwise on the event's own marker item.
    """

    event_id: str
    outcome: str
    on_order: bool


@dataclass(frozen=True)
class OrderMemory:
    """An order item as read: the order (None if only events naming it were remembered) and the
    outcome code of every event applied to it, by event id."""

    record: OrderRecord | None
    events: Mapping[str, str]
    count: int = 0  # events remembered on it (MEMORY_COUNT)

    def has_room(self, events: int = 1) -> bool:
        """Whether `events` more ids fit in the order's memory (else: on their markers)."""
        return self.count + events <= MAX_EVENTS_PER_ORDER


@dataclass(frozen=True)
class TxResult:
    ok: bool
    failed: frozenset[str] = frozenset()  # which parts' conditions failed: stock / order / marker

    def failed_on(self, part: str) -> bool:
        return part in self.failed


ORDER_FIELDS = ("sku_id", "platform", "quantity", "created_ms", "hold_until_ms")


def order_fields(order: OrderRecord) -> dict[str, Any]:
    """A new order item's fixed attributes (status and keys aside)."""
    return {name: getattr(order, name) for name in ORDER_FIELDS}
