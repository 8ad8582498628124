"""The replay's time series: per SKU, the ledger and its tier lines over virtual time.

The curves come from a `Timeline`: the ledger's own history, one point per change, as the
guard judged each state's tier: consumption = reserved + sold, and the tier lines = ratio x
effective forecast, where the effective forecast is the stored `forecast_eff` extended by
restocked / red (contract: "a restock extends the plan"). `OutcomeLog` keeps the outcomes per
SKU that the report only has as totals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo

from stockpulse.domain.events import EventType, OrderEvent
from stockpulse.domain.ledger import Outcome, Result, StockLevels
from stockpulse.domain.tiers import Tier, TierInputs
from stockpulse_local.scenario import Scenario

TIERS = ("yellow", "orange", "red")


@dataclass(frozen=True)
class Sample:
    t_ms: int
    reserved: int
    sold: int
    available: int
    on_hand: int
    held: int
    forecast: float  # F before restocks (the stored forecast_eff)
    restocked: int
    ratios: tuple[float, float, float]  # yellow, orange, red
    tier: str
    paused: bool

    @property
    def consumption(self) -> int:
        return self.reserved + self.sold

    @property
    def balanced(self) -> bool:
        """The ledger's invariant (`StockLevels.balanced`) on this state."""
        counts = (self.held, self.reserved, self.sold, self.available)
        return min(counts) >= 0 and self.on_hand == sum(counts)

    @property
    def effective_forecast(self) -> float:
        return self.forecast + self.restocked / self.ratios[2]

    def line(self, tier: str) -> float:
        return self.ratios[TIERS.index(tier)] * self.effective_forecast

    def same_state(self, other: Sample) -> bool:
        return (
            self.reserved,
            self.sold,
            self.available,
            self.on_hand,
            self.held,
            self.forecast,
            self.restocked,
            self.ratios,
            self.tier,
            self.paused,
        ) == (
            other.reserved,
            other.sold,
            other.available,
            other.on_hand,
            other.held,
            other.forecast,
            other.restocked,
            other.ratios,
            other.tier,
            other.paused,
        )

    @classmethod
    def of(cls, t_ms: int, levels: StockLevels, tier: Tier, inputs: TierInputs) -> Sample:
        r = inputs.ratios
        return cls(
            t_ms=t_ms,
            reserved=levels.reserved,
            sold=levels.sold,
            available=levels.available,
            on_hand=levels.on_hand,
            held=levels.held,
            forecast=float(inputs.forecast),
            restocked=levels.restocked,
            ratios=(float(r.yellow), float(r.orange), float(r.red)),
            tier=tier.value,
            paused=levels.paused,
        )


@dataclass
class Timeline:
    """Per SKU, the ledger and its lines over virtual time: a point at every change.

    It is the guard's `LedgerHistory`: after each stock change (an order, a payment, a cancel,
    an expiry by the sweep, a restock, a hold, a pause) and each new threshold of the evaluator,
    the guard judges the tier on the ledger's resulting levels at the change's own instant (an
    expiry at its hold's end), and tells the timeline. The levels are those the guard already
    reads or computes for the tier: no extra request. Sampling the stock items instead (after
    every batch and every scheduled minute) would cost a read per SKU per minute and still date
    the changes within a batch, and the sweep's releases, at the clock instead of when they
    happened.
    """

    scenario: Scenario
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        start = self.scenario.plan.session.starts_ms
        for sku in self.scenario.plan.skus:
            r = sku.tier_ratios
            self.samples[sku.sku_id] = [
                Sample(
                    t_ms=start,
                    reserved=0,
                    sold=0,
                    available=sku.on_hand - sku.held,
                    on_hand=sku.on_hand,
                    held=sku.held,
                    forecast=float(sku.forecast),
                    restocked=0,
                    ratios=(float(r.yellow), float(r.orange), float(r.red)),
                    tier="none",
                    paused=False,
                )
            ]

    @property
    def tz(self) -> tzinfo | None:
        return self.scenario.plan.session.starts_at.tzinfo

    def record(
        self, session_id: str, sku_id: str, at_ms: int, levels: StockLevels, tier: Tier, inputs: TierInputs
    ) -> None:
        series = self.samples.get(sku_id)
        if session_id != self.scenario.plan.session.session_id or series is None:
            return
        # A state committed after another is never drawn before it (a duplicate's re-evaluation
        # carries its own, earlier, instant).
        point = Sample.of(max(at_ms, series[-1].t_ms), levels, tier, inputs)
        if not point.same_state(series[-1]):
            series.append(point)

    def at(self, sku_id: str, t_ms: int) -> Sample | None:
        """The state in force at `t_ms` (the last sample at or before it)."""
        found = None
        for s in self.samples.get(sku_id, []):
            if s.t_ms > t_ms:
                break
            found = s
        return found

    @property
    def span(self) -> tuple[int, int]:
        session = self.scenario.plan.session
        last = max((s[-1].t_ms for s in self.samples.values() if s), default=session.ends_ms)
        return session.starts_ms, max(session.ends_ms, last)


@dataclass
class OutcomeLog:
    """Outcomes per SKU (the report only has totals): rejections by reason, duplicates, and the
    orders whose creation was refused (what buyers asked for, if they never got it after)."""

    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    duplicate: Counter[str] = field(default_factory=Counter)
    refused: dict[str, RefusedOrder] = field(default_factory=dict)  # by order id

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        sku = event.sku_id if event is not None else "(unreadable)"
        if outcome.result is Result.REJECTED and outcome.reason is not None:
            self.rejected[(sku, outcome.reason.value)] += 1
            if (
                event is not None and event.type is EventType.ORDER_CREATED
                and event.order_id and event.quantity
            ):  # fmt: skip
                self.refuse(event.order_id, sku, outcome.reason.value, event.quantity)
        elif outcome.result is Result.DUPLICATE:
            self.duplicate[sku] += 1

    def refuse(self, order_id: str, sku_id: str, reason: str, units: int) -> None:
        """A refused creation of `order_id`: a platform's resend is the same order (its first
        units, its latest reason), never more demand."""
        first = self.refused.get(order_id)
        self.refused[order_id] = RefusedOrder(sku_id, reason, first.units if first else units)

    def for_sku(self, sku_id: str) -> dict[str, int]:
        """Rejected events by reason."""
        return _of_sku(self.rejected, sku_id)

    def units_for_sku(self, sku_id: str, still_refused: Callable[[str], bool]) -> dict[str, int]:
        """Units of the SKU's refused orders by reason, of those `still_refused` (by order id)
        says never got their units: an order refused, then taken by a resend, is not demand twice."""
        units: Counter[tuple[str, str]] = Counter()
        for order_id, order in self.refused.items():
            if order.sku_id == sku_id and still_refused(order_id):
                units[(order.sku_id, order.reason)] += order.units
        return _of_sku(units, sku_id)


@dataclass(frozen=True)
class RefusedOrder:
    sku_id: str
    reason: str  # of its latest refused creation
    units: int  # of its first creation


def _of_sku(counts: Counter[tuple[str, str]], sku_id: str) -> dict[str, int]:
    return dict(sorted((reason, n) for (sku, reason), n in counts.items() if sku == sku_id))
