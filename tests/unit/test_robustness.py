"""Issue 11 ("nothing gets in, nothing gets stuck"): each finding's regression test, on moto.

The handler tests go through `order_stream` exactly as Lambda calls it (Kinesis-shaped batches,
partial batch failures); the ledger tests go through the guard.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from support import OutcomeRecorder, RecordingPublisher, kinesis_record, session_plan

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.adapters.sqs import SqsDeadLetters
from stockpulse.domain.ledger import StockLevels
from stockpulse.guard import InventoryGuard
from stockpulse_local.replay import LambdaContext, Stack, load_handler, open_backend

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SESSION = "live-11"
TEA, CAKE = "tea", "cake"


@dataclass
class Handlers:
    stack: Stack
    store: DynamoLedgerStore
    guard: InventoryGuard
    clock: VirtualClock
    outcomes: OutcomeRecorder
    order_stream: ModuleType

    def stream(self, records: list[dict[str, Any]]) -> list[str]:
        response = self.order_stream.handler({"Records": records}, LambdaContext("order_stream"))
        return [f["itemIdentifier"] for f in response["batchItemFailures"]]

    def levels(self, sku_id: str) -> StockLevels:
        item = self.store.stock(SESSION, sku_id)
        assert item is not None
        return item.levels

    def status(self, order_id: str) -> str | None:
        order = self.store.order(SESSION, order_id)
        return order.status.value if order else None

    def rejected_messages(self) -> list[dict[str, Any]]:
        sqs, url = self.stack.backend.sqs, self.stack.rejected_queue_url
        messages: list[dict[str, Any]] = []
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in got:
                messages.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return messages


@pytest.fixture
def handlers() -> Iterator[Handlers]:
    with open_backend("moto") as backend:
        stack = Stack.create(backend, prefix=f"r{uuid.uuid4().hex[:8]}-")
        store = stack.store
        plan = session_plan(
            [
                {"sku_id": TEA, "on_hand": 10, "forecast": 100},
                {"sku_id": CAKE, "on_hand": 5, "forecast": 100},
            ],
            session_id=SESSION,
        )
        store.load_session(plan)
        clock = VirtualClock(plan.session.starts_ms)
        outcomes = OutcomeRecorder()
        guard = InventoryGuard(store=store, clock=clock, publisher=RecordingPublisher(), sink=outcomes)
        wiring.install(
            wiring.Dependencies(
                guard=guard, dead_letters=SqsDeadLetters(backend.sqs, stack.rejected_queue_url)
            )
        )
        try:
            yield Handlers(stack, store, guard, clock, outcomes, load_handler("order_stream"))
        finally:
            wiring.install(None)


def order(
    kind: str, event_id: str, minute: int, sku_id: str, order_id: str, quantity: int | None = None
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "event_id": event_id,
        "type": kind,
        "occurred_at": f"2026-11-25T20:{minute:02d}:00Z",
        "session_id": SESSION,
        "sku_id": sku_id,
        "platform": "douyin",
        "order_id": order_id,
    }
    if quantity is not None:
        raw["quantity"] = quantity
    return raw


# ========================================================================== item 11: base64
@pytest.mark.parametrize("data", ["abc", "not base64!", "eyJ0eXBlIjo=x", "€€€€"])
def test_non_base64_kinesis_data_is_rejected_invalid_not_failed(handlers: Handlers, data: str) -> None:
    """Issue 11, finding 11: Kinesis data that is not base64 failed its record (Powertools' model
    validation) on every retry, holding its SKU back; it is one `invalid` rejection, dead-lettered."""
    bad = kinesis_record(b"", TEA, 1)
    bad["kinesis"]["data"] = data
    good = kinesis_record(order("order.created", "e1", 1, TEA, "o1", 1), TEA, 2)
    assert handlers.stream([bad, good]) == []
    assert handlers.status("o1") == "reserved"
    assert handlers.outcomes.counts() == {"processed": 1, "rejected:invalid": 1}
    [message] = handlers.rejected_messages()
    assert message["reason"] == "invalid" and message["field"] == "data"
    assert base64.b64decode(message["raw_base64"]).decode() == data
    assert message["source"]["sequence_number"] == bad["kinesis"]["sequenceNumber"]


def test_non_base64_record_inside_a_hot_run_does_not_break_it(handlers: Handlers) -> None:
    """Issue 11, finding 11: the batch's run planning survives an undecodable record."""
    records = [
        kinesis_record(order("order.created", f"e{i}", 1, TEA, f"o{i}", 1), TEA, i) for i in range(1, 4)
    ]
    bad = kinesis_record(b"", TEA, 9)
    bad["kinesis"]["data"] = "abc"
    assert handlers.stream([records[0], bad, *records[1:]]) == []
    assert handlers.levels(TEA).reserved == 3
    assert handlers.outcomes.counts() == {"processed": 3, "rejected:invalid": 1}
