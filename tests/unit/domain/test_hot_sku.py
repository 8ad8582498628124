"""Hot-SKU grouping: which runs are grouped, and when a run may be granted whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from stockpulse.domain.events import OrderEvent, parse_event
from stockpulse.domain.hot_sku import MAX_GROUP, GroupPlan, plan_group, runs
from stockpulse.domain.ledger import OrderRecord, OrderStatus, Outcome, Reason, StockLevels
from stockpulse.domain.tiers import Tier


def event(n: int, kind: str = "order.created", sku: str = "a", **extra: Any) -> OrderEvent:
    raw = {
        "event_id": f"e{n}", "type": kind, "occurred_at": f"2026-11-25T20:00:{n % 60:02d}Z",
        "session_id": "s", "sku_id": sku, "platform": "douyin", "order_id": f"o{n}", "quantity": 1,
    }  # fmt: skip
    raw.update(extra)
    return parse_event(raw)


def levels(available: int, **kw: Any) -> StockLevels:
    return StockLevels(on_hand=available, held=0, reserved=0, sold=0, available=available, **kw)


def indexes(events: list[OrderEvent | None]) -> list[list[int]]:
    return [run.indexes for run in runs(events)]


def test_runs_follow_each_skus_own_sequence() -> None:
    events: list[OrderEvent | None] = [
        event(0),
        event(1, sku="b"),
        event(2),
        None,
        event(3),  # a: a run across b and a bad record
        event(4, "order.paid", order_id="o0"),  # payments and cancels join it
        event(5, "stock.restocked"),  # a stock event ends it
        event(6),
        event(7, sku="b"),
    ]
    assert indexes(events) == [[0, 2, 4, 5], [1, 8]]


def test_a_run_never_reaches_across_another_skus_record_naming_its_orders() -> None:
    # A run is applied at its first record: it must not move an event of one of its orders
    # ahead of another SKU's record naming that order (a payment may name another SKU).
    across = [event(0), event(1), event(2, "order.paid", sku="b", order_id="o1"), event(3), event(4)]
    assert indexes(across) == [[0, 1], [3, 4]]
    before = [event(0), event(1, "order.paid", sku="b", order_id="o5"), event(2), event(5), event(6)]
    assert indexes(before) == [[0, 2], [3, 4]]  # o5's creation may not jump ahead of its payment
    unrelated = [event(0), event(1, "order.paid", sku="b", order_id="o9"), event(2), event(3)]
    assert indexes(unrelated) == [[0, 2, 3]]
    # o9 might be one of a's orders (a payment names any SKU): the guard reads it before it
    # moves the run ahead of that payment.
    assert runs(unrelated)[0].crossed_orders == ["o9"]
    assert runs([event(0), event(1), event(2, "order.paid", sku="b", order_id="o7")])[0].crossed_orders == []


def test_runs_are_split_at_the_transaction_limit() -> None:
    found = indexes([event(n) for n in range(MAX_GROUP + 3)])
    assert [len(r) for r in found] == [MAX_GROUP, 3]


def test_a_single_event_is_not_a_run() -> None:
    assert runs([event(0), event(1, sku="b")]) == []


def no_tier(_: StockLevels, __: int) -> Tier:
    return Tier.NONE


def plan(
    stock: StockLevels,
    events: list[OrderEvent],
    known: dict[str, OrderRecord | None] | None = None,
    *,
    remembered: dict[str, dict[str, str]] | None = None,
    tier_after: Callable[[StockLevels, int], Tier] = no_tier,
    auto_pause_on_red: bool = False,
) -> GroupPlan | None:
    return plan_group(
        stock, events, known or {}, remembered=remembered or {}, hold_ms=15 * 60_000, tier=Tier.NONE,
        tier_after=tier_after, auto_pause_on_red=auto_pause_on_red,
    )  # fmt: skip


def reserved(order_id: str, quantity: int = 1, platform: str = "douyin") -> OrderRecord:
    return OrderRecord(order_id, "a", platform, quantity, OrderStatus.RESERVED, T0_MS, T0_MS + 15 * 60_000)


T0_MS = event(0).occurred_ms


def test_a_plan_sums_the_run() -> None:
    grant = plan(levels(10), [event(0, quantity=2), event(1, quantity=3, platform="kuaishou")])
    assert grant is not None
    assert (grant.reserved, grant.available, grant.taken) == (5, -5, 5)
    assert dict(grant.usage) == {"douyin": 2, "kuaishou": 3}
    assert [(i, s.available) for i, s in grant.steps] == [(0, 8), (1, 5)]
    assert all(s.balanced for _, s in grant.steps)


def test_payments_and_cancels_join_the_run() -> None:
    stock = StockLevels(on_hand=10, held=0, reserved=3, sold=0, available=7, used={"douyin": 3})
    events = [
        event(1, "order.paid", order_id="old"),  # reserved before the run
        event(2),  # o2 reserved ...
        event(3, "order.paid", order_id="o2"),  # ... and paid in the same run: one item write
        event(4, "order.cancelled", order_id="gone"),  # a reservation cancelled
    ]
    known: dict[str, OrderRecord | None] = {"old": reserved("old", 2), "gone": reserved("gone", 1)}
    grant = plan(stock, events, known)
    assert grant is not None
    assert (grant.reserved, grant.sold, grant.available, grant.taken) == (-3, 3, 0, 1)
    assert dict(grant.usage) == {"douyin": 0}
    assert {k: (c.before is None, c.after.status) for k, c in grant.orders.items()} == {
        "old": (False, OrderStatus.SOLD),
        "o2": (True, OrderStatus.SOLD),
        "gone": (False, OrderStatus.RELEASED),
    }
    assert list(grant.orders["o2"].outcomes) == ["e2", "e3"]
    assert [o.order_status for o in grant.outcomes] == ["sold", "reserved", "sold", "released"]


@pytest.mark.parametrize(
    ("stock", "events", "known"),
    [
        (levels(2), [event(0), event(1), event(2)], {}),  # the third would be refused
        (levels(9, paused=True), [event(0), event(1)], {}),
        (levels(9, headroom={"douyin": 1}), [event(0), event(1)], {}),  # quota
        (levels(0), [event(0, "order.paid", order_id="gone")],  # paid after release: no stock
         {"gone": replace(reserved("gone"), status=OrderStatus.RELEASED)}),
        # A payment after the hold ended: the reservation expires first.
        (levels(9), [event(0), event(1, "order.paid", order_id="late")],
         {"late": OrderRecord("late", "a", "douyin", 1, OrderStatus.RESERVED, 0, 1)}),
        # The order belongs to another SKU.
        (levels(9), [event(0), event(1, "order.paid", order_id="b1")],
         {"b1": OrderRecord("b1", "b", "douyin", 1, OrderStatus.RESERVED, T0_MS, T0_MS + 10**9)}),
    ],
)  # fmt: skip
def test_runs_that_sequential_processing_would_not_apply_plainly_go_one_by_one(
    stock: StockLevels, events: list[OrderEvent], known: dict[str, OrderRecord | None]
) -> None:
    assert plan(stock, events, known) is None


def test_duplicates_unknown_orders_and_no_ops_are_decided_in_the_run() -> None:
    events = [
        event(0),
        event(0),  # the same event again: a duplicate of its first outcome, nothing written
        event(1, order_id="o0"),  # o0 created again under another id: a duplicate, remembered
        event(2, "order.paid", order_id="x"),  # never created: unknown_order, remembered on x
        event(3, "order.cancelled", order_id="y"),  # never created: no effect
        event(4, "order.paid", order_id="old"),  # delivered before: its first outcome
        event(5, "order.paid", order_id="gone"),  # released before: paid now, taken again
    ]
    released = replace(reserved("gone"), status=OrderStatus.RELEASED)
    known: dict[str, OrderRecord | None] = {"x": None, "y": None, "old": reserved("old"), "gone": released}
    sold = Outcome.processed(OrderStatus.SOLD, changed_stock=True)
    grant = plan(levels(9), events, known, remembered={"old": {"e4": sold.code}})
    assert grant is not None
    reserved_now = Outcome.processed(OrderStatus.RESERVED, changed_stock=True)
    assert grant.outcomes == [
        reserved_now,
        Outcome.duplicate(reserved_now),
        Outcome.duplicate(),
        Outcome.rejected(Reason.UNKNOWN_ORDER),
        Outcome.processed(changed_stock=False),
        Outcome.duplicate(sold),
        sold,
    ]
    assert [i for i, _ in grant.steps] == [0, 6]
    assert (grant.reserved, grant.sold, grant.available) == (1, 1, -2)
    assert {k: (c.before, c.after, list(c.outcomes)) for k, c in grant.orders.items() if c.after is None} == {
        "x": (None, None, ["e2"]),
        "y": (None, None, ["e3"]),
    }
    assert list(grant.orders["o0"].outcomes) == ["e0", "e1"]


def test_an_auto_pause_inside_the_run_sends_it_one_by_one() -> None:
    def red_below_8(s: StockLevels, _: int) -> Tier:
        return Tier.RED if s.available < 8 else Tier.NONE

    events = [event(0), event(1), event(2)]
    assert plan(levels(9), events, tier_after=red_below_8, auto_pause_on_red=True) is None
    # Red at the last event: the pause comes after it, the run is applied whole.
    assert plan(levels(10), events, tier_after=red_below_8, auto_pause_on_red=True)
    assert plan(levels(9), events, tier_after=red_below_8, auto_pause_on_red=False)
