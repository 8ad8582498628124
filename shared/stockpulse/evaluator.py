"""The threshold evaluator: once a minute, per SKU of every live session.

For each SKU (clock injected, the hot path's own):
1. read the stock items: one consistent BatchGetItem for 100 SKUs. The FORECAST items this
   process wrote or read are remembered while the session's index item names it as the session's
   evaluator (`DynamoForecastStore.claim`); a process's first minute, or one after another
   process ran the session, reads them too, in the same requests;
2. append this minute's sample `[minute_ms, taken, consumption]` (`taken` is the stock item's
   cumulative counter of units that left `available` for orders: no write per order is added
   anywhere to measure sales), keep the last 240 minutes. Samples are stored as change points
   beside the session's run minutes (`domain/sample_log.py`): a quiet minute stores nothing;
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

Cost per SKU and minute: 1/100 BatchGetItem, and nothing else while its thresholds, forecast and
tier stay as they were. A selling SKU: its FORECAST item (<= 1 KB: 1 write unit, in a
BatchWriteItem of 25) and the UpdateItem of its thresholds; settle's transaction only on a tier
change (then one GetItem); a transaction only when a notice goes out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger

from stockpulse.domain import alert_policy, sample_log
from stockpulse.domain.alerts import NoticeKind
from stockpulse.domain.events import MINUTE_MS
from stockpulse.domain.minute_forecast import (
    SAMPLE_MINUTES,
    MinuteForecast,
    compute_forecast,
    minute_of,
    recent_window,
    sku_plan,
    still_holds,
    unpacked,
)
from stockpulse.domain.rebalance import REBALANCE_HORIZON_MINUTES, REBALANCE_KEEP_SHARE, plan_rebalance
from stockpulse.domain.session import SessionPlan, SkuConfig
from stockpulse.domain.tiers import Tier, exact
from stockpulse.ports import Clock, ForecastStore, LedgerStore, StockItemMalformed
from stockpulse.records import StockItem, stock_attributes
from stockpulse.session_catalog import SessionCatalog
from stockpulse.stock_sync import StockSyncFeed
from stockpulse.tier_settling import (
    TierSettler,
    alert_record,
    asks_nothing,
    facts_of,
    hard_tier_for,
    stock_lasts,
    tier_now,
)

logger = Logger(child=True)

SKUS_PER_READ = 100  # one BatchGetItem of their stock items (and FORECAST items when not remembered)
SESSION_WORKERS = 8  # live sessions evaluated at once
PENDING_STALE_MS = 30_000  # a pending announcement older than this is published again
TICK_ATTEMPTS = 3  # re-reads when the stock item moved under the hygiene write


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
    view: MinuteForecast
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
        claimed = False  # before its claim, a failing run has written nothing to unname itself for
        try:
            plan = self.catalog.plan(session_id, digest=row.get("plan_digest"))
            if plan is None:
                return summary
            skus = list(plan.skus)
            if now > plan.session.ends_ms:  # the show is over: no forecasts or repeats
                self._after_end(session_id, skus, now, summary)
                return summary
            runs = sample_log.runs_of(row.get("evaluated"))
            claimed = True
            self.forecasts.claim(session_id, row)
            sampled = True  # every SKU's sample of this minute stored (or still holding)
            for first in range(0, len(skus), SKUS_PER_READ):
                sampled &= self._chunk(plan, skus[first : first + SKUS_PER_READ], runs, now, summary)
            if not sampled:
                self.forecasts.release(session_id)
                return summary
            keep_after = minute_of(now) - SAMPLE_MINUTES * MINUTE_MS
            self.forecasts.record_run(
                session_id, minute_of(now), known=runs, at_ms=now, keep_after_ms=keep_after
            )
        except Exception:  # this session only; the next minute retries
            logger.exception("session not evaluated", extra={"session_id": session_id})
            summary.failed += 1
            try:
                if claimed:
                    self.forecasts.release(session_id)
            except Exception:  # the store is failing: the overlapping run, if any, may keep its memory
                logger.exception("session not released", extra={"session_id": session_id})
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
        sampled = True
        while True:
            try:
                found = self.forecasts.read_many(sid, [sku.sku_id for sku in skus])
                break
            except StockItemMalformed as bad:  # those SKUs only: the others are still evaluated
                for sku_id in bad.sku_ids:
                    logger.error(
                        "evaluation failed: stock item malformed", extra={"session_id": sid, "sku_id": sku_id}
                    )
                rest = [sku for sku in skus if sku.sku_id not in bad.sku_ids]
                if len(rest) == len(skus):
                    raise
                summary.failed += len(skus) - len(rest)
                sampled = False
                skus = rest
                if not skus:
                    return False
            except Exception:
                logger.exception("evaluation read failed", extra={"session_id": sid})
                summary.failed += len(skus)
                return False
        steps: list[_Step] = []
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
        view = compute_forecast(sku_plan(session, sku), item.levels, unpacked(stored, runs, minute), now)
        th, pace = item.thresholds, item.pace
        changed: list[str] = []  # the stock item's attributes this minute rewrites
        if exact(sku.forecast if th.forecast_eff is None else th.forecast_eff) != exact(view.forecast_eff):
            th = replace(th, forecast_eff=view.forecast_eff)
            changed.append("forecast_eff")
        if exact(pace.velocity) != exact(view.velocity):
            pace = replace(pace, velocity=view.velocity)
            changed.append("velocity")
        # The hot path measures a burst from the mark only while the stored pace is 0 (one it has
        # not measured yet), so a SKU selling at a measured pace costs no write for it.
        if pace.velocity == 0 and item.levels.taken != (pace.pace_mark or (0, 0))[1]:
            pace = replace(pace, pace_mark=(minute, item.levels.taken, *recent_window(view.samples, minute)))
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
        write = None if still_holds(stored, values, view, ran, minute) else values
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
        self.forecasts.forget(session_id)
        for first in range(0, len(skus), SKUS_PER_READ):  # stock items only
            chunk = [sku.sku_id for sku in skus[first : first + SKUS_PER_READ]]
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
    def _hygiene(self, item: StockItem, now: int, result: SkuResult, view: MinuteForecast) -> StockItem:
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
            # The pace a notice quotes: the plain mean of the last minutes when the gated pace
            # reads 0 (too little evidence, or the show's first minutes), as the slow tip always
            # does: "no sales right now" beside units sold minutes ago misleads.
            quoted = view.recent_pace if view.velocity == 0 and view.recent_pace > 0 else None
            # Whether the tier asks nothing urgent, judged only where the budget reads it: a tier
            # held back to now, as the hot path judges one it announces; a standing red (its
            # repeats), or a standing orange people were told asks nothing (whether it must be said
            # again); a step down to orange (its words).
            paused = item.levels.paused
            standing = current is memory.announced
            if current > memory.announced:
                lasts = asks_nothing(
                    item, item.levels, now, paused, memory.announced, current, memory, quoted
                )
            elif current is Tier.RED or (
                current is Tier.ORANGE and (memory.calm_ms is not None or not standing)
            ):
                kind = NoticeKind.ALERT if standing else NoticeKind.RESOLVED
                lasts = stock_lasts(item, item.levels, now, paused, quoted, (kind, current))
            else:
                lasts = False
            facts = replace(
                facts_of(item.levels, stock_lasts=lasts, show_ends_ms=item.plan.session_ends_ms),
                confirmed=confirmed,
                red_near=view.red_near,
                selling=view.recent_pace > 0,
            )
            decision, told = alert_policy.on_tick(current, facts, now, memory, policy)
            if slow_tip and current >= Tier.ORANGE:
                slow_tip = False  # more interaction sells out a short SKU sooner: the tip is dropped
            if decision is None and slow_tip:
                decision = alert_policy.Decision(NoticeKind.SLOW, current, current)
            if told == memory and decision is None:
                return item
            alert = None
            if decision is not None:
                alert = alert_record(sid, kid, decision, now, str(minute_of(now)), item.levels.paused, facts)
                if decision.kind is NoticeKind.SLOW:
                    alert["velocity"] = view.recent_pace  # what it sells, evidence or not
                elif quoted is not None:
                    alert["velocity"] = quoted
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
    def _rebalance(self, item: StockItem, sku: SkuConfig, view: MinuteForecast, result: SkuResult) -> None:
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
