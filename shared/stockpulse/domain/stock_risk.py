"""Stock risk: will this SKU sell out before the show ends, or within minutes? Pure.

The consumption tiers (80/100/120% of the forecast) say how a SKU does against its plan; stock
risk says what happens next at the pace it sells now. It is judged once a minute by the
evaluator and stored on the stock item, where the hot path reads it as a floor for the tier.
An operator acts on it ("slow the pitch", "call the supplier"), so it must be trustworthy:

- **Evidence first.** The pace is a smoothed rate (`pace`): an exponentially weighted mean of
  the units taken per minute, half-life PACE_HALF_LIFE_MINUTES. It counts only after
  MIN_OBSERVED_MINUTES of the show and MIN_RECENT_UNITS units in the last RECENT_MINUTES: three
  orders in a quiet hour are not a trend.
- **A pace is projected as fading.** A pitch's orders fade within minutes, so the units still to
  come at pace v over L minutes are v x T x (1 - exp(-L / T)): T = PACE_FADE_MINUTES, or
  FADING_PACE_FADE_MINUTES while the pace is falling (under FADING_SHARE of the pace
  FADING_LOOKBACK_MINUTES ago). A steady seller still sells out in the projection (its pace is
  renewed every minute); an opening flash that is already fading does not.
- **Orange** when the projected units exceed what is available before the show ends (less
  END_GRACE_MINUTES: selling out as it ends costs nothing) and before a restock could arrive
  (the lead time): "at this pace it sells out; slow the pitch". **Red** when they exceed it
  within RED_HORIZON_MINUTES: "sell-out imminent: take the link down soon, call the supplier".
  Ten minutes of a fading pace is 6 to 8.5 minutes of cover, still ahead of the sell-out after
  the minute of evidence red waits for; fifteen paged the on-call phone for pitches that faded
  before they sold out (bench: idle SMS pages 4 of 13 to 2 of 12 in 10 sales, lead unchanged).
- **No flapping.** A raw signal must hold for RAISE_AFTER_MINUTES consecutive evaluations
  before it raises the risk (red: RED_RAISE_AFTER_MINUTES, as it is urgent, unless the pace is
  falling). An orange waits NEAR_RED_WAIT_MINUTES more while the projection sells out within
  RED_HOLD_HORIZON_MINUTES, and is not raised in a minute whose signal is red: when the red
  follows, it goes out alone (bench, 20 sales: an orange and its red within 2 minutes 17 of 46
  to 12 of 41; every sell-out warned as before; median lead 24.3 to 23.3 min on seeds 11-20,
  unchanged on 1-10). The risk is cleared only after the signal has been gone with a margin
  (projection under available / CLEAR_MARGIN) for CLEAR_AFTER_MINUTES, and only as far as the
  mean pace of the last SUSTAINED_MINUTES allows (pitches and the quiet between them averaged
  together): while that pace, held to the end of the show, still sells the SKU out, an orange
  stands. A show that pitches a SKU every twenty minutes is quiet in between, and "back to
  normal" followed by red at the next pitch is what makes a shop mute the bot. 45 minutes holds
  two pitches of a twenty-minute cadence; 30 resolved between them (bench: 3 relapses in 10
  sales against 2). A surge younger than that is held by the mean of the last RECENT_MINUTES
  too: a late surge's restock, judged on 45 minutes that were mostly quiet, read "back to
  normal" in a lull two minutes before its red (rehearsal late-surge, seed 31; bench, seeds 1-10:
  relapses 1 to 0, messages per SKU-show 2.03 to 2.00).
  A red stands while the projection or the mean pace of the last RECENT_MINUTES, held, still
  sells out what is available within RED_HOLD_HORIZON_MINUTES, longer than the horizon that
  raises it (hysteresis): a fading projection would step it down to orange beside
  "sells out in ~12 min", and the next few orders raise it again (bench: max messages per
  SKU-show 7 to 5, resolutions 15 to 9 in 10 sales).
  A restock steps a raised risk down at once to what the new stock still stands at on those
  same rules, and the counters start again: the projection starts again from the new stock, but
  a restock short of the demand is not "back to normal" (rehearsals, seed 31: four restocked
  cakes were told so, and warned again 2 to 25 minutes later).
- **An opening flash that sells out within minutes is red at once.** Before the pace has its
  MIN_OBSERVED_MINUTES, the same smoothed rate (`opening_pace`, the units gate kept) raises red,
  and only red, when it sells out what is available within OPENING_RED_HORIZON_MINUTES, projected
  as fading fast (time constant OPENING_FADE_MINUTES: an opening flash halves every minute or two;
  projected with a pitch's 10 minutes, a flash of 87 in the first minute of a SKU with 245 was
  called red and sold 72 more). Without it, a SKU stocked near its forecast got "slow the pitch"
  with 1 unit left and its red as the sell-out (bench: 5 of 6 opening sell-outs in 20 sales).

Why these numbers: each trades warning lead against false alarms on generated two-hour sales of
every shape (`bench/alert_policies.py`); docs/product.md says why each is where it is, and the
README has the figures they give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stockpulse.domain.forecast import units_to_add, velocity_per_minute
from stockpulse.domain.tiers import Tier

PACE_HALF_LIFE_MINUTES = 2.0
PACE_FADE_MINUTES = 30.0
FADING_PACE_FADE_MINUTES = 10.0
END_GRACE_MINUTES = 3.0
MIN_OBSERVED_MINUTES = 8
RECENT_MINUTES = 10
MIN_RECENT_UNITS = 6
RED_HORIZON_MINUTES = 10.0
RED_HOLD_HORIZON_MINUTES = 15.0
RAISE_AFTER_MINUTES = 2
RED_RAISE_AFTER_MINUTES = 1
NEAR_RED_WAIT_MINUTES = 1
CLEAR_MARGIN = 1.25
CLEAR_AFTER_MINUTES = 10
FADING_LOOKBACK_MINUTES = 3
FADING_SHARE = 0.8
SUSTAINED_MINUTES = 45
OPENING_RED_HORIZON_MINUTES = 5.0
OPENING_FADE_MINUTES = 3.0


def pace(taken_by_minute: Sequence[int]) -> float | None:
    """The smoothed pace in units per minute, or None while the evidence is too thin."""
    return _smoothed(taken_by_minute) if len(taken_by_minute) >= MIN_OBSERVED_MINUTES else None


def measured(taken_by_minute: Sequence[int]) -> bool:
    """The show has given a pace its evidence at some time: MIN_OBSERVED_MINUTES, and
    MIN_RECENT_UNITS taken in all. What a restock is sized on (`forecast.restock_pace`): a trickle
    after a rush is a slow pace to plan the rest of the show on, not no pace at all, though it is
    too thin to say "sells out in N minutes" (`pace`)."""
    return len(taken_by_minute) >= MIN_OBSERVED_MINUTES and sum(taken_by_minute) >= MIN_RECENT_UNITS


def opening_pace(taken_by_minute: Sequence[int]) -> float | None:
    """The smoothed pace while `pace` still waits for its minutes (None after them, or with too few
    units): what an opening flash's red is judged on."""
    return _smoothed(taken_by_minute) if len(taken_by_minute) < MIN_OBSERVED_MINUTES else None


def _smoothed(taken_by_minute: Sequence[int]) -> float | None:
    """The exponentially weighted units per minute, None under MIN_RECENT_UNITS in RECENT_MINUTES."""
    if sum(taken_by_minute[-RECENT_MINUTES:]) < MIN_RECENT_UNITS:
        return None
    return velocity_per_minute(taken_by_minute, half_life_minutes=PACE_HALF_LIFE_MINUTES)


def pace_before(taken_by_minute: Sequence[int]) -> float | None:
    """The pace FADING_LOOKBACK_MINUTES ago (no evidence gate: it is only compared with now)."""
    earlier = taken_by_minute[:-FADING_LOOKBACK_MINUTES]
    if not earlier:
        return None
    return velocity_per_minute(earlier, half_life_minutes=PACE_HALF_LIFE_MINUTES)


def mean_pace(taken_by_minute: Sequence[int], minutes: int) -> float | None:
    """The mean units per minute of the last `minutes` (the show so far when shorter): a plain
    count, with no evidence gate, for what people read (the selling-slowly tip's pace)."""
    recent = taken_by_minute[-minutes:]
    return sum(recent) / len(recent) if recent else None


def sustained_pace(taken_by_minute: Sequence[int]) -> float | None:
    """The mean units per minute of the last SUSTAINED_MINUTES (the show so far when shorter)."""
    return mean_pace(taken_by_minute, SUSTAINED_MINUTES)


def projected_units(velocity: float, minutes: float, fade_minutes: float = PACE_FADE_MINUTES) -> float:
    """Units still to come over `minutes` at `velocity`, the pace fading (time constant `fade_minutes`)."""
    if velocity <= 0 or minutes <= 0:
        return 0.0
    return velocity * fade_minutes * (1.0 - math.exp(-minutes / fade_minutes))


@dataclass(frozen=True)
class RiskInputs:
    available: int
    velocity: float | None  # `pace`, None without enough evidence
    minutes_left: float
    lead_time_minutes: float
    restocked: int  # the stock item's cumulative restocked units
    velocity_before: float | None = None  # the pace FADING_LOOKBACK_MINUTES ago
    sustained: float | None = None  # `sustained_pace`: what holds a raised orange (with `recent`)
    recent: float | None = None  # the mean pace of the last RECENT_MINUTES: holds a red (and an orange)
    opening: float | None = None  # `opening_pace`: before `velocity` has its evidence

    @property
    def fading(self) -> bool:
        """The pace is falling: a pitch is wearing off."""
        before = self.velocity_before
        return self.velocity is not None and before is not None and self.velocity < FADING_SHARE * before

    @property
    def fade_minutes(self) -> float:
        """The time constant the projection fades with."""
        return FADING_PACE_FADE_MINUTES if self.fading else PACE_FADE_MINUTES


def restock_when_warned(inputs: RiskInputs, *, kept_share: float, pack_size: int) -> int:
    """The units a stock-risk warning asks for: what its projection sells before the show ends
    (less END_GRACE_MINUTES), beyond what is available, in whole packs."""
    if inputs.velocity is None:
        return 0
    expected = projected_units(inputs.velocity, inputs.minutes_left - END_GRACE_MINUTES, inputs.fade_minutes)
    return units_to_add(expected, available=inputs.available, kept_share=kept_share, pack_size=pack_size)


def restock_named(
    restock: int,
    inputs: RiskInputs,
    *,
    eta: float | None,
    warned: bool,
    kept_share: float,
    pack_size: int,
    without_credit: int = 0,
) -> int:
    """The restock a message quotes: `restock` (the plan-anchored estimate), or, where that says
    none while the SKU is `warned` or its `eta` sells it out before the show ends, the same estimate
    without a hot start's credit for demand come early (`without_credit`: a rush that sells the
    SKU out is not only early), and failing that the projection's number (`restock_when_warned`).
    A message that says "sells out" names how many to order."""
    in_show = eta is not None and 0 < eta <= inputs.minutes_left
    if restock or not (warned or in_show):
        return restock
    return without_credit or restock_when_warned(inputs, kept_share=kept_share, pack_size=pack_size)


def signal(inputs: RiskInputs, *, margin: float = 1.0, red_horizon: float = RED_HORIZON_MINUTES) -> Tier:
    """What the projection says this minute (NONE, ORANGE or RED). With `margin` < 1 and a
    longer `red_horizon` the conditions are looser: a raised risk is clearly gone only when even
    they no longer hold."""
    v = inputs.velocity
    left = inputs.minutes_left - END_GRACE_MINUTES  # selling out as the show ends costs nothing
    if inputs.available <= 0 or left <= 0:
        return Tier.NONE  # sold out is the contract's red already
    stock = inputs.available * margin
    if v is None and inputs.opening is not None:  # an opening flash: red or nothing
        horizon = min(OPENING_RED_HORIZON_MINUTES * red_horizon / RED_HORIZON_MINUTES, left)  # held: longer
        flash = projected_units(inputs.opening, horizon, OPENING_FADE_MINUTES)
        return Tier.RED if flash > stock else Tier.NONE
    if v is None or v <= 0:
        return Tier.NONE  # no pace, no projection
    fade = inputs.fade_minutes
    if projected_units(v, min(red_horizon, left), fade) > stock:
        return Tier.RED
    if projected_units(v, min(left, inputs.lead_time_minutes), fade) > stock:
        return Tier.ORANGE
    return Tier.NONE


def holding_signal(inputs: RiskInputs, *, margin: float = 1.0) -> Tier:
    """What holds a raised risk besides the projection: RED while the mean pace of the last
    RECENT_MINUTES, held (not fading), sells out what is available within RED_HOLD_HORIZON_MINUTES;
    ORANGE while the sustained pace or that recent one (a surge younger than SUSTAINED_MINUTES),
    held, sells it out before the show ends and before a restock could arrive; NONE otherwise."""
    show_left = inputs.minutes_left - END_GRACE_MINUTES
    if inputs.available <= 0 or show_left <= 0:
        return Tier.NONE
    stock = inputs.available * margin
    recent = inputs.recent
    if recent is not None and recent * min(RED_HOLD_HORIZON_MINUTES, show_left) > stock:
        return Tier.RED
    held = max(inputs.sustained or 0.0, recent or 0.0)
    if held * min(show_left, inputs.lead_time_minutes) > stock:
        return Tier.ORANGE
    return Tier.NONE


@dataclass(frozen=True)
class RiskState:
    """The raised risk and the counters that keep it from flapping (stored as a small map)."""

    tier: Tier = Tier.NONE
    orange_runs: int = 0  # evaluations in a row whose signal was orange or red
    red_runs: int = 0  # evaluations in a row whose signal was red
    clear_runs: int = 0  # evaluations in a row with the raised risk clearly gone
    restocked: int = 0  # the restocked counter the risk was judged on

    def to_item(self) -> dict[str, int | str]:
        return {
            "tier": self.tier.value,
            "orange_runs": self.orange_runs,
            "red_runs": self.red_runs,
            "clear_runs": self.clear_runs,
            "restocked": self.restocked,
        }

    @classmethod
    def from_item(cls, item: object) -> RiskState:
        if not isinstance(item, dict) or not item:
            return cls()
        return cls(
            tier=Tier(str(item.get("tier", "none"))),
            orange_runs=int(item.get("orange_runs", 0)),
            red_runs=int(item.get("red_runs", 0)),
            clear_runs=int(item.get("clear_runs", 0)),
            restocked=int(item.get("restocked", 0)),
        )


def red_near(inputs: RiskInputs) -> bool:
    """The projection already sells out within the red hold horizon: a red is likely to follow,
    and "slow the pitch" a minute before "sell-out imminent" is two messages where the red alone
    says it."""
    return signal(inputs, red_horizon=RED_HOLD_HORIZON_MINUTES) is Tier.RED


def _orange_after(inputs: RiskInputs) -> int:
    """Evaluations in a row an orange needs: NEAR_RED_WAIT_MINUTES more while a red is near."""
    return RAISE_AFTER_MINUTES + (NEAR_RED_WAIT_MINUTES if red_near(inputs) else 0)


def _standing(inputs: RiskInputs) -> Tier:
    """What a raised risk still stands at: the projection or the paces that hold it, with the
    clearing margin (the risk is not clearly gone while this is at or above it)."""
    margin = 1 / CLEAR_MARGIN
    projected = signal(inputs, margin=margin, red_horizon=RED_HOLD_HORIZON_MINUTES)
    return max(projected, holding_signal(inputs, margin=margin))


def evaluate(state: RiskState, inputs: RiskInputs) -> RiskState:
    """One minute's step: the raised risk after this evaluation."""
    if inputs.restocked != state.restocked:
        # New stock: the counters start again, and a raised risk steps down at once to what the
        # new stock still stands at. A restock short of the demand is not "back to normal".
        state = RiskState(tier=min(state.tier, _standing(inputs)), restocked=inputs.restocked)
    raw = signal(inputs)
    orange_runs = state.orange_runs + 1 if raw >= Tier.ORANGE else 0
    red_runs = state.red_runs + 1 if raw is Tier.RED else 0
    tier, clear_runs = state.tier, state.clear_runs
    # A fading pitch gets one more minute of evidence before red: the flash at the opening of a
    # show reads as "sells out in minutes" and is over before it could.
    red_after = RAISE_AFTER_MINUTES if inputs.fading else RED_RAISE_AFTER_MINUTES
    if red_runs >= red_after and tier < Tier.RED:
        tier, clear_runs = Tier.RED, 0
    elif tier < Tier.ORANGE and raw is Tier.ORANGE and orange_runs >= _orange_after(inputs):
        # Never in a minute whose signal is red: that red is raised within two minutes, or the
        # signal lapses and the orange goes out after all.
        tier, clear_runs = Tier.ORANGE, 0
    elif tier > Tier.NONE:
        still = _standing(inputs)
        clear_runs = clear_runs + 1 if still < tier else 0
        if clear_runs >= CLEAR_AFTER_MINUTES:  # clearly gone long enough: step down
            tier, clear_runs = still, 0
    return RiskState(tier, orange_runs, red_runs, clear_runs, inputs.restocked)
