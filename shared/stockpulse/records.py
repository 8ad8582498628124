"""The values the service layer and the stores exchange: a stock item and an order as read, the
parts of a ledger write, a transaction's result.

Their own module rather than `ports.py`: they are plain data (no SDK type, nothing DynamoDB-
specific beyond the attribute names the items are parsed from), about as long as the ports
themselves, and both sides import them: `stockpulse.ports` types its protocols with them, the
service modules (guard, evaluator, stock sync, dashboard) build and read them, and the adapters
return them. `ports.py` stays the short list of what the domain needs from outside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from stockpulse.domain.alert_policy import AlertMemory
from stockpulse.domain.ledger import OrderRecord, OrderStatus, StockLevels
from stockpulse.domain.session import TierRatioConfig
from stockpulse.domain.tiers import Tier

# The order item's memory is bounded (an item takes 400 KB; ~820 events with 128-character ids
# filled one): it keeps at most MAX_EVENTS_PER_ORDER ids, counted in MEMORY_COUNT, a condition of
# every write that adds to it. A real order has a handful of events (created, paid, cancelled,
# a few resends); any event beyond the cap is remembered on its own marker item instead, as stock
# events are, so it is still decided exactly once (at the price of a marker read and write).
MAX_EVENTS_PER_ORDER = 50


@dataclass(frozen=True)
class TierState:
    """The tier stored on the stock item and what people were told about it."""

    tier: Tier = Tier.NONE
    # The consumption / available-0 tier alone (auto-pause follows it); None: not stored yet,
    # so it is `tier` (items written before it existed).
    hard_tier: Tier | None = None
    version: int = 0  # `tier_version`: the ledger version the tier was judged at
    memory: AlertMemory = field(default_factory=AlertMemory)  # `alert_memory` (domain/alert_policy.py)
    pending_alert: Mapping[str, Any] | None = None  # an announcement stored, not yet published
    # `named_restock`: the restock the last published announcement named (0: none), the restocked
    # counter then, and its instant (docs/product.md, "Restock quantity").
    named_restock: tuple[int, int, int] | None = None

    @property
    def hard(self) -> Tier:
        return self.tier if self.hard_tier is None else self.hard_tier


@dataclass(frozen=True)
class Thresholds:
    """What the tier is judged on beside the ledger, and what red does to the SKU.

    None: not stored (an item loaded by an older version); each reader has its fallback.
    """

    forecast_eff: Decimal | None = None  # the evaluator's effective forecast
    ratios: TierRatioConfig | None = None  # as written in the plan (their decimal text)
    dynamic: bool | None = None
    auto_pause_on_red: bool = False
    risk: Tier | None = None  # the evaluator's stock-risk tier ...
    risk_restocked: int | None = None  # ... judged at this restock count (a later one voids it)


@dataclass(frozen=True)
class Pace:
    """The evaluator's last reading of the SKU, which the hot path's notices quote."""

    velocity: Decimal = Decimal(0)  # units a minute
    restock_units: int | None = None  # the restock quantity it suggests; None: not judged yet
    # (minute_ms, taken) at its last minute, then (minute_ms, taken) about 10 minutes before it:
    # the hot path's reading of orders the evaluator has not seen yet.
    pace_mark: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class PlanCopy:
    """What `load_session` copied from the session plan onto the stock item."""

    name: str | None = None
    importance: str | None = None
    caps: Mapping[str, int] | None = None  # the capped platforms' quotas (rebalancing moves them)
    lead_time_minutes: Decimal | None = None
    session_ends_ms: int | None = None
    plan_digest: str | None = None  # lets an interrupted load run again


@dataclass(frozen=True)
class StockItem:
    """The stock item as read: the ledger plus the thresholds and tier state stored beside it.

    Parsed once where it is read (`parse_stock`); `stock_attributes` is its inverse.
    """

    session_id: str
    sku_id: str
    levels: StockLevels
    version: int
    hold_minutes: int
    tier: TierState = TierState()
    thresholds: Thresholds = Thresholds()
    pace: Pace = Pace()
    plan: PlanCopy = PlanCopy()

    @property
    def capped_platforms(self) -> frozenset[str]:
        return frozenset(self.levels.headroom)


def _pace_mark(mark: Sequence[Any]) -> tuple[int, int, int, int]:
    """A mark stored without its window (an older version) has the mark as its window."""
    minute, taken = int(mark[0]), int(mark[1])
    return (minute, taken, int(mark[2]), int(mark[3])) if len(mark) >= 4 else (minute, taken, minute, taken)


def parse_stock(raw: Mapping[str, Any]) -> StockItem:
    """The stock item from its stored attributes (DynamoDB's numbers as Decimal or int)."""
    tier = Tier(str(raw.get("tier", Tier.NONE.value)))
    ratios = raw.get("ratios")
    mark = raw.get("pace_mark")
    return StockItem(
        session_id=str(raw["session_id"]),
        sku_id=str(raw["sku_id"]),
        levels=levels_of(raw),
        version=int(raw["version"]),
        hold_minutes=int(raw["hold_minutes"]),
        tier=TierState(
            tier=tier,
            hard_tier=_maybe(raw, "hard_tier", lambda v: Tier(str(v))),
            version=int(raw.get("tier_version", 0)),
            memory=AlertMemory.from_item(raw.get("alert_memory") or {}),
            pending_alert=raw.get("pending_alert"),
            named_restock=_maybe(raw, "named_restock", lambda v: (int(v[0]), int(v[1]), int(v[2]))),
        ),
        thresholds=Thresholds(
            forecast_eff=_maybe(raw, "forecast_eff", _decimal),
            ratios=(
                # As stored (checked when the plan was loaded), so not validated again per read.
                TierRatioConfig.model_construct(
                    yellow=_decimal(ratios["yellow"]),
                    orange=_decimal(ratios["orange"]),
                    red=_decimal(ratios["red"]),
                )
                if isinstance(ratios, Mapping) and set(_RATIOS) <= set(ratios)
                else None
            ),
            dynamic=_maybe(raw, "dynamic", bool),
            auto_pause_on_red=bool(raw.get("auto_pause_on_red", False)),
            risk=_maybe(raw, "risk", lambda v: Tier(str(v))),
            risk_restocked=_maybe(raw, "risk_restocked", int),
        ),
        pace=Pace(
            velocity=_decimal(raw.get("velocity", 0)),
            restock_units=_maybe(raw, "restock_units", int),
            pace_mark=_pace_mark(mark) if mark else None,
        ),
        plan=PlanCopy(
            name=_maybe(raw, "name", str),
            importance=_maybe(raw, "importance", str),
            caps=_maybe(raw, "caps", lambda v: {str(k): int(n) for k, n in v.items()}),
            lead_time_minutes=_maybe(raw, "lead_time_minutes", _decimal),
            session_ends_ms=_maybe(raw, "session_ends_ms", int),
            plan_digest=_maybe(raw, "plan_digest", str),
        ),
    )


def stock_attributes(item: StockItem) -> dict[str, Any]:
    """The stored attributes of a stock item: `parse_stock`'s inverse (what is None is absent).

    Writers of a few attributes take theirs from here (the evaluator its thresholds and pace), so
    an attribute has one stored form."""
    lv, tier, th, pace, plan = item.levels, item.tier, item.thresholds, item.pace, item.plan
    values: dict[str, Any] = {
        "session_id": item.session_id,
        "sku_id": item.sku_id,
        "on_hand": lv.on_hand,
        "held": lv.held,
        "reserved": lv.reserved,
        "sold": lv.sold,
        "available": lv.available,
        "restocked": lv.restocked,
        "taken": lv.taken,
        "paused": lv.paused,
        "version": item.version,
        "hold_minutes": item.hold_minutes,
        "headroom": dict(lv.headroom),
        "caps": None if plan.caps is None else dict(plan.caps),
        "used": dict(lv.used),
        "tier": tier.tier.value,
        "hard_tier": None if tier.hard_tier is None else tier.hard_tier.value,
        "tier_version": tier.version,
        # Nothing told yet is stored as an empty map (what a new item has always had).
        "alert_memory": {} if tier.memory == AlertMemory() else tier.memory.to_item(),
        "pending_alert": None if tier.pending_alert is None else dict(tier.pending_alert),
        "named_restock": None if tier.named_restock is None else list(tier.named_restock),
        "forecast_eff": th.forecast_eff,
        "ratios": None if th.ratios is None else {k: getattr(th.ratios, k) for k in _RATIOS},
        "dynamic": th.dynamic,
        "auto_pause_on_red": th.auto_pause_on_red,
        "velocity": pace.velocity,
        "pace_mark": None if pace.pace_mark is None else list(pace.pace_mark),
        "restock_units": pace.restock_units,
        "risk": None if th.risk is None else th.risk.value,
        "risk_restocked": th.risk_restocked,
        "lead_time_minutes": plan.lead_time_minutes,
        "session_ends_ms": plan.session_ends_ms,
        "importance": plan.importance,
        "name": plan.name,
        "plan_digest": plan.plan_digest,
    }
    return {k: v for k, v in values.items() if v is not None}


_RATIOS = ("yellow", "orange", "red")
_T = TypeVar("_T")


def _maybe(raw: Mapping[str, Any], name: str, parse: Callable[[Any], _T]) -> _T | None:
    value = raw.get(name)
    return None if value is None else parse(value)


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


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
