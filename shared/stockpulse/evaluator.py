"""The threshold evaluator: once a minute, per SKU of every live session.

For each SKU (clock injected, the hot path's own):
1. read the stock item and the FORECAST item together: one consistent BatchGetItem for 50 SKUs
   (100 keys);
2. append this minute's sample `[minute_ms, taken, consumption]` (`taken` is the stock item's
   cumulative counter of units that left `available` for orders: no write per order is added
   anywhere to measure sales), keep the last 240 minutes. Samples are stored as change points
   beside the session's run minutes (`adapters/sample_log.py`): a quiet minute stores nothing;
3. velocity = `forecast.velocity_per_minute` over the per-minute increments of `taken`
   (exponentially weighted, half-life 10 minutes: a smoothed recent rate, not a lifetime mean);
   during the first 15 minutes a pace above the plan's leans on the plan for the minutes not
   yet seen (`lean_on_plan`), so one lively first minute does not read as a trend;
4. the effective forecast (`forecast.effective_forecast`: lead-time / no-history margins, the
   hot start latched in `hot_start` once seen, the slow-start relaxation; `dynamic: false` keeps
   exactly the plan's forecast), the sell-out ETA, the restock quantity to last the session and
   the expected consumption band;
5. write the FORECAST item (the dashboard reads it) only when what it would say changed (one
   BatchWriteItem per 25), then `forecast_eff` / `velocity` on the stock item through
   `update_stock_fields` only when they changed (it bumps `version`);
6. `TierSettler.settle(...)` on the item as written when the thresholds changed or time alone
   moved the tier (stock cover against the session's end): the tier is re-evaluated (stock cover short ->
   orange) and stored / announced / auto-paused exactly as on the hot path;
7. message hygiene (`alert_policy.on_tick`): a REPEAT after the cooldown while a tier stands (only
   the standing tier is repeated: a higher tier inhibits the lower), a RESOLVED once the tier
   stayed lower for a while. The memory, the alert item (kind repeat / resolved) and a
   `pending_alert` are written in one conditional transaction (`DynamoForecastStore.save_tick`),
   then the notice is published through the tier settler's publisher and the pending slot cleared. A
   `pending_alert` older than 30 s (a crash between the tier write and the publish, here or on
   the hot path) is published again, then cleared;
8. quota rebalancing when the SKU has `rebalance_quotas: true` (see `plan_rebalance`).
Then the session's run minute is recorded on its index item (one UpdateItem a session).

Live sessions are evaluated at once, one thread each (SESSION_WORKERS): a slow or failing session
holds up or fails only its own SKUs. Sessions that ended (the store lists them for an hour more,
so late expiries still settle) get no forecasts or repeats: only a stale `pending_alert` is still
published.

Cost per SKU and minute: 1/50 BatchGetItem, and nothing else while its thresholds, forecast and
tier stay as they were. A selling SKU: its FORECAST item (<= 1 KB: 1 write unit, in a
BatchWriteItem of 25) and the UpdateItem of its thresholds; settle's transaction only on a tier
change (then one GetItem); a transaction only when a notice goes out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from aws_lambda_powertools import Logger

from stockpulse.adapters import sample_log
from stockpulse.domain import alert_policy, forecast, stock_risk
from stockpulse.domain.alerts import NoticeKind
from stockpulse.domain.ledger import StockLevels
from stockpulse.domain.session import SessionPlan, SkuConfig
from stockpulse.domain.tiers import Tier, exact
from stockpulse.ports import Clock, ForecastStore, LedgerStore
from stockpulse.records import StockItem, stock_attributes
from stockpulse.session_catalog import SessionCatalog
from stockpulse.stock_sync import StockSyncFeed
from stockpulse.tier_settling import TierSettler, alert_record, facts_of, hard_tier_for, tier_now

logger = Logger(child=True)

MINUTE_MS = forecast.MINUTE_MS
SAMPLE_MINUTES = sample_log.SAMPLE_MINUTES  # the FORECAST item keeps this many minutes of samples
PLATFORM_SAMPLE_MINUTES = 30  # per-platform usage samples kept for rebalancing
SKUS_PER_READ = 50  # a stock item and a FORECAST item each: one BatchGetItem of 100 keys
SESSION_WORKERS = 8  # live sessions evaluated at once
PENDING_STALE_MS = 30_000  # a pending announcement older than this is published again
TICK_ATTEMPTS = 3  # re-reads when the stock item moved under the hygiene write
PLATFORM_HALF_LIFE_MINUTES = 5.0  # per-platform pace for quota rebalancing
SLOW_AFTER_MINUTES = 30.0  # the article: judge a slow seller only after the first half hour
SLOW_RUNS = 10  # minutes in a row under the expected band before the one "selling slowly" tip
REBALANCE_HORIZON_MINUTES = 15.0  # a platform should have quota for this long at its pace
REBALANCE_KEEP_SHARE = Fraction(1, 10)  # a donor always keeps 10% of its planned quota


# ---------------------------------------------------------------------------- pure helpers
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
class ForecastView:
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
    frozen_velocity: float | None  # the restock pace kept while sold out (nothing can sell then)
    slow_runs: int  # evaluations in a row under the band's lower edge (after SLOW_AFTER_MINUTES)
    slow_tip: bool  # this minute sends the SKU's one "selling slowly" tip
    slow_sent: bool

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
        return values


_PACKED = ("samples", "platforms")


def _previous(stored: Mapping[str, Any] | None, runs: sample_log.Runs, minute: int) -> dict[str, Any] | None:
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


def _holds(
    stored: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    view: ForecastView,
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
    after = _previous(stored, ran, minute + MINUTE_MS)  # up to and including this minute
    assert after is not None
    samples = [s for s in after["samples"] if s[0] > minute - SAMPLE_MINUTES * MINUTE_MS]
    if samples != view.samples:
        return False
    platforms = [s for s in after["platform_samples"] if s[0] > minute - PLATFORM_SAMPLE_MINUTES * MINUTE_MS]
    return "platforms" not in values or platforms == view.platform_samples


def compute_forecast(
    plan: forecast.SkuPlan, levels: StockLevels, previous: Mapping[str, Any] | None, now_ms: int
) -> ForecastView:
    """Pure: the minute's forecast from the stock levels and the previous FORECAST item."""
    previous = previous or {}
    minute = minute_of(now_ms)
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
    risk, risk_signal, minute_inputs = stock_risk.RiskState(), Tier.NONE, None
    if plan.dynamic and plan.stock_risk:
        minute_inputs = stock_risk.RiskInputs(
            available=levels.available,
            velocity=pace,
            minutes_left=left,
            lead_time_minutes=plan.lead_time_minutes,
            restocked=levels.restocked,
            velocity_before=stock_risk.pace_before(increments),
        )
        risk = stock_risk.evaluate(stock_risk.RiskState.from_item(previous.get("risk")), minute_inputs)
        risk_signal = stock_risk.signal(minute_inputs)
    # Restock: a steadier pace than the risk's, on the same evidence (one early order is no pace
    # to plan the rest of the show on), frozen while sold out (nothing can sell then, so the
    # measured pace falls; the demand did not).
    restock_pace = 0.0
    if pace is not None:
        restock_pace = forecast.velocity_per_minute(
            increments, half_life_minutes=forecast.RESTOCK_HALF_LIFE_MINUTES
        )
    frozen: float | None = None
    if levels.sold_out:
        kept = previous.get("frozen_velocity")
        frozen = float(kept) if kept is not None else restock_pace  # the pace as it sold out
        restock_pace = frozen
    low, high = forecast.expected_band(plan, elapsed, plan.session_minutes)
    slow_sent = bool(previous.get("slow_sent", False))
    under = elapsed >= SLOW_AFTER_MINUTES and consumption < low
    slow_runs = int(previous.get("slow_runs", 0)) + 1 if under else 0
    slow_tip = not slow_sent and slow_runs >= SLOW_RUNS
    eta = forecast.sell_out_eta_minutes(levels.available, float(velocity))
    restock = forecast.restock_quantity(
        available=levels.available,
        pace=restock_pace,
        plan_pace=plan.planned_pace,
        minutes_left=left,
        kept_share=levels.kept_share,
        pack_size=plan.pack_size,
    )
    if restock == 0 and minute_inputs is not None and risk.tier >= Tier.ORANGE and not levels.sold_out:
        # The plan-anchored estimate says the stock lasts, the stock risk's warning says it does
        # not: a warning that says "sells out" carries its projection's number, never none.
        restock = stock_risk.restock_when_warned(
            minute_inputs, kept_share=levels.kept_share, pack_size=plan.pack_size
        )
    return ForecastView(
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
        frozen_velocity=frozen,
        slow_runs=slow_runs,
        slow_tip=slow_tip,
        slow_sent=slow_sent or slow_tip,
    )


def plan_rebalance(
    headroom: Mapping[str, int],
    velocity: Mapping[str, float],
    minutes_ahead: float,
    keep: Mapping[str, int],
) -> dict[str, int]:
    """Quota moves between capped platforms (platform -> units, summing to 0); {} for none.

    The rule: a platform *needs* quota for `minutes_ahead` minutes at its own recent pace
    (ceil(velocity x minutes)). A platform whose headroom (cap - usage) is below its need is
    short; one whose headroom exceeds both its need and its `keep` floor has spare. The smaller
    of total shortage and total spare moves: to the short platforms fastest first, each up to its
    shortage; from the spare ones slowest first, each up to its spare. So quota flows only toward
    platforms about to hit their cap, only out of quota nobody is about to use, every donor keeps
    a floor for a sudden pitch on its own channel, and nothing moves while everyone has enough.
    The write (`DynamoForecastStore.move_quota`) adds the deltas relatively with a condition that
    every donor's headroom covers what it gives: caps never drop below usage and the total of
    the caps is conserved.
    """
    if minutes_ahead <= 0:
        return {}
    need = {p: max(0, math.ceil(max(0.0, velocity.get(p, 0.0)) * minutes_ahead - 1e-9)) for p in headroom}
    short = {p: need[p] - h for p, h in headroom.items() if need[p] > h}
    spare = {
        p: h - max(need[p], keep.get(p, 0)) for p, h in headroom.items() if h > max(need[p], keep.get(p, 0))
    }
    total = min(sum(short.values()), sum(spare.values()))
    if total <= 0:
        return {}
    deltas: dict[str, int] = {}
    left = total
    for p in sorted(short, key=lambda p: (-velocity.get(p, 0.0), p)):
        got = min(short[p], left)
        deltas[p] = got
        left -= got
        if not left:
            break
    left = total
    for p in sorted(spare, key=lambda p: (velocity.get(p, 0.0), -spare[p], p)):
        given = min(spare[p], left)
        deltas[p] = deltas.get(p, 0) - given
        left -= given
        if not left:
            break
    return {p: d for p, d in sorted(deltas.items()) if d}


# ---------------------------------------------------------------------------- the service
@dataclass
class SkuResult:
    session_id: str
    sku_id: str
    velocity: Decimal = Decimal(0)
    forecast_eff: Decimal = Decimal(0)
    tier: Tier = Tier.NONE
    thresholds_written: bool = False
    notices: list[NoticeKind] = field(default_factory=list)
    republished: int = 0
    quota_moves: dict[str, int] = field(default_factory=dict)


@dataclass
class RunSummary:
    now_ms: int
    skus: list[SkuResult] = field(default_factory=list)
    failed: int = 0

    def counts(self) -> dict[str, int]:
        out = {
            "skus_evaluated": len(self.skus),
            "sku_failures": self.failed,
            "thresholds_written": sum(s.thresholds_written for s in self.skus),
            "pending_republished": sum(s.republished for s in self.skus),
            "quota_rebalanced": sum(bool(s.quota_moves) for s in self.skus),
        }
        for kind in NoticeKind:
            out[f"notices_{kind.value}"] = sum(s.notices.count(kind) for s in self.skus)
        return out


@dataclass
class _Step:
    """One SKU's minute between the read and the stock-item effects."""

    sku: SkuConfig
    item: StockItem
    view: ForecastView
    changes: dict[str, Any]
    tier: Tier
    write: dict[str, Any] | None  # the FORECAST item to store; None: what is stored still holds


class ThresholdEvaluator:
    def __init__(
        self,
        *,
        store: LedgerStore,
        forecasts: ForecastStore,
        catalog: SessionCatalog,
        tiers: TierSettler,
        clock: Clock,
        policy: alert_policy.AlertPolicy | None = None,
        stock_sync: StockSyncFeed | None = None,
    ) -> None:
        """`tiers`: the hot path's settler, so a tier moved by time or new thresholds is stored,
        announced and auto-paused exactly as after a sale; `policy`: default, the settler's."""
        self.store = store
        self.forecasts = forecasts
        self.catalog = catalog
        self.tiers = tiers
        self.clock = clock
        self.policy = policy or tiers.policy
        self.stock_sync = stock_sync

    def run(self) -> RunSummary:
        """Every live session at once, each in its own thread: a slow or failing session (a
        throttled partition, a hung request) holds up or fails only its own SKUs."""
        now = self.clock.now_ms()
        summary = RunSummary(now)
        rows = self.store.live_sessions(now)
        if not rows:
            return summary
        with ThreadPoolExecutor(max_workers=min(SESSION_WORKERS, len(rows))) as pool:
            for part in pool.map(lambda row: self._session(row, now), rows):
                summary.skus += part.skus
                summary.failed += part.failed
        return summary

    def _session(self, row: Mapping[str, Any], now: int) -> RunSummary:
        summary = RunSummary(now)
        session_id = str(row["session_id"])
        try:
            plan = self.catalog.plan(session_id)
            if plan is None:
                return summary
            skus = list(plan.skus)
            if now > plan.session.ends_ms:  # the show is over: no forecasts or repeats
                self._after_end(session_id, skus, now, summary)
                return summary
            runs = sample_log.runs_of(row.get("evaluated"))
            sampled = True  # every SKU's sample of this minute stored (or still holding)
            for first in range(0, len(skus), SKUS_PER_READ):
                sampled &= self._chunk(plan, skus[first : first + SKUS_PER_READ], runs, now, summary)
            if sampled:
                keep_after = minute_of(now) - SAMPLE_MINUTES * MINUTE_MS
                self.forecasts.record_run(
                    session_id, minute_of(now), known=runs, at_ms=now, keep_after_ms=keep_after
                )
        except Exception:  # this session only; the next minute retries
            logger.exception("session not evaluated", extra={"session_id": session_id})
            summary.failed += 1
        return summary

    def _chunk(
        self,
        session: SessionPlan,
        skus: Sequence[SkuConfig],
        runs: sample_log.Runs,
        now: int,
        summary: RunSummary,
    ) -> bool:
        """Up to SKUS_PER_READ SKUs: one read, the forecasts, one batch of FORECAST writes, then
        each SKU's stock-item effects. False when a SKU's sample may be missing this minute."""
        sid = session.session.session_id
        try:
            found = self.forecasts.read_many(sid, [sku.sku_id for sku in skus])
        except Exception:
            logger.exception("evaluation read failed", extra={"session_id": sid})
            summary.failed += len(skus)
            return False
        steps: list[_Step] = []
        sampled = True
        for sku in skus:
            stock, previous = found[sku.sku_id]
            if stock is None:
                summary.skus.append(SkuResult(sid, sku.sku_id))
                continue
            try:
                steps.append(self._forecast(session, sku, stock, previous, runs, now))
            except Exception:  # one SKU's failure must not starve the others; next minute retries
                summary.failed += 1
                sampled = False
                logger.exception("evaluation failed", extra={"session_id": sid, "sku_id": sku.sku_id})
        try:
            self.forecasts.put_forecasts(sid, {s.sku.sku_id: s.write for s in steps if s.write is not None})
        except Exception:
            logger.exception("FORECAST items not written", extra={"session_id": sid})
            summary.failed += len(steps)
            return False
        for step in steps:
            try:
                summary.skus.append(self._effects(step, now))
            except Exception:
                summary.failed += 1
                logger.exception("evaluation failed", extra={"session_id": sid, "sku_id": step.sku.sku_id})
        return sampled

    def _forecast(
        self,
        session: SessionPlan,
        sku: SkuConfig,
        item: StockItem,
        stored: Mapping[str, Any] | None,
        runs: sample_log.Runs,
        now: int,
    ) -> _Step:
        """The minute's forecast, the stock-item changes it implies, and the FORECAST item to write
        unless the stored one (with this minute's run) already says the same."""
        minute = minute_of(now)
        view = compute_forecast(sku_plan(session, sku), item.levels, _previous(stored, runs, minute), now)
        th, pace = item.thresholds, item.pace
        changed: list[str] = []  # the stock item's attributes this minute rewrites
        if exact(sku.forecast if th.forecast_eff is None else th.forecast_eff) != exact(view.forecast_eff):
            th = replace(th, forecast_eff=view.forecast_eff)
            changed.append("forecast_eff")
        if exact(pace.velocity) != exact(view.velocity):
            pace = replace(pace, velocity=view.velocity)
            changed.append("velocity")
        if item.levels.taken != (pace.pace_mark or (0, 0))[1]:
            pace = replace(pace, pace_mark=(minute, item.levels.taken))  # the hot path's fresh pace
            changed.append("pace_mark")
        if (pace.restock_units or 0) != view.restock_quantity:
            pace = replace(pace, restock_units=view.restock_quantity)
            changed.append("restock_units")
        if (th.risk or Tier.NONE) is not view.risk.tier or (
            view.risk.tier is not Tier.NONE and (th.risk_restocked or 0) != view.risk.restocked
        ):
            th = replace(th, risk=view.risk.tier, risk_restocked=view.risk.restocked)
            changed += ["risk", "risk_restocked"]
        judged = replace(item, thresholds=th, pace=pace)
        attributes = stock_attributes(judged)
        changes = {name: attributes[name] for name in changed}
        tier = tier_now(judged, now)
        values = view.item(tier, platforms=sku.rebalance_quotas)
        ran = sample_log.with_run(runs, minute, keep_after_ms=minute - SAMPLE_MINUTES * MINUTE_MS)
        write = None if _holds(stored, values, view, ran, minute) else values
        return _Step(sku, item, view, changes, tier, write)

    def _effects(self, step: _Step, now: int) -> SkuResult:
        """Thresholds on the stock item, the tier settled, message hygiene, quota rebalancing."""
        item, view, changes, tier = step.item, step.view, step.changes, step.tier
        sid, kid = item.session_id, item.sku_id
        result = SkuResult(sid, kid)
        if changes:
            item = self.store.update_stock_fields(sid, kid, changes)
            result.thresholds_written = True
        # New thresholds or stock risk: settle stores / announces the tier like the hot path.
        # Otherwise it would be a no-op.
        if (changes or tier is not item.tier.tier) and self.tiers.settle(sid, kid, now, item=item):
            stored = self.forecasts.stock(sid, kid)
            if stored is None:
                return result
            item = stored
        result.velocity, result.forecast_eff, result.tier = view.velocity, view.forecast_eff, tier
        item = self._hygiene(item, now, result, view)
        if step.sku.rebalance_quotas:
            self._rebalance(item, step.sku, view, result)
        return result

    def _after_end(self, session_id: str, skus: Sequence[SkuConfig], now: int, summary: RunSummary) -> None:
        """An hour after the show still: announcements whose writer died are published."""
        for first in range(0, len(skus), SKUS_PER_READ * 2):  # stock items only: twice the SKUs
            chunk = [sku.sku_id for sku in skus[first : first + SKUS_PER_READ * 2]]
            for sku_id, (item, _) in self.forecasts.read_many(session_id, chunk, forecasts=False).items():
                pending = item.tier.pending_alert if item else None
                if item is None or pending is None or now - int(pending["at_ms"]) <= PENDING_STALE_MS:
                    continue
                try:
                    self.tiers.announce(item, dict(pending))
                except Exception:
                    summary.failed += 1
                    logger.exception(
                        "announcement failed", extra={"session_id": session_id, "sku_id": sku_id}
                    )

    # -- message hygiene -----------------------------------------------------------------------
    def _hygiene(self, item: StockItem, now: int, result: SkuResult, view: ForecastView) -> StockItem:
        sid, kid = item.session_id, item.sku_id
        slow_tip = view.slow_tip
        for _ in range(TICK_ATTEMPTS):
            pending = item.tier.pending_alert
            if pending is not None:
                # An announcement in flight: stale means its writer died before publishing.
                if now - int(pending["at_ms"]) > PENDING_STALE_MS:
                    self.tiers.announce(item, dict(pending))
                    result.republished += 1
                return item
            current, memory = item.tier.tier, item.tier.memory
            policy = self.tiers.policy_for(sid, kid, self.policy)
            confirmed = max(hard_tier_for(item, item.levels, now), view.risk_signal, key=lambda t: t.rank)
            facts = replace(facts_of(item.levels), confirmed=confirmed)
            decision, told = alert_policy.on_tick(current, facts, now, memory, policy)
            if decision is None and slow_tip:
                decision = alert_policy.Decision(NoticeKind.SLOW, current, current)
            if told == memory and decision is None:
                return item
            alert = None if decision is None else alert_record(sid, kid, decision, now, str(minute_of(now)))
            saved = self.forecasts.save_tick(
                sid,
                kid,
                version=item.version,
                tier=current.value,
                tier_version=item.tier.version,
                memory=told.to_item(),
                alert=alert,
            )
            if saved:
                if alert is not None and decision is not None:
                    self.tiers.announce(item, alert)
                    result.notices.append(decision.kind)
                    slow_tip = slow_tip and decision.kind is not NoticeKind.SLOW
                if not slow_tip:
                    return item
                # The tip still to send this minute (rare: it came with another message).
            stored = self.forecasts.stock(sid, kid)
            if stored is None:
                return item
            item = stored
        return item

    # -- quota rebalancing ---------------------------------------------------------------------
    def _rebalance(self, item: StockItem, sku: SkuConfig, view: ForecastView, result: SkuResult) -> None:
        headroom = item.levels.headroom
        if len(headroom) < 2:
            return
        keep = {p: math.ceil(REBALANCE_KEEP_SHARE * sku.platform_quotas.get(p, 0)) for p in headroom}
        deltas = plan_rebalance(
            headroom, view.platform_velocity, min(REBALANCE_HORIZON_MINUTES, view.minutes_left), keep
        )
        if not deltas:
            return
        moved = self.forecasts.move_quota(item.session_id, item.sku_id, deltas)
        if moved is None:  # a donor sold its spare meanwhile: next minute decides again
            return
        result.quota_moves = deltas
        logger.info(
            "quota rebalanced", extra={"session_id": item.session_id, "sku_id": item.sku_id, "moves": deltas}
        )
        if self.stock_sync is not None:
            self.stock_sync.after_batch([moved])
