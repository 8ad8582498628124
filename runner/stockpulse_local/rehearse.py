"""Generate a realistic live sale to rehearse: a scenario file (contract section 2).

What a real show looks like, in the shop's words: the host pitches a product and orders arrive
in a pulse that fades over a few minutes; most buyers pay within minutes, some only after their
hold ran out (the payment re-takes stock, or needs a refund), some never pay (the hold expires);
a few cancel, some after paying; platforms resend events (same `event_id`, same content);
the shop restocks its best seller mid-show and releases part of its VIP allocation.

Shapes:
- `slow-burn`: three hours of regular pitches that grow slowly; the best seller crosses its
  lines late in the show.
- `instant-peak`: the show opens with a flash sale: most of the demand in the first quarter of
  an hour; the best seller pauses itself on red, is restocked and resumed by ops.
- `late-surge`: a quiet start, then the host's closing pitches bring most of the orders.
- `multi-platform`: the same room simulcast on douyin, kuaishou and taobao for an hour and a
  half, with per-platform quotas on the shared pool (the README's demo).

Everything is drawn from one `random.Random(seed)`: the same arguments give the same file.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from stockpulse.domain.events import MINUTE_MS

SHAPES = ("slow-burn", "instant-peak", "late-surge", "multi-platform")
DEFAULT_SHAPE = "multi-platform"
DEFAULT_EVENTS = 1000
DEFAULT_SKUS = 3
DEFAULT_SEED = 7
SHOW_TZ = timezone(timedelta(hours=8))  # an evening show in China: times carry +08:00
SHOW_START = datetime(2026, 11, 25, 20, 0, tzinfo=SHOW_TZ)
HOLD_MINUTES = 15

# Expected events per order: created + paid (~0.85) + cancels (~0.05) + resends (~2.5%).
_EVENTS_PER_ORDER = 1.93
_MEAN_QUANTITY = 1.3
# How hot each SKU runs: demand / forecast, best seller first (more SKUs repeat the tail).
_DEMAND_RATIOS = (1.9, 1.15, 0.75, 0.5)
_POPULARITY = (1.0, 0.8, 0.6, 0.45)

_PREFIX = {"douyin": "dy", "kuaishou": "ks", "taobao": "tb"}
_PRODUCTS = (
    ("cake-osmanthus", "Osmanthus cake, 6 pcs"),
    ("tea-longjing", "Longjing tea 250 g"),
    ("noodles-chongqing", "Chongqing noodles, 5 packs"),
    ("honey-acacia", "Acacia honey 500 g"),
    ("rice-wuchang", "Wuchang rice 5 kg"),
    ("dates-hetian", "Hetian jujubes 1 kg"),
    ("beef-jerky", "Spicy beef jerky 200 g"),
    ("walnuts-yunnan", "Yunnan walnuts 1 kg"),
)


@dataclass(frozen=True)
class ShapeSpec:
    minutes: int
    platforms: tuple[tuple[str, float], ...]  # platform, share of the audience
    quotas: bool = False
    auto_pause_best_seller: bool = False
    background: float = 0.12  # share of orders that come outside any pitch pulse


SPECS: dict[str, ShapeSpec] = {
    "slow-burn": ShapeSpec(180, (("douyin", 1.0),)),
    "instant-peak": ShapeSpec(90, (("douyin", 1.0),), auto_pause_best_seller=True, background=0.08),
    "late-surge": ShapeSpec(150, (("kuaishou", 1.0),), background=0.1),
    "multi-platform": ShapeSpec(
        90, (("douyin", 0.55), ("kuaishou", 0.3), ("taobao", 0.15)), quotas=True, background=0.1
    ),
}


@dataclass(frozen=True)
class RehearsalOptions:
    shape: str = DEFAULT_SHAPE
    skus: int = DEFAULT_SKUS
    stock: int | None = None  # on_hand per SKU; default: sized from the forecast
    forecast: int | None = None  # per SKU; default: sized from the events
    events: int = DEFAULT_EVENTS
    seed: int = DEFAULT_SEED
    minutes: int | None = None  # the show's length; default: the shape's

    def __post_init__(self) -> None:
        if self.shape not in SPECS:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}")
        if not 1 <= self.skus <= 50:
            raise ValueError("skus must be between 1 and 50")
        if self.events < 10:
            raise ValueError("events must be at least 10")
        if self.stock is not None and self.stock < 0:
            raise ValueError("stock must be >= 0")
        if self.forecast is not None and self.forecast < 1:
            raise ValueError("forecast must be >= 1")
        if self.minutes is not None and not 10 <= self.minutes <= 24 * 60:
            raise ValueError("minutes must be between 10 and 1440")


@dataclass
class _Emitter:
    """Collects events with their instants; a stable sort keeps causal order at equal instants."""

    session_id: str
    events: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    _seq: int = 0
    _ids: int = 0

    def emit(self, at_ms: int, body: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        event = {"event_id": f"ev-{self._ids:06d}", **body}
        self.add(at_ms, event)
        return event

    def add(self, at_ms: int, event: dict[str, Any]) -> None:
        self._seq += 1
        self.events.append((at_ms, self._seq, event))


def _stamp(at_ms: int) -> str:
    """RFC 3339 with the show's offset and milliseconds: 2026-11-25T20:02:13.250+08:00."""
    instant = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(SHOW_TZ)
    ms = at_ms % 1000
    return instant.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}+08:00"


def _pitches(shape: str, rng: random.Random, minutes: int, rank: int, skus: int) -> list[tuple[float, float]]:
    """(minute, weight) of the host's pitches of one SKU: when its order pulses start.

    Laid out as shares of the show, so a short rehearsal keeps its shape."""
    gap = max(3.0, minutes / 10)  # between two pitches of the same product
    offset = rank * gap / max(1, skus)  # products take turns
    if shape == "slow-burn":
        times = [0.04 * minutes + offset + gap * k for k in range(int(minutes / gap) + 1)]
        pitches = [(t, 1.0 + 0.6 * t / minutes + rng.uniform(-0.2, 0.2)) for t in times]
    elif shape == "instant-peak":
        opening = (0.5 + 0.5 * rank, 14.0)
        reminders = [(0.2 * minutes + offset + gap * k, rng.uniform(0.6, 1.2)) for k in range(6)]
        pitches = [opening, *reminders]
    elif shape == "late-surge":
        early = [(0.05 * minutes + offset + 1.6 * gap * k, rng.uniform(0.3, 0.6)) for k in range(4)]
        late = [(0.68 * minutes + offset + 0.7 * gap * k, rng.uniform(2.5, 4.0)) for k in range(4)]
        pitches = early + late
    else:  # multi-platform: a pitch every ~tenth of the show, an unpredictable room
        times = [0.025 * minutes + offset + gap * k + rng.uniform(-0.15, 0.15) * gap for k in range(10)]
        pitches = [(t, rng.uniform(0.5, 2.0)) for t in times]
    return [(max(0.1, t), w) for t, w in pitches if t < minutes * 0.96]


def _order_minute(
    rng: random.Random, pitches: list[tuple[float, float]], minutes: int, background: float
) -> float:
    """When one order is placed: in the pulse after a pitch (fading within minutes), or any time."""
    if not pitches or rng.random() < background:
        return rng.uniform(0.2, minutes * 0.99)
    total = sum(w for _, w in pitches)
    pick = rng.uniform(0, total)
    start = pitches[-1][0]
    for at, weight in pitches:
        pick -= weight
        if pick <= 0:
            start = at
            break
    delay = rng.expovariate(1 / 1.6)
    return min(start + 0.1 + delay, minutes * 0.995)


def _quantity(rng: random.Random) -> int:
    x = rng.random()
    return 1 if x < 0.78 else 2 if x < 0.94 else 3 if x < 0.985 else 5


def _platform(rng: random.Random, platforms: tuple[tuple[str, float], ...]) -> str:
    pick = rng.random()
    for name, share in platforms:
        pick -= share
        if pick <= 0:
            return name
    return platforms[-1][0]


def generate(options: RehearsalOptions) -> dict[str, Any]:
    """A scenario dict (contract section 2), events in time order."""
    rng = random.Random(f"stockpulse-rehearsal/{options.shape}/{options.seed}")
    spec = SPECS[options.shape]
    minutes = options.minutes or spec.minutes
    start_ms = int(SHOW_START.timestamp() * 1000)
    end_ms = start_ms + minutes * MINUTE_MS
    session_id = f"rehearsal-{options.shape}-{options.seed}"
    emitter = _Emitter(session_id)

    n_orders = max(options.skus, round(options.events / _EVENTS_PER_ORDER))
    weights = [_POPULARITY[min(i, len(_POPULARITY) - 1)] for i in range(options.skus)]
    per_sku = [round(n_orders * w / sum(weights)) for w in weights]

    skus: list[dict[str, Any]] = []
    order_no: dict[str, int] = {}
    for rank in range(options.skus):
        sku_id, name = _PRODUCTS[rank % len(_PRODUCTS)]
        lot = rank // len(_PRODUCTS) + 1
        if lot > 1:
            sku_id, name = f"{sku_id}-{lot}", f"{name} (lot {lot})"
        ratio = _DEMAND_RATIOS[min(rank, len(_DEMAND_RATIOS) - 1)]
        demand = per_sku[rank] * _MEAN_QUANTITY
        forecast = options.forecast or max(5, round(demand / ratio))
        on_hand = options.stock if options.stock is not None else max(5, round(forecast * 1.25))
        held = round(on_hand * 0.05) if rank % 2 == 0 else 0
        sku: dict[str, Any] = {
            "sku_id": sku_id,
            "name": name,
            "on_hand": on_hand,
            "held": held,
            "forecast": forecast,
            "lead_time_days": 7 if rank % 3 == 1 else 3,
            "has_history": rank % 3 != 2,
            "hold_minutes": HOLD_MINUTES,
            "dynamic": True,
            "auto_pause_on_red": spec.auto_pause_best_seller and rank == 0,
            "importance": "core" if rank == 0 else "normal",
        }
        if spec.quotas and len(spec.platforms) > 1 and rank % 2 == 0:
            # The smaller platforms may not drain the shared pool: caps a bit above their share.
            sku["platform_quotas"] = {
                name: max(1, round(on_hand * min(1.0, share * 1.4))) for name, share in spec.platforms[1:]
            }
        skus.append(sku)

        pitches = _pitches(options.shape, rng, minutes, rank, options.skus)
        for _ in range(per_sku[rank]):
            minute = _order_minute(rng, pitches, minutes, spec.background)
            platform = _platform(rng, spec.platforms)
            order_no[platform] = order_no.get(platform, 0) + 1
            order_id = f"{_PREFIX.get(platform, platform[:2])}-{order_no[platform]:06d}"
            _order(emitter, rng, start_ms + round(minute * MINUTE_MS), end_ms, sku_id, platform, order_id)

        _stock_moves(emitter, rng, options.shape, sku, rank, start_ms, minutes)

    events = _resends(rng, emitter)
    return {
        "session": {
            "session_id": session_id,
            "starts_at": _stamp(start_ms),
            "ends_at": _stamp(end_ms),
        },
        "skus": skus,
        "events": [_with_stamp(at, e) for at, e in events],
    }


def _order(
    emitter: _Emitter,
    rng: random.Random,
    created_ms: int,
    end_ms: int,
    sku_id: str,
    platform: str,
    order_id: str,
) -> None:
    base = {"session_id": emitter.session_id, "sku_id": sku_id, "platform": platform, "order_id": order_id}
    emitter.emit(created_ms, {"type": "order.created", **base, "quantity": _quantity(rng)})
    hold_ms = HOLD_MINUTES * MINUTE_MS
    fate = rng.random()
    paid_ms: int | None = None
    if fate < 0.72:  # pays within minutes
        paid_ms = created_ms + min(round(rng.expovariate(1 / 1.6) * MINUTE_MS), hold_ms - 20_000) + 1500
    elif fate < 0.82:  # takes its time, still inside the hold
        paid_ms = created_ms + round(rng.uniform(4, HOLD_MINUTES - 0.5) * MINUTE_MS)
    elif fate < 0.86:  # pays after the hold ran out: re-take or refund
        paid_ms = created_ms + hold_ms + round(rng.uniform(0.2, 10) * MINUTE_MS)
    elif fate < 0.905:  # changes their mind before paying
        cancel_ms = created_ms + round(rng.uniform(0.3, HOLD_MINUTES - 1) * MINUTE_MS)
        if cancel_ms < end_ms:
            emitter.emit(cancel_ms, {"type": "order.cancelled", **base})
    # else: never pays, the hold expires
    if paid_ms is not None and paid_ms < end_ms:
        emitter.emit(paid_ms, {"type": "order.paid", **base})
        if rng.random() < 0.015:  # cancelled after paying, before shipping
            cancel_ms = paid_ms + round(rng.uniform(1, 20) * MINUTE_MS)
            if cancel_ms < end_ms:
                emitter.emit(cancel_ms, {"type": "order.cancelled", **base})


def _stock_moves(
    emitter: _Emitter,
    rng: random.Random,
    shape: str,
    sku: dict[str, Any],
    rank: int,
    start_ms: int,
    minutes: int,
) -> None:
    """A restock of the best sellers mid-show, and part of the VIP allocation released."""
    base = {"session_id": emitter.session_id, "sku_id": sku["sku_id"]}
    if rank <= 1 or rank % 3 == 0:
        share = {"instant-peak": 0.25, "late-surge": 0.75}.get(shape, 0.55)
        at = start_ms + round((share + rng.uniform(-0.05, 0.05)) * minutes * MINUTE_MS)
        quantity = max(1, round(sku["forecast"] * rng.uniform(0.3, 0.45)))
        emitter.emit(at, {"type": "stock.restocked", **base, "quantity": quantity})
        if sku["auto_pause_on_red"]:  # ops resume selling once the new stock is in
            emitter.emit(
                min(at + 90_000, start_ms + minutes * MINUTE_MS - 1000), {"type": "sku.resumed", **base}
            )
    if sku["held"] >= 2:
        at = start_ms + round(rng.uniform(0.6, 0.8) * minutes * MINUTE_MS)
        emitter.emit(at, {"type": "stock.unheld", **base, "quantity": sku["held"] // 2})


def _resends(rng: random.Random, emitter: _Emitter) -> list[tuple[int, dict[str, Any]]]:
    """Time order, ids numbered in that order, ~2.5% of events delivered twice (identical copies)."""
    ordered = sorted(emitter.events, key=lambda e: (e[0], e[1]))
    order_ids: dict[str, str] = {}
    counters: dict[str, int] = {}
    out: list[tuple[int, dict[str, Any]]] = []
    for n, (at, _, event) in enumerate(ordered, start=1):
        event["event_id"] = f"ev-{n:06d}"
        if "order_id" in event:
            if event["order_id"] not in order_ids:
                prefix = event["order_id"].split("-")[0]
                counters[prefix] = counters.get(prefix, 0) + 1
                order_ids[event["order_id"]] = f"{prefix}-{counters[prefix]:06d}"
            event["order_id"] = order_ids[event["order_id"]]
        out.append((at, event))
        if rng.random() < 0.025:
            out.append((at, dict(event)))
    return out


def _with_stamp(at_ms: int, event: dict[str, Any]) -> dict[str, Any]:
    # Field order as platforms write it: id, type, time, then the rest.
    stamped = {"event_id": event["event_id"], "type": event["type"], "occurred_at": _stamp(at_ms)}
    stamped.update((k, v) for k, v in event.items() if k not in stamped)
    return stamped


def default_out_dir(options: RehearsalOptions) -> str:
    return f"out/rehearsal-{options.shape}-{options.seed}"


def describe(scenario: dict[str, Any]) -> str:
    """One line for the terminal: what was generated."""
    s = scenario["session"]
    minutes = math.ceil(
        (datetime.fromisoformat(s["ends_at"]) - datetime.fromisoformat(s["starts_at"])).total_seconds() / 60
    )
    platforms = sorted({e["platform"] for e in scenario["events"] if "platform" in e})
    return (
        f"{len(scenario['events'])} events, {len(scenario['skus'])} SKUs, {minutes} min show"
        f" on {', '.join(platforms) or 'no platform'}"
    )
