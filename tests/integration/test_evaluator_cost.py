"""The evaluator's writes on the real engine (DynamoDB Local), in the units it reports.

A SKU selling on three platforms every minute of a four-hour show, rebalancing quotas: its
FORECAST item (240 minutes of samples, per-platform usage) is rewritten every minute, and each
of those writes stays within one write unit (1 KB), the first minute as the last.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

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
from stockpulse_local.metering import Meter
from stockpulse_local.template_tables import create_tables

START = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
MIN = 60_000
QUOTAS = {"douyin": 400_000, "kuaishou": 400_000, "taobao": 400_000}


class Quiet:
    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        pass

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        pass


def test_a_busy_minute_writes_at_most_1_kb_of_forecast(dynamodb_local: DynamoDBLocal) -> None:
    client = dynamodb_local.client()
    table = create_tables(client, "cost-", enable_ttl=False)["LedgerTable"]
    store = DynamoLedgerStore(client, table)
    minutes = 240
    store.load_session(
        SessionPlan(
            session=SessionConfig(
                session_id="big", starts_at=START, ends_at=START + timedelta(minutes=minutes)
            ),
            skus=[
                SkuConfig(
                    sku_id="hot", name="Hot", on_hand=1_000_000, forecast=60_000,
                    platform_quotas=QUOTAS, rebalance_quotas=True,
                )
            ],
        )
    )  # fmt: skip
    t0 = epoch_ms(START)
    clock = VirtualClock(t0)
    guard = InventoryGuard(store=store, clock=clock, publisher=Quiet(), sink=Quiet())
    evaluator = wiring.threshold_evaluator(guard, DynamoForecastStore.beside(store))
    meter = Meter(client)
    orders = itertools.count()
    forecast_units: list[float] = []
    for minute in range(minutes):
        clock.set(t0 + minute * MIN)
        meter.reset()
        assert evaluator.run().failed == 0
        forecast_units.append(meter.units["BatchWriteItem"])  # the one SKU's FORECAST item
        for platform, quantity in zip(QUOTAS, (97, 131 + minute % 50, 23), strict=True):  # ~270 a minute
            raw: dict[str, Any] = {
                "event_id": f"e{next(orders)}", "type": "order.created", "session_id": "big", "sku_id": "hot",
                "occurred_at": (START + timedelta(minutes=minute + 0.5)).isoformat(),
                "order_id": f"o{minute}-{platform}", "platform": platform, "quantity": quantity,
            }  # fmt: skip
            clock.set(t0 + minute * MIN + 30_000)
            assert guard.ledger.handle(parse_event(raw)).result is Result.PROCESSED
    assert all(units == 1.0 for units in forecast_units[1:]), forecast_units  # rewritten every minute, 1 KB
    assert forecast_units[0] == 1.0
