"""Generated two-hour sales for the alert benchmark: every demand shape a live show has.

Each SKU follows one shape (the ones the article names and their opposites):
- `instant`: a flash opening, most demand in the first quarter hour, then a long tail;
- `slow-start`: a quiet first hour, then the host's pitches;
- `steady`: the same pace all show, small pitches;
- `late-surge`: the closing pitch brings most of the orders;
- `waves`: three or four pitches that each fade in minutes;
- `flop`: sells well under its forecast.
Demand is 0.4-2.5x the forecast (flops 0.4-0.7x), stock 0.9-1.6x; a quarter of the SKUs are
restocked mid-show; some have a week of lead time or no sales history; some are core products.
Orders are 1-3 units; ~85% are paid within minutes, the rest let their hold expire.

`generate_sale(seed, skus)` returns a scenario dict (docs/formats.md) plus, per SKU, the
paid demand the generator drew (what the shop could have sold), for the restock-accuracy goal.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from stockpulse.domain.events import MINUTE_MS

SHOW_MINUTES = 120
SHOW_START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHAPES = ("instant", "slow-start", "steady", "late-surge", "waves", "flop")
PAY_SHARE = 0.85


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _pulses(
    rng: random.Random, first: float, last: float, count: int, fade: float = 4.0
) -> Callable[[float], float]:
    """The host's pitches: a jump of orders that fades over a few minutes."""
    pitches = [rng.uniform(first, last) for _ in range(count)]
    return lambda m: sum(3.0 * math.exp(-(m - p) / fade) for p in pitches if m >= p)


def _density(name: str, rng: random.Random) -> Callable[[float], float]:
    """Order density by minute of the show (any scale)."""
    if name == "instant":
        fade = rng.uniform(5.0, 12.0)
        return lambda m: math.exp(-m / fade) * 10 + 0.15
    if name == "slow-start":
        pulse = _pulses(rng, 60, 110, 4)
        return lambda m: (0.15 if m < 60 else 1.0) + pulse(m)
    if name == "steady":
        pulse = _pulses(rng, 0, 115, 6)
        return lambda m: 1.0 + 0.3 * pulse(m)
    if name == "late-surge":
        pulse = _pulses(rng, 90, 112, 3)
        return lambda m: (0.2 if m < 90 else 1.5) + pulse(m)
    if name == "waves":
        pulse = _pulses(rng, 0, 100, rng.randint(3, 4), fade=rng.uniform(3.0, 6.0))
        return lambda m: 0.1 + pulse(m)
    assert name == "flop"
    return lambda m: 1.0


def _demand_ratio(name: str, rng: random.Random) -> float:
    if name == "flop":
        return rng.uniform(0.4, 0.7)
    return rng.uniform(0.4, 2.5)


def generate_sale(seed: int, skus: int = 6) -> tuple[dict[str, Any], dict[str, int]]:
    """(scenario dict, paid demand per SKU) for `skus` SKUs cycling through the shapes."""
    scenario, paid, _ = generate_sale_with_curves(seed, skus)
    return scenario, paid


def generate_sale_with_curves(
    seed: int, skus: int = 6
) -> tuple[dict[str, Any], dict[str, int], dict[str, list[float]]]:
    """`generate_sale` plus, per SKU, the share of its demand drawn in each minute: what no
    shop knows ahead of a show (bench/restock_estimates.py uses it for a bound, not an estimate)."""
    rng = random.Random(f"alert-bench/{seed}")
    session_id = f"bench-{seed}"
    start_ms = _epoch_ms(SHOW_START)
    end_ms = start_ms + SHOW_MINUTES * MINUTE_MS
    events: list[tuple[int, dict[str, Any]]] = []
    plan: list[dict[str, Any]] = []
    paid_demand: dict[str, int] = {}
    curves: dict[str, list[float]] = {}
    for i in range(skus):
        shape = SHAPES[(i + seed) % len(SHAPES)]
        sku_id = f"{shape}-{seed}-{i}"
        forecast = rng.randint(60, 160)
        on_hand = round(forecast * rng.uniform(0.9, 1.6))
        sku: dict[str, Any] = {
            "sku_id": sku_id,
            "name": f"{shape} product {i}",
            "on_hand": on_hand,
            "forecast": forecast,
            "lead_time_days": 7 if rng.random() < 0.3 else 3,
            "has_history": rng.random() >= 0.3,
            "importance": "core" if rng.random() < 0.4 else "normal",
            "pack_size": rng.choice((1, 1, 6, 10)),
        }
        plan.append(sku)
        density = _density(shape, rng)
        minutes = list(range(SHOW_MINUTES))
        weights = [density(m + 0.5) for m in minutes]
        curves[sku_id] = [w / sum(weights) for w in weights]
        wanted, n, paid_units = forecast * _demand_ratio(shape, rng), 0, 0
        while wanted > 0:
            n += 1
            quantity = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
            wanted -= quantity
            at = start_ms + round((rng.choices(minutes, weights)[0] + rng.random()) * MINUTE_MS)
            order = {
                "session_id": session_id,
                "sku_id": sku_id,
                "platform": "douyin",
                "order_id": f"{sku_id}-{n}",
            }
            events.append((at, {"type": "order.created", **order, "quantity": quantity}))
            if rng.random() < PAY_SHARE:  # paid within minutes; the rest let the hold expire
                paid = at + round(min(rng.expovariate(1 / 1.5), 14.0) * MINUTE_MS) + 1000
                if paid < end_ms:
                    paid_units += quantity
                    events.append((paid, {"type": "order.paid", **order}))
        paid_demand[sku_id] = paid_units
        if rng.random() < 0.25:  # the shop restocks mid-show
            at = start_ms + rng.randint(40, 90) * MINUTE_MS + 30_000
            body = {
                "session_id": session_id,
                "sku_id": sku_id,
                "quantity": round(forecast * rng.uniform(0.3, 0.6)),
            }
            events.append((at, {"type": "stock.restocked", **body}))
    events.sort(key=lambda e: e[0])

    def stamp(ms: int) -> str:
        return (SHOW_START + timedelta(milliseconds=ms - start_ms)).isoformat()

    scenario = {
        "session": {"session_id": session_id, "starts_at": stamp(start_ms), "ends_at": stamp(end_ms)},
        "skus": plan,
        "events": [
            {"event_id": f"ev{k}", "occurred_at": stamp(at), **body}
            for k, (at, body) in enumerate(events)
            if at < end_ms
        ],
    }
    return scenario, paid_demand, curves
