"""Test helpers: the real InventoryGuard on moto or on DynamoDB Local, with fakes that record.

Tables always come from template.yaml (`create_tables`), so the tests exercise the deployed schema.
Importable as `support` from any test (pytest puts `tests/`, the home of the root conftest, on
sys.path).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.adapters.sqs import SqsDeadLetters
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.events import OrderEvent, epoch_ms, parse_event, parse_instant, rfc3339
from stockpulse.domain.ledger import OrderRecord, Outcome, Result, StockLevels
from stockpulse.domain.session import SessionPlan
from stockpulse.domain.tiers import Tier
from stockpulse.guard import InventoryGuard
from stockpulse.order_ledger import OrderLedger
from stockpulse_local.replay import Backend, Stack, open_backend
from stockpulse_local.template_tables import create_tables, load_template

REGION = "us-east-1"
SESSION_ID = "live-1"
STARTS_AT = "2026-11-25T20:00:00Z"
ENDS_AT = "2026-11-25T23:00:00Z"
T0 = epoch_ms(parse_instant(STARTS_AT))
MINUTE = 60_000

__all__ = [
    "MINUTE",
    "SESSION_ID",
    "T0",
    "OutcomeRecorder",
    "RecordingPublisher",
    "Rig",
    "VirtualClock",
    "at",
    "build_rig",
    "event",
    "kinesis_record",
    "make_notice",
    "moto_rig",
    "outcome_key",
    "session_plan",
    "sns_lambda_event",
]


# ------------------------------------------------------------------------------------- fakes
class RecordingPublisher:
    """An AlertPublisher that keeps every notice (thread-safe)."""

    def __init__(self) -> None:
        self.notices: list[AlertNotice] = []
        self._lock = threading.Lock()

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        with self._lock:
            self.notices.append(notice)


def outcome_key(outcome: Outcome) -> str:
    """`processed`, `duplicate` or `rejected:<reason>`: one word per outcome for counting."""
    if outcome.result is Result.REJECTED:
        assert outcome.reason is not None
        return f"rejected:{outcome.reason.value}"
    return outcome.result.value


class OutcomeRecorder:
    """An OutcomeSink that keeps every (event, outcome) pair (thread-safe)."""

    def __init__(self) -> None:
        self.entries: list[tuple[OrderEvent | None, Outcome]] = []
        self._lock = threading.Lock()

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        with self._lock:
            self.entries.append((event, outcome))

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(outcome_key(o) for _, o in self.entries)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()


# ------------------------------------------------------------------------------ plans, events
def session_plan(
    skus: list[dict[str, Any]],
    *,
    session_id: str = SESSION_ID,
    starts_at: str = STARTS_AT,
    ends_at: str = ENDS_AT,
) -> SessionPlan:
    """A plan from contract-shaped SKU dicts (defaults: forecast = on_hand or 1, no tiers in the way)."""
    full = [{"forecast": max(1, int(s.get("on_hand", 1))), "dynamic": False, **s} for s in skus]
    return SessionPlan.model_validate(
        {"session": {"session_id": session_id, "starts_at": starts_at, "ends_at": ends_at}, "skus": full}
    )


def at(ms: int) -> str:
    """The RFC 3339 text of an instant (UTC)."""
    return rfc3339(ms)


def event(
    kind: str,
    event_id: str,
    at_ms: int,
    sku_id: str,
    *,
    session_id: str = SESSION_ID,
    platform: str | None = None,
    order_id: str | None = None,
    quantity: int | None = None,
) -> OrderEvent:
    """An order event as a platform would write it, parsed the way the handler parses it."""
    raw: dict[str, Any] = {
        "event_id": event_id,
        "type": kind,
        "occurred_at": at(at_ms),
        "session_id": session_id,
        "sku_id": sku_id,
    }
    if platform is not None:
        raw["platform"] = platform
    if order_id is not None:
        raw["order_id"] = order_id
    if quantity is not None:
        raw["quantity"] = quantity
    return parse_event(json.dumps(raw).encode())


def run_or_each(ledger: OrderLedger, events: list[OrderEvent]) -> list[Outcome]:
    """A run as the order stream applies it: whole, or (declined) each event in turn."""
    outcomes = ledger.apply_run(events)
    return outcomes if outcomes is not None else [ledger.handle(e) for e in events]


def kinesis_record(payload: bytes | dict[str, Any], partition_key: str, sequence: int) -> dict[str, Any]:
    """One record of a Kinesis batch in the shape Lambda delivers it."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    seq = f"{sequence:056d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1795636920.123,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/stockpulse-order-stream",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/orders",
    }


def sns_lambda_event(
    message: str,
    *,
    topic_arn: str = f"arn:aws:sns:{REGION}:123456789012:stockpulse-AlertsTopic",
    attributes: dict[str, str] | None = None,
    message_id: str | None = None,
    subject: str | None = None,
    timestamp: str = "2026-11-25T20:40:41.000Z",
) -> dict[str, Any]:
    """The event Lambda receives from an SNS subscription (one record, as SNS always sends)."""
    subscription = f"{topic_arn}:{uuid.uuid4()}"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id or str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": timestamp,
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000.pem",
                    "UnsubscribeUrl": (
                        f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription}"
                    ),
                    "MessageAttributes": {
                        k: {"Type": "String", "Value": v} for k, v in (attributes or {}).items()
                    },
                },
            }
        ]
    }


def make_notice(**overrides: Any) -> AlertNotice:
    """An orange alert for the demo's osmanthus cake (a name with <, > and & in it); `overrides`
    replace any field."""
    values: dict[str, Any] = {
        "alert_id": "alert-demo-cakes-cake-osmanthus-orange-1",
        "kind": NoticeKind.ALERT,
        "session_id": "demo-cakes",
        "sku_id": "cake-osmanthus",
        "sku_name": "桂花糕 Osmanthus cake <6 pcs> & tea",
        "importance": "core",
        "tier": Tier.ORANGE,
        "previous_tier": Tier.YELLOW,
        "at": datetime(2025, 11, 25, 20, 40, 33, tzinfo=UTC),
        "on_hand": 100,
        "held": 10,
        "reserved": 4,
        "sold": 56,
        "available": 30,
        "velocity_per_minute": 7.5,
        "sell_out_eta_minutes": 4.0,
        "restock_quantity": 95,
        "platform_split": {"douyin": 38, "kuaishou": 22},
    }
    values.update(overrides)
    return AlertNotice(**values)


# ------------------------------------------------------------------------------------- rigs
@functools.cache
def _template() -> dict[str, Any]:
    """template.yaml, parsed once per process (PyYAML takes a noticeable while)."""
    return load_template()


@dataclass
class Rig:
    """One ledger table with a session loaded, and a guard (more can share the table)."""

    client: Any
    table: str
    plan: SessionPlan
    clock: VirtualClock
    store: DynamoLedgerStore
    guard: InventoryGuard
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    outcomes: OutcomeRecorder = field(default_factory=OutcomeRecorder)

    @property
    def session_id(self) -> str:
        return self.plan.session.session_id

    def new_guard(self, client: Any | None = None) -> InventoryGuard:
        """Another guard on the same table (own client and store), sharing the clock and recorders."""
        store = DynamoLedgerStore(client or self.client, self.table, expiry_shards=self.store.expiry_shards)
        return InventoryGuard(store=store, clock=self.clock, publisher=self.publisher, sink=self.outcomes)

    def levels(self, sku_id: str) -> StockLevels:
        item = self.store.stock(self.session_id, sku_id)
        assert item is not None, f"no stock item for {sku_id}"
        return item.levels

    def order(self, order_id: str) -> OrderRecord | None:
        return self.store.order(self.session_id, order_id)

    def order_items(self) -> list[dict[str, Any]]:
        """Every order item of the table (a scan: fine in a test, never in the product)."""
        return self.items("ORDER#")

    def items(self, prefix: str) -> list[dict[str, Any]]:
        """Every item whose `pk` starts with `prefix` (a scan: fine in a test, never in the product)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :o)",
            "ExpressionAttributeValues": {":o": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def order_statuses(self) -> Counter[str]:
        return Counter(item["status"]["S"] for item in self.order_items())


def build_rig(
    client: Any,
    plan: SessionPlan,
    *,
    enable_ttl: bool,
    expiry_shards: int = 4,
    prefix: str | None = None,
) -> Rig:
    """Tables from template.yaml under a fresh prefix, the session loaded, a guard on a virtual clock."""
    tables = create_tables(
        client, prefix or f"t{uuid.uuid4().hex[:10]}-", enable_ttl=enable_ttl, template=_template()
    )
    table = tables["LedgerTable"]
    store = DynamoLedgerStore(client, table, expiry_shards=expiry_shards)
    store.load_session(plan)
    clock = VirtualClock(plan.session.starts_ms)
    publisher, outcomes = RecordingPublisher(), OutcomeRecorder()
    guard = InventoryGuard(store=store, clock=clock, publisher=publisher, sink=outcomes)
    return Rig(client, table, plan, clock, store, guard, publisher, outcomes)


@contextmanager
def moto_rig(plan: SessionPlan, *, expiry_shards: int = 4) -> Iterator[Rig]:
    """A rig on moto (embedded), with the runner's speed-ups (same responses, less work)."""
    with open_backend("moto") as backend:
        yield build_rig(backend.dynamodb, plan, enable_ttl=True, expiry_shards=expiry_shards)


def order_body(
    session_id: str,
    kind: str,
    event_id: str,
    minute: int,
    sku_id: str,
    order_id: str,
    quantity: int | None = None,
) -> dict[str, Any]:
    """An order event's JSON, at 20:{minute} of the show's day (the handler tests' sessions)."""
    raw: dict[str, Any] = {
        "event_id": event_id, "type": kind, "occurred_at": f"2026-11-25T20:{minute:02d}:00Z",
        "session_id": session_id, "sku_id": sku_id, "platform": "douyin", "order_id": order_id,
    }  # fmt: skip
    if quantity is not None:
        raw["quantity"] = quantity
    return raw


def check_committed_schema(path: Path, schema: dict[str, Any], test_file: str) -> None:
    """A published JSON Schema equals its model's; STOCKPULSE_WRITE_SCHEMA=1 rewrites it."""
    if os.environ.get("STOCKPULSE_WRITE_SCHEMA"):
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    committed = json.loads(path.read_text(encoding="utf-8"))
    assert committed == schema, (
        f"{path.name} is stale: regenerate it (STOCKPULSE_WRITE_SCHEMA=1 pytest {test_file})"
    )


@dataclass
class InstalledGuard:
    store: DynamoLedgerStore
    guard: InventoryGuard
    clock: VirtualClock
    outcomes: OutcomeRecorder


@contextmanager
def installed_guard(
    backend: Backend, stack: Stack, client: Any, plan: SessionPlan
) -> Iterator[InstalledGuard]:
    """The handlers' guard on `client` (e.g. a fault-injecting wrapper of the backend's), with
    `plan` loaded and the clock at its start, installed for every handler until the block ends."""
    store = DynamoLedgerStore(client, stack.store.table_name, expiry_shards=stack.store.expiry_shards)
    store.load_session(plan)
    clock = VirtualClock(plan.session.starts_ms)
    outcomes = OutcomeRecorder()
    guard = InventoryGuard(store=store, clock=clock, publisher=RecordingPublisher(), sink=outcomes)
    wiring.install(
        wiring.Dependencies(
            guard=guard,
            dead_letters=SqsDeadLetters(backend.sqs, stack.rejected_queue_url),
            forecasts=DynamoForecastStore.beside(store),
        )
    )
    try:
        yield InstalledGuard(store, guard, clock, outcomes)
    finally:
        wiring.install(None)
