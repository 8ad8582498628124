"""A ledger on DynamoDB Local for the benchmarks: tables from template.yaml, one guard per thread."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.config import Config

from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import OrderEvent, parse_event
from stockpulse.domain.ledger import Outcome
from stockpulse.domain.session import SessionConfig, SessionPlan, SkuConfig
from stockpulse.guard import InventoryGuard
from stockpulse_local.dynamodb_local import DynamoDBLocal
from stockpulse_local.template_tables import create_tables

START = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
_prefixes = itertools.count()


class Quiet:
    """Publisher and outcome sink that only count."""

    def __init__(self) -> None:
        self.notices: list[AlertNotice] = []

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        self.notices.append(notice)

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        pass


@dataclass
class BenchLedger:
    local: DynamoDBLocal
    table: str
    session_id: str = "bench"

    config: Config | None = None  # the guard's client: e.g. without parameter validation

    def client(self) -> Any:
        return self.local.client(config=self.config)

    def guard(self, client: Any | None = None) -> InventoryGuard:
        store = DynamoLedgerStore(client or self.client(), self.table)
        quiet = Quiet()
        return InventoryGuard(store=store, clock=VirtualClock(_ms(START)), publisher=quiet, sink=quiet)

    def load(self, skus: list[SkuConfig]) -> None:
        plan = SessionPlan(
            session=SessionConfig(
                session_id=self.session_id, starts_at=START, ends_at=START + timedelta(hours=3)
            ),
            skus=skus,
        )
        DynamoLedgerStore(self.client(), self.table).load_session(plan)


@contextmanager
def bench_ledger(local: DynamoDBLocal | None = None, config: Config | None = None) -> Iterator[BenchLedger]:
    """Fresh tables on `local` (runs paired on one engine share its JIT and its machine), or on
    a DynamoDB Local of their own."""
    with contextlib.ExitStack() as stack:
        engine = local if local is not None else stack.enter_context(DynamoDBLocal())
        tables = create_tables(engine.client(), f"bench{next(_prefixes)}-", enable_ttl=False)
        yield BenchLedger(engine, tables["LedgerTable"], config=config)


def order_created(order_id: str, sku_id: str, *, seconds: float = 0, quantity: int = 1,
                  platform: str = "douyin", session_id: str = "bench") -> OrderEvent:  # fmt: skip
    return parse_event(
        {
            "event_id": f"c-{order_id}",
            "type": "order.created",
            "occurred_at": (START + timedelta(seconds=seconds)).isoformat(),
            "session_id": session_id,
            "sku_id": sku_id,
            "platform": platform,
            "order_id": order_id,
            "quantity": quantity,
        }
    )


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)
