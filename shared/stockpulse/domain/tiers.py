"""Tiers: yellow (prepare restock), orange (slow the pitch), red (stop selling, call the supplier).

The tier is a pure function of the current ledger and the stored thresholds. Ratios compare
exactly: a ratio written 1.1 means 11/10, so every comparison is done on fractions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction


class Tier(StrEnum):
    NONE = "none"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank >= other.rank


_RANK = {Tier.NONE: 0, Tier.YELLOW: 1, Tier.ORANGE: 2, Tier.RED: 3}

TIER_ACTIONS_EN = {
    Tier.YELLOW: "Watch closely and prepare a restock.",
    Tier.ORANGE: "Host: slow the pitch and pace; ops: confirm the restock.",
    Tier.RED: "Stop selling and call the supplier now.",
}
TIER_ACTIONS_ZH = {
    Tier.YELLOW: "密切关注，准备补货。",
    Tier.ORANGE: "主播放缓节奏，运营确认补货。",
    Tier.RED: "停止售卖，立即联系供应链。",
}


@functools.lru_cache(maxsize=4096, typed=True)  # a show has few distinct ratios and forecasts
def exact(value: Decimal | float | int | str) -> Fraction:
    """A ratio or forecast as written (1.1 -> 11/10), never its binary float approximation."""
    return Fraction(Decimal(str(value)))


@dataclass(frozen=True)
class TierRatios:
    yellow: Fraction = Fraction(4, 5)
    orange: Fraction = Fraction(1)
    red: Fraction = Fraction(6, 5)


@dataclass(frozen=True)
class TierInputs:
    """What the hot path knows after a stock change: its own write's values plus stored thresholds."""

    reserved: int
    sold: int
    available: int
    restocked: int
    forecast: Fraction  # the plan's (or the evaluator's dynamic) forecast, before restocks
    ratios: TierRatios
    risk: Tier = Tier.NONE  # dynamic only: the stock-risk tier the evaluator raised (domain/stock_risk.py)

    @property
    def consumption(self) -> int:
        return self.reserved + self.sold

    @property
    def effective_forecast(self) -> Fraction:
        # A restock extends the plan by restocked / red, so a restocked SKU can fall back.
        return self.forecast + Fraction(self.restocked) / self.ratios.red


def consumption_tier(inputs: TierInputs) -> Tier:
    """The contract's tier, exact and immediate: consumption against the effective forecast, and
    red whenever nothing is available while units are taken."""
    consumption = inputs.consumption
    f = inputs.effective_forecast
    r = inputs.ratios
    if consumption >= r.red * f or (inputs.available == 0 and consumption > 0):
        return Tier.RED
    if consumption >= r.orange * f:
        return Tier.ORANGE
    if consumption >= r.yellow * f:
        return Tier.YELLOW
    return Tier.NONE


def tier_of(inputs: TierInputs) -> Tier:
    """The SKU's tier: the contract's, raised to the stock risk where that is higher."""
    return max(consumption_tier(inputs), inputs.risk, key=lambda tier: tier.rank)
