"""The stock item's typed form: `stock_attributes` writes back exactly what `parse_stock` reads,
through DynamoDB's wire form too (numbers come back as Decimal)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from stockpulse.adapters.dynamodb_ledger import from_item, to_item
from stockpulse.domain.alert_policy import AlertMemory
from stockpulse.domain.ledger import StockLevels
from stockpulse.domain.session import TierRatioConfig
from stockpulse.domain.tiers import Tier
from stockpulse.records import (
    Pace,
    PlanCopy,
    StockItem,
    Thresholds,
    TierState,
    parse_stock,
    stock_attributes,
)

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
counts = st.integers(0, 10**9)
platforms = st.dictionaries(st.sampled_from(["douyin", "kuaishou", "taobao"]), counts, max_size=3)
tiers = st.sampled_from(list(Tier))
decimals = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False)
ms = st.integers(0, 2**53)

levels = st.builds(
    StockLevels,
    on_hand=counts, held=counts, reserved=counts, sold=counts, available=counts, paused=st.booleans(),
    restocked=counts, taken=counts, headroom=platforms, used=platforms,
)  # fmt: skip
memories = st.builds(
    AlertMemory,
    announced=tiers, last_yellow_ms=st.none() | ms, last_red_ms=st.none() | ms,
    resolved_orange_ms=st.none() | ms, told=st.sampled_from(["", "y", "or", "oy"]),
    sold_out_paused=st.booleans(),
)  # fmt: skip
alerts = st.fixed_dictionaries(
    {"alert_id": ids, "kind": st.sampled_from(["alert", "repeat"]), "tier": tiers.map(str), "at_ms": ms}
)
ratios = st.tuples(decimals, decimals, decimals).map(
    lambda r: TierRatioConfig.model_construct(yellow=r[0], orange=r[1], red=r[2])
)
items = st.builds(
    StockItem,
    session_id=ids, sku_id=ids, levels=levels, version=counts, hold_minutes=st.integers(1, 1440),
    tier=st.builds(
        TierState, tier=tiers, hard_tier=st.none() | tiers, version=counts, memory=memories,
        pending_alert=st.none() | alerts, named_restock=st.none() | st.tuples(counts, counts, ms),
    ),
    thresholds=st.builds(
        Thresholds, forecast_eff=st.none() | decimals, ratios=st.none() | ratios,
        dynamic=st.none() | st.booleans(), auto_pause_on_red=st.booleans(), risk=st.none() | tiers,
        risk_restocked=st.none() | counts,
    ),
    pace=st.builds(
        Pace, velocity=decimals, restock_units=st.none() | counts,
        pace_mark=st.none() | st.tuples(ms, counts, ms, counts),
    ),
    plan=st.builds(
        PlanCopy, name=st.none() | st.text(max_size=20),
        importance=st.none() | st.sampled_from(["core", "normal"]),
        caps=st.none() | platforms, lead_time_minutes=st.none() | decimals, session_ends_ms=st.none() | ms,
        plan_digest=st.none() | ids,
    ),
)  # fmt: skip


@given(items)
def test_writing_a_stock_item_back_is_the_inverse_of_parsing_it(item: StockItem) -> None:
    assert parse_stock(stock_attributes(item)) == item
    assert parse_stock(from_item(to_item(stock_attributes(item)))) == item


def test_absent_attributes_stay_absent() -> None:
    """An item written before an attribute existed reads it as unknown, and is written back
    without it (the wire keeps what was stored)."""
    stored = {
        "session_id": "live", "sku_id": "tea", "version": 3, "hold_minutes": 15, "on_hand": 10,
        "held": 0, "reserved": 2, "sold": 1, "available": 7, "restocked": 0, "taken": 3,
        "paused": False, "headroom": {}, "used": {}, "tier": "yellow", "tier_version": 2,
        "alert_memory": {}, "auto_pause_on_red": False, "velocity": Decimal("1.5"),
    }  # fmt: skip
    item = parse_stock(stored)
    assert item.tier.hard is Tier.YELLOW and item.tier.pending_alert is None
    assert item.thresholds.forecast_eff is None and item.pace.restock_units is None
    assert stock_attributes(item) == stored
