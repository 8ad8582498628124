"""A run reserved with one stock-item write ends exactly as one-by-one processing would."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import T0, Rig, event, moto_rig, session_plan

from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import Outcome


def burst(specs: list[tuple[str, int]], *, first: int = 0) -> list[OrderEvent]:
    """One SKU's order.created burst: (platform, quantity) a second apart."""
    return [
        event(
            "order.created",
            f"e{first + n}",
            T0 + (first + n) * 1000,
            "hot",
            platform=platform,
            order_id=f"o{first + n}",
            quantity=quantity,
        )
        for n, (platform, quantity) in enumerate(specs)
    ]


def end_state(rig: Rig, outcomes: list[Outcome]) -> dict[str, Any]:
    item = rig.store.stock(rig.session_id, "hot")
    assert item is not None and item.levels.balanced
    return {
        "levels": item.levels,
        "tier": item.raw["tier"],
        "orders": {i["order_id"]["S"]: i["status"]["S"] for i in rig.order_items()},
        "outcomes": [(o.result, o.reason, o.order_status) for o in outcomes],
        "alerts": [(a["tier"], int(a["at_ms"])) for a in rig.store.alerts(rig.session_id, "hot")],
        "notices": [(n.tier, n.at) for n in rig.publisher.notices],
    }


def replay_both(sku: dict[str, Any], bursts: list[list[OrderEvent]]) -> tuple[dict[str, Any], dict[str, Any]]:
    plan = session_plan([{"sku_id": "hot", **sku}])
    with moto_rig(plan) as one_by_one:
        singles = [one_by_one.guard.handle(e) for b in bursts for e in b]
        expected = end_state(one_by_one, singles)
    with moto_rig(plan) as grouped:
        runs = [o for b in bursts for o in grouped.guard.reserve_run(b)]
        actual = end_state(grouped, runs)
    return expected, actual


@pytest.mark.parametrize(
    ("sku", "specs"),
    [
        # Crosses yellow, orange and red inside one run: each announced at its own order's instant.
        ({"on_hand": 100, "forecast": 20}, [("douyin", 3)] * 12),
        # Runs out mid-run: the run goes one by one and the tail is refused.
        ({"on_hand": 10, "forecast": 100}, [("douyin", 3)] * 5),
        # A platform's quota runs out mid-run.
        ({"on_hand": 100, "forecast": 100, "platform_quotas": {"kuaishou": 4}}, [("kuaishou", 2)] * 4),
        # Auto-pause on red inside the run: later orders refused as sku_paused.
        ({"on_hand": 100, "forecast": 10, "auto_pause_on_red": True}, [("douyin", 2)] * 10),
    ],
)
def test_a_run_ends_as_sequential_processing_would(sku: dict[str, Any], specs: list[tuple[str, int]]) -> None:
    expected, actual = replay_both(sku, [burst(specs)])
    assert actual == expected


def test_a_granted_run_writes_the_stock_item_once() -> None:
    plan = session_plan([{"sku_id": "hot", "on_hand": 100, "forecast": 100}])
    with moto_rig(plan) as rig:
        before = rig.store.request_log.count("TransactWriteItems")
        rig.guard.reserve_run(burst([("douyin", 1)] * 20))
        assert rig.store.request_log.count("TransactWriteItems") - before == 1
        assert rig.levels("hot").reserved == 20


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    on_hand=st.integers(0, 30),
    forecast=st.integers(1, 30),
    auto_pause=st.booleans(),
    specs=st.lists(
        st.tuples(st.sampled_from(["douyin", "kuaishou"]), st.integers(1, 4)), min_size=2, max_size=14
    ),
    split=st.integers(1, 13),
)
def test_grouped_and_sequential_agree(
    on_hand: int, forecast: int, auto_pause: bool, specs: list[tuple[str, int]], split: int
) -> None:
    sku = {
        "on_hand": on_hand,
        "forecast": forecast,
        "auto_pause_on_red": auto_pause,
        "platform_quotas": {"kuaishou": 6},
    }
    events = burst(specs)
    expected, actual = replay_both(sku, [events[:split], events[split:]] if split < len(events) else [events])
    assert actual == expected
