"""Tier settling and announcing: the tier of a ledger state against the thresholds stored on the
stock item, and the notice people get."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stockpulse.domain import alert_policy, forecast, messages
from stockpulse.domain.alerts import CHANNELS, AlertNotice, NoticeKind
from stockpulse.domain.events import from_epoch_ms
from stockpulse.domain.ledger import StockLevels
from stockpulse.domain.tiers import Tier, TierInputs, consumption_tier, exact, tier_of
from stockpulse.records import StockItem

MINUTE_MS = forecast.MINUTE_MS


def tier_inputs(item: StockItem, levels: StockLevels) -> TierInputs:
    """What the tier of `levels` is judged on: they and the thresholds stored on `item`."""
    th = item.thresholds
    if th.forecast_eff is None or th.ratios is None:  # every loaded stock item has them
        raise ValueError(f"{item.session_id}/{item.sku_id}: no thresholds on the stock item")
    risk = Tier.NONE
    if th.dynamic and (th.risk_restocked or 0) == levels.restocked:
        risk = th.risk or Tier.NONE  # a restock voids it until re-judged
    return TierInputs(
        reserved=levels.reserved, sold=levels.sold, available=levels.available,
        restocked=levels.restocked, forecast=exact(th.forecast_eff), ratios=th.ratios.exact(), risk=risk,
    )  # fmt: skip


def tier_for(item: StockItem, levels: StockLevels, at_ms: int) -> Tier:
    """The tier of `levels` against the thresholds and stock risk stored on `item`."""
    return tier_of(tier_inputs(item, levels))


def hard_tier_for(item: StockItem, levels: StockLevels, at_ms: int) -> Tier:
    """The contract's tier alone (consumption, available 0): what auto-pause follows."""
    return consumption_tier(tier_inputs(item, levels))


def tier_now(item: StockItem, at_ms: int) -> Tier:
    return tier_for(item, item.levels, at_ms)


def facts_of(levels: StockLevels) -> alert_policy.SkuFacts:
    return alert_policy.SkuFacts(sold_out=levels.sold_out, restocked=levels.restocked, paused=levels.paused)


def alert_record(
    session_id: str, sku_id: str, decision: alert_policy.Decision, at_ms: int, instance: str
) -> dict[str, Any]:
    """The alert item / pending announcement for a decision; `instance` makes its id unique."""
    return {
        "alert_id": f"{session_id}#{sku_id}#{decision.kind.value}#{instance}#{decision.tier.value}",
        "kind": decision.kind.value,
        "tier": decision.tier.value,
        "previous_tier": decision.previous.value,
        "first": decision.first_of_tier,
        "at_ms": at_ms,
    }


def notice_for(
    item: StockItem, levels: StockLevels, alert: Mapping[str, Any], channels: Sequence[str] = CHANNELS
) -> AlertNotice:
    """The notice people get: the ledger as it stood, the evaluator's pace, forecast and restock."""
    pace = item.pace
    at_ms = int(alert["at_ms"])
    velocity = float(pace.velocity)
    restock = int(alert.get("restock_units", pace.restock_units or 0))
    if velocity == 0 and levels.taken:
        # A burst the evaluator has not seen yet (it runs once a minute): its pace since the
        # evaluator's last mark, so "sells out in" is not "no sales" mid-rush. The restock stays
        # the evaluator's: one minute's rush is no measure of the rest of the show.
        # The mark holds at least since the minute before this one: the evaluator rewrites it
        # every minute the count moved.
        mark_ms, mark_taken = pace.pace_mark or (0, 0)
        since = max(mark_ms, at_ms - at_ms % MINUTE_MS - MINUTE_MS)
        velocity = max(0, levels.taken - mark_taken) / max(1.0, (at_ms - since) / MINUTE_MS)
    tier = Tier(alert["tier"])
    inputs = tier_inputs(item, levels)
    notice = AlertNotice(
        alert_id=str(alert["alert_id"]),
        kind=NoticeKind(alert["kind"]),
        session_id=item.session_id,
        sku_id=item.sku_id,
        sku_name=item.plan.name or item.sku_id,
        importance=item.plan.importance or "normal",
        tier=tier,
        previous_tier=Tier(alert["previous_tier"]),
        at=from_epoch_ms(at_ms),
        on_hand=levels.on_hand,
        held=levels.held,
        reserved=levels.reserved,
        sold=levels.sold,
        available=levels.available,
        velocity_per_minute=velocity,
        sell_out_eta_minutes=forecast.sell_out_eta_minutes(levels.available, velocity),
        restock_quantity=restock,
        platform_split=dict(levels.used),
        forecast=float(inputs.effective_forecast),
        stock_risk=tier > consumption_tier(inputs) and tier is inputs.risk,
        first_of_tier=bool(alert.get("first", False)),
        channels=[c for c in channels if c in CHANNELS],
        warning_line=alert.get("warning_line"),
    )
    text = messages.render(notice)
    return notice.model_copy(update={"text_en": text.text_en, "text_zh": text.text_zh, "sms_zh": text.sms_zh})
