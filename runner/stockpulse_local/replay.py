"""Replays a scenario through the deployed Lambda handlers on a local backend.

The runner is a harness, not a second ledger: it packs events into Kinesis-shaped batches and
hands them to `order_stream`, runs `reservation_expiry` and `threshold_evaluator` on the virtual
clock's schedule, and reads the report back from the table.

Batches follow the contract's replay semantics: the clock moves to each event's instant and
every hold that ended by then is released first. A batch therefore never spans a hold end or a
minute boundary: the sweep (and the per-minute evaluator) run at the start of each batch.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import MINUTE_MS, DynamoLedgerStore
from stockpulse.adapters.sns import SnsAlertPublisher
from stockpulse.adapters.sqs import SqsDeadLetters
from stockpulse.domain.events import OrderEvent, rfc3339
from stockpulse.domain.ledger import Outcome, Result
from stockpulse.guard import InventoryGuard
from stockpulse_local.scenario import Scenario, ScenarioEvent
from stockpulse_local.template_tables import create_tables

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
BATCH_SIZE = 100  # the template's BatchSize for the orders stream
LOCAL_EXPIRY_SHARDS = 2
REGION = "us-east-1"
ACCOUNT = "123456789012"

# The handlers' Powertools output is for CloudWatch; a local replay keeps the terminal readable.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "stockpulse")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "stockpulse")


def load_handler(name: str) -> ModuleType:
    """Import `functions/<name>/app.py` under a unique module name (every function has an app.py)."""
    module_name = f"stockpulse_fn_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS_DIR / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:local"
    aws_request_id: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class OutcomeCounter:
    """Counts every event's outcome: the report's `events` section."""

    processed: int = 0
    duplicate: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    listeners: list[Callable[[OrderEvent | None, Outcome], None]] = field(default_factory=list)

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        if outcome.result is Result.PROCESSED:
            self.processed += 1
        elif outcome.result is Result.DUPLICATE:
            self.duplicate += 1
        else:
            assert outcome.reason is not None
            self.rejected[outcome.reason.value] += 1
        for listener in self.listeners:
            listener(event, outcome)

    @property
    def total(self) -> int:
        return self.processed + self.duplicate + sum(self.rejected.values())


@dataclass
class Backend:
    dynamodb: Any
    sns: Any
    sqs: Any
    name: str


@contextmanager
def open_backend(kind: str = "moto") -> Iterator[Backend]:
    """`moto`: embedded, in-process. `dynamodb-local`: the real engine for the ledger (SNS/SQS embedded)."""
    import boto3
    from moto import mock_aws

    from stockpulse_local import moto_speedups

    creds = {"region_name": REGION, "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    moto_speedups.install()
    with mock_aws():
        sns, sqs = boto3.client("sns", **creds), boto3.client("sqs", **creds)
        if kind == "moto":
            yield Backend(boto3.client("dynamodb", **creds), sns, sqs, kind)
            return
        if kind != "dynamodb-local":
            raise ValueError(f"unknown backend {kind!r}")
        from stockpulse_local.dynamodb_local import DynamoDBLocal

        with DynamoDBLocal() as local:
            yield Backend(local.client(), sns, sqs, kind)
    moto_speedups.uninstall()


@dataclass
class Stack:
    """The resources a replay needs, made from template.yaml on the backend."""

    backend: Backend
    store: DynamoLedgerStore
    alerts_topic_arn: str
    supply_topic_arn: str
    alert_feed_url: str
    rejected_queue_url: str

    @classmethod
    def create(cls, backend: Backend, prefix: str = "stockpulse-") -> Stack:
        # DynamoDB Local deletes by wall-clock TTL, which would fight the virtual clock.
        tables = create_tables(backend.dynamodb, prefix, enable_ttl=backend.name == "moto")
        # A local replay has no hot partitions to spread: few index shards keep the sweeps cheap.
        store = DynamoLedgerStore(backend.dynamodb, tables["LedgerTable"], expiry_shards=LOCAL_EXPIRY_SHARDS)
        alerts = backend.sns.create_topic(Name=f"{prefix}alerts")["TopicArn"]
        supply = backend.sns.create_topic(Name=f"{prefix}supply-chain")["TopicArn"]
        feed = backend.sqs.create_queue(QueueName=f"{prefix}alert-feed")["QueueUrl"]
        feed_arn = backend.sqs.get_queue_attributes(QueueUrl=feed, AttributeNames=["QueueArn"])["Attributes"]
        backend.sns.subscribe(TopicArn=alerts, Protocol="sqs", Endpoint=feed_arn["QueueArn"])
        rejected = backend.sqs.create_queue(QueueName=f"{prefix}rejected-events")["QueueUrl"]
        return cls(backend, store, alerts, supply, feed, rejected)


class Replay:
    """One replay of one scenario on one stack."""

    def __init__(self, scenario: Scenario, stack: Stack, *, on_batch: Callable[[Replay], None] | None = None):
        self.scenario = scenario
        self.stack = stack
        self.clock = VirtualClock(scenario.plan.session.starts_ms)
        self.outcomes = OutcomeCounter()
        self.on_batch = on_batch
        self.events_done = 0
        self.invariant_violations = 0
        self._sequence = 0
        self._next_minute = scenario.plan.session.starts_ms
        guard = InventoryGuard(
            store=stack.store,
            clock=self.clock,
            publisher=SnsAlertPublisher(stack.backend.sns, stack.alerts_topic_arn, stack.supply_topic_arn),
            sink=self.outcomes,
        )
        self.guard = guard
        wiring.install(
            wiring.Dependencies(
                guard=guard,
                dead_letters=SqsDeadLetters(stack.backend.sqs, stack.rejected_queue_url),
            )
        )
        self._order_stream = load_handler("order_stream")
        self._expiry = load_handler("reservation_expiry")
        self._evaluator = (
            load_handler("threshold_evaluator") if (FUNCTIONS_DIR / "threshold_evaluator").exists() else None
        )

    def run(self) -> dict[str, Any]:
        plan = self.scenario.plan
        self.stack.store.load_session(plan)
        pending = list(self.scenario.events)
        min_hold_ms = min((s.hold_minutes for s in plan.skus), default=15) * MINUTE_MS
        while pending:
            t0 = pending[0].at_ms
            self._advance_to(t0)
            window_end = min(t0 + min_hold_ms, self._next_minute)
            hold_end = self.stack.store.next_hold_end(t0)
            if hold_end is not None:
                window_end = min(window_end, hold_end)
            batch = [pending[0]]  # the first event always goes: its expiries are already released
            for e in pending[1:BATCH_SIZE]:
                if e.at_ms >= window_end:
                    break
                batch.append(e)
            del pending[: len(batch)]
            self._send(batch)
            self.events_done += len(batch)
            self._check_invariant()
            if self.on_batch:
                self.on_batch(self)
        self._advance_to(plan.session.ends_ms)
        return self.report()

    def _advance_to(self, t_ms: int) -> None:
        """Run the per-minute schedules up to `t_ms`, then sweep the holds that ended by `t_ms`."""
        while self._next_minute <= t_ms:
            self.clock.set(self._next_minute)
            self._scheduled()
            self._next_minute += MINUTE_MS
        self.clock.set(t_ms)
        self._expiry.handler(_schedule_event(t_ms), LambdaContext("reservation_expiry"))

    def _scheduled(self) -> None:
        event = _schedule_event(self.clock.now_ms())
        self._expiry.handler(event, LambdaContext("reservation_expiry"))
        if self._evaluator is not None:
            self._evaluator.handler(event, LambdaContext("threshold_evaluator"))

    def _send(self, batch: list[ScenarioEvent], attempts: int = 5) -> None:
        records = [self._record(e) for e in batch]
        for _ in range(attempts):
            # The handler's clock reads the batch's last instant: processing follows the events.
            self.clock.set(max(e.at_ms for e in batch))
            response = self._order_stream.handler({"Records": records}, LambdaContext("order_stream"))
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            if not failed:
                return
            # As Lambda does for Kinesis: retry from the first failed record on.
            first = next(i for i, r in enumerate(records) if r["kinesis"]["sequenceNumber"] in failed)
            records = records[first:]
        raise RuntimeError(f"records kept failing after {attempts} attempts: {sorted(failed)}")

    def _record(self, event: ScenarioEvent) -> dict[str, Any]:
        self._sequence += 1
        seq = f"{self._sequence:056d}"
        data = base64.b64encode(json.dumps(event.raw, ensure_ascii=False).encode()).decode()
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": event.partition_key,
                "sequenceNumber": seq,
                "data": data,
                "approximateArrivalTimestamp": event.at_ms / 1000,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"shardId-000000000000:{seq}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/stockpulse-order-stream",
            "awsRegion": REGION,
            "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders",
        }

    def _check_invariant(self) -> None:
        for sku in self.scenario.plan.skus:
            item = self.stack.store.stock(self.scenario.plan.session.session_id, sku.sku_id)
            if item is not None and not item.levels.balanced:
                self.invariant_violations += 1

    # -- the report (contract section 3) ---------------------------------------------------------
    def report(self) -> dict[str, Any]:
        session_id = self.scenario.plan.session.session_id
        store = self.stack.store
        skus: dict[str, Any] = {}
        for sku in self.scenario.plan.skus:
            item = store.stock(session_id, sku.sku_id)
            assert item is not None
            lv = item.levels
            if not lv.balanced:
                self.invariant_violations += 1
            alerts = sorted(
                (a for a in store.alerts(session_id, sku.sku_id) if a.get("kind") == "alert"),
                key=lambda a: int(a["at_ms"]),
            )
            skus[sku.sku_id] = {
                "on_hand": lv.on_hand,
                "held": lv.held,
                "reserved": lv.reserved,
                "sold": lv.sold,
                "available": lv.available,
                "tier": str(item.raw.get("tier", "none")),
                "paused": lv.paused,
                "alerts": [{"tier": str(a["tier"]), "at": rfc3339(int(a["at_ms"]))} for a in alerts],
            }
        orders: dict[str, str] = {}
        for order_id in self.scenario.order_ids:
            order = store.order(session_id, order_id)
            orders[order_id] = order.status.value if order else "rejected"
        return {
            "skus": skus,
            "orders": orders,
            "events": {
                "processed": self.outcomes.processed,
                "duplicate": self.outcomes.duplicate,
                "rejected": dict(sorted(self.outcomes.rejected.items())),
            },
            "invariant_violations": self.invariant_violations,
        }


def _schedule_event(t_ms: int) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"local-{t_ms}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": rfc3339(t_ms - t_ms % 1000),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/stockpulse-every-minute"],
        "detail": {},
    }


def replay(
    scenario: Scenario, backend: str = "moto", on_batch: Callable[[Replay], None] | None = None
) -> dict[str, Any]:
    with open_backend(backend) as opened:
        stack = Stack.create(opened)
        try:
            return Replay(scenario, stack, on_batch=on_batch).run()
        finally:
            wiring.install(None)
