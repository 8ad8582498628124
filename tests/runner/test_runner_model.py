"""A generated sale of a few hundred events against an independent in-memory model.

The model below applies the contract's rules directly (section 1 and the replay semantics of
section 2), with no code from the ledger: it must agree with the replay through the real
handlers on every SKU's ledger, pause flag and tier, every order's status and every count.
The SKUs are `dynamic: false` so the tier (and with it `auto_pause_on_red`) is exactly the
contract's formula; the evaluator still runs every virtual minute.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

from stockpulse_local.replay import replay
from stockpulse_local.scenario import parse_scenario

SESSION = "model"
START = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)
MINUTES = 30
PLATFORMS = ("douyin", "kuaishou", "taobao")
SKUS: list[dict[str, Any]] = [
    {
        "sku_id": "m1",
        "on_hand": 40,
        "forecast": 30,
        "hold_minutes": 3,
        "platform_quotas": {"kuaishou": 9},
        "auto_pause_on_red": True,
        "tier_ratios": {"yellow": 0.7, "orange": 0.9, "red": 1.1},
    },
    {"sku_id": "m2", "on_hand": 25, "held": 5, "forecast": 18, "hold_minutes": 2},
    {
        "sku_id": "m3",
        "on_hand": 60,
        "forecast": 45,
        "hold_minutes": 4,
        "platform_quotas": {"taobao": 8, "douyin": 30},
        "auto_pause_on_red": True,
    },
]
for _sku in SKUS:
    _sku.update(dynamic=False, name=_sku["sku_id"])


# -- the generator: a messy sale -----------------------------------------------------------------
def stamp(ms: int, rng: random.Random) -> str:
    """The same instant written with one of several offsets."""
    offset = rng.choice([timedelta(0), timedelta(hours=8), timedelta(hours=-5, minutes=-30)])
    instant = (START + timedelta(milliseconds=ms)).astimezone(timezone(offset))
    text = instant.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}"
    return text + ("Z" if not offset else instant.strftime("%z")[:3] + ":" + instant.strftime("%z")[3:])


def generate(seed: int, n: int) -> dict[str, Any]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    orders: list[tuple[str, str, str]] = []  # order id, sku, platform
    t = 0
    for i in range(n):
        t += rng.choice([0, 0, 500, 1500, 3000, 4000, 6000, 9000])  # ties happen
        t = min(t, MINUTES * 60_000 - 1000)
        sku = rng.choice(SKUS)["sku_id"]
        base = {"event_id": f"g{i:05d}", "occurred_at": stamp(t, rng), "session_id": SESSION, "sku_id": sku}
        x = rng.random()
        if x < 0.45 or not orders:
            order_id = f"o{len(orders):04d}"
            platform = rng.choice(PLATFORMS)
            orders.append((order_id, sku, platform))
            e = {**base, "type": "order.created", "platform": platform, "order_id": order_id}
            e["quantity"] = rng.choice([1, 1, 1, 2, 2, 3, 5])
        elif x < 0.70:
            order_id, own_sku, platform = rng.choice(orders[-25:])
            if rng.random() < 0.04:
                order_id = f"ghost{i}"  # never created: unknown_order
            e = {**base, "type": "order.paid", "platform": platform, "order_id": order_id, "sku_id": own_sku}
            if rng.random() < 0.1:  # another SKU and platform named: the order's own still count
                e.update(sku_id=rng.choice(SKUS)["sku_id"], platform=rng.choice(PLATFORMS))
        elif x < 0.78:
            order_id, own_sku, platform = rng.choice(orders[-40:])
            e = {
                **base,
                "type": "order.cancelled",
                "platform": platform,
                "order_id": order_id,
                "sku_id": own_sku,
            }
        elif x < 0.81:
            e = {**base, "type": "order.created", "platform": "douyin", "order_id": rng.choice(orders)[0]}
            e["quantity"] = 1  # an order id seen before: duplicate
        elif x < 0.84:
            e = {**base, "type": "stock.restocked", "quantity": rng.choice([2, 5, 8])}
        elif x < 0.88:
            e = {
                **base,
                "type": rng.choice(["stock.held", "stock.unheld"]),
                "quantity": rng.choice([1, 3, 6]),
            }
        elif x < 0.92:
            e = {**base, "type": rng.choice(["sku.paused", "sku.resumed", "sku.resumed"])}
        elif x < 0.93:
            e = {
                **base,
                "type": "order.created",
                "sku_id": "nobody",
                "platform": "douyin",
                "order_id": f"x{i}",
            }
            e["quantity"] = 1
        elif x < 0.945:
            bad = rng.choice(
                [{"quantity": "2"}, {"quantity": 2.0}, {"quantity": True}, {"platform": "Douyin!"}]
            )
            e = {
                **base,
                "type": "order.created",
                "platform": "douyin",
                "order_id": f"bad{i}",
                "quantity": 1,
                **bad,
            }
            if rng.random() < 0.3:
                e["occurred_at"] = e["occurred_at"][:19]  # no offset
        else:  # a platform resending an earlier event, identical
            e = dict(rng.choice(events)) if events else {**base, "type": "sku.resumed"}
        events.append(e)
    # Files are not always in time order: move a few events earlier in the file.
    for _ in range(n // 20):
        i, j = sorted(rng.sample(range(len(events)), 2))
        events.insert(i, events.pop(j))
    start = START.isoformat().replace("+00:00", "Z")
    end = (START + timedelta(minutes=MINUTES)).isoformat().replace("+00:00", "Z")
    return {
        "session": {"session_id": SESSION, "starts_at": start, "ends_at": end},
        "skus": SKUS,
        "events": events,
    }


# -- the model: the contract, applied directly -------------------------------------------------------
TIER_RANK = {"none": 0, "yellow": 1, "orange": 2, "red": 3}


@dataclass
class Stock:
    on_hand: int
    held: int
    forecast: int
    ratios: tuple[Fraction, Fraction, Fraction]
    hold_ms: int
    quotas: dict[str, int]
    auto_pause: bool
    reserved: int = 0
    sold: int = 0
    restocked: int = 0
    paused: bool = False
    tier: str = "none"
    used: Counter[str] = field(default_factory=Counter)

    @property
    def available(self) -> int:
        return self.on_hand - self.held - self.reserved - self.sold

    def tier_now(self) -> str:
        consumption = self.reserved + self.sold
        f = self.forecast + Fraction(self.restocked) / self.ratios[2]
        if consumption >= self.ratios[2] * f or (self.available == 0 and consumption > 0):
            return "red"
        if consumption >= self.ratios[1] * f:
            return "orange"
        if consumption >= self.ratios[0] * f:
            return "yellow"
        return "none"

    def settle(self) -> None:
        new = self.tier_now()
        if new == "red" and self.tier != "red" and self.auto_pause:
            self.paused = True
        self.tier = new

    def refusal(self, platform: str, quantity: int) -> str | None:
        if self.paused:
            return "sku_paused"
        if platform in self.quotas and self.used[platform] + quantity > self.quotas[platform]:
            return "quota_exceeded"
        if self.available < quantity:
            return "insufficient_stock"
        return None


@dataclass
class Order:
    sku: str
    platform: str
    quantity: int
    status: str
    hold_until: int


class Model:
    def __init__(self, data: dict[str, Any]) -> None:
        self.session = data["session"]["session_id"]
        self.stock: dict[str, Stock] = {}
        for s in data["skus"]:
            r = s.get("tier_ratios", {})
            ratios = tuple(
                Fraction(str(r.get(k, d))) for k, d in (("yellow", 0.8), ("orange", 1.0), ("red", 1.2))
            )
            self.stock[s["sku_id"]] = Stock(
                s["on_hand"],
                s.get("held", 0),
                s["forecast"],
                ratios,  # type: ignore[arg-type]
                s.get("hold_minutes", 15) * 60_000,
                dict(s.get("platform_quotas", {})),
                s.get("auto_pause_on_red", False),
            )
        self.orders: dict[str, Order] = {}
        self.created: list[str] = []
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    def expire_until(self, t: int) -> None:
        due = sorted(
            (o.hold_until, oid)
            for oid, o in self.orders.items()
            if o.status == "reserved" and o.hold_until <= t
        )
        for _, oid in due:
            o = self.orders[oid]
            s = self.stock[o.sku]
            o.status = "expired"
            s.reserved -= o.quantity
            s.used[o.platform] -= o.quantity
            s.settle()

    def apply(self, e: dict[str, Any] | None, t: int) -> None:
        self.expire_until(t)
        if e is None:
            self.rejected["invalid"] += 1
            return
        if e["event_id"] in self.seen:
            self.counts["duplicate"] += 1
            return
        self.seen.add(e["event_id"])
        if e["session_id"] != self.session or e["sku_id"] not in self.stock:
            self.rejected["unknown_sku"] += 1
            return
        outcome = getattr(self, "_" + e["type"].replace(".", "_"))(e, t)
        if outcome in ("processed", "duplicate"):
            self.counts[outcome] += 1
        else:
            self.rejected[outcome] += 1

    def _order_created(self, e: dict[str, Any], t: int) -> str:
        if e["order_id"] in self.orders:
            return "duplicate"
        s, q = self.stock[e["sku_id"]], e["quantity"]
        self.created.append(e["order_id"])
        reason = s.refusal(e["platform"], q)
        if reason:
            self.orders[e["order_id"]] = Order(e["sku_id"], e["platform"], q, "rejected", t)
            return reason
        self.orders[e["order_id"]] = Order(e["sku_id"], e["platform"], q, "reserved", t + s.hold_ms)
        s.reserved += q
        s.used[e["platform"]] += q
        s.settle()
        return "processed"

    def _order_paid(self, e: dict[str, Any], t: int) -> str:
        o = self.orders.get(e["order_id"])
        if o is None:
            return "unknown_order"
        s = self.stock[o.sku]
        if o.status in ("sold", "refund_required"):
            return "duplicate"
        if o.status == "reserved":  # live: expiries up to t were applied already
            o.status = "sold"
            s.reserved -= o.quantity
            s.sold += o.quantity
        elif s.refusal(o.platform, o.quantity) is None:
            o.status = "sold"
            s.sold += o.quantity
            s.used[o.platform] += o.quantity
        else:
            o.status = "refund_required"
        s.settle()
        return "processed"

    def _order_cancelled(self, e: dict[str, Any], t: int) -> str:
        o = self.orders.get(e["order_id"])
        if o is not None and o.status in ("reserved", "sold"):
            s = self.stock[o.sku]
            if o.status == "reserved":
                s.reserved -= o.quantity
            else:
                s.sold -= o.quantity
            s.used[o.platform] -= o.quantity
            o.status = "released"
            s.settle()
        return "processed"

    def _stock_restocked(self, e: dict[str, Any], t: int) -> str:
        s = self.stock[e["sku_id"]]
        s.on_hand += e["quantity"]
        s.restocked += e["quantity"]
        s.settle()
        return "processed"

    def _stock_held(self, e: dict[str, Any], t: int) -> str:
        s = self.stock[e["sku_id"]]
        if s.available < e["quantity"]:
            return "insufficient_stock"
        s.held += e["quantity"]
        s.settle()
        return "processed"

    def _stock_unheld(self, e: dict[str, Any], t: int) -> str:
        s = self.stock[e["sku_id"]]
        if s.held < e["quantity"]:
            return "insufficient_held"
        s.held -= e["quantity"]
        s.settle()
        return "processed"

    def _sku_paused(self, e: dict[str, Any], t: int) -> str:
        self.stock[e["sku_id"]].paused = True
        return "processed"

    def _sku_resumed(self, e: dict[str, Any], t: int) -> str:
        self.stock[e["sku_id"]].paused = False
        return "processed"

    def report(self) -> dict[str, Any]:
        return {
            "skus": {
                k: {
                    "on_hand": s.on_hand,
                    "held": s.held,
                    "reserved": s.reserved,
                    "sold": s.sold,
                    "available": s.available,
                    "tier": s.tier,
                    "paused": s.paused,
                }
                for k, s in self.stock.items()
            },
            "orders": {oid: self.orders[oid].status for oid in dict.fromkeys(self.created)},
            "events": {
                "processed": self.counts["processed"],
                "duplicate": self.counts["duplicate"],
                "rejected": dict(sorted(self.rejected.items())),
            },
        }


def run_model(data: dict[str, Any]) -> dict[str, Any]:
    """Events in instant order (ties in file order), the strict event format decided independently."""
    model = Model(data)
    timed: list[tuple[int, int, dict[str, Any] | None]] = []
    last = int(datetime.fromisoformat(data["session"]["starts_at"]).timestamp() * 1000)
    for i, e in enumerate(data["events"]):
        good = well_formed(e)
        try:
            t = round(datetime.fromisoformat(e["occurred_at"]).timestamp() * 1000)
            if datetime.fromisoformat(e["occurred_at"]).tzinfo is None:
                t = last
        except ValueError:
            t = last
        last = t
        timed.append((t, i, e if good else None))
    for t, _, e in sorted(timed, key=lambda x: (x[0], x[1])):
        model.apply(e, t)
    model.expire_until(int(datetime.fromisoformat(data["session"]["ends_at"]).timestamp() * 1000))
    return model.report()


def well_formed(e: dict[str, Any]) -> bool:
    if "T" not in str(e.get("occurred_at")) or datetime.fromisoformat(e["occurred_at"]).tzinfo is None:
        return False
    if e["type"].startswith("order."):
        if (
            not isinstance(e.get("platform"), str)
            or not e["platform"].replace("_", "").replace("-", "").isalnum()
        ):
            return False
        if e["platform"] != e["platform"].lower():
            return False
    if e["type"] in ("order.created", "stock.restocked", "stock.held", "stock.unheld"):
        q = e.get("quantity")
        return type(q) is int and 1 <= q <= 10000
    return True


# -- the check -----------------------------------------------------------------------------------
def test_a_generated_sale_replays_as_the_model_says() -> None:
    """One replay (under xdist a shared fixture would run once per worker), every aspect checked."""
    data = generate(seed=20261202, n=420)
    expected = run_model(data)
    # The sale exercises every outcome the model knows.
    assert {"invalid", "unknown_sku", "unknown_order", "insufficient_stock", "insufficient_held"} <= set(
        expected["events"]["rejected"]
    )
    assert {"quota_exceeded", "sku_paused"} <= set(expected["events"]["rejected"])
    assert {"sold", "expired", "released", "rejected", "refund_required"} <= set(expected["orders"].values())
    assert expected["events"]["duplicate"] > 10
    assert any(s["tier"] != "none" for s in expected["skus"].values())

    replayed = replay(parse_scenario(data)).model_dump(mode="json")  # as written
    for sku_id, want in expected["skus"].items():
        got = {k: replayed["skus"][sku_id][k] for k in want}
        assert got == want, sku_id
    assert replayed["orders"].keys() == expected["orders"].keys()
    wrong = {
        k: (replayed["orders"][k], v) for k, v in expected["orders"].items() if replayed["orders"][k] != v
    }
    assert wrong == {}, "order: (replay, model)"
    assert replayed["events"] == expected["events"]
    events = replayed["events"]
    assert events["processed"] + events["duplicate"] + sum(events["rejected"].values()) == len(data["events"])
    assert replayed["invariant_violations"] == 0
