"""The threshold evaluator on moto: FORECAST item, dynamic thresholds, message hygiene, rebalancing."""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stockpulse import dashboard, wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore, from_item
from stockpulse.domain import sample_log, stock_risk
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.events import OrderEvent, epoch_ms, parse_event
from stockpulse.domain.ledger import Outcome, Result
from stockpulse.domain.session import SessionConfig, SessionPlan, SkuConfig
from stockpulse.domain.tiers import Tier, exact
from stockpulse.evaluator import RunSummary
from stockpulse.guard import InventoryGuard
from stockpulse.ports import ALERTS_TOPIC, SUPPLY_CHAIN, PublishFailed, StoreUnavailable
from stockpulse.records import stock_attributes
from stockpulse.stock_sync import StockSyncFeed, StockSyncUpdate
from stockpulse_local import moto_speedups
from stockpulse_local.channels import Routing
from stockpulse_local.metering import Meter
from stockpulse_local.replay import announces_upward
from stockpulse_local.template_tables import create_tables

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MIN = 60_000


class Recorder:
    """Publisher and outcome sink."""

    def __init__(self) -> None:
        self.notices: list[AlertNotice] = []
        self.outcomes: list[Outcome] = []

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        self.notices.append(notice)

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def kinds(self) -> list[tuple[str, str]]:
        return [(n.kind.value, n.tier.value) for n in self.notices]


class ProcessDied(BaseException):
    """The process dies: unlike an exception (which the guard logs after a committed change),
    nothing runs after it."""


class Crashing(Recorder):
    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        raise ProcessDied("the process died before publishing")


class RestockRefusedOnce(Recorder):
    """The alerts topic takes every notice (`notices`); the supply chain refuses the first restock
    request, as SnsAlertPublisher reports it, and takes the rest (`requests`)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[AlertNotice] = []
        self.refused = False

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        if ALERTS_TOPIC not in skip:
            self.notices.append(notice)
        if notice.tier is Tier.RED and SUPPLY_CHAIN not in skip:
            if not self.refused:
                self.refused = True
                raise PublishFailed("supply chain topic: throttled", taken=skip | {ALERTS_TOPIC})
            self.requests.append(notice)


class World:
    def __init__(
        self, client: Any, table: str, start: datetime, session: str = "s1", recorder: Recorder | None = None
    ) -> None:
        self.session = session
        self.start = start
        self.t0 = epoch_ms(start)
        self.client = client
        self.table = table
        self.clock = VirtualClock(self.t0)
        self.recorder = recorder or Recorder()
        self.store = DynamoLedgerStore(client, table, expiry_shards=2)
        self.guard = InventoryGuard(
            store=self.store, clock=self.clock, publisher=self.recorder, sink=self.recorder
        )
        self.synced: list[StockSyncUpdate] = []
        self.evaluator = wiring.threshold_evaluator(
            self.guard, DynamoForecastStore.beside(self.store), stock_sync=StockSyncFeed(self)
        )
        self._n = 0

    # StockSyncPublisher
    def publish(self, updates: Any) -> None:
        self.synced.extend(updates)

    def load(self, *skus: SkuConfig, minutes: int = 180) -> None:
        plan = SessionPlan(
            session=SessionConfig(
                session_id=self.session, starts_at=self.start, ends_at=self.start + timedelta(minutes=minutes)
            ),
            skus=list(skus),
        )
        self.store.load_session(plan)

    def event(
        self, kind: str, sku: str, at_min: float, guard: InventoryGuard | None = None, **kw: Any
    ) -> Outcome:
        self._n += 1
        raw = {
            "event_id": f"{self.session}-e{self._n}",
            "type": kind,
            "occurred_at": (self.start + timedelta(minutes=at_min)).isoformat(),
            "session_id": self.session,
            "sku_id": sku,
            **kw,
        }
        if kind == "order.created":
            raw.setdefault("order_id", f"{self.session}-o{self._n}")
            raw.setdefault("platform", "douyin")
        return (guard or self.guard).ledger.handle(parse_event(raw))

    def reserve(self, sku: str, units: int, at_min: float, platform: str = "douyin", **kw: Any) -> None:
        outcome = self.event("order.created", sku, at_min, quantity=units, platform=platform, **kw)
        assert outcome.result is Result.PROCESSED, outcome

    def restock(self, sku: str, units: int, at_min: float) -> None:
        assert self.event("stock.restocked", sku, at_min, quantity=units).result is Result.PROCESSED

    def tick(self, at_min: float) -> RunSummary:
        self.clock.set(self.t0 + round(at_min * MIN))
        summary = self.evaluator.run()
        assert summary.failed == 0
        return summary

    def stock(self, sku: str) -> dict[str, Any]:
        item = self.store.stock(self.session, sku)
        assert item is not None
        return stock_attributes(item)

    def forecast(self, sku: str) -> dict[str, Any]:
        """The FORECAST item as the big screen reads it (samples expanded over the run minutes)."""
        response = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"SKU#{self.session}#{sku}"}, "sk": {"S": "FORECAST"}}
        )
        index = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": "SESSIONS"}, "sk": {"S": f"SESSION#{self.session}"}}
        )
        shown = sample_log.shown(from_item(response["Item"]), from_item(index["Item"]))
        assert shown is not None
        return shown

    def alert_items(self, sku: str) -> list[dict[str, Any]]:
        return sorted(self.store.alerts(self.session, sku), key=lambda a: int(a["at_ms"]))


_days = itertools.count()


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[Any, str]]:
    moto_speedups.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            yield client, create_tables(client, "ev-")["LedgerTable"]
    finally:
        moto_speedups.uninstall()


@pytest.fixture
def world(backend: tuple[Any, str]) -> Iterator[World]:
    """Each test has its own session on its own day: the sessions never overlap in time."""
    client, table = backend
    day = next(_days)
    yield World(client, table, START + timedelta(days=day), f"s{day}")


def sku(sku_id: str = "a", **kw: Any) -> SkuConfig:
    args: dict[str, Any] = {"sku_id": sku_id, "name": f"Product {sku_id}", "on_hand": 500, "forecast": 1000}
    args.update(kw)
    return SkuConfig(**args)


# ---------------------------------------------------------------------------- FORECAST item
def test_forecast_item_velocity_eta_restock_band(world: World) -> None:
    world.load(sku("a", dynamic=False, forecast=1800, pack_size=6))
    world.tick(0)
    for minute in range(10):
        world.reserve("a", 10, minute + 0.5)
        world.tick(minute + 1)
    item = world.forecast("a")
    assert set(item) >= {
        "updated_ms", "samples", "velocity", "forecast_eff", "hot_start", "eta_minutes",
        "restock_quantity", "tier",
    }  # fmt: skip
    assert item["updated_ms"] == world.t0 + 10 * MIN
    assert [s[1] for s in item["samples"]] == list(range(0, 110, 10))
    assert [s[2] for s in item["samples"]] == list(range(0, 110, 10))
    assert item["velocity"] == 10
    assert item["eta_minutes"] == 40  # 400 available / 10 per minute
    # To last the 170 minutes left at 10/min, the plan's own pace (1,800 over 180 minutes), with
    # 400 available, in whole packs of 6:
    expected = 10 * 170 - 400
    assert item["restock_quantity"] == math.ceil(expected / 6) * 6
    assert item["tier"] == "none"
    assert item["hot_start"] is False
    stock = world.stock("a")
    assert stock["velocity"] == 10 and stock["restock_units"] == item["restock_quantity"]  # notices use them


def test_no_pace_before_minimum_evidence(world: World) -> None:
    world.load(sku("a", dynamic=False, forecast=180))
    world.tick(0)
    world.reserve("a", 12, 0.5)  # a lively first minute is not a trend
    world.tick(1)
    assert world.forecast("a")["velocity"] == 0 and "eta_minutes" not in world.forecast("a")
    for minute in range(1, 20):
        world.reserve("a", 12, minute + 0.5)
    world.tick(20)  # 19 minutes unseen: spread evenly
    assert world.forecast("a")["velocity"] == 12


def test_velocity_is_recent_not_lifetime_and_eta_absent_when_not_selling(world: World) -> None:
    world.load(sku("a", dynamic=False, forecast=180))
    world.tick(0)
    world.tick(20)
    world.reserve("a", 60, 20.5)
    world.tick(21)
    assert world.forecast("a")["velocity"] > 4  # the last minute weighs most
    world.tick(60)  # a missed run: 39 quiet minutes weigh more than the burst
    assert world.forecast("a")["velocity"] < 1
    world.tick(150)
    item = world.forecast("a")
    assert item["velocity"] == 0
    assert "eta_minutes" not in item
    assert item["restock_quantity"] == 0


def test_samples_keep_the_last_240_minutes(world: World) -> None:
    world.load(sku("a", dynamic=False), minutes=600)
    for minute in range(0, 300, 20):
        world.tick(minute)
    minutes = [(s[0] - world.t0) // MIN for s in world.forecast("a")["samples"]]
    assert minutes == list(range(60, 300, 20))  # (280 - 240, 280]


def test_dynamic_false_leaves_forecast_eff_untouched(world: World) -> None:
    fixed = {"forecast": 100, "on_hand": 1000, "lead_time_days": 7.0, "has_history": False}
    world.load(sku("fixed", dynamic=False, **fixed), sku("dyn", dynamic=True, **fixed))
    world.tick(0)
    for minute in range(1, 4):  # 60 units in 3 minutes: a hot start for the dynamic one
        world.reserve("fixed", 20, minute - 0.5)
        world.reserve("dyn", 20, minute - 0.5)
        world.tick(minute)
    assert exact(world.stock("fixed")["forecast_eff"]) == 100
    assert exact(world.forecast("fixed")["forecast_eff"]) == 100
    assert exact(world.stock("dyn")["forecast_eff"]) != 100


def test_margins_for_long_lead_time_and_no_history(world: World) -> None:
    world.load(sku("a", forecast=200, lead_time_days=7.0, has_history=False))
    world.tick(0)
    assert exact(world.stock("a")["forecast_eff"]) == Fraction(200) * Fraction(85, 100) * Fraction(9, 10)


def test_hot_start_raises_forecast_eff_and_stays_latched(world: World) -> None:
    world.load(sku("a", forecast=100, on_hand=1000))
    world.tick(0)
    for minute in range(1, 11):
        world.reserve("a", 5, minute - 0.5)  # 50% of the forecast in 10 minutes
        world.tick(minute)
    f = exact(world.stock("a")["forecast_eff"])
    assert f > 100
    assert world.forecast("a")["hot_start"] is True
    # Trend = 50 + velocity x 170 min left; F moves half-way there.
    velocity = world.forecast("a")["velocity"]
    assert 1 < velocity <= 5  # 5/min, damped toward the plan's 100/180 in the first 15 minutes
    assert f == (100 + 50 + math.ceil(velocity * 170)) / Fraction(2)
    world.tick(45)  # past 30 minutes, quiet since: the hot start stays remembered
    assert world.forecast("a")["hot_start"] is True
    assert exact(world.stock("a")["forecast_eff"]) >= 100


def test_stock_risk_raises_red_when_sell_out_is_imminent_and_never_pauses(world: World) -> None:
    world.load(sku("a", forecast=1000, on_hand=200, lead_time_days=3.0, auto_pause_on_red=True))
    for minute in range(12):
        world.tick(minute)
        world.reserve("a", 10, minute + 0.5)
    world.tick(12)
    # Far from the forecast: orange once the pace has its minimum evidence and sells the SKU out
    # before the show ends, red once 80 left are under ten minutes of that pace.
    stock = world.stock("a")
    assert (stock["tier"], stock["hard_tier"], stock["risk"]) == ("red", "none", "red")
    assert stock["paused"] is False  # a SKU with stock is never paused by a projection
    assert world.forecast("a")["tier"] == "red"
    assert world.recorder.kinds() == [("alert", "orange"), ("alert", "red")]
    notice = world.recorder.notices[-1]
    assert notice.stock_risk and notice.first_of_tier
    eta = notice.sell_out_eta_minutes
    assert eta is not None and eta < stock_risk.RED_HORIZON_MINUTES
    assert notice.show_minutes_left == 180 - (notice.at - world.start).total_seconds() / 60  # a 3-hour show
    assert notice.restock_quantity > 0
    # It keeps selling until the last unit: the contract's red then pauses it, one sold-out message.
    for minute in range(12, 20):
        world.reserve("a", 10, minute + 0.5)
    assert world.stock("a")["paused"] is True
    assert world.recorder.kinds() == [("alert", "orange"), ("alert", "red"), ("sold_out", "red")]


def test_a_stock_risk_warning_always_carries_a_restock(world: World) -> None:
    """A closing pitch: the plan-anchored estimate still says the stock lasts (its burst fades),
    the stock risk says it sells out within minutes. The red says how many to order."""
    world.load(sku("a", forecast=60, on_hand=150, pack_size=5), minutes=60)
    for minute in range(40):
        world.tick(minute)
        world.reserve("a", 1, minute + 0.5)
    minute = 40
    while not [n for n in world.recorder.notices if n.stock_risk]:
        world.tick(minute)
        world.reserve("a", 12, minute + 0.5)
        minute += 1
    notice = next(n for n in world.recorder.notices if n.stock_risk)
    assert notice.kind.value == "alert" and notice.tier.value in ("orange", "red")
    assert notice.available > 0
    assert notice.restock_quantity > 0 and notice.restock_quantity % 5 == 0
    # The number is the risk's own projection to the end of the show, less what is available:
    # at most what the pace would sell if it did not fade at all.
    left = 60 - (minute - 1) - stock_risk.END_GRACE_MINUTES
    assert notice.restock_quantity <= 12 * left - notice.available + 5
    assert world.stock("a")["restock_units"] == notice.restock_quantity


def test_a_red_raised_between_evaluations_names_the_restock_its_projection_asks(world: World) -> None:
    """The evaluator's last mark found the stock lasting (34 left, two a minute, 20 minutes of show);
    a burst half a minute later takes it past 120% of the forecast with 24 left. That red says
    "sells out in 12 minutes, call the supplier": it names how many, on the evaluator's measured
    pace (not the burst's), in whole packs."""
    world.load(sku("a", forecast=70, on_hand=114, dynamic=False, pack_size=5), minutes=60)
    for minute in range(40):
        world.tick(minute)
        world.reserve("a", 2, minute + 0.5)
    world.tick(40)
    assert not world.stock("a").get("restock_units")  # at the mark: 34 available last the show
    world.reserve("a", 10, 40.5)
    red = world.recorder.notices[-1]
    assert (red.kind, red.tier, red.available, red.velocity_per_minute) == (NoticeKind.ALERT, Tier.RED, 24, 2)
    assert red.sell_out_eta_minutes == 12 and red.show_minutes_left == 19.5
    # Two a minute fading over the 16.5 minutes left before the end's grace: 25.4 units, 2 more
    # than the 24 available, in a pack of 5.
    assert red.restock_quantity == 5
    assert "停止售卖，立即联系供应链补货5件" in red.text_zh and "补货5" in red.sms_zh


def test_an_opening_rush_red_asks_for_the_plans_remaining_demand_not_the_rush_on_top(world: World) -> None:
    """A rush in the first minutes is the plan's demand come early. The red that says "call the
    supplier" names what the plan still expects to sell, less what is left, not the rush's pace
    over the rest of the show on top of it (which asked for several times what shows lacked)."""
    world.load(sku("a", forecast=120, on_hand=200), minutes=120)  # the plan: one a minute
    minute = 0
    while not [n for n in world.recorder.notices if n.tier is Tier.RED]:
        world.tick(minute)
        world.reserve("a", 12, minute + 0.5)
        minute += 1
    red = next(n for n in world.recorder.notices if n.tier is Tier.RED)
    assert (red.kind, red.at, red.available, red.show_minutes_left) == (
        NoticeKind.ALERT,
        world.start + timedelta(minutes=9),
        92,
        111,
    )
    assert red.restock_quantity == 111 - 92  # one a minute to the end, less the 92 left
    assert "补货19" in red.sms_zh and "补货19件" in red.text_zh


def test_an_opening_flash_that_sells_out_in_minutes_is_red_while_stock_is_left(world: World) -> None:
    """A core SKU stocked near its forecast opens with a flash: 40 in its first minute, then 20 a
    minute. Before the pace has its eight minutes of evidence, the red ("call the supply chain")
    comes while there is stock to act on, not as the sell-out: the phone rings once, at the red,
    and the sell-out is one message."""
    world.load(sku("a", forecast=90, on_hand=95, importance="core", auto_pause_on_red=True), minutes=120)
    for minute, units in enumerate((40, 20, 20, 20)):
        world.tick(minute)
        assert world.stock("a")["paused"] is False  # a projection never pauses a SKU with stock
        world.reserve("a", min(units, world.stock("a")["available"]), minute + 0.5)
    assert world.recorder.kinds() == [("alert", "red"), ("sold_out", "red")]
    red, sold_out = world.recorder.notices
    assert red.at == world.start + timedelta(minutes=1) and red.stock_risk and red.available == 55
    assert sold_out.at - red.at == timedelta(minutes=2.5)
    # A hot start: the restock is the plan's demand still to come (0.75 a minute for 119 minutes),
    # less half the 39 units the flash took ahead of it (the plan's demand come early), less the 55
    # left: 89.25 - 19.6 - 55.
    assert red.sms_zh == "【红色预警】Product a(a) 可售55 约1分钟售罄 补货15 立即联系供应链，准备下架。"
    assert "即将售罄：立即联系供应链补货15件，准备下架链接。按当前速度（40件/分钟）约1分钟售罄" in red.text_zh
    routing = Routing.from_template()
    assert ["sms" in routing.channels(n) for n in (red, sold_out)] == [True, False]
    assert world.stock("a")["paused"] is True  # the sell-out did


def test_one_order_after_a_quiet_hour_is_no_rush(world: World) -> None:
    """A core SKU sold 57 of its forecast of 50 in the first 19 minutes, then nothing for over an
    hour; one order of 3 takes it to 120%. Its red quotes the units since the stock risk's
    10-minute window before the evaluator's mark, not that order alone as "2 a minute, sells out
    in 6 minutes": the 12 left last the 19.5 minutes of show, so it reads "no need to stop
    selling" and does not page."""
    world.load(sku("a", forecast=50, on_hand=72, dynamic=False, importance="core"), minutes=120)
    for minute in range(101):
        world.tick(minute)
        if minute < 19:
            world.reserve("a", 3, minute + 0.5)
    quiet = world.stock("a")
    assert quiet["velocity"] == 0  # under the evidence the pace needs
    # The mark was set where the pace fell to nothing, its window 10 minutes before.
    mark_ms, mark_taken, window_ms, window_taken = quiet["pace_mark"]
    assert mark_taken == 57 and mark_ms - window_ms == 10 * MIN and window_taken < 57
    world.reserve("a", 3, 100.5)
    red = world.recorder.notices[-1]
    assert (red.kind, red.tier, red.available) == (NoticeKind.ALERT, Tier.RED, 12)
    minutes = (world.t0 + 100.5 * MIN - window_ms) / MIN
    assert red.velocity_per_minute == pytest.approx((60 - window_taken) / minutes)
    assert red.sell_out_eta_minutes is not None and red.sell_out_eta_minutes > 19.5
    assert "不必停售" in red.text_zh and "本场内不会售罄" in red.text_zh and "停止售卖" not in red.text_zh
    assert "sms" not in Routing.from_template().channels(red)


def test_a_consumption_red_says_stop_selling_only_when_that_is_left_to_do(world: World) -> None:
    """The contract's red (consumption at 120% of the forecast) reads as its reader can act on it:
    auto-pause stopped the sale already (say so, and that nothing sells now); a SKU whose stock
    lasts the show at this pace is not to be stopped; otherwise "stop selling"."""
    core = {"dynamic": False, "importance": "core"}
    world.load(
        sku("paused", forecast=50, on_hand=400, auto_pause_on_red=True, **core),
        sku("lasts", forecast=50, on_hand=400, **core),
        sku("short", forecast=50, on_hand=70, **core),
        minutes=75,  # out of the closing minutes, where a red that asks nothing reaches the feed only
    )
    for minute in range(50):
        world.tick(minute)
        for sku_id in ("paused", "lasts", "short"):
            world.reserve(sku_id, 1, minute + 0.5)
    world.tick(50)
    for sku_id in ("paused", "lasts", "short"):
        world.reserve(sku_id, 11, 50.5)  # 61 of a forecast of 50: red
    reds = {n.sku_id: n for n in world.recorder.notices if n.tier.value == "red" and n.kind.value == "alert"}
    assert world.stock("paused")["paused"] is True and world.stock("lasts")["paused"] is False
    paused, lasts, short = reds["paused"], reds["lasts"], reds["short"]
    assert paused.paused and "已暂停售卖：立即联系供应链" in paused.text_zh
    assert "暂停售卖中" in paused.text_zh and "售罄" not in paused.text_zh  # nothing sells while paused
    assert "Selling is paused" in paused.text_en and "停止售卖" not in paused.sms_zh
    # 339 available at the pace of the last minutes: far past the show's last 24.5 minutes.
    assert not lasts.paused and "不必停售" in lasts.text_zh and "本场内不会售罄" in lasts.text_zh
    assert "no need to stop selling" in lasts.text_en and "不必停售" in lasts.sms_zh
    # 9 available: it sells out within the show; stopping and calling the supplier is the job.
    assert "停止售卖，立即联系供应链" in short.text_zh and "停止售卖" in short.sms_zh
    # All three are core products: the on-call phone rings for the two that ask to act now.
    routing = Routing.from_template()
    assert ["sms" in routing.channels(n) for n in (paused, lasts, short)] == [True, False, True]
    assert "im" in routing.channels(lasts) and "email" in routing.channels(lasts)
    # The big screen's feed says it too, from the alert item (it has no pace of its own).
    items = {k: next(a for a in world.alert_items(k) if a["tier"] == "red") for k in ("lasts", "short")}
    assert items["lasts"]["stock_lasts"] is True and items["short"]["stock_lasts"] is False
    feed = {k: dashboard._alert_view(sku(k), item) for k, item in items.items()}
    assert (
        feed["lasts"].action_zh == "已超预测，但按当前速度库存够卖到本场结束：不必停售，联系供应链补货备用。"
    )
    assert feed["short"].action_zh.startswith("停止售卖")
    # Its sell-out, if it comes, is the red that pages.
    world.reserve("lasts", 339, 51)
    sold_out = world.recorder.notices[-1]
    assert sold_out.kind is NoticeKind.SOLD_OUT and "sms" in routing.channels(sold_out)


def test_a_consumption_orange_whose_stock_lasts_does_not_ask_the_host_to_slow_down(world: World) -> None:
    """The contract's orange (consumption at 100% of the forecast) tells the host to slow the
    pitch so the stock lasts; where it lasts the show at this pace anyway, slowing down only
    loses sales: the IM card, the SMS text and the big screen's feed all say so."""
    world.load(
        sku("lasts", forecast=50, on_hand=400, dynamic=False),
        sku("short", forecast=50, on_hand=60, dynamic=False),
        minutes=60,
    )
    for minute in range(48):
        world.tick(minute)
        for sku_id in ("lasts", "short"):
            world.reserve(sku_id, 1, minute + 0.5)
    world.tick(48)
    for sku_id in ("lasts", "short"):
        world.reserve(sku_id, 2, 48.5)  # 50 of a forecast of 50: orange, 11.5 minutes of show left
    oranges = {
        n.sku_id: n for n in world.recorder.notices if n.tier is Tier.ORANGE and n.kind is NoticeKind.ALERT
    }
    lasts, short = oranges["lasts"], oranges["short"]
    # 350 available at about a unit a minute: far past the show's end.
    assert "主播无需放缓节奏" in lasts.text_zh and "本场内不会售罄" in lasts.text_zh
    assert "：主播放缓节奏" not in lasts.text_zh and "无需放缓节奏" in lasts.sms_zh
    assert "the host need not slow the pitch" in lasts.text_en
    # 10 available at the same pace: it sells out before the show ends; slowing down is the job.
    assert "主播放缓节奏" in short.text_zh and "无需" not in short.text_zh
    items = {k: next(a for a in world.alert_items(k) if a["tier"] == "orange") for k in ("lasts", "short")}
    assert items["lasts"]["stock_lasts"] is True and items["short"]["stock_lasts"] is False
    feed = {k: dashboard._alert_view(sku(k), item) for k, item in items.items()}
    assert feed["lasts"].action_zh == "按当前速度库存够卖到本场结束：主播无需放缓节奏，运营关注库存。"
    assert feed["short"].action_zh == "主播放缓节奏，运营确认补货。"


def test_an_orange_and_a_red_that_ask_nothing_as_the_show_closes_reach_the_big_screen_only(
    world: World,
) -> None:
    """A 60-minute show; two SKUs with a forecast of 50 sell a unit a minute to 45, then 5 more
    at minute 52.5 (orange, 7.5 minutes left). With 400 in stock the stock lasts, and the red at
    120% (10 more at 55.5) says "no need to stop selling": nobody can act on either before the
    show ends. The big screen's feed says so, the report lists both tiers, and no IM card,
    e-mail, SMS or restock request goes out (the alert bench's 20 sales sent seven such messages
    to people in their last eight minutes). With 54 in stock the same orange asks to slow the
    pitch and goes to people, and so does the sell-out at 55.5. The same orange with 11.5 minutes
    left still reached people (the test above)."""
    world.load(
        sku("lasts", forecast=50, on_hand=400, dynamic=False),
        sku("short", forecast=50, on_hand=54, dynamic=False, importance="core"),
        minutes=60,
    )
    sales = {minute + 0.5: 1 for minute in range(45)} | {52.5: 5}
    last = {"lasts": 10, "short": 4}
    for minute in range(59):
        world.tick(minute)
        for sku_id in ("lasts", "short"):
            units = last[sku_id] if minute == 55 else sales.get(minute + 0.5, 0)
            if units:
                world.reserve(sku_id, units, minute + 0.5)
    routing = Routing.from_template()
    said = {(n.sku_id, n.kind, n.tier): n for n in world.recorder.notices}
    for tier in (Tier.ORANGE, Tier.RED):
        calm = said[("lasts", NoticeKind.ALERT, tier)]
        assert calm.channels == [] and routing.channels(calm) == ["feed"]
        assert "本场内不会售罄" in calm.text_zh
    orange = said[("short", NoticeKind.ALERT, Tier.ORANGE)]
    assert "主播放缓节奏" in orange.text_zh and routing.channels(orange) == ["feed", "im", "email"]
    gone = said[("short", NoticeKind.SOLD_OUT, Tier.RED)]
    assert routing.channels(gone) == ["feed", "im", "sms", "email", "supply_chain"]
    items = [a for a in world.alert_items("lasts") if a["kind"] == "alert"]
    assert [(a["tier"], a["feed_only"], a["stock_lasts"]) for a in items] == [
        ("yellow", False, False), ("orange", True, True), ("red", True, True),
    ]  # fmt: skip
    assert dashboard._alert_view(sku("lasts"), items[1]).action_zh.startswith("按当前速度库存够卖到本场结束")


def test_a_red_that_asked_nothing_pages_once_a_pitch_makes_it_ask_to_stop_selling(world: World) -> None:
    """A core SKU (forecast 50, 200 in stock) sells a unit a minute: its orange at 100% and its red
    at 120% (minute 60) both say the stock lasts the show ("no need to stop selling"), and the red
    pages nobody. At minute 70 the host pitches it, ten a minute: at that pace it sells out long
    before the show ends. People hear red again, this time "stop selling", and the on-call phone
    gets its page; the report's tier changes still list one red. Without the pitch nothing more
    goes out."""
    world.load(
        sku("pitched", forecast=50, on_hand=200, dynamic=False, importance="core"),
        sku("calm", forecast=50, on_hand=200, dynamic=False, importance="core"),
        minutes=120,
    )
    for minute in range(80):
        world.tick(minute)
        world.reserve("calm", 1, minute + 0.5)
        world.reserve("pitched", 10 if minute >= 70 else 1, minute + 0.5)
    routing = Routing.from_template()
    reds = [n for n in world.recorder.notices if n.sku_id == "pitched" and n.tier is Tier.RED]
    assert [n.kind for n in reds] == [NoticeKind.ALERT, NoticeKind.ALERT]
    calm, acting = reds
    assert "不必停售" in calm.text_zh and "sms" not in routing.channels(calm)
    assert round((acting.at - calm.at).total_seconds() / 60) >= 10
    assert "停止售卖" in acting.text_zh and "不必停售" not in acting.text_zh and "售罄" in acting.sms_zh
    assert routing.channels(acting) == ["feed", "im", "sms", "email", "supply_chain"]
    items = [a for a in world.alert_items("pitched") if a["kind"] == "alert" and a["tier"] == "red"]
    assert [(a["previous_tier"], a["stock_lasts"]) for a in items] == [("orange", True), ("red", False)]
    assert [a for a in items if announces_upward(a)] == items[:1]  # the report's tier changes
    assert [n.kind for n in world.recorder.notices if n.sku_id == "calm" and n.tier is Tier.RED] == [
        NoticeKind.ALERT
    ]


def test_a_red_stepped_down_to_orange_on_a_trickle_does_not_ask_the_host_to_slow_down(world: World) -> None:
    """A pitch raised red; the SKU now trickles a unit every three minutes. The red steps down to
    the orange its last 45 minutes still hold up, and that resolution is what people read next:
    with 70 left at 0.3 a minute the stock lasts the show, so it must not ask to slow the pitch."""
    world.load(sku("a", forecast=300, on_hand=200, hold_minutes=600), minutes=120)
    for minute in range(10):
        world.tick(minute)
        world.reserve("a", 1, minute + 0.5)
    for minute in range(10, 18):
        world.tick(minute)
        world.reserve("a", 15, minute + 0.5)  # the pitch: red
    for minute in range(18, 80):
        world.tick(minute)
        if minute % 3 == 0:
            world.reserve("a", 1, minute + 0.5)
    said = [(n.kind, n.previous_tier, n.tier) for n in world.recorder.notices]
    assert (NoticeKind.RESOLVED, Tier.RED, Tier.ORANGE) in said
    step_down = next(
        n for n in world.recorder.notices if n.kind is NoticeKind.RESOLVED and n.tier is Tier.ORANGE
    )
    assert "主播无需放缓节奏" in step_down.text_zh and "本场内不会售罄" in step_down.text_zh
    assert "：主播放缓节奏" not in step_down.text_zh and "无需放缓节奏" in step_down.sms_zh
    item = next(a for a in world.alert_items("a") if a["kind"] == "resolved" and a["tier"] == "orange")
    assert item["stock_lasts"] is True
    assert dashboard._alert_view(sku("a"), item).action_zh.endswith("主播无需放缓节奏，运营关注库存。")


def test_a_restock_before_the_resume_says_selling_is_still_paused(world: World) -> None:
    """Auto-pause stopped the sale at red; the restock arrives and the tier falls back, but nobody
    has resumed yet: the resolution says the sale is still stopped, not "back to normal"."""
    world.load(sku("a", forecast=50, on_hand=400, dynamic=False, auto_pause_on_red=True), minutes=120)
    for minute in range(10):
        world.tick(minute)
        world.reserve("a", 6, minute + 0.5)  # 60 of 50 at minute 9: red, paused
    assert world.stock("a")["paused"] is True
    world.restock("a", 100, 10.5)  # F grows by 100 / 1.2: consumption back under yellow
    for minute in range(11, 30):
        world.tick(minute)
    resolved = [n for n in world.recorder.notices if n.kind.value == "resolved"]
    assert len(resolved) == 1 and resolved[0].paused and world.stock("a")["paused"] is True
    notice = resolved[0]
    assert "仍在暂停售卖：确认库存后恢复售卖" in notice.text_zh and "暂停售卖中" in notice.text_zh
    assert "Selling is still paused: resume it when ready" in notice.text_en
    assert "恢复正常，无需操作" not in notice.text_zh and "仍在暂停，确认后恢复售卖" in notice.sms_zh
    # The big screen's feed words it from the alert item: it knows the sale is stopped too.
    assert [(a["kind"], a["tier"], a["paused"]) for a in world.alert_items("a")] == [
        ("alert", "yellow", False),
        ("alert", "orange", False),
        ("alert", "red", True),
        ("resolved", "none", True),
    ]


def test_stock_risk_off_for_a_sku_that_opts_out(world: World) -> None:
    world.load(sku("a", forecast=1000, on_hand=200, alerts={"stock_risk": False}))
    for minute in range(15):
        world.tick(minute)
        world.reserve("a", 10, minute + 0.5)
    assert world.stock("a")["tier"] == "none" and world.recorder.notices == []


def test_unchanged_thresholds_are_not_rewritten(world: World) -> None:
    world.load(sku("a", dynamic=False))
    world.tick(0)
    version = int(world.stock("a")["version"])
    summary = world.tick(1)
    assert not summary.skus[0].thresholds_written
    assert int(world.stock("a")["version"]) == version


def test_an_unchanged_sku_minute_writes_nothing(world: World) -> None:
    world.load(*(sku(f"k{i}") for i in range(5)))
    world.tick(0)
    world.reserve("k0", 3, 0.5)
    world.tick(1)
    meter = Meter(world.client)
    world.tick(2)  # nothing sold since: thresholds, forecast and tier as they were
    # The live sessions, one read for the five SKUs, and the session's run minute (one write a
    # session, whatever its number of SKUs): no write for any SKU.
    assert meter.requests == {"Query": 1, "BatchGetItem": 1, "UpdateItem": 1}
    assert world.forecast("k1")["samples"][-1][0] == world.t0 + 2 * MIN  # the minute is a sample still


@pytest.fixture
def reads(world: World) -> Iterator[list[Counter[str]]]:
    """The sort keys of the items BatchGetItem is asked for, one Counter per `sell_and_evaluate`."""
    read: list[Counter[str]] = [Counter()]

    def count_keys(params: dict[str, Any], **_: Any) -> None:
        read[-1].update(key["sk"]["S"] for table in params["RequestItems"].values() for key in table["Keys"])

    events, hook = world.client.meta.events, "provide-client-params.dynamodb.BatchGetItem"
    events.register(hook, count_keys, unique_id="test-reads")
    yield read
    events.unregister(hook, unique_id="test-reads")


def sell_and_evaluate(world: World, evaluator: Any, minute: int, read: list[Counter[str]]) -> None:
    world.reserve("k1", 3, minute + 0.5)
    world.clock.set(world.t0 + minute * MIN)
    read.append(Counter())
    assert evaluator.run().failed == 0


FIRST_READ, REMEMBERED = Counter(STOCK=3, FORECAST=3), Counter(STOCK=3)  # three SKUs


def test_reads_are_one_batch_get_per_100_stock_items_while_the_forecasts_are_remembered(world: World) -> None:
    world.load(*(sku(f"k{i:03d}", dynamic=False) for i in range(120)))
    meter = Meter(world.client)
    world.tick(0)  # this process's first minute: 120 stock items and 120 FORECAST items
    assert meter.requests["BatchGetItem"] == 3  # 100 SKUs (200 keys), then 20 (40 keys)
    for i in range(0, 120, 7):
        world.reserve(f"k{i:03d}", 2, 0.5)
    meter.reset()
    summary = world.tick(1)  # new paces: thresholds written, no tier moved
    assert sum(s.thresholds_written for s in summary.skus) == len(range(0, 120, 7))
    # The stock items only (100 + 20 keys): the FORECAST items are the ones this process wrote.
    assert meter.requests["BatchGetItem"] == 2 and meter.requests["GetItem"] == 0
    # The changed FORECAST items in one BatchWriteItem per read (up to 25 items each), the
    # selling SKUs' thresholds, the run minute.
    assert meter.requests["BatchWriteItem"] == 2
    assert meter.requests["UpdateItem"] == len(range(0, 120, 7)) + 1


def test_a_process_reads_every_forecast_again_after_another_evaluated_the_session(
    world: World, reads: list[Counter[str]]
) -> None:
    """A cold Lambda beside a warm one: whoever evaluates claims the session first, so the other
    knows at its next minute that the FORECAST items it remembers may be stale."""
    world.load(*(sku(f"k{i}", forecast=600) for i in range(3)))
    other = wiring.threshold_evaluator(world.guard, DynamoForecastStore.beside(world.store))
    for minute, evaluator in enumerate(
        (world.evaluator, world.evaluator, other, world.evaluator, world.evaluator)
    ):
        sell_and_evaluate(world, evaluator, minute, reads)
    assert reads[1:] == [FIRST_READ, REMEMBERED, FIRST_READ, FIRST_READ, REMEMBERED]
    assert [s[1] for s in world.forecast("k1")["samples"]] == [3, 6, 9, 12, 15]  # no minute lost or stale


def test_two_overlapping_runs_both_read_every_forecast_again_next_minute(
    world: World, reads: list[Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that takes longer than its minute: the next one claims the session and writes while
    the first still runs. Each may have overwritten the other's FORECAST items, so neither's
    memory holds; the first finds out as it records the minute, the other at its next claim."""
    world.load(*(sku(f"k{i}", forecast=600) for i in range(3)))
    slow, other = (
        world.evaluator,
        wiring.threshold_evaluator(world.guard, DynamoForecastStore.beside(world.store)),
    )
    sell_and_evaluate(world, slow, 0, reads)
    slow_read = slow.forecasts.read_many

    def overlapped(*args: Any, **kwargs: Any) -> Any:
        sell_and_evaluate(world, other, 1, reads)  # whole, while the slow one is between its read and writes
        reads.append(Counter())
        return slow_read(*args, **kwargs)

    monkeypatch.setattr(slow.forecasts, "read_many", overlapped)
    world.clock.set(world.t0 + MIN)
    assert slow.run().failed == 0
    monkeypatch.undo()
    for minute, evaluator in ((2, other), (3, slow), (4, slow)):
        sell_and_evaluate(world, evaluator, minute, reads)
    # minute 1: the other (its first), the slow one (remembered); then both read everything
    assert reads[2:] == [FIRST_READ, REMEMBERED, FIRST_READ, FIRST_READ, REMEMBERED]
    assert [s[1] for s in world.forecast("k1")["samples"]] == [3, 6, 9, 12, 15]


def test_a_run_that_fails_before_its_claim_leaves_the_named_process_its_memory(
    world: World, reads: list[Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that cannot read the session's plan writes nothing there: it unnames no one, so
    the process that evaluates the session goes on from what it remembers."""
    world.load(*(sku(f"k{i}", forecast=600) for i in range(3)))
    other = wiring.threshold_evaluator(world.guard, DynamoForecastStore.beside(world.store))
    sell_and_evaluate(world, world.evaluator, 0, reads)

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("throttled")

    monkeypatch.setattr(other.catalog, "plan", throttled)
    assert other.run().failed == 1
    monkeypatch.undo()
    sell_and_evaluate(world, world.evaluator, 1, reads)
    assert reads[1:] == [FIRST_READ, REMEMBERED]
    assert [s[1] for s in world.forecast("k1")["samples"]] == [3, 6]


def test_a_sale_evaluated_from_memory_sends_and_stores_what_one_read_every_minute_does(
    world: World, backend: tuple[Any, str]
) -> None:
    """The same sale twice: one process evaluating every minute (FORECAST items remembered), and
    a new process every minute (every item read). Same notices, same FORECAST items."""
    client, table = backend
    twin = World(client, table, START + timedelta(days=next(_days)), f"s-twin-{world.session}")
    skus = [
        sku("steady", forecast=300, on_hand=200),
        sku("rush", forecast=120, on_hand=150, pack_size=6),
        sku("late", forecast=200, on_hand=120),
        sku("quiet", forecast=400, on_hand=500, dynamic=False),
    ]
    pace = {"steady": lambda m: 3, "rush": lambda m: 12 if m < 12 else 1,
            "late": lambda m: 0 if m < 30 else 9, "quiet": lambda m: m % 7 == 0}  # fmt: skip
    items: list[dict[str, Any]] = []
    for each, fresh in ((world, False), (twin, True)):
        each.load(*skus, minutes=70)
        for minute in range(72):
            if fresh:
                each.evaluator = wiring.threshold_evaluator(
                    each.guard, DynamoForecastStore.beside(each.store)
                )
            each.tick(minute)
            for sku_id, units in pace.items():
                if minute < 70 and units(minute) and each.stock(sku_id)["available"] >= units(minute):
                    each.reserve(sku_id, int(units(minute)), minute + 0.5)
        for s in skus:
            stored = each.forecast(s.sku_id)
            stored["samples"] = [[m - each.t0, *rest] for m, *rest in stored["samples"]]
            if "step" in stored:
                stored["step"]["minute"] -= each.t0
            stored["sold_out_spans"] = [
                [a - each.t0, b - each.t0] for a, b in stored.get("sold_out_spans", [])
            ]
            items.append({k: v for k, v in stored.items() if k not in ("pk", "sk", "updated_ms")})

    def said(each: World) -> list[tuple[str, str, str, str]]:
        return [(n.sku_id, n.kind.value, n.tier.value, n.text_zh) for n in each.recorder.notices]

    assert len(said(world)) >= 8 and {n[1] for n in said(world)} >= {"alert", "sold_out"}
    assert said(world) == said(twin)
    assert items[: len(skus)] == items[len(skus) :]


def test_samples_carry_quiet_minutes_and_gaps_between_writes(world: World) -> None:
    world.load(sku("a", dynamic=False, forecast=180))
    world.tick(0)
    world.reserve("a", 5, 0.5)
    for minute in (1, 2, 3, 4, 9):  # 5..8 missed: a gap, not quiet minutes
        world.tick(minute)
    world.reserve("a", 4, 9.5)
    world.tick(10)
    samples = world.forecast("a")["samples"]
    assert [((m - world.t0) // MIN, t) for m, t, _ in samples] == [
        (0, 0), (1, 5), (2, 5), (3, 5), (4, 5), (9, 5), (10, 9),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- live sessions at once
class Failing:
    """A client whose BatchGetItems for one session fail, or wait until released."""

    def __init__(self, client: Any, session: str, release: threading.Event | None = None) -> None:
        self._client, self._session, self._release = client, session, release

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, **kwargs: Any) -> Any:
        ((_, request),) = kwargs["RequestItems"].items()
        if any(f"#{self._session}#" in key["pk"]["S"] for key in request["Keys"]):
            if self._release is None:
                raise ConnectionError("this session's partition is unreachable")
            assert self._release.wait(timeout=60), "never released: the sessions ran one after the other"
        return self._client.batch_get_item(**kwargs)


def failing_forecasts(world: World, release: threading.Event | None = None) -> DynamoForecastStore:
    """The evaluator's forecast store, on a client that fails (or holds) this world's session."""
    client = Failing(world.client, world.session, release)
    return DynamoForecastStore(client, world.table, world.store.request_log)


def two_sessions(world: World) -> World:
    other = World(world.client, world.table, world.start, f"{world.session}b")
    # 5 left after a 125-unit rush: a red that asks to act, so it is repeated half an hour on.
    world.load(sku("a", forecast=100, on_hand=130, dynamic=False))
    other.load(sku("a", forecast=100, on_hand=130, dynamic=False))
    world.reserve("a", 125, 0.5)
    other.reserve("a", 125, 0.5)
    return other


def test_a_failing_session_fails_only_its_own_skus(world: World) -> None:
    other = two_sessions(world)
    world.evaluator.forecasts = failing_forecasts(world)
    world.clock.set(world.t0 + round(30.5 * MIN))
    summary = world.evaluator.run()
    assert summary.failed == 1
    assert [(s.session_id, s.notices) for s in summary.skus] == [(other.session, [NoticeKind.REPEAT])]


def test_a_slow_session_does_not_hold_up_the_others(world: World) -> None:
    other = two_sessions(world)
    release = threading.Event()
    world.evaluator.forecasts = failing_forecasts(world, release)
    # The other session's repeat is published while the slow one is still waiting for its read.
    world.recorder.publish = lambda notice, skip=frozenset(): (
        Recorder.publish(world.recorder, notice),
        release.set(),
    )  # type: ignore[method-assign]
    world.clock.set(world.t0 + round(30.5 * MIN))
    told = len(world.recorder.notices)
    summary = world.evaluator.run()
    assert summary.failed == 0
    assert sorted((s.session_id, tuple(s.notices)) for s in summary.skus) == [
        (world.session, (NoticeKind.REPEAT,)),
        (other.session, (NoticeKind.REPEAT,)),
    ]
    assert world.recorder.notices[told].session_id == other.session  # published first


# ---------------------------------------------------------------------------- message hygiene
def _trickle(world: World, sku_id: str, minutes: Iterable[float]) -> None:
    """One unit sold just before each evaluator run: the SKU keeps selling."""
    for minute in minutes:
        world.reserve(sku_id, 1, minute - 0.25)
        world.tick(minute)


def test_red_repeats_after_the_cooldown_only(world: World) -> None:
    # 125 available at one unit a minute sells out within the show: "stop selling" stands.
    world.load(sku("a", forecast=100, on_hand=250, dynamic=False))
    world.tick(0)
    world.reserve("a", 125, 0.5)  # red on the hot path
    assert world.recorder.kinds() == [("alert", "red")]
    _trickle(world, "a", range(1, 30))
    assert world.recorder.kinds() == [("alert", "red")]
    _trickle(world, "a", [30.5])
    assert world.recorder.kinds() == [("alert", "red"), ("repeat", "red")]
    _trickle(world, "a", [31, *range(32, 61)])
    assert len(world.recorder.notices) == 2
    _trickle(world, "a", [60.5])
    assert len(world.recorder.notices) == 3
    assert [a["kind"] for a in world.alert_items("a")] == ["alert", "repeat", "repeat"]
    repeat = world.recorder.notices[1]
    assert "RED" in repeat.text_en and repeat.first_of_tier is False
    assert "仍为红色，停止售卖" in repeat.text_zh
    assert "pending_alert" not in world.stock("a")


def test_a_red_on_which_nothing_sells_any_more_is_not_repeated(world: World) -> None:
    """Past the red line, then no sale for an hour: "still red, stop selling" would ask to stop a
    sale that is not happening. Nothing repeats, and one more order says nothing new."""
    world.load(sku("a", forecast=100, on_hand=1000, dynamic=False))
    world.tick(0)
    world.reserve("a", 125, 0.5)
    for minute in range(1, 62):
        world.tick(minute)
    assert world.recorder.kinds() == [("alert", "red")]
    assert world.forecast("a")["velocity"] == 0
    world.reserve("a", 1, 62.5)  # one more order: still red, nothing new to say
    assert world.recorder.kinds() == [("alert", "red")]


def test_a_trickle_too_thin_for_the_pace_is_quoted_not_called_no_sales(world: World) -> None:
    """A unit every three minutes is too little evidence for the stock risk's pace (it reads 0),
    but it is a sale: a notice the evaluator sends quotes the plain pace of the last minutes, as
    the slow tip does, not "no sales right now"."""
    world.load(sku("a", forecast=100, on_hand=1000, dynamic=False))
    world.tick(0)
    world.reserve("a", 85, 0.5)  # yellow
    for minute in range(1, 40):
        if minute >= 11 and minute % 3 == 0:
            world.reserve("a", 1, minute - 0.5)
        if minute == 21:
            world.restock("a", 300, 20.5)  # F = 100 + 300 / 1.2: back to none
        world.tick(minute)
    assert world.recorder.kinds() == [("alert", "yellow"), ("resolved", "none")]
    resolved = world.recorder.notices[1]
    assert world.forecast("a")["velocity"] == 0  # the gated pace
    assert resolved.velocity_per_minute == pytest.approx(0.3)
    assert "暂无销量" not in resolved.text_zh and "速度0.3件/分钟" in resolved.text_zh
    assert "本场内不会售罄" in resolved.text_zh


def test_a_per_sku_cooldown_overrides_the_stack(world: World) -> None:
    world.load(sku("a", forecast=100, on_hand=250, dynamic=False, alerts={"cooldown_minutes": 60}))
    world.tick(0)
    world.reserve("a", 125, 0.5)
    _trickle(world, "a", range(1, 60))
    assert world.recorder.kinds() == [("alert", "red")]
    _trickle(world, "a", [60.5])
    assert world.recorder.kinds() == [("alert", "red"), ("repeat", "red")]


def test_yellow_and_orange_are_never_repeated(world: World) -> None:
    world.load(sku("a", forecast=100, on_hand=1000, dynamic=False))
    world.tick(0)
    world.reserve("a", 85, 0.5)
    world.reserve("a", 20, 1.5)  # orange
    for minute in range(2, 120, 3):
        world.tick(minute)
    assert world.recorder.kinds() == [("alert", "yellow"), ("alert", "orange")]


def test_resolution_after_restock_once(world: World) -> None:
    world.load(sku("a", forecast=100, on_hand=100, dynamic=False))
    world.tick(0)
    world.reserve("a", 100, 0.5)  # available 0: red
    world.restock("a", 200, 1.5)  # F = 100 + 200/1.2: back to none
    assert world.stock("a")["tier"] == "none"
    for minute in (2, 4, 6, 7, 8, 9, 20, 40):
        world.tick(minute)
    assert world.recorder.kinds() == [("sold_out", "red"), ("resolved", "none")]
    resolved = world.recorder.notices[1]
    assert resolved.previous_tier is Tier.RED and resolved.kind is NoticeKind.RESOLVED
    assert resolved.at == world.start + timedelta(minutes=7)  # 5 minutes lower, checked every minute
    items = world.alert_items("a")
    assert [(a["kind"], a["tier"]) for a in items] == [("sold_out", "red"), ("resolved", "none")]


def test_stale_pending_alert_is_published_again_once(world: World) -> None:
    world.load(sku("a", forecast=100, on_hand=1000, dynamic=False))
    world.tick(0)
    crashing = Crashing()
    dying = InventoryGuard(store=world.store, clock=world.clock, publisher=crashing, sink=crashing)
    with pytest.raises(ProcessDied):
        world.event("order.created", "a", 0.5, guard=dying, quantity=85, platform="douyin")
    assert world.stock("a")["pending_alert"]["tier"] == "yellow"
    assert world.recorder.notices == []
    world.tick(0.5 + 10 / 60)  # 10 s old: its writer may still be publishing
    assert world.recorder.notices == []
    world.tick(1)  # 30 s old: not yet "older than 30 s"
    assert world.recorder.notices == []
    world.tick(2)
    assert world.recorder.kinds() == [("alert", "yellow")]
    assert "pending_alert" not in world.stock("a")
    world.tick(3)
    world.tick(4)
    assert len(world.recorder.notices) == 1
    assert [a["kind"] for a in world.alert_items("a")] == ["alert"]


def test_a_red_whose_restock_request_failed_pages_nobody_again_when_the_request_is_retried(
    backend: tuple[Any, str],
) -> None:
    """The alerts topic took the red (SMS, IM, e-mail); the restock request was refused. The
    pending announcement keeps what took it, so the evaluator's retry sends the request alone."""
    publisher = RestockRefusedOnce()
    world = World(*backend, START + timedelta(days=next(_days)), "refused", recorder=publisher)
    world.load(sku("a", forecast=100, on_hand=250, dynamic=False))
    world.tick(0)
    world.reserve("a", 125, 0.5)  # red on the hot path; the guard logs the failed publish
    assert publisher.kinds() == [("alert", "red")] and publisher.requests == []
    assert world.stock("a")["pending_alert"]["published_to"] == [ALERTS_TOPIC]
    world.reserve("a", 20, 0.75)  # the stock moves on before the retry
    world.tick(1)  # 30 s old: its writer may still be publishing
    world.tick(2)
    assert publisher.kinds() == [("alert", "red")]
    red = publisher.notices[0]
    assert publisher.requests == [red]  # the units, stock and words people read, not the stock now
    assert red.available == 125 and world.stock("a")["available"] == 105
    assert world.stock("a")["named_restock"] == [red.restock_quantity, 0, world.t0 + MIN // 2]
    assert "pending_alert" not in world.stock("a")
    world.tick(3)
    assert len(publisher.notices) == 1 and len(publisher.requests) == 1


def test_a_red_soon_after_an_orange_names_no_fewer_units_until_stock_arrives(world: World) -> None:
    """Three SKUs sell 10 a minute, go orange at minute 9.5 asking for the same restock, stop
    selling, then a burst takes each past the red line. Within the pace's 10-minute evidence
    window the red asks for no fewer units than the orange did (the estimate fell with the lull:
    its drop is noise, not news); 12 minutes later, or after a restock, it names its own."""
    world.load(
        *(sku(k, forecast=100, on_hand=200, dynamic=False) for k in ("soon", "late", "restocked")),
        minutes=120,
    )
    world.tick(0)
    for minute in range(10):
        for k in ("soon", "late", "restocked"):
            world.reserve(k, 10, minute + 0.5)
        world.tick(minute + 1)
    oranges = {n.sku_id: n for n in world.recorder.notices if n.tier is Tier.ORANGE}
    asked = oranges["soon"].restock_quantity
    assert asked > 0 and {n.restock_quantity for n in oranges.values()} == {asked}
    assert oranges["soon"].at == world.start + timedelta(minutes=9.5)
    for minute in range(11, 23):
        if minute == 13:
            world.restock("restocked", 6, 12.5)
        if minute == 17:
            assert world.stock("soon")["restock_units"] < asked  # the evaluator's own, after the lull
            world.reserve("soon", 25, 16.5)
            world.reserve("restocked", 30, 16.5)
        if minute == 22:
            world.reserve("late", 25, 21.5)
        world.tick(minute)
    reds = {n.sku_id: n for n in world.recorder.notices if n.tier is Tier.RED}
    assert reds["soon"].restock_quantity == asked and f"补货{asked}件" in reds["soon"].text_zh
    assert reds["soon"].at == world.start + timedelta(minutes=16.5)
    assert reds["late"].restock_quantity < asked and reds["restocked"].restock_quantity < asked
    assert world.stock("soon")["named_restock"] == [asked, 0, world.t0 + 16.5 * MIN]


def test_an_auto_pause_under_the_stock_risks_red_tells_people_selling_stopped(world: World) -> None:
    """The rehearsal instant-peak seed 3's cake: red on the stock risk ("sells out in 8 min"),
    then the contract's red (120% of the forecast) paused it with stock left, and nobody heard
    until the show's last second. Now the pause is its own red message to the IM group and
    e-mail (the first red paged the phone already), and the report's tier changes leave it out."""
    world.load(sku("a", forecast=100, on_hand=250, dynamic=True, auto_pause_on_red=True), minutes=120)
    world.tick(0)
    minute = 0
    while not world.stock("a").get("paused"):
        for order in range(4):
            world.event("order.created", "a", minute + 0.2 + order * 0.2, quantity=3)  # 12 a minute
        minute += 1
        world.tick(minute)
        assert minute < 30
    reds = [n for n in world.recorder.notices if n.tier is Tier.RED]
    assert [(n.kind, n.previous_tier, n.paused, n.stock_risk) for n in reds] == [
        (NoticeKind.ALERT, Tier.ORANGE, False, True),
        (NoticeKind.ALERT, Tier.RED, True, False),
    ]
    paused = reds[1]
    assert paused.available > 0 and paused.at < world.start + timedelta(minutes=minute)
    assert paused.text_zh.startswith("【红色预警】") and "已暂停售卖" in paused.text_zh
    assert "暂停售卖中" in paused.sms_zh
    assert Routing.from_template().channels(paused) == ["feed", "im", "email", "supply_chain"]
    assert [announces_upward(a) for a in world.alert_items("a")][-2:] == [True, False]


def _stock_risk_red(world: World, minute: int) -> None:
    """The evaluator's stock risk says red at `minute` (its projection, as stored on the item)."""
    at = world.t0 + minute * MIN
    world.clock.set(at)
    item = world.store.update_stock_fields(world.session, "a", {"risk": "red", "risk_restocked": 0})
    world.evaluator.tiers.settle(world.session, "a", at, item=item)


def test_a_pause_at_the_instant_of_the_stock_risks_red_keeps_both_messages(world: World) -> None:
    """The evaluator says red at minute 2:00.000 and an order stamped 2:00.000 takes the SKU past
    120%: two reds at one instant, the raise and the pause. Both alert items stay (one key per
    kind and tier at an instant had the pause overwrite the raise: the report lost the red)."""
    world.load(sku("a", forecast=100, on_hand=250, dynamic=True, auto_pause_on_red=True), minutes=120)
    world.tick(0)
    world.reserve("a", 100, 1)  # orange
    _stock_risk_red(world, 2)
    world.reserve("a", 20, 2)  # 120% at the same instant: auto-pause
    said = [(a["previous_tier"], a["tier"], a["paused"]) for a in world.alert_items("a")]
    assert said == [("none", "orange", False), ("orange", "red", False), ("red", "red", True)]
    assert [announces_upward(a) for a in world.alert_items("a")] == [True, True, False]


def test_a_sku_a_person_paused_is_not_told_it_was_paused(world: World) -> None:
    """A person paused the SKU under the stock risk's red; then the effective forecast falls and
    consumption passes 120% while it is still paused: nothing new happened to the sale."""
    world.load(sku("a", forecast=100, on_hand=250, dynamic=True, auto_pause_on_red=True), minutes=120)
    world.tick(0)
    world.reserve("a", 100, 1)
    _stock_risk_red(world, 2)
    assert world.event("sku.paused", "a", 3).result is Result.PROCESSED
    told = len(world.recorder.notices)
    at = world.t0 + 5 * MIN
    world.clock.set(at)
    item = world.store.update_stock_fields(world.session, "a", {"forecast_eff": Decimal(80)})
    world.evaluator.tiers.settle(world.session, "a", at, item=item)
    assert world.stock("a")["hard_tier"] == "red" and world.stock("a")["paused"] is True
    assert len(world.recorder.notices) == told


def test_two_runs_in_the_same_minute_send_one_repeat(world: World) -> None:
    world.load(sku("a", forecast=100, on_hand=130, dynamic=False))
    world.tick(0)
    world.reserve("a", 125, 0.5)
    world.tick(30.5)
    world.clock.set(world.t0 + round(30.6 * MIN))
    other = wiring.threshold_evaluator(world.guard, DynamoForecastStore.beside(world.store))
    other.run()
    assert world.recorder.kinds() == [("alert", "red"), ("repeat", "red")]


def test_selling_under_the_band_after_half_an_hour_sends_one_tip_to_the_feed(world: World) -> None:
    world.load(sku("a", forecast=180, on_hand=1000, dynamic=False))
    for minute in range(0, 121):
        world.tick(minute)
    # The band's lower edge is 0.8 x 180 x minute / 180: nothing sold is under it from minute 2.
    assert world.recorder.kinds() == [("slow", "none")]
    tip = world.recorder.notices[0]
    assert tip.at == world.start + timedelta(minutes=39)  # judged from minute 30, ten minutes in a row
    assert tip.velocity_per_minute == 0 and "速度0件/分钟" in tip.text_zh  # nothing sold: says so


def test_a_late_surge_under_the_band_gets_no_tip_to_add_interaction(world: World) -> None:
    """Nothing sold for 33 minutes, then 4 a minute (the plan's pace is 1): under the band from
    minute 2 to minute 40, ten of them after minute 30, but catching up."""
    world.load(sku("a", forecast=180, on_hand=1000, dynamic=False))
    for minute in range(0, 61):
        world.tick(minute)
        if minute == 39:
            assert world.stock("a")["taken"] < 0.8 * minute  # the band's lower edge
        if minute >= 33:
            world.reserve("a", 4, minute + 0.5)
    assert world.recorder.kinds() == []


def test_a_short_sku_selling_under_the_band_gets_no_tip(world: World) -> None:
    """Under the band, but with too little stock for its slow pace (stock risk orange): more
    interaction would only sell it out sooner."""
    world.load(sku("a", forecast=1800, on_hand=65))
    for minute in range(0, 46):
        world.tick(minute)
        world.reserve("a", 1, minute + 0.5)
    assert ("alert", "orange") in world.recorder.kinds()
    assert "slow" not in [kind for kind, _ in world.recorder.kinds()]


def test_the_slow_tip_shows_the_trickle_it_sells(world: World) -> None:
    """A unit every two minutes is too thin for the stock risk's pace (which reads 0), and it is
    exactly what a slow seller does: the tip shows the last ten minutes' mean, 0.5 a minute."""
    world.load(sku("a", forecast=180, on_hand=1000, dynamic=False))
    for minute in range(0, 41):
        world.tick(minute)
        if minute % 2 == 0:
            world.reserve("a", 1, minute + 0.5)
    assert world.recorder.kinds() == [("slow", "none")]
    tip = world.recorder.notices[0]
    assert tip.velocity_per_minute == pytest.approx(0.5)
    assert "速度0.5件/分钟" in tip.text_zh and "velocity 0.5 units/min" in tip.text_en
    assert world.stock("a")["velocity"] == 0  # the stored pace keeps its evidence gate


def test_a_burst_after_the_pace_fell_to_nothing_is_measured_from_the_mark(world: World) -> None:
    """The hot path measures a burst the evaluator has not seen yet from the stock item's pace
    mark. The evaluator keeps the mark only while its pace is 0, so a SKU selling at a measured
    pace costs no stock write for it, and a burst after a quiet spell counts only its own units."""
    world.load(sku("a", forecast=100, on_hand=1000, dynamic=False))
    for minute in range(0, 21):
        world.tick(minute)
        world.reserve("a", 2, minute + 0.5)
    selling = world.stock("a")
    world.tick(21)
    assert world.stock("a")["velocity"] == selling["velocity"] == 2  # a measured, steady pace
    assert world.stock("a").get("pace_mark") == selling.get("pace_mark")  # no write for the mark
    for minute in range(22, 41):  # quiet: the pace falls to nothing, the mark is set where it fell
        world.tick(minute)
    quiet = world.stock("a")
    assert quiet["velocity"] == 0 and quiet["pace_mark"][1] == 42
    world.reserve("a", 45, 40.5)  # 87 of a forecast of 100: yellow from the hot path
    notice = world.recorder.notices[-1]
    assert (notice.kind.value, notice.tier.value) == ("alert", "yellow")
    # 45 units since the mark, over the 1.5 minutes since the start of the minute before.
    assert notice.velocity_per_minute == pytest.approx(45 / 1.5)


def test_restock_suggestion_is_frozen_while_sold_out(world: World) -> None:
    world.load(sku("a", forecast=1000, on_hand=100, dynamic=False))
    for minute in range(10):
        world.tick(minute)
        world.reserve("a", 10, minute + 0.5)
    world.tick(10)
    sold_out = world.forecast("a")["restock_quantity"]
    assert sold_out > 0
    for minute in range(11, 40):  # nothing can sell: the measured pace falls to nothing
        world.tick(minute)
    assert 0 < world.forecast("a")["restock_quantity"] <= sold_out
    assert world.forecast("a")["frozen_velocity"] > 0


# ---------------------------------------------------------------------------- quota rebalancing
QUOTAS = {"douyin": 100, "kuaishou": 300, "taobao": 100}


def test_rebalancing_moves_spare_quota_to_the_fastest_platform(world: World) -> None:
    world.load(sku("a", on_hand=1000, platform_quotas=QUOTAS, rebalance_quotas=True, dynamic=False))
    world.tick(0)
    moves = []
    for minute in range(1, 6):
        world.reserve("a", 8, minute - 0.5, platform="douyin")
        world.reserve("a", 1, minute - 0.5, platform="taobao")
        moves += [s.quota_moves for s in world.tick(minute).skus if s.quota_moves]
    stock = world.stock("a")
    caps, used, headroom = stock["caps"], stock["used"], stock["headroom"]
    assert sum(caps.values()) == sum(QUOTAS.values())  # conserved
    assert all(caps[p] >= used[p] for p in QUOTAS)  # never below usage
    assert all(headroom[p] == caps[p] - used[p] for p in QUOTAS)
    assert caps["douyin"] > QUOTAS["douyin"]  # the fast platform gained
    assert caps["kuaishou"] < QUOTAS["kuaishou"]  # the idle one gave
    assert headroom["douyin"] >= 8 * 15  # a quarter hour at its pace
    # Quota flowed only from the idle platform to the fast one.
    assert moves and all(set(m) == {"douyin", "kuaishou"} and m["douyin"] > 0 for m in moves)
    # The platforms were told their new sellable quantities.
    last = world.synced[-1]
    assert last.sellable["douyin"] == min(stock["available"], headroom["douyin"])


def test_rebalancing_is_off_unless_asked(world: World) -> None:
    world.load(sku("a", on_hand=1000, platform_quotas=QUOTAS, dynamic=False))
    world.tick(0)
    for minute in range(1, 6):
        world.reserve("a", 8, minute - 0.5, platform="douyin")
        world.tick(minute)
    assert world.stock("a")["caps"] == QUOTAS


def test_quota_move_never_takes_a_cap_below_usage(world: World) -> None:
    world.load(sku("a", on_hand=1000, platform_quotas={"douyin": 10, "kuaishou": 10}, dynamic=False))
    world.reserve("a", 8, 0.5, platform="kuaishou")
    forecasts = DynamoForecastStore.beside(world.store)
    assert forecasts.move_quota(world.session, "a", {"douyin": 3, "kuaishou": -3}) is None  # only 2 spare
    assert world.stock("a")["caps"] == {"douyin": 10, "kuaishou": 10}
    moved = forecasts.move_quota(world.session, "a", {"douyin": 2, "kuaishou": -2})
    assert moved is not None
    assert moved.plan.caps == {"douyin": 12, "kuaishou": 8} and moved.levels.headroom == {
        "douyin": 12,
        "kuaishou": 0,
    }
    with pytest.raises(ValueError):
        forecasts.move_quota(world.session, "a", {"douyin": 1})
    # The hot path keeps enforcing the moved caps.
    outcome = world.event("order.created", "a", 1, quantity=1, platform="kuaishou")
    assert outcome.reason is not None and outcome.reason.value == "quota_exceeded"


def test_forecast_numbers_are_decimals(world: World) -> None:
    world.load(sku("a", forecast=7, lead_time_days=7.0, has_history=False))
    world.tick(0)
    f = world.stock("a")["forecast_eff"]
    assert isinstance(f, Decimal) and exact(f) == Fraction(7) * Fraction(765, 1000)


def test_after_the_show_only_unfinished_announcements(world: World) -> None:
    world.load(sku("a", forecast=100, on_hand=1000, dynamic=False), minutes=30)
    world.tick(29)
    crashing = Crashing()
    dying = InventoryGuard(store=world.store, clock=world.clock, publisher=crashing, sink=crashing)
    with pytest.raises(ProcessDied):
        world.event("order.created", "a", 29.5, guard=dying, quantity=85, platform="douyin")
    assert world.tick(31).skus == []  # ended: no forecast, no repeats
    assert world.forecast("a")["updated_ms"] == world.t0 + 29 * MIN
    assert world.recorder.kinds() == [("alert", "yellow")]  # the dead writer's announcement
    world.tick(45)
    assert len(world.recorder.notices) == 1


def test_lambda_handler_runs_the_evaluator(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from stockpulse_local.replay import LambdaContext, load_handler

    monkeypatch.delenv("STOCK_SYNC_TOPIC_ARN", raising=False)
    monkeypatch.setenv("ALERT_COOLDOWN_MINUTES", "3")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    world.load(sku("a", forecast=100, on_hand=1000, dynamic=False))
    world.reserve("a", 125, 0.5)
    forecasts = DynamoForecastStore.beside(world.store)
    wiring.install(wiring.Dependencies(guard=world.guard, dead_letters=None, forecasts=forecasts))  # type: ignore[arg-type]
    try:
        app = load_handler("threshold_evaluator")
        world.clock.set(world.t0 + 4 * MIN)
        counts = app.handler({"detail-type": "Scheduled Event"}, LambdaContext("threshold_evaluator"))
        app.metrics.clear_metrics()
    finally:
        wiring.install(None)
    assert counts["skus_evaluated"] == 1 and counts["sku_failures"] == 0
    assert counts["notices_repeat"] == 1  # the template's cooldown (3 minutes here) applies


def test_malformed_stock_items_fail_only_their_own_skus(world: World) -> None:
    """Stock items that cannot be read (a tier no release wrote, a count that is not a number)
    are those SKUs' failures; the SKUs read in the same batch are still evaluated, after one
    read again without the bad ones (not one per bad SKU)."""
    world.load(*(sku(k, forecast=100, on_hand=1000) for k in ("a", "b", "c", "d")))
    for k in ("a", "b", "c", "d"):
        world.reserve(k, 10, 0.5)
    for k, value in (("b", {"S": "purple"}), ("d", {"S": "many"})):
        world.client.update_item(
            TableName=world.table,
            Key={"pk": {"S": f"SKU#{world.session}#{k}"}, "sk": {"S": "STOCK"}},
            UpdateExpression="SET tier = :t" if k == "b" else "SET available = :t",
            ExpressionAttributeValues={":t": value},
        )
    world.clock.set(world.t0 + 5 * MIN)
    world.store.request_log.clear()
    summary = world.evaluator.run()
    assert summary.failed == 2
    assert sorted(s.sku_id for s in summary.skus) == ["a", "c"]
    assert world.store.request_log.count("BatchGetItem") == 2
    forecasts = DynamoForecastStore.beside(world.store).read_many(world.session, ["a", "c"])
    assert all(previous is not None for _, previous in forecasts.values())
