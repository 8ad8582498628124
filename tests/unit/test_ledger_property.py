"""Random event sequences through the real InventoryGuard on moto, checked against a model.

The model below is written from contract section 1 alone (a ledger per SKU, each order's status,
the ids seen): it shares no code with the guard. After every step the stored ledger must balance
(`on_hand = held + reserved + sold + available`, `available >= 0`) and equal the model's, and every
event's outcome (processed / duplicate / rejected with its reason) must be the model's.

Sequences mix several SKUs and platforms, quotas, exact redeliveries, reused order ids, payments
and cancels of unknown orders, events delivered late (their instant earlier than events already
processed, as across Kinesis shards), payments before, at and after the hold end, cancels,
expiries by the sweep on a virtual clock, restocks, held/unheld, pause/resume, and events for
unknown SKUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import MINUTE, T0, Rig, moto_rig, run_or_each, session_plan
from support import event as order_event

from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import Outcome, Result

PLATFORMS = ["douyin", "kuaishou", "taobao"]
SKU_IDS = ["a", "b", "c"]
GHOST_SKU = "zz"  # not in the session

RESERVED, SOLD, RELEASED, EXPIRED, REJECTED, REFUND = (
    "reserved",
    "sold",
    "released",
    "expired",
    "rejected",
    "refund_required",
)


# ====================================================================================== model
@dataclass
class ModelSku:
    on_hand: int
    held: int
    hold_ms: int
    caps: dict[str, int]
    reserved: int = 0
    sold: int = 0
    paused: bool = False

    @property
    def available(self) -> int:
        return self.on_hand - self.held - self.reserved - self.sold


@dataclass
class ModelOrder:
    sku: str
    platform: str
    quantity: int
    status: str
    hold_until: int


@dataclass
class Model:
    """Contract section 1, as plainly as it reads."""

    skus: dict[str, ModelSku]
    orders: dict[str, ModelOrder] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def usage(self, sku: str, platform: str) -> int:
        return sum(
            o.quantity
            for o in self.orders.values()
            if o.sku == sku and o.platform == platform and o.status in (RESERVED, SOLD)
        )

    def refusal(self, sku: str, platform: str, quantity: int) -> str | None:
        """Why `quantity` units cannot leave `available` now: paused, then quota, then stock."""
        s = self.skus[sku]
        if s.paused:
            return "sku_paused"
        if platform in s.caps and self.usage(sku, platform) + quantity > s.caps[platform]:
            return "quota_exceeded"
        if s.available < quantity:
            return "insufficient_stock"
        return None

    def expire(self, order_id: str) -> None:
        o = self.orders[order_id]
        assert o.status == RESERVED
        o.status = EXPIRED
        self.skus[o.sku].reserved -= o.quantity

    def sweep(self, now: int) -> int:
        due = [oid for oid, o in self.orders.items() if o.status == RESERVED and o.hold_until <= now]
        for oid in due:
            self.expire(oid)
        return len(due)

    def apply(self, e: OrderEvent) -> tuple[str, str | None]:
        """(result, reason) of one event."""
        at = e.occurred_ms
        known_sku = e.sku_id in self.skus
        kind = e.type.value
        if known_sku and kind in ("order.paid", "order.cancelled"):
            # A reservation is expired at any instant >= its hold end, swept or not: the event
            # finds it so (this is time passing, not the event's effect, so even a redelivery
            # sees it).
            o = self.orders.get(str(e.order_id))
            if o is not None and o.status == RESERVED and at >= o.hold_until:
                self.expire(str(e.order_id))
        if e.event_id in self.seen:
            return ("duplicate", None)
        self.seen.add(e.event_id)  # every valid event's id, refused ones included
        if not known_sku:
            return ("rejected", "unknown_sku")
        s = self.skus[e.sku_id]
        q = e.quantity or 0
        if kind == "stock.restocked":
            s.on_hand += q
        elif kind == "stock.held":
            if s.available < q:
                return ("rejected", "insufficient_stock")
            s.held += q
        elif kind == "stock.unheld":
            if s.held < q:
                return ("rejected", "insufficient_held")
            s.held -= q
        elif kind == "sku.paused":
            s.paused = True
        elif kind == "sku.resumed":
            s.paused = False
        else:
            return self._order_event(e, kind, at)
        return ("processed", None)

    def _order_event(self, e: OrderEvent, kind: str, at: int) -> tuple[str, str | None]:
        oid = str(e.order_id)
        o = self.orders.get(oid)
        if kind == "order.created":
            if o is not None:
                return ("duplicate", None)
            platform, q = str(e.platform), int(e.quantity or 0)
            reason = self.refusal(e.sku_id, platform, q)
            hold_until = at + self.skus[e.sku_id].hold_ms
            self.orders[oid] = ModelOrder(
                e.sku_id, platform, q, REJECTED if reason else RESERVED, at if reason else hold_until
            )
            if reason:
                return ("rejected", reason)
            self.skus[e.sku_id].reserved += q
            return ("processed", None)
        if kind == "order.paid":
            if o is None:
                return ("rejected", "unknown_order")
            s = self.skus[o.sku]  # the order's own SKU, whatever the event says
            if o.status == RESERVED:
                o.status = SOLD
                s.reserved -= o.quantity
                s.sold += o.quantity
            elif o.status in (SOLD, REFUND):
                return ("duplicate", None)
            elif self.refusal(o.sku, o.platform, o.quantity) is None:
                o.status = SOLD
                s.sold += o.quantity
            else:
                o.status = REFUND  # processed: the buyer is refunded, stock untouched
            return ("processed", None)
        # order.cancelled
        if o is not None and o.status == RESERVED:
            o.status = RELEASED
            self.skus[o.sku].reserved -= o.quantity
        elif o is not None and o.status == SOLD:
            o.status = RELEASED
            self.skus[o.sku].sold -= o.quantity
        return ("processed", None)


# ================================================================================= strategies
@st.composite
def sku_plans(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 3))
    skus = []
    for sku_id in SKU_IDS[:count]:
        on_hand = draw(st.integers(0, 12))
        skus.append(
            {
                "sku_id": sku_id,
                "on_hand": on_hand,
                "held": draw(st.integers(0, min(2, on_hand))),
                "hold_minutes": draw(st.integers(1, 3)),
                "platform_quotas": draw(
                    st.dictionaries(st.sampled_from(PLATFORMS), st.integers(0, 5), max_size=2)
                ),
            }
        )
    return skus


LAG = st.sampled_from([0, 0, 0, 15_000, MINUTE, 150_000])  # delivered late by this much
SKU_I = st.integers(0, 2)
PLAT_I = st.integers(0, 2)
REF = st.integers(0, 63)  # picks one of the orders created so far (or an unknown id)
QTY = st.integers(1, 3)
RARELY = st.sampled_from([False] * 7 + [True])

CREATE = st.tuples(st.just("create"), SKU_I, PLAT_I, QTY, RARELY, REF, LAG)  # RARELY: reuse an order id
PAY = st.tuples(
    st.just("pay"),
    REF,
    st.sampled_from(["own", "own", "own", "other", "ghost"]),
    PLAT_I,
    st.sampled_from(["lag", "lag", "end-1", "end", "end+1"]),
    LAG,
    RARELY,  # an order never created
)
CANCEL = st.tuples(
    st.just("cancel"), REF, st.sampled_from(["own", "own", "other"]), PLAT_I, st.just("lag"), LAG, RARELY
)
STOCK = st.tuples(
    st.just("stock"), st.sampled_from(["stock.restocked", "stock.held", "stock.unheld"]), SKU_I, QTY, LAG
)
FLAG = st.tuples(st.just("flag"), st.sampled_from(["sku.paused", "sku.resumed", "sku.resumed"]), SKU_I, LAG)
GHOST = st.tuples(st.just("ghost"), st.sampled_from(["order.created", "stock.restocked", "sku.paused"]))
DUP = st.tuples(st.just("dup"), st.integers(0, 1000))  # an exact redelivery of an earlier event
TICK = st.tuples(st.just("tick"), st.sampled_from([15_000, MINUTE, 2 * MINUTE, 4 * MINUTE]))
SWEEP = st.tuples(st.just("sweep"))
# A run of one SKU's order events, as the stream hands it to `InventoryGuard.apply_run` (the
# hot-SKU path): new orders, reused order ids, redeliveries of earlier creations, and payments and
# cancels of orders created in the run, before it, or never.
RUN_PART = st.tuples(
    PLAT_I, QTY, st.sampled_from(["new", "new", "new", "reuse", "again", "pay", "pay", "cancel"]), REF
)
RUN = st.tuples(st.just("run"), SKU_I, st.lists(RUN_PART, min_size=2, max_size=5), LAG)
STEP = st.one_of(
    CREATE, CREATE, CREATE, RUN, PAY, PAY, PAY, CANCEL, STOCK, FLAG, GHOST, DUP, DUP, TICK, TICK, SWEEP
)


# =================================================================================== the run
class Run:
    def __init__(self, rig: Rig, skus: list[dict[str, Any]]) -> None:
        self.rig = rig
        self.sku_ids = [s["sku_id"] for s in skus]
        self.model = Model(
            {
                s["sku_id"]: ModelSku(
                    on_hand=s["on_hand"],
                    held=s["held"],
                    hold_ms=s["hold_minutes"] * MINUTE,
                    caps=dict(s["platform_quotas"]),
                )
                for s in skus
            }
        )
        self.now = T0
        self.delivered: list[OrderEvent] = []
        self.created: list[str] = []  # order ids of the order.created events so far
        self.log: list[str] = []
        self.outcomes: list[str] = []  # what happened, for hypothesis' statistics

    def sku(self, index: int) -> str:
        return self.sku_ids[index % len(self.sku_ids)]

    def next_id(self) -> str:
        return f"e{len(self.delivered)}"

    def step(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "tick":
            self.now += step[1]
            return
        if kind == "sweep":
            self.rig.clock.set(self.now)
            released = self.rig.guard.expiry.sweep()
            expected = self.model.sweep(self.now)
            self.log.append(f"sweep@{self.now - T0} -> {released}")
            assert released == expected, self.trail(f"sweep released {released}, model {expected}")
            self.check_orders()
            self.check_ledgers()
            return
        if kind == "dup":
            if not self.delivered:
                return
            self.deliver(self.delivered[step[1] % len(self.delivered)])
            return
        if kind == "run":
            self.deliver_run(self.make_run(step))
            return
        self.deliver(self.make(step))

    def make_run(self, step: tuple[Any, ...]) -> list[OrderEvent]:
        _, sku_i, parts, lag = step
        sku_id, events = self.sku(sku_i), []
        for plat_i, qty, mode, ref in parts:
            earlier = [e for e in self.delivered if e.type.value == "order.created" and e.sku_id == sku_id]
            earlier += events  # a record redelivered within the same batch
            if mode == "again" and earlier:
                events.append(earlier[ref % len(earlier)])
                continue
            eid = f"{self.next_id()}r{len(events)}"
            at = self.now - lag + len(events)
            if mode in ("pay", "cancel"):
                pool = [str(e.order_id) for e in events if e.type.value == "order.created"] + self.created
                named = pool[ref % len(pool)] if pool and ref % 8 else f"x{ref}"
                kind = "order.paid" if mode == "pay" else "order.cancelled"
                events.append(order_event(kind, eid, at, sku_id, platform=PLATFORMS[plat_i], order_id=named))
                continue
            order_id = self.pick(ref) if mode == "reuse" and self.created else f"o{len(self.created)}"
            if order_id not in self.created:
                self.created.append(order_id)
            events.append(
                order_event(
                    "order.created",
                    eid,
                    at,
                    sku_id,
                    platform=PLATFORMS[plat_i],
                    order_id=order_id,
                    quantity=qty,
                )
            )
        return events

    def make(self, step: tuple[Any, ...]) -> OrderEvent:
        kind, eid = step[0], self.next_id()
        if kind == "create":
            _, sku_i, plat_i, qty, reuse, ref, lag = step
            order_id = self.pick(ref) if reuse and self.created else f"o{len(self.created)}"
            if order_id not in self.created:
                self.created.append(order_id)
            at = self.now - lag
            return order_event(
                "order.created",
                eid,
                at,
                self.sku(sku_i),
                platform=PLATFORMS[plat_i],
                order_id=order_id,
                quantity=qty,
            )
        if kind in ("pay", "cancel"):
            _, ref, sku_mode, plat_i, when, lag, unknown = step
            order_id = f"x{ref}" if unknown or not self.created else self.pick(ref)
            known = self.model.orders.get(order_id)
            own = known.sku if known else self.sku_ids[0]
            others = [s for s in self.sku_ids if s != own] or [own]
            sku_id = {"own": own, "other": others[ref % len(others)], "ghost": GHOST_SKU}[sku_mode]
            at = self.now - lag
            if when != "lag" and known is not None:  # right before, at and after the hold end
                at = known.hold_until + {"end-1": -1, "end": 0, "end+1": 1}[when]
            order_kind = "order.paid" if kind == "pay" else "order.cancelled"
            return order_event(order_kind, eid, at, sku_id, platform=PLATFORMS[plat_i], order_id=order_id)
        if kind == "stock":
            _, stock_kind, sku_i, qty, lag = step
            return order_event(stock_kind, eid, self.now - lag, self.sku(sku_i), quantity=qty)
        if kind == "flag":
            _, flag_kind, sku_i, lag = step
            return order_event(flag_kind, eid, self.now - lag, self.sku(sku_i))
        assert kind == "ghost"
        quantity = None if step[1] == "sku.paused" else 1
        platform = "douyin" if step[1].startswith("order.") else None
        order_id = f"ghost-{eid}" if platform else None
        return order_event(
            step[1], eid, self.now, GHOST_SKU, platform=platform, order_id=order_id, quantity=quantity
        )

    def pick(self, ref: int) -> str:
        """One of the orders created so far, recent ones more often."""
        recent = self.created[-4:]
        return recent[ref % len(recent)] if ref % 3 else self.created[ref % len(self.created)]

    def deliver(self, e: OrderEvent) -> None:
        self.rig.clock.set(max(self.now, e.occurred_ms))
        before = len(self.rig.outcomes.entries)
        outcome: Outcome = self.rig.guard.ledger.handle(e)
        assert len(self.rig.outcomes.entries) == before + 1, "every event is recorded exactly once"
        self.judge(e, outcome)

    def deliver_run(self, events: list[OrderEvent]) -> None:
        self.rig.clock.set(max(self.now, *(e.occurred_ms for e in events)))
        before = len(self.rig.outcomes.entries)
        self.log.append(f"run of {len(events)}:")
        outcomes = run_or_each(self.rig.guard.ledger, events)
        assert len(outcomes) == len(events)
        assert self.rig.outcomes.entries[before:] == list(zip(events, outcomes, strict=True)), self.trail(
            "a run records each event once, in order"
        )
        for e, outcome in zip(events, outcomes, strict=True):
            self.judge(e, outcome, recorded=False, read_back=False)
        # The store holds the whole run's effects now: read them back against the model's.
        self.check_ledgers([events[0].sku_id])
        for order_id in {str(e.order_id) for e in events}:
            self.check_order(order_id)

    def judge(
        self, e: OrderEvent, outcome: Outcome, *, recorded: bool = True, read_back: bool = True
    ) -> None:
        """Compare one event's outcome and effects with the model's."""
        expected = self.model.apply(e)
        self.delivered.append(e)
        got = (outcome.result.value, outcome.reason.value if outcome.reason else None)
        self.log.append(
            f"{e.event_id} {e.type.value} sku={e.sku_id} order={e.order_id} q={e.quantity} "
            f"plat={e.platform} t={e.occurred_ms - T0} -> {got}"
        )
        assert got == expected, self.trail(f"outcome {got}, model {expected}")
        status = outcome.order_status.value if outcome.order_status else "-"
        self.outcomes.append(f"{e.type.value}: {got[1] or got[0]} -> {status}")
        if recorded:
            assert self.rig.outcomes.entries[-1] == (e, outcome)
        if outcome.result is Result.DUPLICATE:
            assert outcome.order_status is None
        if not read_back:
            return
        touched = {e.sku_id} & set(self.sku_ids)
        if e.order_id is not None and e.sku_id != GHOST_SKU:
            self.check_order(e.order_id)
            if e.order_id in self.model.orders:
                touched.add(self.model.orders[e.order_id].sku)
        # The SKUs this event may change are read back now; every SKU is read after each sweep and
        # at the end (moto serves a stock item slowly), so a stray write elsewhere is caught too.
        self.check_ledgers(sorted(touched))

    def check_ledgers(self, sku_ids: list[str] | None = None) -> None:
        for sku_id in self.sku_ids if sku_ids is None else sku_ids:
            lv = self.rig.levels(sku_id)
            m = self.model.skus[sku_id]
            assert lv.available >= 0, self.trail(f"{sku_id}: available {lv.available} < 0")
            assert lv.balanced, self.trail(f"{sku_id}: unbalanced {lv}")
            got = (lv.on_hand, lv.held, lv.reserved, lv.sold, lv.available, lv.paused)
            want = (m.on_hand, m.held, m.reserved, m.sold, m.available, m.paused)
            assert got == want, self.trail(f"{sku_id}: ledger {got}, model {want}")
            for p in PLATFORMS:
                usage = self.model.usage(sku_id, p)
                assert lv.used.get(p, 0) == usage, self.trail(f"{sku_id}/{p}: used {lv.used}, model {usage}")
                if p in m.caps:
                    assert lv.headroom[p] == m.caps[p] - usage, self.trail(
                        f"{sku_id}/{p}: headroom {lv.headroom}"
                    )
                else:
                    assert p not in lv.headroom

    def check_order(self, order_id: str) -> None:
        stored = self.rig.order(order_id)
        m = self.model.orders.get(order_id)
        got = stored.status.value if stored else None
        want = m.status if m else None
        assert got == want, self.trail(f"order {order_id}: {got}, model {want}")
        if stored is not None and m is not None:
            assert (stored.sku_id, stored.platform, stored.quantity) == (m.sku, m.platform, m.quantity)
            if m.status == RESERVED:
                assert stored.hold_until_ms == m.hold_until

    def check_orders(self) -> None:
        for order_id in self.created:
            self.check_order(order_id)

    def trail(self, message: str) -> str:
        return message + "\n  " + "\n  ".join(self.log[-40:])


# STOCKPULSE_PROPERTY_EXAMPLES=500 for a deeper hunt; the default keeps the suite quick.
@settings(
    max_examples=int(os.environ.get("STOCKPULSE_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(skus=sku_plans(), steps=st.lists(STEP, min_size=15, max_size=30))
def test_random_event_sequences_match_the_model(
    skus: list[dict[str, Any]], steps: list[tuple[Any, ...]]
) -> None:
    with moto_rig(session_plan(skus)) as rig:
        run = Run(rig, skus)
        for step in steps:
            run.step(step)
        run.check_orders()
        # A final sweep after every hold has ended leaves nothing reserved.
        run.step(("tick", 10 * MINUTE))
        run.step(("sweep",))
        run.check_ledgers()
        assert all(rig.levels(s).reserved == 0 for s in run.sku_ids)
        for key in sorted(set(run.outcomes)):
            event(key)
