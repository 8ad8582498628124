"""Tier settling and announcing: after a stock change the tier is judged against the thresholds
stored on the stock item, stored with what people were told, red pauses the SKU, and an upward
move is announced (docs/product.md, "Message budget").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger

from stockpulse.domain import alert_policy, forecast, messages, stock_risk
from stockpulse.domain.alerts import CHANNELS, AlertNotice, NoticeKind
from stockpulse.domain.events import MINUTE_MS, from_epoch_ms
from stockpulse.domain.ledger import StockLevels
from stockpulse.domain.session import SkuConfig
from stockpulse.domain.tiers import Tier, TierInputs, consumption_tier, exact, tier_of
from stockpulse.ports import AlertPublisher, LedgerHistory, LedgerStore, PublishFailed
from stockpulse.records import StockItem
from stockpulse.session_catalog import SessionCatalog

logger = Logger(child=True)

ATTEMPTS = 6  # re-evaluations after a concurrent change of the stock item
# The notices that name at least the restock the SKU's last announcement named (docs/product.md).
KEEPS_THE_NUMBER = (NoticeKind.ALERT, NoticeKind.REPEAT, NoticeKind.SOLD_OUT)


@dataclass
class TierSettler:
    store: LedgerStore
    catalog: SessionCatalog
    publisher: AlertPublisher
    policy: alert_policy.AlertPolicy = field(default_factory=alert_policy.AlertPolicy)
    # Every ledger state the tier is judged on (the local runner draws its pictures from it).
    history: LedgerHistory | None = None

    def settle(
        self,
        session_id: str,
        sku_id: str,
        at_ms: int,
        *,
        recover: bool = False,
        item: StockItem | None = None,
    ) -> bool:
        """Evaluate the tier after a stock change; store it, pause on red, announce an upward move.

        Runs after the change is committed, so a transient failure here must not fail the event:
        its redelivery would be a `duplicate` and the event never counted as processed. The
        scheduled evaluator re-evaluates the tier and re-publishes a pending alert within a minute;
        with `recover` (a redelivered event) a pending alert is published right away (at least
        once: the alert id stays the same).

        `item`: the stock item as the caller just read or wrote it (else it is read). False when
        that copy is still the stored item; True when it may not be (a tier stored, a re-read, a
        failure): the caller reads it again before relying on it.
        """
        try:
            for attempt in range(ATTEMPTS):
                if item is None or attempt:
                    item = self.store.stock(session_id, sku_id)
                if item is None:
                    return True
                if recover and attempt == 0 and item.tier.pending_alert:
                    self.announce(item, dict(item.tier.pending_alert))
                stored = self.move_tier(item, [(item.version, item.levels, at_ms)])
                if stored is not None:
                    return bool(stored) or attempt > 0
        except Exception as err:  # boto, contention, and any notice/formatting failure alike
            logger.warning(
                "tier not evaluated after a committed change",
                extra={"session_id": session_id, "sku_id": sku_id, "error": repr(err)},
            )
        return True

    def move_tier(self, item: StockItem, path: Sequence[tuple[int, StockLevels, int]]) -> int | None:
        """Walk the ledger states `path` (version, levels, instant) in order, recording each change
        of tier and each message the budget allows (docs/product.md, "Message budget").

        The write is conditional on the tier seen and its version, so of all the writers that saw
        a transition exactly one stores it and announces it. Returns how many changes it stored;
        None: another writer changed the tier first; read again and evaluate the stored state.
        """
        current, hard_now, memory = item.tier.tier, item.tier.hard, item.tier.memory
        policy = self.policy_for(item.session_id, item.sku_id, self.policy)
        auto_pause = item.thresholds.auto_pause_on_red
        changes = 0
        for version, levels, at_ms in path:
            tier, hard = tier_for(item, levels, at_ms), hard_tier_for(item, levels, at_ms)
            # Auto-pause follows the contract's red (consumption, or nothing available), never the
            # stock-risk projection alone: a SKU with stock keeps selling until a person decides.
            pause = auto_pause and hard is Tier.RED and hard_now < Tier.RED
            paused = pause or levels.paused
            # Only an orange or red raised past what people were told needs to know whether it
            # asks anything urgent (no probe notice per order).
            lasts = asks_nothing(item, levels, at_ms, paused, current, tier, memory)
            facts = facts_of(
                levels,
                stock_lasts=lasts,
                show_ends_ms=item.plan.session_ends_ms,
                paused_now=pause and not levels.paused,
            )
            decision, told = alert_policy.on_change(current, tier, facts, at_ms, memory, policy)
            if tier is current and hard is hard_now and told == memory and decision is None:
                self._remember_state(item, levels, tier, at_ms)
                continue
            alert = None
            if decision is not None:
                instance = str(version)
                alert = alert_record(item.session_id, item.sku_id, decision, at_ms, instance, paused, facts)
            stored = self.store.save_tier(
                item.session_id, item.sku_id, tier=tier.value, hard_tier=hard.value, seen=current.value,
                version=version, memory=told.to_item(), pause=pause, alert=alert,
            )  # fmt: skip
            if not stored:
                return None
            after = replace(levels, paused=True) if pause else levels
            self._remember_state(item, after, tier, at_ms)
            if alert is not None:
                named = self.announce(item, alert, after)
                item = replace(item, tier=replace(item.tier, named_restock=named))  # the next one's floor
            current, hard_now, memory = tier, hard, told
            changes += 1
        return changes

    def _remember_state(self, item: StockItem, levels: StockLevels, tier: Tier, at_ms: int) -> None:
        """Tell the history a state the ledger passed through; it is only an observer, so its
        failure never undoes or stops the tier's evaluation."""
        if self.history is None:
            return
        try:
            self.history.record(item.session_id, item.sku_id, at_ms, levels, tier, tier_inputs(item, levels))
        except Exception:
            logger.exception("ledger state not recorded", extra={"sku_id": item.sku_id})

    def policy_for(
        self, session_id: str, sku_id: str, base: alert_policy.AlertPolicy | None = None
    ) -> alert_policy.AlertPolicy:
        """The message budget for one SKU: the stack's, with the session file's overrides."""
        base = base or self.policy
        sku = self.catalog.sku(session_id, sku_id)
        cooldown = sku.alerts.cooldown_minutes if sku else None
        return base if cooldown is None else replace(base, cooldown_minutes=cooldown)

    def announce(
        self, item: StockItem, alert: dict[str, Any], levels: StockLevels | None = None
    ) -> tuple[int, int, int]:
        """Publish `alert` with the ledger it was decided on (default: the item's own), to the
        destinations that have not taken it yet. Those that took it before another failed are kept
        on the pending announcement with the notice they took: its republish sends that very
        notice to the rest (the supply chain's request asks for the units people read) and pages
        nobody twice. Returns what it named (`TierState.named_restock`)."""
        sid, kid, alert_id = item.session_id, item.sku_id, str(alert["alert_id"])
        sent = frozenset(alert.get("published_to", ()))
        told = alert.get("published_notice")
        if told is not None:
            notice = AlertNotice.model_validate_json(str(told))
        else:
            notice = notice_for(item, levels or item.levels, alert, self.catalog.sku(sid, kid))
        try:
            self.publisher.publish(notice, sent)
        except PublishFailed as err:
            if err.taken - sent:
                self.store.note_published(sid, kid, alert_id, sorted(err.taken), notice)
            raise
        named = (notice.restock_quantity, (levels or item.levels).restocked, int(alert["at_ms"]))
        self.store.clear_pending_alert(sid, kid, alert_id, named)
        return named


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


def facts_of(
    levels: StockLevels,
    *,
    stock_lasts: bool = False,
    show_ends_ms: int | None = None,
    paused_now: bool = False,
) -> alert_policy.SkuFacts:
    return alert_policy.SkuFacts(
        sold_out=levels.sold_out,
        restocked=levels.restocked,
        paused=levels.paused,
        stock_lasts=stock_lasts,
        show_ends_ms=show_ends_ms,
        paused_now=paused_now,
    )


def asks_nothing(
    item: StockItem,
    levels: StockLevels,
    at_ms: int,
    paused: bool,
    current: Tier,
    tier: Tier,
    memory: alert_policy.AlertMemory,
    velocity: float | None = None,
) -> bool:
    """`tier`, about to be announced over `current`, would ask nothing urgent (`stock_lasts`;
    `velocity`: the pace its notice would quote, when not the stock item's), judged only where the
    budget reads it: an orange or red raised past what people were told (a red that asks nothing
    does not page; as the show closes it is for the feed only; the memory keeps that it asked
    nothing, so the evaluator announces it again once it asks to act)."""
    if tier < Tier.ORANGE or not alert_policy.raises(current, tier, memory):
        return False
    return stock_lasts(item, levels, at_ms, paused, velocity, (NoticeKind.ALERT, tier))


def stock_lasts(
    item: StockItem,
    levels: StockLevels,
    at_ms: int,
    paused: bool,
    velocity: float | None = None,
    said: tuple[NoticeKind, Tier] = (NoticeKind.ALERT, Tier.RED),
) -> bool:
    """The message `said` (kind, tier) sent now would ask nothing urgent: its stock lasts the
    show at this pace (messages.stock_lasts, judged on the notice it would be; `velocity`: the
    pace that notice would quote, when not the stock item's)."""
    kind, tier = said
    probe: dict[str, Any] = {"alert_id": "", "kind": kind.value, "tier": tier.value,
                             "previous_tier": Tier.NONE.value, "at_ms": at_ms, "paused": paused}  # fmt: skip
    if velocity is not None:
        probe["velocity"] = velocity
    return messages.stock_lasts(_notice(item, levels, probe, None))  # its channels and pack do not count


def alert_record(
    session_id: str,
    sku_id: str,
    decision: alert_policy.Decision,
    at_ms: int,
    instance: str,
    paused: bool,
    facts: alert_policy.SkuFacts,
) -> dict[str, Any]:
    """The alert item / pending announcement for a decision; `instance` makes its id unique;
    `paused`: selling is paused as it goes out; `stock_lasts`: an orange or a red that asks nothing
    urgent (the big screen's feed words both from this item, as it has no pace)."""
    return {
        "alert_id": f"{session_id}#{sku_id}#{decision.kind.value}#{instance}#{decision.tier.value}",
        "kind": decision.kind.value,
        "tier": decision.tier.value,
        "previous_tier": decision.previous.value,
        "first": decision.first_of_tier,
        "feed_only": decision.feed_only,
        "paused": paused,
        "stock_lasts": facts.stock_lasts
        and decision.tier in (Tier.ORANGE, Tier.RED)
        and decision.kind in (NoticeKind.ALERT, NoticeKind.RESOLVED),
        "at_ms": at_ms,
    }


def notice_for(
    item: StockItem, levels: StockLevels, alert: Mapping[str, Any], sku: SkuConfig | None
) -> AlertNotice:
    """The notice people get: the ledger as it stood, the evaluator's pace, forecast and restock;
    `sku` (its session file entry; None: not found) says its channels and restock pack."""
    notice = _notice(item, levels, alert, sku)
    text = messages.render(notice)
    return notice.model_copy(update={"text_en": text.text_en, "text_zh": text.text_zh, "sms_zh": text.sms_zh})


def _notice(
    item: StockItem, levels: StockLevels, alert: Mapping[str, Any], sku: SkuConfig | None
) -> AlertNotice:
    """`notice_for` before its texts are written."""
    channels = list(sku.alerts.channels) if sku else list(CHANNELS)
    if alert.get("feed_only"):
        channels = []  # the big screen's feed alone (docs/product.md, "Message budget")
    pack_size = sku.pack_size if sku else 1
    pace = item.pace
    at_ms = int(alert["at_ms"])
    velocity = float(alert.get("velocity", pace.velocity))  # a slow tip carries its own
    restock = int(alert.get("restock_units", pace.restock_units or 0))
    if velocity == 0 and levels.taken and "velocity" not in alert:
        # A burst the evaluator has not seen yet (it runs once a minute): its pace since the
        # evaluator's last mark, so "sells out in" is not "no sales" mid-rush. The restock stays
        # the evaluator's: one minute's rush is no measure of the rest of the show.
        # The mark holds at least since the minute before this one: the evaluator rewrites it
        # every minute the count moved while its pace is 0.
        mark_ms, mark_taken, window_ms, window_taken = pace.pace_mark or (0, 0, 0, 0)
        since = max(mark_ms, at_ms - at_ms % MINUTE_MS - MINUTE_MS)
        units = max(0, levels.taken - mark_taken)
        if units < stock_risk.MIN_RECENT_UNITS and pace.pace_mark is not None:
            # A few orders are no rush: read over the stock risk's evidence window, as the
            # evaluator quotes a trickle (one order after a quiet hour is not "sells out in 6 min").
            since, units = min(since, window_ms), max(0, levels.taken - window_taken)
        velocity = units / max(1.0, (at_ms - since) / MINUTE_MS)
    tier = Tier(alert["tier"])
    inputs = tier_inputs(item, levels)
    ends_ms = item.plan.session_ends_ms
    left = None if ends_ms is None else max(0, ends_ms - at_ms) / MINUTE_MS
    eta = forecast.sell_out_eta_minutes(levels.available, velocity)
    measured = pace.velocity > 0 and "velocity" not in alert  # the evaluator's pace, quoted
    if measured and "restock_units" not in alert and left is not None:
        # Stock taken since the evaluator's last mark may bring the sell-out into the show; only on
        # a measured pace: one minute's rush is no pace to plan the rest of a show on.
        projection = stock_risk.RiskInputs(
            available=levels.available,
            velocity=velocity,
            minutes_left=left,
            lead_time_minutes=float(item.plan.lead_time_minutes or 0),
            restocked=levels.restocked,
        )
        restock = stock_risk.restock_named(
            restock, projection, eta=eta, warned=False, kept_share=levels.kept_share, pack_size=pack_size
        )
    kind = NoticeKind(alert["kind"])
    named = item.tier.named_restock
    if (
        named is not None
        and named[1] == levels.restocked
        and abs(at_ms - named[2]) <= stock_risk.RECENT_MINUTES * MINUTE_MS  # hot path: event time
        and kind in KEEPS_THE_NUMBER
        and tier >= Tier.ORANGE
        and not alert.get("stock_lasts")
    ):
        # Within the pace's evidence window a lower number is the estimate's noise, not news: an
        # orange that asked for 29 is not followed two minutes later by a red asking for 1.
        restock = max(restock, named[0])
    return AlertNotice(
        alert_id=str(alert["alert_id"]),
        kind=kind,
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
        sell_out_eta_minutes=eta,
        show_minutes_left=left,
        restock_quantity=restock,
        platform_split=dict(levels.used),
        forecast=float(inputs.effective_forecast),
        stock_risk=tier > consumption_tier(inputs) and tier is inputs.risk,
        first_of_tier=bool(alert.get("first", False)),
        paused=bool(alert.get("paused", levels.paused)),  # as decided: what the feed's item says too
        channels=[c for c in channels if c in CHANNELS],
        warning_line=alert.get("warning_line"),
    )
