"""Warnings that arrive in time, and no noise: stockpulse's tiers against the seed's baseline.

The baseline is the article's first attempt: one warning line at 150% of the forecast for every
product, checked every 5 minutes (`poll`: a message at every check while over the line, as a
scheduled check without memory sends; `first only`: one message per SKU, the kindest reading).
stockpulse is the real system: each generated sale is replayed through the handlers on the
embedded backend (hot-path tiers and alerts, the per-minute evaluator's dynamic thresholds,
repeats and resolutions), every published notice is recorded, and the ledger is read after every
batch. The baseline is judged on that same ledger trajectory.

Sales (generated here, seeded): a two-hour show; each SKU follows one demand shape, the ones the
article names and their opposites: `instant` (most demand in the first 15 minutes), `slow-start`
(a quiet first hour, then the surge), `steady`, `late-surge` (the closing pitch), `flop` (sells
half its forecast), `hot` (twice its forecast, all show long). Demand / forecast and stock /
forecast vary per SKU, so some sell out and some never get close; some SKUs have a week of lead
time or no sales history. Orders: 1-3 units, most paid within minutes, ~15% never paid (the
15-minute hold expires).

Per policy, over every SKU of every sale:
- sold-out SKUs warned before sell-out (sell-out: `available` reached 0 with units taken), by a
  warning still in force then (not resolved in between);
- median lead of that warning before sell-out, in minutes (from the first message of it);
- warnings after sell-out (messages claiming a tier / the line, later than the sell-out);
- warnings on SKUs that ended below 80% of their forecast (false alarms);
- total messages (stockpulse: alerts, repeats and resolutions).

Run: .venv/bin/python bench/alert_policies.py [--sales 3 --skus 6]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))

from stockpulse import wiring
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.events import epoch_ms
from stockpulse.ports import AlertPublisher
from stockpulse_local.replay import Replay, Stack, open_backend
from stockpulse_local.scenario import Scenario, parse_scenario

MINUTE_MS = 60_000
SHOW_MINUTES = 120
SHOW_START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLL_MS = 5 * MINUTE_MS
BASELINE_LINE = 1.5
# --detail labels: minute:kind tier, e.g. 12:ao = alert orange, 22:po = repeat orange, 30:rn = resolved
_KIND_LETTER = {NoticeKind.ALERT: "a", NoticeKind.REPEAT: "p", NoticeKind.RESOLVED: "r"}


# ---------------------------------------------------------------------------- generated sales
def _pulses(rng: random.Random, first: float, last: float, count: int) -> Callable[[float], float]:
    """The host's pitches: a jump of orders that fades over a few minutes."""
    pitches = [rng.uniform(first, last) for _ in range(count)]
    return lambda m: sum(3.0 * math.exp(-(m - p) / 4.0) for p in pitches if m >= p)


def _shape(name: str, rng: random.Random) -> tuple[float, Callable[[float], float]]:
    """(demand / forecast, order density by minute)."""
    if name == "instant":
        return rng.uniform(1.0, 1.6), lambda m: math.exp(-m / 8.0) * 10 + 0.1
    if name == "slow-start":
        pulse = _pulses(rng, 60, 110, 4)
        return rng.uniform(1.0, 1.6), lambda m: (0.15 if m < 60 else 1.0) + pulse(m)
    if name == "steady":
        pulse = _pulses(rng, 0, 115, 6)
        return rng.uniform(0.8, 1.3), lambda m: 1.0 + 0.3 * pulse(m)
    if name == "late-surge":
        pulse = _pulses(rng, 90, 115, 3)
        return rng.uniform(1.0, 1.5), lambda m: (0.2 if m < 90 else 1.5) + pulse(m)
    if name == "flop":
        return rng.uniform(0.35, 0.7), lambda m: 1.0
    assert name == "hot"
    pulse = _pulses(rng, 0, 110, 5)
    return rng.uniform(1.6, 2.2), lambda m: 1.0 + pulse(m)


SHAPES = ("instant", "slow-start", "steady", "late-surge", "flop", "hot")


def generate_sale(seed: int, skus: int) -> dict[str, Any]:
    """A scenario dict (contract section 2): `skus` SKUs cycling through the shapes."""
    rng = random.Random(f"alert-policies/{seed}")
    session_id = f"policies-{seed}"
    start_ms = epoch_ms(SHOW_START)
    events: list[tuple[int, dict[str, Any]]] = []
    plan: list[dict[str, Any]] = []
    for i in range(skus):
        shape = SHAPES[(i + seed) % len(SHAPES)]
        sku_id = f"{shape}-{i}"
        forecast = rng.randint(60, 160)
        ratio, density = _shape(shape, rng)
        plan.append(
            {
                "sku_id": sku_id,
                "name": f"{shape} product {i}",
                "on_hand": round(forecast * rng.uniform(0.9, 1.7)),
                "forecast": forecast,
                "lead_time_days": 7 if rng.random() < 0.3 else 3,
                "has_history": rng.random() >= 0.3,
            }
        )
        minutes = list(range(SHOW_MINUTES))
        weights = [density(m + 0.5) for m in minutes]
        wanted, n = forecast * ratio, 0
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
            if rng.random() < 0.85:  # paid within minutes; the rest let the hold expire
                paid = at + round(min(rng.expovariate(1 / 1.5), 14.0) * MINUTE_MS) + 1000
                events.append((paid, {"type": "order.paid", **order}))
    events.sort(key=lambda e: e[0])
    end_ms = start_ms + SHOW_MINUTES * MINUTE_MS
    stamp = lambda ms: (SHOW_START + timedelta(milliseconds=ms - start_ms)).isoformat()  # noqa: E731
    return {
        "session": {"session_id": session_id, "starts_at": stamp(start_ms), "ends_at": stamp(end_ms)},
        "skus": plan,
        "events": [
            {"event_id": f"ev{k}", "occurred_at": stamp(at), **body}
            for k, (at, body) in enumerate(events)
            if at < end_ms
        ],
    }


class Recording:
    """Wraps the replay's SNS publisher: every notice still goes out, and is kept."""

    def __init__(self, inner: AlertPublisher) -> None:
        self.inner = inner
        self.notices: list[AlertNotice] = []

    def publish(self, notice: AlertNotice) -> None:
        self.notices.append(notice)
        self.inner.publish(notice)


@dataclass
class SkuRun:
    """One SKU of one sale: its plan, ledger trajectory, and each policy's messages."""

    sale: str
    sku_id: str
    forecast: int
    points: list[tuple[int, int, int]] = field(default_factory=list)  # (t_ms, consumption, available)
    messages: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)  # policy -> (t_ms, warning)
    on_hand: int = 0
    labels: list[str] = field(default_factory=list)  # stockpulse's messages, for --detail

    @property
    def sold_out_ms(self) -> int | None:
        return next((t for t, c, a in self.points if a <= 0 and c > 0), None)

    @property
    def final_consumption(self) -> int:
        return self.points[-1][1] if self.points else 0

    def consumption_at(self, t_ms: int) -> int:
        seen = [c for t, c, _ in self.points if t <= t_ms]
        return seen[-1] if seen else 0


def replay_sale(scenario: Scenario, prefix: str) -> tuple[list[SkuRun], float]:
    runs = {
        s.sku_id: SkuRun(scenario.plan.session.session_id, s.sku_id, s.forecast, on_hand=s.on_hand)
        for s in scenario.plan.skus
    }

    def on_batch(replay: Replay) -> None:
        t = replay.clock.now_ms()
        for sku_id, item in replay.stock_items.items():
            runs[sku_id].points.append((t, item.levels.consumption, item.levels.available))

    started = time.perf_counter()
    with open_backend("moto") as backend:
        replay = Replay(scenario, Stack.create(backend, prefix), on_batch=on_batch)
        recording = Recording(replay.guard.publisher)
        replay.guard.publisher = recording
        try:
            replay.run()
        finally:
            wiring.install(None)
    for notice in recording.notices:
        warning = notice.kind is not NoticeKind.RESOLVED
        run = runs[notice.sku_id]
        at = epoch_ms(notice.at)
        run.messages.setdefault("stockpulse", []).append((at, warning))
        minute = (at - scenario.plan.session.starts_ms) / MINUTE_MS
        run.labels.append(f"{minute:.0f}:{_KIND_LETTER[notice.kind]}{notice.tier.value[0]}")
    return list(runs.values()), time.perf_counter() - started


def baseline(run: SkuRun, starts_ms: int, ends_ms: int) -> None:
    poll: list[tuple[int, bool]] = []
    for t in range(starts_ms + POLL_MS, ends_ms + 1, POLL_MS):
        if run.consumption_at(t) >= BASELINE_LINE * run.forecast:
            poll.append((t, True))
    run.messages["baseline 150% / 5 min"] = poll
    run.messages["baseline, first only"] = poll[:1]


@dataclass
class Row:
    sold_out: int = 0
    warned_before: int = 0
    leads: list[float] = field(default_factory=list)
    after_sell_out: int = 0
    low_skus: int = 0
    low_skus_warned: int = 0
    on_low: int = 0
    total: int = 0


def score(runs: list[SkuRun], policies: list[str]) -> dict[str, Row]:
    rows = {p: Row() for p in policies}
    for run in runs:
        sold_out = run.sold_out_ms
        low = run.final_consumption < 0.8 * run.forecast
        for policy in policies:
            row = rows[policy]
            messages = run.messages.get(policy, [])
            warnings = sorted(t for t, warning in messages if warning)
            row.total += len(messages)
            if low:
                row.low_skus += 1
                row.low_skus_warned += bool(warnings)
                row.on_low += len(warnings)
            if sold_out is None:
                continue
            row.sold_out += 1
            # The warning in force at sell-out: the first one since the last "resolved" before it.
            standing: int | None = None
            for t, warning in sorted(messages):
                if t >= sold_out:
                    break
                if not warning:
                    standing = None
                elif standing is None:
                    standing = t
            if standing is not None:
                row.warned_before += 1
                row.leads.append((sold_out - standing) / MINUTE_MS)
            row.after_sell_out += sum(t > sold_out for t in warnings)
    return rows


def table(rows: dict[str, Row]) -> str:
    policies = list(rows)
    lines = [
        ("sold-out SKUs warned before sell-out", lambda r: f"{r.warned_before} / {r.sold_out}"),
        (
            "median warning lead before sell-out",
            lambda r: f"{statistics.median(r.leads):.1f} min" if r.leads else "-",
        ),
        ("warnings after sell-out", lambda r: str(r.after_sell_out)),
        (
            "warnings on SKUs ending < 80% of forecast",
            lambda r: f"{r.on_low} ({r.low_skus_warned} of {r.low_skus} SKUs)",
        ),
        ("total messages", lambda r: str(r.total)),
    ]
    width = max(len(name) for name, _ in lines)
    cols = [max(len(p), 14) for p in policies]
    out = [" " * width + "  " + "  ".join(p.rjust(c) for p, c in zip(policies, cols, strict=True))]
    for name, cell in lines:
        out.append(
            name.ljust(width)
            + "  "
            + "  ".join(cell(rows[p]).rjust(c) for p, c in zip(policies, cols, strict=True))
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sales", type=int, default=3, help="generated sales (seeds 1..N)")
    parser.add_argument("--skus", type=int, default=6, help="SKUs per sale (cycling through the shapes)")
    parser.add_argument("--detail", action="store_true", help="per SKU: ledger and stockpulse's messages")
    args = parser.parse_args(argv)

    runs: list[SkuRun] = []
    for seed in range(1, args.sales + 1):
        scenario = parse_scenario(generate_sale(seed, args.skus))
        sale_runs, seconds = replay_sale(scenario, prefix=f"ap{seed}-")
        s = scenario.plan.session
        for run in sale_runs:
            baseline(run, s.starts_ms, s.ends_ms)
        runs.extend(sale_runs)
        if args.detail:
            for r in sale_runs:
                so = r.sold_out_ms
                out = "-" if so is None else f"{(so - s.starts_ms) / MINUTE_MS:.0f}"
                print(
                    f"  {r.sku_id:14} F {r.forecast:3} stock {r.on_hand:3} taken {r.final_consumption:3}"
                    f" sold out @{out:>3}  {' '.join(r.labels)}"
                )
        sold = sum(r.sold_out_ms is not None for r in sale_runs)
        print(
            f"sale {seed}: {len(scenario.events)} events, {len(sale_runs)} SKUs, {sold} sold out,"
            f" replayed in {seconds:.0f} s"
        )

    policies = ["baseline 150% / 5 min", "baseline, first only", "stockpulse"]
    print()
    print(table(score(runs, policies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
