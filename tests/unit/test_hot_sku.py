"""Hot-SKU grouping: which runs are grouped, and when a run may be granted whole."""

from __future__ import annotations

from typing import Any

import pytest

from stockpulse.domain.events import OrderEvent, parse_event
from stockpulse.domain.hot_sku import MAX_GROUP, grant_whole, runs
from stockpulse.domain.ledger import StockLevels
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


def test_runs_follow_each_skus_own_sequence() -> None:
    events: list[OrderEvent | None] = [
        event(0),
        event(1, sku="b"),
        event(2),
        None,
        event(3),  # a: a run across b and a bad record
        event(4, "order.paid", order_id="o0"),  # breaks a's run
        event(5),
        event(6, sku="b"),
    ]
    assert runs(events) == [[0, 2, 4], [1, 7]]


def test_runs_are_split_at_the_transaction_limit() -> None:
    found = runs([event(n) for n in range(MAX_GROUP + 3)])
    assert [len(r) for r in found] == [MAX_GROUP, 3]


def test_a_single_event_is_not_a_run() -> None:
    assert runs([event(0), event(1, sku="b")]) == []


def no_tier(_: StockLevels, __: int) -> Tier:
    return Tier.NONE


def test_grant_whole_sums_the_run() -> None:
    grant = grant_whole(levels(10), [event(0, quantity=2), event(1, quantity=3, platform="kuaishou")],
                        tier=Tier.NONE, tier_after=no_tier, auto_pause_on_red=False)  # fmt: skip
    assert grant is not None
    assert grant.quantity == 5
    assert dict(grant.usage) == {"douyin": 2, "kuaishou": 3}
    assert [s.available for s in grant.steps] == [8, 5]
    assert all(s.balanced for s in grant.steps)


@pytest.mark.parametrize(
    ("stock", "orders"),
    [
        (levels(2), [event(0), event(1), event(2)]),  # the third would be refused
        (levels(9, paused=True), [event(0), event(1)]),
        (levels(9, headroom={"douyin": 1}), [event(0), event(1)]),  # quota
        (levels(9), [event(0), event(1, order_id="o0")]),  # same order twice
        (levels(9), [event(0), event(0)]),  # same event twice
    ],
)
def test_runs_that_sequential_processing_would_refuse_go_one_by_one(
    stock: StockLevels, orders: list[OrderEvent]
) -> None:
    assert grant_whole(stock, orders, tier=Tier.NONE, tier_after=no_tier, auto_pause_on_red=False) is None


def test_an_auto_pause_inside_the_run_sends_it_one_by_one() -> None:
    def red_below_8(s: StockLevels, _: int) -> Tier:
        return Tier.RED if s.available < 8 else Tier.NONE

    orders = [event(0), event(1), event(2)]
    assert (
        grant_whole(levels(9), orders, tier=Tier.NONE, tier_after=red_below_8, auto_pause_on_red=True) is None
    )
    # Red at the last order: the pause comes after it, the run is granted whole.
    assert grant_whole(levels(10), orders, tier=Tier.NONE, tier_after=red_below_8, auto_pause_on_red=True)
    assert grant_whole(levels(9), orders, tier=Tier.NONE, tier_after=red_below_8, auto_pause_on_red=False)
