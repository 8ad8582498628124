"""Alerts on the real engine (DynamoDB Local): exactly-once under concurrency, then the evaluator's
cooldown repeat, inhibition by a higher tier, and the resolution after a restock."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import OrderEvent, epoch_ms, parse_event
from stockpulse.domain.ledger import Outcome, Result
from stockpulse.domain.session import SessionConfig, SessionPlan, SkuConfig
from stockpulse.guard import InventoryGuard
from stockpulse_local.dynamodb_local import DynamoDBLocal
from stockpulse_local.template_tables import create_tables

START = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
MIN = 60_000
THREADS = 16
_runs = itertools.count()


class Recording:
    """One publisher shared by every thread's guard (and the outcome sink)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.notices: list[AlertNotice] = []

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        with self._lock:
            self.notices.append(notice)

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        pass

    def kinds(self) -> list[tuple[str, str]]:
        return [(n.kind.value, n.tier.value) for n in self.notices]


@pytest.fixture(scope="module")
def table(dynamodb_local: DynamoDBLocal) -> str:
    return create_tables(dynamodb_local.client(), "alerts-it-", enable_ttl=False)["LedgerTable"]


@pytest.fixture(scope="module")
def clients(dynamodb_local: DynamoDBLocal) -> list[Any]:
    """One client per thread (boto3 clients are thread-safe, but each Lambda has its own)."""
    return [dynamodb_local.client() for _ in range(THREADS)]


class Sale:
    """One session with one SKU (forecast 100, fixed thresholds) on its own day."""

    def __init__(self, clients: list[Any], table: str, on_hand: int = 1000) -> None:
        run = next(_runs)
        self.clients, self.table = clients, table
        self.session = f"conc{run}"
        self.start = START + timedelta(days=run)
        self.clock = VirtualClock(epoch_ms(self.start))
        self.published = Recording()
        self.guard = self.new_guard(clients[0])
        self.guard.store.load_session(
            SessionPlan(
                session=SessionConfig(
                    session_id=self.session, starts_at=self.start, ends_at=self.start + timedelta(hours=3)
                ),
                skus=[SkuConfig(sku_id="hot", name="Hot pot", on_hand=on_hand, forecast=100, dynamic=False)],
            )
        )
        self._n = itertools.count()

    def new_guard(self, client: Any) -> InventoryGuard:
        store = DynamoLedgerStore(client, self.table, expiry_shards=2)
        return InventoryGuard(store=store, clock=self.clock, publisher=self.published, sink=self.published)

    def event(self, kind: str, at_min: float, **kw: Any) -> OrderEvent:
        n = next(self._n)
        raw: dict[str, Any] = {
            "event_id": f"{self.session}-e{n}",
            "type": kind,
            "occurred_at": (self.start + timedelta(minutes=at_min)).isoformat(),
            "session_id": self.session,
            "sku_id": "hot",
            **kw,
        }
        if kind == "order.created":
            raw |= {"order_id": f"{self.session}-o{n}", "platform": "douyin"}
        return parse_event(raw)

    def tick(self, at_min: float) -> None:
        self.clock.set(epoch_ms(self.start) + round(at_min * MIN))
        assert (
            wiring.threshold_evaluator(self.guard, DynamoForecastStore.beside(self.guard.store)).run().failed
            == 0
        )

    def alert_items(self) -> list[dict[str, Any]]:
        items = self.guard.store.alerts(self.session, "hot")
        return sorted(items, key=lambda a: (int(a["at_ms"]), str(a["sk"])))


@pytest.fixture
def sale(clients: list[Any], table: str) -> Iterator[Sale]:
    yield Sale(clients, table)


def cross_together(sale: Sale, at_min: float) -> list[Outcome]:
    """16 threads, each with its own client and guard, reserve 1 unit at the same instant."""
    guards = [sale.new_guard(client) for client in sale.clients]
    events = [sale.event("order.created", at_min, quantity=1) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    outcomes: list[Outcome | BaseException] = [RuntimeError("not run")] * THREADS

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = guards[i].ledger.handle(events[i])
        except BaseException as err:  # reported below
            outcomes[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for o in outcomes:
        if isinstance(o, BaseException):
            raise o
    return [o for o in outcomes if isinstance(o, Outcome)]


@pytest.mark.parametrize("attempt", range(3))
def test_sixteen_threads_cross_yellow_together_one_alert(sale: Sale, attempt: int) -> None:
    assert sale.guard.ledger.handle(sale.event("order.created", 1, quantity=79)).result is Result.PROCESSED
    assert sale.published.notices == []  # 79 < 0.8 x 100
    outcomes = cross_together(sale, 2)
    assert all(o.result is Result.PROCESSED for o in outcomes)
    stock = sale.guard.store.stock(sale.session, "hot")
    assert stock is not None and stock.levels.reserved == 95 and stock.tier.tier == "yellow"
    assert sale.published.kinds() == [("alert", "yellow")]
    assert [(a["kind"], a["tier"]) for a in sale.alert_items()] == [("alert", "yellow")]
    assert stock.tier.pending_alert is None


@pytest.mark.parametrize("attempt", range(3))
def test_sixteen_threads_take_the_last_units_together_one_sold_out(
    clients: list[Any], table: str, attempt: int
) -> None:
    """Issue 10's sold-out latch under the same race: the threads that empty the shelf together
    send one SOLD_OUT, once (then silence until a restock)."""
    sale = Sale(clients, table, on_hand=150)
    assert sale.guard.ledger.handle(sale.event("order.created", 1, quantity=134)).result is Result.PROCESSED
    assert sale.published.kinds() == [("alert", "red")]  # 134 >= 1.2 x 100: one jump, the highest
    outcomes = cross_together(sale, 2)
    assert all(o.result is Result.PROCESSED for o in outcomes)
    stock = sale.guard.store.stock(sale.session, "hot")
    assert stock is not None and stock.levels.available == 0 and stock.tier.tier == "red"
    assert sale.published.kinds() == [("alert", "red"), ("sold_out", "red")]
    assert [(a["kind"], a["tier"]) for a in sale.alert_items()] == [("alert", "red"), ("sold_out", "red")]
    assert stock.tier.pending_alert is None
    for minute in (3, 10, 40, 70):  # no repeat while sold out
        sale.tick(minute)
    assert sale.published.kinds() == [("alert", "red"), ("sold_out", "red")]


def test_cooldown_repeat_inhibition_and_resolution(clients: list[Any], table: str) -> None:
    sale = Sale(clients, table, on_hand=200)
    sale.guard.ledger.handle(sale.event("order.created", 1, quantity=79))
    cross_together(sale, 2)
    assert sale.published.kinds() == [("alert", "yellow")]

    # Issue 10's message budget: only red is ever repeated ("watch" and "slow the pitch" are not
    # worth a reminder), so a standing yellow stays silent well past the old 10-minute cooldown.
    for minute in (3, 6, 11, 12):
        sale.tick(minute)
    assert sale.published.kinds() == [("alert", "yellow")]

    # Red stands: yellow and orange are never repeated, red is, after its own cooldown (now 30
    # minutes, IM only): not at minute 42, at 43 (30 minutes after the red alert at 13). A unit
    # sells every minute, so the 75 left still sell out within the show: "stop selling" stands
    # (a red on which nothing sells any more is not repeated).
    sale.guard.ledger.handle(sale.event("order.created", 13, quantity=30))  # 125 >= 1.2 x 100
    for minute in range(14, 43):
        sale.guard.ledger.handle(sale.event("order.created", minute - 0.25, quantity=1))
        sale.tick(minute)
    assert sale.published.kinds()[1:] == [("alert", "red")]
    sale.tick(43)
    assert sale.published.kinds()[1:] == [("alert", "red"), ("repeat", "red")]
    repeat = sale.published.notices[2]
    assert repeat.at == sale.start + timedelta(minutes=43)
    assert "仍为红色，停止售卖" in repeat.text_zh

    # A restock extends F by 600 / 1.2: consumption 154 < 0.8 x 600, back to none; resolved after
    # five minutes lower, once.
    sale.guard.ledger.handle(sale.event("stock.restocked", 44, quantity=600))
    for minute in (45, 48, 49, 50, 64, 80):
        sale.tick(minute)
    kinds = sale.published.kinds()
    assert kinds[3:] == [("resolved", "none")]
    assert all(tier == "red" for kind, tier in kinds if kind == "repeat")
    resolved = sale.published.notices[3]
    assert resolved.previous_tier.value == "red"
    assert resolved.at == sale.start + timedelta(minutes=49)

    items = [(a["kind"], a["tier"]) for a in sale.alert_items()]
    assert items == [("alert", "yellow"), ("alert", "red"), ("repeat", "red"), ("resolved", "none")]
    # Every message stored is published exactly once (by alert id), none without its item.
    assert sorted(n.alert_id for n in sale.published.notices) == sorted(
        str(a["alert_id"]) for a in sale.alert_items()
    )
