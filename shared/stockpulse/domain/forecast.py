"""Dynamic thresholds and the forecasts shown to people.

Pure: no clock reads, every instant or minute is a parameter. The forecast returned here is the
plan *before restocks*; `tiers.TierInputs.effective_forecast` adds restocked / red on top.

Factors (DESIGN.md "Thresholds, tiers and forecasts"); a smaller F means every line is crossed
sooner, i.e. an earlier warning:
- lead time >= 7 days: F x 0.85 (a week to resupply, so warn earlier);
- no sales history: F x 0.9 (the plan is a guess); both together: F x 0.765;
- hot start (consumption >= 40% of F within the first 30 minutes): F moves half-way up toward
  the trend (consumption + velocity x minutes left), never below where it was;
- slow start (after 60 minutes, consumption < 10% of F): the early-warning margins are dropped,
  F goes back to the configured forecast, and never above it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from stockpulse.domain.events import MINUTE_MS
from stockpulse.domain.tiers import TierRatios

DAY_MINUTES = 1440

LONG_LEAD_TIME_DAYS = 7.0
LONG_LEAD_FACTOR = Fraction(85, 100)
NO_HISTORY_FACTOR = Fraction(9, 10)
HOT_START_MINUTES = 30.0
HOT_START_SHARE = Fraction(2, 5)
SLOW_START_MINUTES = 60.0
SLOW_START_SHARE = Fraction(1, 10)
RED_LINE_STOCK_SHARE = Fraction(9, 10)

_EPS = 1e-9  # float noise guard before rounding up (0.5 * 10 - 5 must be 0, not 1)


@dataclass(frozen=True, kw_only=True)
class SkuPlan:
    """One SKU's plan in a live session. The session is given in epoch milliseconds (the
    SESSION item's `starts_ms` / `ends_ms`); `minutes_elapsed` / `minutes_left` convert an
    instant the caller passes."""

    forecast: int  # expected units for the session
    starts_ms: int
    ends_ms: int
    lead_time_days: float = 3.0
    has_history: bool = True
    dynamic: bool = True
    ratios: TierRatios = field(default_factory=TierRatios)
    pack_size: int = 1
    stock_risk: bool = True  # the sell-out projection may raise the tier (dynamic SKUs only)

    @property
    def session_minutes(self) -> float:
        return max(0.0, (self.ends_ms - self.starts_ms) / MINUTE_MS)

    @property
    def lead_time_minutes(self) -> float:
        return self.lead_time_days * DAY_MINUTES

    @property
    def planned_pace(self) -> float:
        """Units per minute the forecast expects, spread evenly over the show."""
        return self.forecast / self.session_minutes if self.session_minutes else 0.0

    def minutes_elapsed(self, now_ms: int) -> float:
        return min(self.session_minutes, max(0.0, (now_ms - self.starts_ms) / MINUTE_MS))

    def minutes_left(self, now_ms: int) -> float:
        return min(self.session_minutes, max(0.0, (self.ends_ms - now_ms) / MINUTE_MS))


def velocity_per_minute(taken_by_minute: Sequence[int], *, half_life_minutes: float) -> float:
    """Exponentially weighted mean of per-minute units taken (oldest first, last = the most
    recent complete minute). A minute `half_life_minutes` old weighs half as much as the last
    one, so a burst two minutes ago outweighs a quiet first hour and a quiet spell decays it."""
    if half_life_minutes <= 0:
        raise ValueError("half_life_minutes must be > 0")
    decay = 0.5 ** (1.0 / half_life_minutes)
    weight, total, weights = 1.0, 0.0, 0.0
    for taken in reversed(taken_by_minute):
        total += weight * taken
        weights += weight
        weight *= decay
        if weight < 1e-9:  # older minutes no longer count
            break
    return max(0.0, total / weights) if weights else 0.0


def margin_forecast(plan: SkuPlan) -> Fraction:
    """The configured forecast with the early-warning margins (long lead time, no history)."""
    f = Fraction(plan.forecast)
    if plan.lead_time_days >= LONG_LEAD_TIME_DAYS:
        f *= LONG_LEAD_FACTOR
    if not plan.has_history:
        f *= NO_HISTORY_FACTOR
    return f


def is_hot_start(plan: SkuPlan, *, consumption: int, minutes_elapsed: float) -> bool:
    """Consumption reached 40% of F within the first 30 minutes. The evaluator latches this
    (passes `hot_start=True` afterwards) because minute 45 cannot tell when 40% was reached."""
    return minutes_elapsed <= HOT_START_MINUTES and consumption >= HOT_START_SHARE * margin_forecast(plan)


def trend_units(*, consumption: int, velocity: float, minutes_left: float) -> Fraction:
    """Where the session ends at the current pace: consumption + velocity x minutes left."""
    ahead = max(0.0, velocity) * max(0.0, minutes_left)
    return Fraction(consumption + math.ceil(ahead - _EPS))


def effective_forecast(
    plan: SkuPlan,
    *,
    consumption: int,
    minutes_elapsed: float,
    minutes_left: float,
    velocity: float,
    hot_start: bool = False,
    sellable: int | None = None,
) -> Fraction:
    """F for the tiers (before restocks). `dynamic=False`: exactly the configured forecast.

    Why the slow-start rule relaxes F *up to the forecast* and no further: moving F down toward
    a slow trend would fire yellow/orange (and red's "stop selling", or auto-pause) on a SKU
    that still has most of its stock, while moving F above the forecast would let a late real
    surge eat the planned stock before any line is crossed. So a slow starter only loses the
    early-warning margins; a later surge then restores them (consumption >= 10% again) and is
    judged against the plan the stock was sized for. Hot sellers that outrun their stock are
    caught anyway by stock cover (orange) and available = 0 (red) in `tiers.tier_of`.
    """
    if not plan.dynamic:
        return Fraction(plan.forecast)
    f = margin_forecast(plan)
    if hot_start or is_hot_start(plan, consumption=consumption, minutes_elapsed=minutes_elapsed):
        trend = trend_units(consumption=consumption, velocity=velocity, minutes_left=minutes_left)
        # Half-way: a few minutes of smoothed velocity are noisy; never below f. The raise never
        # lifts the red line above RED_LINE_STOCK_SHARE of the stock that can be sold
        # (`sellable`, before restocks): red must come before the last unit goes.
        raised = (f + trend) / 2 if trend > f else f
        if sellable is not None:
            raised = min(raised, max(f, RED_LINE_STOCK_SHARE * sellable / plan.ratios.red))
        return raised
    if minutes_elapsed >= SLOW_START_MINUTES and consumption < SLOW_START_SHARE * f:
        return Fraction(plan.forecast)
    return f


def sell_out_eta_minutes(available: int, velocity: float) -> float | None:
    """Minutes until sell-out at the current velocity (0 when sold out); None when not selling."""
    if velocity <= 0:
        return None
    return max(0, available) / velocity


RESTOCK_HALF_LIFE_MINUTES = 5.0  # steadier than the risk's pace: the number must not swing
PITCH_FADE_MINUTES = 15.0  # a pitch's extra orders wear off over this time constant
# A hot start's rush is partly the plan's demand come early: this share of the units taken ahead
# of the plan's pace comes off the rest of the show's plan, never more than PULLED_FORWARD_CAP of
# it, and the credit fades out over the PULLED_FORWARD_FADE_MINUTES after the hot-start window
# (a SKU still selling fast by then was not only early). Why these numbers: docs/product.md
# (bench/restock_estimates.py).
PULLED_FORWARD_SHARE = 0.5
PULLED_FORWARD_CAP = 0.5
PULLED_FORWARD_FADE_MINUTES = 20.0


def restock_pace(
    taken_by_minute: Sequence[int], *, plan_pace: float, hot_start: bool, measured: bool
) -> float:
    """The pace a restock is sized on (`restock_quantity`): the units taken per minute, half-life
    RESTOCK_HALF_LIFE_MINUTES, once the show has given the stock risk's pace its evidence
    (`measured`, `stock_risk.measured`; one early order is no pace to plan a show on: 0 before;
    a trickle after the evidence is a slow pace, not none). In a hot start's first HOT_START_MINUTES
    (`hot_start`) no faster than the plan's, and the plan's before the evidence: the rush is the
    plan's demand arriving early, not demand on top of the plan, and it is already faster than
    the plan. Counting both asked 4.8x the units the shows went on to lack in the first warnings
    of an opening rush (bench/restock_estimates.py); a flash that sold out before minute 8 named
    no number at all."""
    if not measured:
        return plan_pace if hot_start else 0.0
    pace = velocity_per_minute(taken_by_minute, half_life_minutes=RESTOCK_HALF_LIFE_MINUTES)
    return min(pace, plan_pace) if hot_start else pace


def pulled_forward(*, taken: int, plan_pace: float, minutes_elapsed: float, hot_start: bool) -> float:
    """The units of the rest of the plan a hot start's rush already took (`restock_quantity`):
    PULLED_FORWARD_SHARE of the units taken ahead of the plan's pace so far, in full through the
    hot-start window, then fading linearly to nothing over PULLED_FORWARD_FADE_MINUTES."""
    if not hot_start:
        return 0.0
    past_window = max(0.0, minutes_elapsed - HOT_START_MINUTES)
    weight = max(0.0, 1.0 - past_window / PULLED_FORWARD_FADE_MINUTES)
    ahead = max(0.0, taken - plan_pace * minutes_elapsed)
    return weight * PULLED_FORWARD_SHARE * ahead


def restock_quantity(
    *,
    available: int,
    pace: float,
    plan_pace: float,
    minutes_left: float,
    kept_share: float = 1.0,
    pack_size: int = 1,
    early_units: float = 0.0,
) -> int:
    """Units to add so the stock lasts to the end of the show, in whole packs, never negative.

    The units still expected: the rest of the show at the pace the plan was sized for
    (`plan_pace`, forecast / show minutes; the current pace when it is slower), less the plan's
    demand a hot start's rush took early (`early_units`, `pulled_forward`; at most
    PULLED_FORWARD_CAP of the rest), plus what the current pace sells above the plan while it
    wears off (PITCH_FADE_MINUTES): a pitch's burst does not last the show, the plan's demand
    does. Only `kept_share` of the units taken stay taken (unpaid holds expire and come back to
    stock). What is available goes first.
    """
    if pace <= 0 or minutes_left <= 0:
        return 0
    base = min(plan_pace, pace) * minutes_left
    base -= min(max(0.0, early_units), PULLED_FORWARD_CAP * base)
    burst = (
        max(0.0, pace - plan_pace) * PITCH_FADE_MINUTES * (1.0 - math.exp(-minutes_left / PITCH_FADE_MINUTES))
    )
    return units_to_add(base + burst, available=available, kept_share=kept_share, pack_size=pack_size)


def units_to_add(expected: float, *, available: int, kept_share: float = 1.0, pack_size: int = 1) -> int:
    """What `expected` more units taken need beyond what is available, in whole packs, never
    negative: only `kept_share` of the units taken stay taken (unpaid holds come back)."""
    kept = min(1.0, max(0.0, kept_share)) * expected
    need = max(0, math.ceil(kept - max(0, available) - _EPS))
    return -(-need // max(1, pack_size)) * max(1, pack_size)


# The article's pre-show warning line: 1.2 x forecast for stock that can be replenished in about
# three days, higher for a week's lead time and for a product never sold before.
PRE_SHOW_LINE = Fraction(6, 5)
PRE_SHOW_LONG_LEAD_EXTRA = Fraction(3, 10)  # + up to 0.3 as the lead time grows to a week
PRE_SHOW_NO_HISTORY_EXTRA = Fraction(1, 5)  # + 0.2 when the product has no sales history
SHORT_LEAD_TIME_DAYS = 3.0


def pre_show_line(forecast: int, lead_time_days: float, has_history: bool) -> Fraction:
    """The sellable stock a SKU should have before the show starts."""
    span = LONG_LEAD_TIME_DAYS - SHORT_LEAD_TIME_DAYS
    lead = min(1.0, max(0.0, (lead_time_days - SHORT_LEAD_TIME_DAYS) / span))
    ratio = PRE_SHOW_LINE + PRE_SHOW_LONG_LEAD_EXTRA * Fraction(lead).limit_denominator(1000)
    if not has_history:
        ratio += PRE_SHOW_NO_HISTORY_EXTRA
    return ratio * forecast


def pre_show_shortfall(
    *, forecast: int, lead_time_days: float, has_history: bool, sellable: int, pack_size: int = 1
) -> tuple[int, int]:
    """(the line in whole units, the units to add in whole packs); 0 to add when stock suffices."""
    line = math.ceil(pre_show_line(forecast, lead_time_days, has_history))
    need = max(0, line - sellable)
    return line, -(-need // max(1, pack_size)) * max(1, pack_size)


def expected_band(
    plan: SkuPlan, minute: float, session_minutes: float, units: float | None = None
) -> tuple[float, float]:
    """Cumulative consumption the curve should stay in at `minute` of the session.

    Shape: the straight plan line forecast x minute / session_minutes (clamped to the session),
    scaled by the plan's yellow and red ratios. At the end the band is exactly
    [yellow x forecast, red x forecast]: below it the plan was too optimistic, above it the SKU
    crosses the stop line before the session ends. `units`: the forecast to draw it from
    (the big screen's is the effective one, as its tier lines are); default the plan's.
    """
    share = 1.0 if session_minutes <= 0 else min(1.0, max(0.0, minute / session_minutes))
    expected = (plan.forecast if units is None else units) * share
    return float(plan.ratios.yellow) * expected, float(plan.ratios.red) * expected
