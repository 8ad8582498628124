"""How close can a restock suggestion get? The shipped estimate against the pace alone.

The restock number in a warning is a forecast of demand that has not happened yet. This bench
measures how often it lands within +-50% of the true shortfall (paid demand - stock), the goal of
issue "Alerts an operator keeps on", at fixed leads before each sell-out, on many more sell-outs
than the replays of `bench/alert_policies.py` can afford (that bench scores the last warning each
replayed SKU actually sent).

Each generated sale (`bench/sales.py`) is walked minute by minute with the hold rules of the
ledger (an order takes units while they are available; an unpaid hold comes back after
`hold_minutes`; a restock adds units), which is all the estimates read: the units taken per
minute, what is available, the kept share. The estimates are the shipped one
(`forecast.restock_quantity` on the pace the evaluator uses, `forecast.restock_pace`; when that
says none while the stock risk warns, the risk's own projection, `stock_risk.restock_named`),
and, side by side:
- `rush on top`: the shipped estimate without its hot-start rules (a rush in a hot start's first
  30 minutes counted on top of the plan's pace, and no part of it taken as the plan's demand come
  early: `forecast.pulled_forward`), the estimate those rules replaced;
- `pace alone`: the pace (half-life 5) fading over 45 minutes, the estimate this replaced;
- `plan alone`: the plan's pace for the rest of the show, no pace at all.

And two bounds no estimate can reach: `knows curve` is told the share of the SKU's demand that
falls in each minute of the show (the generator's shape, with its pitches where they will come)
and estimates only the total from the units taken so far. It sells no more than the truth about
the future allows; the gap between it and 100% is what the orders so far cannot say, and the gap
between it and the shipped estimate is what knowing the show's shape ahead would be worth.
`knows demand` is told the units the rest of the show will order, refused ones included, and
only has to turn them into a shortfall: the paid share measured so far, less what is available
and the unpaid holds that will come back. Its gap to 100% is the goal's own noise (which orders
get paid, and when holds return).

A second table takes each SKU the stock risk warns in minutes 8-20 (a show that opens with a
rush) and compares the restock its first warning would name with what the show went on to lack.
A third takes the SKUs an opening rush sells out before minute 15 and compares the number of
their last minute with stock (the one their sold-out message quotes) with the true shortfall.

Run: .venv/bin/python bench/restock_estimates.py [--sales 60]
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sales import PAY_SHARE, SHOW_MINUTES, generate_sale_with_curves

from stockpulse.domain import forecast, minute_forecast, stock_risk
from stockpulse.domain.events import MINUTE_MS, epoch_ms, parse_instant
from stockpulse.domain.tiers import Tier

HOLD_MS = 15 * MINUTE_MS  # the session default `hold_minutes`
LEADS = (1, 3, 6, 10, 15)
OPENING_MINUTES = range(8, 21)  # the stock risk's evidence starts at minute 8


@dataclass
class Minute:
    taken: int  # cumulative units taken at the minute mark
    available: int
    consumption: int  # reserved + sold
    restocked: int
    reserved: int = 0  # units in holds not paid yet
    ordered: int = 0  # cumulative units ordered, refused ones included


def walk(raw: dict[str, Any]) -> dict[str, list[Minute]]:
    """Per SKU, the stock at every minute mark of the show."""
    start = epoch_ms(parse_instant(raw["session"]["starts_at"]))
    fresh = {"taken": 0, "consumption": 0, "restocked": 0, "ordered": 0}
    state = {s["sku_id"]: {"available": s["on_hand"], **fresh} for s in raw["skus"]}
    holds: dict[str, dict[str, tuple[int, int]]] = {s["sku_id"]: {} for s in raw["skus"]}
    minutes: dict[str, list[Minute]] = {s["sku_id"]: [] for s in raw["skus"]}
    events = [(epoch_ms(parse_instant(e["occurred_at"])), e) for e in raw["events"]]
    mark, i = start, 0
    while mark <= start + SHOW_MINUTES * MINUTE_MS:
        while i < len(events) and events[i][0] < mark:
            at, e = events[i]
            i += 1
            s, held = state[e["sku_id"]], holds[e["sku_id"]]
            if e["type"] == "order.created":
                s["ordered"] += e["quantity"]
            if e["type"] == "order.created" and s["available"] >= e["quantity"]:
                s["available"] -= e["quantity"]
                s["taken"] += e["quantity"]
                s["consumption"] += e["quantity"]
                held[e["order_id"]] = (e["quantity"], at + HOLD_MS)
            elif e["type"] == "order.paid":
                held.pop(e["order_id"], None)
            elif e["type"] == "stock.restocked":
                s["available"] += e["quantity"]
                s["restocked"] += e["quantity"]
        for sku_id, s in state.items():
            for order_id, (quantity, until) in list(holds[sku_id].items()):
                if until <= mark:  # the hold ended unpaid: the units come back
                    del holds[sku_id][order_id]
                    s["available"] += quantity
                    s["consumption"] -= quantity
            reserved = sum(quantity for quantity, _ in holds[sku_id].values())
            minutes[sku_id].append(
                Minute(s["taken"], s["available"], s["consumption"], s["restocked"], reserved, s["ordered"])
            )
        mark += MINUTE_MS
    return minutes


Estimate = Callable[[list[Minute], int, dict[str, Any]], int]


def _increments(series: list[Minute], t: int) -> list[int]:
    """Units taken in each minute up to minute `t`."""
    return [b.taken - a.taken for a, b in itertools.pairwise(series[: t + 1])]


def _risk_inputs(series: list[Minute], t: int, sku: dict[str, Any]) -> stock_risk.RiskInputs:
    """The stock risk's projection at minute `t`, as the evaluator builds it."""
    increments = _increments(series, t)
    return stock_risk.RiskInputs(
        available=series[t].available,
        velocity=stock_risk.pace(increments),
        minutes_left=float(SHOW_MINUTES - t),
        lead_time_minutes=sku["lead_time_days"] * 24 * 60,
        restocked=series[t].restocked,
        velocity_before=stock_risk.pace_before(increments),
    )


def _inputs(series: list[Minute], t: int) -> tuple[float, Minute, float]:
    increments = _increments(series, t)
    pace = 0.0
    if stock_risk.measured(increments):  # the evaluator's evidence for a restock
        pace = forecast.velocity_per_minute(increments, half_life_minutes=forecast.RESTOCK_HALF_LIFE_MINUTES)
    return pace, series[t], float(SHOW_MINUTES - t)


def _packs(units: float, pack: int) -> int:
    need = max(0, math.ceil(units - 1e-9))
    return -(-need // pack) * pack


def hot_start(series: list[Minute], t: int, sku: dict[str, Any]) -> bool:
    """The show opened hot by minute `t` (the evaluator latches `forecast.is_hot_start`)."""
    plan = forecast.SkuPlan(
        forecast=sku["forecast"],
        starts_ms=0,
        ends_ms=SHOW_MINUTES * MINUTE_MS,
        lead_time_days=sku["lead_time_days"],
        has_history=sku["has_history"],
    )
    return any(
        forecast.is_hot_start(plan, consumption=series[m].consumption, minutes_elapsed=m)
        for m in range(min(t, int(forecast.HOT_START_MINUTES)) + 1)
    )


def shipped(series: list[Minute], t: int, sku: dict[str, Any], *, rush_on_top: bool = False) -> int:
    """The evaluator's number (`minute_forecast.named_restock`). The warning here is this minute's
    signal (the evaluator's tier also waits out a pending period)."""
    pace, now, _ = _inputs(series, t)
    plan_pace, hot = sku["forecast"] / SHOW_MINUTES, hot_start(series, t, sku)
    if not rush_on_top:  # the evaluator's restock pace (`forecast.restock_pace`)
        pace = forecast.restock_pace(
            _increments(series, t),
            plan_pace=plan_pace,
            hot_start=hot and t < forecast.HOT_START_MINUTES,
            measured=pace > 0,
        )
    inputs = _risk_inputs(series, t, sku)
    return minute_forecast.named_restock(
        inputs,
        pace=pace,
        plan_pace=plan_pace,
        taken=now.taken,
        kept_share=now.consumption / now.taken if now.taken else 1.0,
        pack_size=sku["pack_size"],
        hot_start=hot and not rush_on_top,  # the rush on top: no part of it taken as come early
        credit_minute=t,
        eta=forecast.sell_out_eta_minutes(now.available, inputs.velocity or 0.0),
        warned=stock_risk.signal(inputs) >= Tier.ORANGE,
    )


def rush_on_top(series: list[Minute], t: int, sku: dict[str, Any]) -> int:
    return shipped(series, t, sku, rush_on_top=True)


def pace_alone(series: list[Minute], t: int, sku: dict[str, Any]) -> int:
    pace, now, left = _inputs(series, t)
    return _packs(pace * 45 * (1 - math.exp(-left / 45)) - now.available, sku["pack_size"])


def plan_alone(series: list[Minute], t: int, sku: dict[str, Any]) -> int:
    _, now, left = _inputs(series, t)
    return _packs(sku["forecast"] / SHOW_MINUTES * left - now.available, sku["pack_size"])


def knows_curve(series: list[Minute], t: int, sku: dict[str, Any]) -> int:
    """The bound: the demand curve known, its total estimated from the units taken so far."""
    share_so_far = sum(sku["curve"][:t])
    if share_so_far <= 0:
        return 0
    paid = PAY_SHARE * series[t].taken / share_so_far
    return _packs(paid - (sku["on_hand"] + series[t].restocked), sku["pack_size"])


def knows_demand(series: list[Minute], t: int, sku: dict[str, Any]) -> int:
    """The bound: the units still to be ordered known. Of them the share paid so far (sold over
    the units whose holds are settled) is needed, less what is available and the holds of the last
    HOLD_MS that will come back unpaid (at the same share)."""
    now = series[t]
    settled = now.taken - now.reserved
    paid_share = (now.consumption - now.reserved) / settled if settled > 0 else 1.0
    recent = now.taken - series[max(0, t - HOLD_MS // MINUTE_MS)].taken
    coming_back = min(now.reserved, (1 - paid_share) * recent)
    to_come = series[-1].ordered - now.ordered
    return _packs(paid_share * to_come - now.available - coming_back, sku["pack_size"])


ESTIMATES: dict[str, Estimate] = {
    "shipped": shipped,
    "rush on top": rush_on_top,
    "pace alone": pace_alone,
    "plan alone": plan_alone,
    "knows curve": knows_curve,
    "knows demand": knows_demand,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sales", type=int, default=60, help="generated sales (seeds 1..N)")
    args = parser.parse_args(argv)
    within: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    openings: dict[str, list[tuple[int, int]]] = defaultdict(list)  # asked, lacked
    early_sell_outs: dict[str, list[tuple[int, int]]] = defaultdict(list)  # asked, lacked
    sell_outs = 0
    for seed in range(1, args.sales + 1):
        raw, paid, curves = generate_sale_with_curves(seed)
        for sku_id, series in walk(raw).items():
            sku = {**next(s for s in raw["skus"] if s["sku_id"] == sku_id), "curve": curves[sku_id]}
            opening_rush(series, sku, paid[sku_id], openings)
            sold_out = next((t for t, m in enumerate(series) if m.available <= 0 and m.consumption > 0), None)
            if sold_out is None:
                continue
            shortfall = paid[sku_id] - (sku["on_hand"] + series[sold_out].restocked)
            if shortfall <= 0:
                continue
            if sold_out < 15:
                for name, estimate in ESTIMATES.items():
                    early_sell_outs[name].append((estimate(series, max(0, sold_out - 1), sku), shortfall))
                continue
            sell_outs += 1
            for lead in LEADS:
                for name, estimate in ESTIMATES.items():
                    units = estimate(series, sold_out - lead, sku)
                    within[name][lead] += abs(units - shortfall) <= 0.5 * shortfall
    print(f"{sell_outs} sell-outs after minute 15 with demand left, {args.sales} sales")
    print("within +-50% of the true shortfall, minutes before the sell-out:")
    print(f"  {'estimate':12}" + "".join(f"{lead:>7} min" for lead in LEADS))
    for name in ESTIMATES:
        print(f"  {name:12}" + "".join(f"{within[name][lead] / max(1, sell_outs):>10.0%} " for lead in LEADS))
    count = len(openings["shipped"])
    print(f"\n{count} SKUs warned in minutes 8-20; the restock their first warning names against the units")
    print("the show went on to lack (within +-50%, or +-5 units where it lacked under 10):")
    print_pairs(openings)
    count = len(early_sell_outs["shipped"])
    print(f"\n{count} SKUs sold out before minute 15 with demand left; the restock of their last minute with")
    print("stock (the number the sold-out message quotes) against the true shortfall:")
    print_pairs(early_sell_outs)
    return 0


def first_warning(series: list[Minute], sku: dict[str, Any]) -> int | None:
    """The first minute in OPENING_MINUTES whose stock-risk signal warns (orange or red)."""
    for t in OPENING_MINUTES:
        inputs = _risk_inputs(series, t, sku)
        if inputs.velocity is not None and inputs.available > 0 and stock_risk.signal(inputs) >= Tier.ORANGE:
            return t
    return None


def opening_rush(
    series: list[Minute], sku: dict[str, Any], paid: int, rows: dict[str, list[tuple[int, int]]]
) -> None:
    """The restock a SKU's first warning in minutes 8-20 would name, by estimate, against what the
    show went on to lack (`paid` demand - stock, restocks included; 0 when it lacked nothing),
    added to `rows`. Not the issue's goal (that is the last warning before a sell-out), but the
    number people read when a show opens with a rush: "call the supplier for 357" on a forecast
    of 124 is what gets a bot muted."""
    t = first_warning(series, sku)
    if t is None:
        return
    lacked = max(0, paid - (sku["on_hand"] + series[-1].restocked))
    for name, estimate in ESTIMATES.items():
        rows[name].append((estimate(series, t, sku), lacked))


def print_pairs(rows: dict[str, list[tuple[int, int]]]) -> None:
    """Per estimate, (asked, lacked) pairs: within +-50% (+-5 units under 10), over 2x, the ratio."""
    count = len(rows["shipped"])
    print(f"  {'estimate':12}{'within':>10}{'over 2x':>10}{'asked / lacked':>17}")
    for name, pairs in rows.items():
        ok = sum(abs(asked - lacked) <= 0.5 * max(lacked, 10) for asked, lacked in pairs)
        over = sum(asked > 2 * max(lacked, 10) for asked, lacked in pairs)
        ratio = sum(a for a, _ in pairs) / max(1, sum(lacked for _, lacked in pairs))
        print(f"  {name:12}{ok / max(1, count):>10.0%}{over / max(1, count):>10.0%}{ratio:>16.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
