"""The order ledger: applies order and stock events to the ledger, one by one or a hot SKU's run
in one write, each event decided exactly once.

Decisions come from `stockpulse.domain`; the store only executes conditional writes. After
each committed stock change the tier is settled (`tier_settling.TierSettler`).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from stockpulse.domain import hot_sku
from stockpulse.domain.events import MINUTE_MS, EventType, OrderEvent
from stockpulse.domain.ledger import (
    REFUSED_STATUS,
    STEP_STATUS,
    OrderRecord,
    OrderStatus,
    Outcome,
    Reason,
    Step,
    hold_until,
    move_refusal,
    order_step,
    step_move,
    stock_move,
)
from stockpulse.domain.session import SkuConfig
from stockpulse.expiry import HoldExpiry
from stockpulse.ports import Clock, LedgerStore, OutcomeSink, TransactionContention
from stockpulse.records import EventMemory, OrderWrite, StockItem, order_fields
from stockpulse.session_catalog import SessionCatalog
from stockpulse.tier_settling import TierSettler, hard_tier_for

logger = Logger(child=True)

ATTEMPTS = 6  # re-decisions after a concurrent change of the same order or stock


@dataclass
class OrderLedger:
    store: LedgerStore
    clock: Clock
    catalog: SessionCatalog
    tiers: TierSettler
    expiry: HoldExpiry  # an order whose hold ended is expired before its event is decided
    sink: OutcomeSink

    def handle(self, event: OrderEvent) -> Outcome:
        if self.catalog.time_problem(event) is not None:  # the order stream dead-letters it first
            outcome = Outcome.rejected(Reason.INVALID)
        else:
            outcome = self._apply(event)
        self._record(event, outcome)
        return outcome

    def _record(self, event: OrderEvent, outcome: Outcome) -> None:
        """Count an outcome. After a committed change, a failing sink (metrics) must not fail
        the event: its redelivery would be a `duplicate` and it would never count as processed."""
        try:
            self.sink.record(event, outcome)
        except Exception:
            logger.exception("outcome not recorded", extra={"event_id": event.event_id})

    def _apply(self, event: OrderEvent) -> Outcome:
        sku = self.catalog.sku(event.session_id, event.sku_id)
        if sku is None:
            return self._remember(event, Outcome.rejected(Reason.UNKNOWN_SKU))
        if event.type.is_order:
            return self._order_event(event)
        return self._stock_event(event, sku)

    def _remember(
        self, event: OrderEvent, outcome: Outcome, write: OrderWrite | None = None, *, on_order: bool = False
    ) -> Outcome:
        """Record the event id and its outcome (and the order's refusal) with no stock change.

        `on_order`: on the order item (an order event for a known SKU), else on a marker item.
        """
        result = self.store.transact(
            session_id=event.session_id,
            sku_id=event.sku_id,
            move=None,
            order_id=event.order_id,
            order=write,
            memory=EventMemory(event.event_id, outcome.code, on_order),
            at_ms=event.occurred_ms,
        )
        if result.ok:
            return outcome
        if result.failed_on("marker"):
            return self._seen_before(event, self.store.remembered(event.event_id))
        raise _Changed

    def _seen_before(self, event: OrderEvent, original: str | None) -> Outcome:
        """A duplicate, carrying the outcome remembered for the event id. It may be the retry of
        this very event after a crash between its write and its tier evaluation or alert:
        evaluate again and send an alert left pending."""
        if self.catalog.sku(event.session_id, event.sku_id) is not None:
            self.tiers.settle(event.session_id, event.sku_id, event.occurred_ms, recover=True)
        return Outcome.duplicate(Outcome.from_code(original) if original else None)

    def _stock_event(self, event: OrderEvent, sku: SkuConfig) -> Outcome:
        move = stock_move(event)
        applied = Outcome.processed(changed_stock=True)
        for _ in range(ATTEMPTS):
            result = self.store.transact(
                session_id=event.session_id,
                sku_id=sku.sku_id,
                move=move,
                memory=EventMemory(event.event_id, applied.code, on_order=False),
                at_ms=event.occurred_ms,
            )
            if result.ok:
                self.tiers.settle(event.session_id, sku.sku_id, event.occurred_ms)
                return applied
            if result.failed_on("marker"):
                return self._seen_before(event, self.store.remembered(event.event_id))
            stock = self.store.stock(event.session_id, sku.sku_id)
            reason = move_refusal(stock.levels, move) if stock else Reason.UNKNOWN_SKU
            if reason is not None:
                return self._remember(event, Outcome.rejected(reason))
        raise TransactionContention(f"{event.event_id}: stock kept changing")

    def _order_event(self, event: OrderEvent) -> Outcome:
        assert event.order_id is not None
        for _ in range(ATTEMPTS):
            try:
                return self._order_attempt(event, event.order_id)
            except _Changed:
                continue
        raise TransactionContention(f"{event.event_id}: order {event.order_id} kept changing")

    def _order_attempt(self, event: OrderEvent, order_id: str) -> Outcome:
        session_id, at = event.session_id, event.occurred_ms
        memory = self.store.order_memory(session_id, order_id)
        if event.event_id in memory.events:
            return self._seen_before(event, memory.events[event.event_id])
        on_order = memory.has_room()  # else the event is remembered on its marker (bounded memory)
        if not on_order and (original := self.store.remembered(event.event_id)) is not None:
            return self._seen_before(event, original)
        order = memory.record
        step = order_step(event, order)
        if step is Step.EXPIRE_FIRST:
            assert order is not None
            self.expiry.expire(session_id, order)
            raise _Changed
        if step is Step.DUPLICATE:
            return self._remember(event, Outcome.duplicate(), on_order=on_order)
        if step is Step.UNKNOWN_ORDER:
            return self._remember(event, Outcome.rejected(Reason.UNKNOWN_ORDER), on_order=on_order)
        if step is Step.NO_EFFECT:
            return self._remember(event, Outcome.processed(changed_stock=False), on_order=on_order)
        sku_id = order.sku_id if order else event.sku_id  # an order acts on its own SKU
        sku = self.catalog.sku(session_id, sku_id)
        assert sku is not None, "orders exist only for known SKUs"
        move = step_move(step, order, event)
        applied = Outcome.processed(STEP_STATUS[step], changed_stock=True)
        result = self.store.transact(
            session_id=session_id,
            sku_id=sku_id,
            move=move,
            capped=frozenset(sku.platform_quotas),
            order_id=order_id,
            order=self._order_write(step, STEP_STATUS[step], order, event, sku),
            memory=EventMemory(event.event_id, applied.code, on_order=on_order),
            at_ms=at,
        )
        if result.ok:
            self.tiers.settle(session_id, sku_id, at)
            return applied
        if result.failed_on("marker"):
            return self._seen_before(event, self.store.remembered(event.event_id))
        if result.failed_on("order"):  # changed, or this very event applied meanwhile: read again
            raise _Changed
        stock = self.store.stock(session_id, sku_id)
        reason = move_refusal(stock.levels, move) if stock else Reason.UNKNOWN_SKU
        if reason is None or step not in REFUSED_STATUS:
            raise _Changed
        refused = REFUSED_STATUS[step]
        write = self._order_write(step, refused, order, event, sku)
        if step is Step.RESERVE:
            return self._remember(event, Outcome.rejected(reason, refused), write, on_order=on_order)
        # A payment the stock cannot cover: the buyer must be refunded; the event itself applied.
        return self._remember(
            event, Outcome.processed(refused, changed_stock=False), write, on_order=on_order
        )

    def _order_write(
        self, step: Step, status: OrderStatus, order: OrderRecord | None, event: OrderEvent, sku: SkuConfig
    ) -> OrderWrite:
        if step is not Step.RESERVE:
            assert order is not None
            return OrderWrite(status, expected=order.status)
        at = event.occurred_ms
        hold_end = hold_until(at, sku.hold_minutes * MINUTE_MS, self.clock.now_ms())
        hold_until_ms = hold_end if status is OrderStatus.RESERVED else at
        return OrderWrite(
            status,
            fields={
                "sku_id": sku.sku_id,
                "platform": event.platform,
                "quantity": event.units,
                "created_ms": at,
                "hold_until_ms": hold_until_ms,
            },
        )

    def apply_run(self, events: Sequence[OrderEvent], crossed: Sequence[str] = ()) -> list[Outcome] | None:
        """A run of one SKU's order events in one write, when each can be decided in turn without
        a refusal or an expired hold: the outcomes are those of sequential processing, and the
        tier is evaluated after each stock change. None: declined, nothing done; handle the
        events one by one in their places. `crossed`: orders named by other SKUs' records the
        run would move ahead of; if one is this SKU's, the run is declined.
        """
        first = events[0]
        session_id = first.session_id
        sku = self.catalog.sku(session_id, first.sku_id)
        if sku is None or any(self.catalog.time_problem(e) for e in events):
            return None
        # The orders that payments and cancels name are read; new orders are not: their writes
        # check it. When a write finds one that exists (a creation delivered again), every
        # order is read and the run decided once more.
        for named in (
            {str(e.order_id) for e in events if e.type is not EventType.ORDER_CREATED},
            {str(e.order_id) for e in events},
        ):
            item = self.store.stock(session_id, first.sku_id)
            if item is None:
                return None
            reads = sorted(named.union(crossed))
            known = self.store.order_memories(session_id, reads) if reads else {}
            if any((m := known[order_id].record) and m.sku_id == first.sku_id for order_id in crossed):
                return None
            known = {order_id: m for order_id, m in known.items() if order_id in named}
            naming = Counter(str(e.order_id) for e in events)
            if any(not m.has_room(naming[order_id]) for order_id, m in known.items()):
                return None  # a full memory: those events go to markers, one by one
            plan = hot_sku.plan_group(
                item.levels, events, {order_id: m.record for order_id, m in known.items()},
                remembered={order_id: m.events for order_id, m in known.items()},
                hold_ms=sku.hold_minutes * MINUTE_MS,
                tier=item.tier.hard,
                tier_after=functools.partial(hard_tier_for, item),  # auto-pause follows it
                auto_pause_on_red=item.thresholds.auto_pause_on_red, now_ms=self.clock.now_ms(),
            )  # fmt: skip
            if plan is None:
                return None
            if self._write_run(sku, item, plan, events):
                break
        else:
            return None
        for event, outcome in zip(events, plan.outcomes, strict=True):
            self._record(event, outcome)
        path = [
            (item.version + k, levels, events[i].occurred_ms) for k, (i, levels) in enumerate(plan.steps, 1)
        ]
        try:
            if self.tiers.move_tier(item, path) is None:
                self.tiers.settle(item.session_id, item.sku_id, events[-1].occurred_ms)
        except Exception as err:  # the run is written: see `TierSettler.settle`
            logger.warning(
                "tier not evaluated after a committed run",
                extra={"session_id": item.session_id, "sku_id": item.sku_id, "error": repr(err)},
            )
        return plan.outcomes

    def _write_run(
        self, sku: SkuConfig, item: StockItem, plan: hot_sku.GroupPlan, events: Sequence[OrderEvent]
    ) -> bool:
        last_ms = events[-1].occurred_ms
        orders = []
        for order_id, change in plan.orders.items():
            before, after = change.before, change.after
            write: OrderWrite | None = None  # only the events' memory
            if after is not None and before is None:
                write = OrderWrite(after.status, fields=order_fields(after))
            elif after is not None and after is not before:
                assert before is not None
                write = OrderWrite(after.status, expected=before.status)
            memories = [EventMemory(eid, o.code, on_order=True) for eid, o in change.outcomes.items()]
            orders.append((order_id, write, memories, last_ms))
        return self.store.transact_run(
            session_id=item.session_id, sku_id=item.sku_id, version=item.version, events=len(plan.steps),
            deltas={"reserved": plan.reserved, "sold": plan.sold, "available": plan.available,
                    "taken": plan.taken},
            usage=plan.usage, capped=frozenset(sku.platform_quotas), orders=orders,
        ).ok  # fmt: skip


class _Changed(Exception):
    """The order or stock changed under this attempt: read again and decide again."""
