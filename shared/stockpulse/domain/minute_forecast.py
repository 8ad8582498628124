"""One SKU's forecast at one minute, as the threshold evaluator computes it (pure).

From the stock levels and the previous FORECAST item (its samples expanded over the session's run
minutes, `sample_log`): the velocity, the effective forecast, the sell-out ETA, the restock
quantity, the stock risk, the slow-seller tip, and the FORECAST item to store.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from stockpulse.domain import forecast, sample_log, stock_risk
from stockpulse.domain.events import MINUTE_MS
from stockpulse.domain.ledger import StockLevels
from stockpulse.domain.session import SessionPlan, SkuConfig
from stockpulse.domain.tiers import Tier

SAMPLE_MINUTES = sample_log.SAMPLE_MINUTES  # the FORECAST item keeps this many minutes of samples
PLATFORM_SAMPLE_MINUTES = 30  # per-platform usage samples kept for rebalancing
PLATFORM_HALF_LIFE_MINUTES = 5.0  # per-platform pace for quota rebalancing
SLOW_AFTER_MINUTES = 30.0  # the article: judge a slow seller only after the first half hour
SLOW_RUNS = 10  # minutes in a row under the expected band before the one "selling slowly" tip


def minute_of(ms: int) -> int:
    return ms - ms % MINUTE_MS


def per_minute_increments(points: Sequence[tuple[int, int]]) -> list[int]:
    """Per-minute increments of a cumulative counter sampled at minute instants (oldest first).

    A gap of n minutes (a missed run) spreads its increase evenly over n minutes; a decrease
    counts as 0 (a counter that is net of releases)."""
    increments: list[int] = []
    for (m0, v0), (m1, v1) in itertools.pairwise(points):
        gap = max(1, (m1 - m0) // MINUTE_MS)
        delta = max(0, v1 - v0)
        base, extra = divmod(delta, gap)
        increments.extend(base + (1 if i >= gap - extra else 0) for i in range(gap))
    return increments


def recent_window(samples: Sequence[Sequence[int]], minute: int) -> tuple[int, int]:
    """(minute_ms, taken) of the sample that opens the stock risk's evidence window ending at
    `minute` (RECENT_MINUTES before it; the oldest sample kept when the show is younger)."""
    opens = minute - stock_risk.RECENT_MINUTES * MINUTE_MS
    before = [s for s in samples if s[0] <= opens] or samples[:1]
    return (int(before[-1][0]), int(before[-1][1])) if before else (minute, 0)


def to_decimal(value: Fraction) -> Decimal:
    """Exact when the fraction is a terminating decimal (all the forecast rules give one)."""
    if value.denominator == 1:
        return Decimal(value.numerator)
    with localcontext() as ctx:
        ctx.prec = 28
        return Decimal(value.numerator) / Decimal(value.denominator)


def _round(value: float, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places))


def sku_plan(session: SessionPlan, sku: SkuConfig) -> forecast.SkuPlan:
    return forecast.SkuPlan(
        forecast=sku.forecast,
        starts_ms=session.session.starts_ms,
        ends_ms=session.session.ends_ms,
        lead_time_days=sku.lead_time_days,
        has_history=sku.has_history,
        dynamic=sku.dynamic,
        ratios=sku.ratios,
        pack_size=sku.pack_size,
        stock_risk=sku.alerts.stock_risk,
    )


@dataclass(frozen=True)
class MinuteForecast:
    """One SKU's forecast at one minute: the FORECAST item's content."""

    samples: list[list[int]]  # [minute_ms, taken, consumption]
    platform_samples: list[list[Any]]  # [minute_ms, {platform: used}]
    velocity: Decimal
    platform_velocity: dict[str, float]
    forecast_eff: Decimal
    hot_start: bool
    eta_minutes: Decimal | None
    restock_quantity: int
    band_low: Decimal
    band_high: Decimal
    minutes_left: float
    risk: stock_risk.RiskState
    risk_signal: Tier  # what this minute's projection says by itself (no pending, no hold)
    red_near: bool  # the projection sells out within the red's hold horizon (stock_risk.red_near)
    frozen_velocity: float | None  # the restock pace kept while sold out (nothing can sell then)
    sold_out_spans: list[tuple[int, int]]  # the sold-out stretches' first and last minutes
    slow_runs: int  # evaluations in a row under the band's lower edge (after SLOW_AFTER_MINUTES)
    slow_tip: bool  # this minute sends the SKU's one "selling slowly" tip
    slow_sent: bool
    # The plain mean of the last RECENT_MINUTES, which the tip shows: a slow seller is exactly
    # the one whose gated `velocity` is 0 for thin evidence, and "0 units/min" misreads a trickle.
    recent_pace: float = 0.0
    # The counters as they stood before the last minute that moved them ({"minute", "risk",
    # "slow_runs"}): a minute evaluated again (a repeated scheduled invocation, a replay resumed
    # after a kill) steps from there, not a second time from its own result.
    step: dict[str, Any] | None = None

    def item(self, tier: Tier, *, platforms: bool) -> dict[str, Any]:
        """The FORECAST item: what the next minute starts from and what the big screen shows.

        Samples are stored as change points (`sample_log`): with the session's run minutes they
        give back `samples` exactly. Per-platform usage only for a SKU that rebalances quotas (the
        only reader of its pace). Not stored, as nothing would read them: the band (the plan and
        the minute give it), the platform paces, and `slow_runs` once the tip went out."""
        values: dict[str, Any] = {
            "samples": sample_log.pack_samples(sample_log.change_points(self.samples)),
            "velocity": self.velocity,
            "forecast_eff": self.forecast_eff,
            "hot_start": self.hot_start,
            "restock_quantity": self.restock_quantity,
            "tier": tier.value,
            "risk": self.risk.to_item(),
            "slow_sent": self.slow_sent,
        }
        if not self.slow_sent:
            values["slow_runs"] = self.slow_runs
        if platforms:
            values["platforms"] = sample_log.pack_platforms(sample_log.change_points(self.platform_samples))
        if self.eta_minutes is not None:
            values["eta_minutes"] = self.eta_minutes
        if self.frozen_velocity is not None:
            values["frozen_velocity"] = _round(self.frozen_velocity, "0.0001")
        if self.sold_out_spans:
            values["sold_out_spans"] = [list(span) for span in self.sold_out_spans]
        if self.step is not None:
            values["step"] = self.step
        return values


_PACKED = ("samples", "platforms")


def unpacked(stored: Mapping[str, Any] | None, runs: sample_log.Runs, minute: int) -> dict[str, Any] | None:
    """The stored FORECAST item as `compute_forecast` reads it: samples expanded over the runs."""
    if stored is None:
        return None
    return {
        **stored,
        "samples": sample_log.expand(
            sample_log.unpack_samples(stored.get("samples", b"")),
            runs,
            after_ms=minute - SAMPLE_MINUTES * MINUTE_MS,
            before_ms=minute,
        ),
        "platform_samples": sample_log.expand(
            sample_log.unpack_platforms(stored["platforms"]) if "platforms" in stored else [],
            runs,
            after_ms=minute - PLATFORM_SAMPLE_MINUTES * MINUTE_MS,
            before_ms=minute,
        ),
    }


def still_holds(
    stored: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    view: MinuteForecast,
    ran: sample_log.Runs,
    minute: int,
) -> bool:
    """The stored item, read with this minute's run recorded, says what `values` would: no write."""
    if stored is None:
        return False
    old = {k: v for k, v in stored.items() if k not in ("pk", "sk", *_PACKED)}
    if old != {k: v for k, v in values.items() if k not in _PACKED} or ("platforms" in stored) != (
        "platforms" in values
    ):
        return False
    if all(stored.get(k) == values.get(k) for k in _PACKED):
        return True  # the very bytes it would write
    after = unpacked(stored, ran, minute + MINUTE_MS)  # up to and including this minute
    assert after is not None
    samples = [s for s in after["samples"] if s[0] > minute - SAMPLE_MINUTES * MINUTE_MS]
    if samples != view.samples:
        return False
    platforms = [s for s in after["platform_samples"] if s[0] > minute - PLATFORM_SAMPLE_MINUTES * MINUTE_MS]
    return "platforms" not in values or platforms == view.platform_samples


def _sold_out_spans(previous: Mapping[str, Any], minute: int, *, sold_out: bool) -> list[tuple[int, int]]:
    """The SKU's sold-out stretches (first and last minute) still within the samples' reach, this
    minute included when it is sold out now: the latest is extended while the last evaluation
    found the SKU sold out (`frozen_velocity`)."""
    horizon = minute - SAMPLE_MINUTES * MINUTE_MS
    spans = [(int(a), int(b)) for a, b in previous.get("sold_out_spans", []) if int(b) > horizon]
    if not sold_out:
        return spans
    if spans and previous.get("frozen_velocity") is not None:
        return [*spans[:-1], (spans[-1][0], max(spans[-1][1], minute))]
    return [*spans, (minute, minute)]


def _selling_minutes(
    increments: Sequence[int], *, first_ms: int, sold_out: Sequence[tuple[int, int]]
) -> list[int]:
    """The per-minute increments (the first ends a minute after `first_ms`) without the minutes
    that began sold out: nothing could sell in them, whatever the demand."""
    return [
        units
        for i, units in enumerate(increments)
        if not any(a <= first_ms + i * MINUTE_MS <= b for a, b in sold_out)
    ]


def named_restock(
    projection: stock_risk.RiskInputs,
    *,
    pace: float,
    plan_pace: float,
    taken: int,
    kept_share: float,
    pack_size: int,
    hot_start: bool,
    credit_minute: float,
    eta: float | None,
    warned: bool,
) -> int:
    """The restock a message names: the plan-anchored estimate (`forecast.restock_quantity` on the
    restock `pace`, less a hot start's credit as of `credit_minute`), or where it says the stock
    lasts while the SKU is `warned` or its `eta` sells it out within the show, the estimate without
    the credit, then the projection's (`stock_risk.restock_named`; a consumption red's "stop
    selling, call the supplier" too)."""

    def restock_for(early_units: float) -> int:
        return forecast.restock_quantity(
            available=projection.available,
            pace=pace,
            plan_pace=plan_pace,
            minutes_left=projection.minutes_left,
            kept_share=kept_share,
            pack_size=pack_size,
            early_units=early_units,
        )

    early = forecast.pulled_forward(
        taken=taken, plan_pace=plan_pace, minutes_elapsed=credit_minute, hot_start=hot_start
    )
    credited = restock_for(early)
    return stock_risk.restock_named(
        credited,
        projection,
        eta=eta,
        warned=warned,
        kept_share=kept_share,
        pack_size=pack_size,
        without_credit=restock_for(0.0) if early > 0 else credited,
    )


def compute_forecast(
    plan: forecast.SkuPlan, levels: StockLevels, previous: Mapping[str, Any] | None, now_ms: int
) -> MinuteForecast:
    """Pure: the minute's forecast from the stock levels and the previous FORECAST item."""
    previous = previous or {}
    minute = minute_of(now_ms)
    step: Mapping[str, Any] | None = previous.get("step")
    # This minute ran before: step from the counters as they stood before it.
    prior = step if step is not None and int(step.get("minute", 0)) == minute else previous
    before = stock_risk.RiskState.from_item(prior.get("risk"))
    prior_slow_runs = int(prior.get("slow_runs", 0))
    horizon = minute - SAMPLE_MINUTES * MINUTE_MS
    samples = [
        [int(m), int(t), int(c)] for m, t, c in previous.get("samples", []) if horizon < int(m) < minute
    ]
    start = minute_of(plan.starts_ms)
    if not samples and start < minute and start > horizon:
        samples.append([start, 0, 0])  # the session opened with nothing taken
    samples.append([minute, levels.taken, levels.consumption])
    increments = per_minute_increments([(m, t) for m, t, _ in samples])
    pace = stock_risk.pace(increments)
    velocity = _round(pace or 0.0, "0.01")

    p_horizon = minute - PLATFORM_SAMPLE_MINUTES * MINUTE_MS
    platform_samples: list[list[Any]] = [
        [int(m), {str(p): int(u) for p, u in used.items()}]
        for m, used in previous.get("platform_samples", [])
        if p_horizon < int(m) < minute
    ]
    platform_samples.append([minute, dict(sorted(levels.used.items()))])
    platforms = sorted({p for _, used in platform_samples for p in used})
    platform_velocity = {
        p: forecast.velocity_per_minute(
            per_minute_increments([(m, int(used.get(p, 0))) for m, used in platform_samples]),
            half_life_minutes=PLATFORM_HALF_LIFE_MINUTES,
        )
        for p in platforms
    }

    elapsed, left = plan.minutes_elapsed(now_ms), plan.minutes_left(now_ms)
    consumption = levels.consumption
    hot_start = bool(previous.get("hot_start", False)) or forecast.is_hot_start(
        plan, consumption=consumption, minutes_elapsed=elapsed
    )
    f_eff = forecast.effective_forecast(
        plan,
        consumption=consumption,
        minutes_elapsed=elapsed,
        minutes_left=left,
        velocity=float(velocity),
        hot_start=hot_start,
        sellable=levels.on_hand - levels.held - levels.restocked,
    )
    recent = stock_risk.mean_pace(increments, stock_risk.RECENT_MINUTES)
    projection = stock_risk.RiskInputs(
        available=levels.available,
        velocity=pace,
        minutes_left=left,
        lead_time_minutes=plan.lead_time_minutes,
        restocked=levels.restocked,
        velocity_before=stock_risk.pace_before(increments),
        sustained=stock_risk.sustained_pace(increments),
        recent=recent,
        opening=stock_risk.opening_pace(increments),
    )
    risk, risk_signal, red_near = stock_risk.RiskState(), Tier.NONE, False
    if plan.dynamic and plan.stock_risk:
        risk = stock_risk.evaluate(before, projection)
        risk_signal = stock_risk.signal(projection)
        red_near = stock_risk.red_near(projection)
    # Restock: a steadier pace than the risk's, once the show has given the risk's evidence (one
    # early order is no pace to plan the rest of the show on; a trickle after it is a slow pace),
    # frozen while sold out (nothing can sell then, so the measured pace falls; the demand did
    # not). Once stock is back, the minutes that began sold out are left out of it for the same
    # reason.
    sold_out_spans = _sold_out_spans(previous, minute, sold_out=levels.sold_out)
    demand = _selling_minutes(increments, first_ms=samples[0][0], sold_out=sold_out_spans)
    restock_pace = forecast.restock_pace(
        demand,
        plan_pace=plan.planned_pace,
        hot_start=hot_start and elapsed < forecast.HOT_START_MINUTES,
        measured=stock_risk.measured(demand),
    )
    frozen: float | None = None
    if levels.sold_out:
        kept = previous.get("frozen_velocity")
        frozen = float(kept) if kept is not None else restock_pace  # the pace as it sold out
        restock_pace = frozen
    low, high = forecast.expected_band(plan, elapsed, plan.session_minutes)
    slow_sent = bool(previous.get("slow_sent", False))
    # Under the band and not catching up: a SKU now selling at the plan's pace or faster (a late
    # surge) needs no push from the host.
    under = elapsed >= SLOW_AFTER_MINUTES and consumption < low and (recent or 0.0) < plan.planned_pace
    slow_runs = prior_slow_runs + 1 if under else 0
    if risk != before or (not slow_sent and slow_runs != prior_slow_runs):  # after the tip: not kept
        step = {"minute": minute, "risk": before.to_item(), "slow_runs": prior_slow_runs}
    slow_tip = not slow_sent and slow_runs >= SLOW_RUNS
    eta = forecast.sell_out_eta_minutes(levels.available, float(velocity))
    restock = named_restock(
        projection,
        pace=restock_pace,
        plan_pace=plan.planned_pace,
        taken=levels.taken,
        kept_share=levels.kept_share,
        pack_size=plan.pack_size,
        hot_start=hot_start,
        # The hot start's credit is judged as the SKU sold out and held there, as the pace is.
        credit_minute=plan.minutes_elapsed(sold_out_spans[-1][0]) if levels.sold_out else elapsed,
        eta=eta,
        warned=risk.tier >= Tier.ORANGE and not levels.sold_out,
    )
    return MinuteForecast(
        samples=samples,
        platform_samples=platform_samples,
        velocity=velocity,
        platform_velocity=platform_velocity,
        forecast_eff=to_decimal(f_eff),
        hot_start=hot_start,
        eta_minutes=None if eta is None else _round(eta, "0.1"),
        restock_quantity=restock,
        band_low=_round(low, "0.01"),
        band_high=_round(high, "0.01"),
        minutes_left=left,
        risk=risk,
        risk_signal=risk_signal,
        red_near=red_near,
        frozen_velocity=frozen,
        sold_out_spans=sold_out_spans,
        slow_runs=slow_runs,
        slow_tip=slow_tip,
        slow_sent=slow_sent or slow_tip,
        recent_pace=round(recent or 0.0, 2),
        step=None if step is None else dict(step),
    )
