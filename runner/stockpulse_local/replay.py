"""Replays a scenario through the deployed Lambda handlers on a local backend.

The runner is a harness, not a second ledger: it packs events into Kinesis-shaped batches and
hands them to `order_stream`, runs `reservation_expiry` and `threshold_evaluator` on the virtual
clock's schedule, and reads the report back from the table.

Batches follow the contract's replay semantics: the clock moves to each event's instant and
every hold that ended by then is released first. A batch therefore never spans a hold end or a
minute boundary: the sweep (and the per-minute evaluator) run at the start of each batch.

With a state directory (DynamoDB Local on files), a checkpoint is written after every batch: a
runner killed mid-replay and started again resumes from it with the same final report. Events of
the interrupted batch that had applied come back as duplicates carrying their first outcome, and
are counted with that outcome. The messages the stack publishes are journaled beside the checkpoint
as each publish returns (the feed queue lives in the runner's process), so the resumed report
lists those sent after the last checkpoint too.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import math
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.adapters.sns import SnsAlertPublisher
from stockpulse.adapters.sqs import SqsDeadLetters
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.events import MINUTE_MS, OrderEvent, epoch_ms, rfc3339
from stockpulse.domain.ledger import OrderStatus, Outcome, Result
from stockpulse.domain.session import SessionPlan
from stockpulse.domain.tiers import Tier
from stockpulse.guard import InventoryGuard
from stockpulse.ports import ALERTS_TOPIC, AlertPublisher, PublishFailed
from stockpulse.pre_show import announce_pre_show
from stockpulse.records import StockItem
from stockpulse.tier_settling import notice_for, tier_inputs
from stockpulse_local.channels import Routing
from stockpulse_local.report import EventCounts, Message, Report, ShowReport, SkuReport, TierAlert
from stockpulse_local.scenario import Scenario, ScenarioEvent, record_bytes
from stockpulse_local.template_tables import create_tables
from stockpulse_local.timeline import OutcomeLog, Timeline

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
BATCH_SIZE = 100  # the template's BatchSize for the orders stream
LOCAL_EXPIRY_SHARDS = 2
REGION = "us-east-1"
BACKENDS = ("moto", "dynamodb-local")
ACCOUNT = "123456789012"


def announces_upward(alert: dict[str, Any]) -> bool:
    """The report's `alerts`: upward tier announcements. A sold-out message is one when it moved
    the tier into red (selling out is the contract's red); a tier announced again because it now
    asks to act is not."""
    if alert.get("kind") == NoticeKind.ALERT.value:
        return alert.get("previous_tier") != alert.get("tier")
    return alert.get("kind") == NoticeKind.SOLD_OUT.value and alert.get("previous_tier") != Tier.RED.value


# The handlers' Powertools output is for CloudWatch; a local replay keeps the terminal readable.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "stockpulse")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "stockpulse")
# With metrics disabled, Powertools still warns on every empty flush.
_EMPTY_METRICS_WARNING = "No application metrics to publish"
warnings.filterwarnings("ignore", message=_EMPTY_METRICS_WARNING, category=UserWarning)


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
    counted_ids: set[str] = field(default_factory=set)  # ids of the valid events counted so far

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        if event is not None:
            if outcome.original is not None and event.event_id not in self.counted_ids:
                # Remembered, yet never counted: this very event applied before its delivery
                # failed (or before the runner was stopped). Count what it did then.
                outcome = outcome.original
            self.counted_ids.add(event.event_id)
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
def open_backend(kind: str = "moto", state_dir: Path | None = None) -> Iterator[Backend]:
    """`moto`: embedded, in-process. `dynamodb-local`: the real engine for the ledger (SNS/SQS
    embedded), in memory or, with `state_dir`, on files there that outlast the runner."""
    import boto3
    from moto import mock_aws

    from stockpulse_local import moto_speedups

    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r} (one of {', '.join(BACKENDS)})")
    if state_dir is not None and kind != "dynamodb-local":
        raise ValueError("a state directory needs the dynamodb-local backend (moto keeps nothing)")
    creds = {"region_name": REGION, "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    moto_speedups.install()
    moto_speedups.install_call_speedups()
    try:
        with mock_aws():
            sns, sqs = boto3.client("sns", **creds), boto3.client("sqs", **creds)
            if kind == "moto":
                yield Backend(boto3.client("dynamodb", **creds), sns, sqs, kind)
                return
            from stockpulse_local.dynamodb_local import DynamoDBLocal

            db_path = state_dir / "dynamodb" if state_dir is not None else None
            with DynamoDBLocal(db_path=db_path) as local:
                yield Backend(local.client(), sns, sqs, kind)
    finally:
        moto_speedups.uninstall_call_speedups()
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


@dataclass
class Checkpoint:
    """Where a replay stood after its last complete batch, and what it had counted by then."""

    scenario: str  # digest of the scenario replayed: a state directory holds one replay
    events_done: int = 0
    next_minute_ms: int = 0
    batches: int = 0
    invariant_violations: int = 0
    processed: int = 0
    duplicate: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # the feed so far, as notices

    @staticmethod
    def digest(scenario: Scenario) -> str:
        text = scenario.plan.model_dump_json() + json.dumps([e.raw for e in scenario.events], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def load(cls, path: Path, scenario: Scenario) -> Checkpoint | None:
        """The checkpoint at `path`, None if there is none; ResumeError for another scenario's."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        checkpoint = cls(**data)
        if checkpoint.scenario != cls.digest(scenario):
            raise ResumeError(f"{path.parent} holds another scenario's replay: use another state directory")
        return checkpoint

    def save(self, path: Path) -> None:
        """Atomically: a runner killed while writing leaves the previous checkpoint whole."""
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(self.__dict__))
        partial.replace(path)


class ResumeError(Exception):
    """A state directory that cannot resume this replay."""


class MessageJournal:
    """Every notice a checkpointed replay published, one JSON line each, appended as the publish
    returns (beside the checkpoint, first line the scenario's digest).

    The feed queue is drained into `Replay.notices` after every batch and minute and the
    checkpoint keeps them, but the queue lives in the runner's process: a runner killed after a
    publish and before its next checkpoint would lose that message, while the table keeps it as
    told, so the resumed run never sends it again. The journal keeps it for the report."""

    def __init__(self, path: Path, digest: str) -> None:
        self.path = path
        self.digest = digest

    @staticmethod
    def beside(checkpoint_path: Path, digest: str) -> MessageJournal:
        return MessageJournal(checkpoint_path.with_name(checkpoint_path.stem + ".messages.jsonl"), digest)

    def open(self) -> list[AlertNotice]:
        """The notices journaled by earlier runs of this replay (another scenario's are dropped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        if not lines or lines[0] != self.digest:
            self.path.write_text(self.digest + "\n", encoding="utf-8")
            return []
        notices = []
        for line in lines[1:]:
            try:
                notices.append(AlertNotice.model_validate_json(line))
            except ValueError:
                continue  # not a whole line: the runner was killed writing it
        return notices

    def append(self, notice: AlertNotice) -> None:
        data = (notice.model_dump_json() + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)  # one append: a kill leaves the line whole or absent
        finally:
            os.close(fd)


@dataclass
class _JournaledPublisher:
    publisher: AlertPublisher
    journal: MessageJournal

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        """Journal what reached the alerts topic, once: not a republish that sends only the
        restock request, and a notice the topic took before the restock request failed."""
        try:
            self.publisher.publish(notice, skip)
        except PublishFailed as err:
            if ALERTS_TOPIC in err.taken - skip:
                self.journal.append(notice)
            raise
        if ALERTS_TOPIC not in skip:
            self.journal.append(notice)


class Replay:
    """One replay of one scenario on one stack."""

    def __init__(
        self,
        scenario: Scenario,
        stack: Stack,
        *,
        on_batch: Callable[[Replay], None] | None = None,
        on_outcome: Callable[[OrderEvent | None, Outcome], None] | None = None,
        load_session: bool = True,
        checkpoint_path: Path | None = None,
    ):
        """`load_session=False`: the session is already in the table (`stockpulse session load`).
        `checkpoint_path`: save a checkpoint there after every batch, and resume from it if one is
        there (the stack must be the one the interrupted replay wrote to)."""
        self.scenario = scenario
        self.stack = stack
        self.clock = VirtualClock(scenario.plan.session.starts_ms)
        self.outcomes = OutcomeCounter()
        if on_outcome is not None:
            self.outcomes.listeners.append(on_outcome)
        self.load_session = load_session
        self.on_batch = on_batch
        self.events_done = 0
        self.batches = 0
        self.invariant_violations = 0
        # The ledger's history as the guard judged it, change by change: the picture and review.
        self.timeline = Timeline(scenario)
        self._sequence = 0
        self._next_minute = scenario.plan.session.starts_ms
        self._hold_floor: float | None = None  # no live hold ends before it (None: not known)
        self.checkpoint_path = checkpoint_path
        # Every message the stack sent, as the big screen's feed queue received it (by alert id:
        # an announcement published again after a crash is one message).
        self.notices: dict[str, AlertNotice] = {}
        self.routing = Routing.from_template()
        self.resumed_at = 0  # events already done by an interrupted run of this replay
        if checkpoint_path is not None and (saved := Checkpoint.load(checkpoint_path, scenario)):
            self._restore(saved)
        publisher: AlertPublisher = SnsAlertPublisher(
            stack.backend.sns, stack.alerts_topic_arn, stack.supply_topic_arn
        )
        if checkpoint_path is not None:
            journal = MessageJournal.beside(checkpoint_path, Checkpoint.digest(scenario))
            for notice in journal.open():  # published after the last checkpoint of a killed run
                self.notices.setdefault(notice.alert_id, notice)
            publisher = _JournaledPublisher(publisher, journal)
        guard = InventoryGuard(
            store=stack.store,
            clock=self.clock,
            publisher=publisher,
            sink=self.outcomes,
            history=self.timeline,
        )
        self.guard = guard
        if self.resumed_at:
            self._resume_timeline()
        wiring.install(
            wiring.Dependencies(
                guard=guard,
                dead_letters=SqsDeadLetters(stack.backend.sqs, stack.rejected_queue_url),
                forecasts=DynamoForecastStore.beside(stack.store),
            )
        )
        self._order_stream = load_handler("order_stream")
        self._expiry = load_handler("reservation_expiry")
        self._evaluator = (
            load_handler("threshold_evaluator") if (FUNCTIONS_DIR / "threshold_evaluator").exists() else None
        )

    def _restore(self, saved: Checkpoint) -> None:
        self.resumed_at = self.events_done = self._sequence = saved.events_done
        self._next_minute = saved.next_minute_ms
        self.batches = saved.batches
        self.invariant_violations = saved.invariant_violations
        self.outcomes.processed = saved.processed
        self.outcomes.duplicate = saved.duplicate
        self.outcomes.rejected = Counter(saved.rejected)
        self.notices = {n["alert_id"]: AlertNotice.model_validate(n) for n in saved.messages}
        done = self.scenario.events[: saved.events_done]
        self.outcomes.counted_ids = {e.parsed.event_id for e in done if e.parsed is not None}
        self.load_session = False  # it was loaded before the first batch

    def _resume_timeline(self) -> None:
        """A resumed replay's timeline goes on from the ledger as the interrupted run left it."""
        session_id = self.scenario.plan.session.session_id
        at_ms = max(self._next_minute - MINUTE_MS, self.scenario.events[self.events_done - 1].at_ms)
        for sku in self.scenario.plan.skus:
            item = self.stack.store.stock(session_id, sku.sku_id)
            if item is not None:
                inputs = tier_inputs(item, item.levels)
                self.timeline.record(session_id, sku.sku_id, at_ms, item.levels, item.tier.tier, inputs)

    def _save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        Checkpoint(
            scenario=Checkpoint.digest(self.scenario),
            events_done=self.events_done,
            next_minute_ms=self._next_minute,
            batches=self.batches,
            invariant_violations=self.invariant_violations,
            processed=self.outcomes.processed,
            duplicate=self.outcomes.duplicate,
            rejected=dict(self.outcomes.rejected),
            messages=[n.model_dump(mode="json") for n in self.notices.values()],
        ).save(self.checkpoint_path)

    def run(self) -> Report:
        plan = self.scenario.plan
        if self.load_session:
            # A checkpointed replay stopped before its first checkpoint had applied nothing yet.
            self.stack.store.load_session(plan, overwrite=self.checkpoint_path is not None)
            announce_pre_show(self.stack.store, self.guard.tiers.publisher, plan, self.clock.now_ms())
            self._collect_messages()
            self._save_checkpoint()
        pending = list(self.scenario.events[self.events_done :])
        min_hold_ms = min((s.hold_minutes for s in plan.skus), default=15) * MINUTE_MS
        while pending:
            t0 = pending[0].at_ms
            self._advance_to(t0)
            window_end = min(t0 + min_hold_ms, self._next_minute)
            hold_end = self._hold_end_before(t0, window_end)
            if hold_end is not None:
                window_end = min(window_end, hold_end)
            batch = [pending[0]]  # the first event always goes: its expiries are already released
            for e in pending[1:BATCH_SIZE]:
                if e.at_ms >= window_end:
                    break
                batch.append(e)
            del pending[: len(batch)]
            self._send(batch)
            if self._hold_floor is not None:  # the holds this batch made end no sooner than this
                self._hold_floor = min(self._hold_floor, batch[0].at_ms + min_hold_ms)
            self.events_done += len(batch)
            self.batches += 1
            self._check_invariant()
            self._collect_messages()
            self._save_checkpoint()
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
            self._collect_messages()
            # A minute's evaluation must never run again after later events applied.
            self._save_checkpoint()
        self.clock.set(t_ms)
        if self._hold_floor is None or self._hold_floor <= t_ms:  # else no hold has ended: nothing to sweep
            _invoke(self._expiry, _schedule_event(t_ms), "reservation_expiry")
        self._collect_messages()

    def _hold_end_before(self, t0: int, window_end: int) -> int | None:
        """The first hold end after `t0` (the batch must stop there) when one may come before
        `window_end`; None when none can, known without a request.

        `_hold_floor` is a lower bound on the end of every live hold: read from the `by_expiry`
        index, then lowered by each batch sent (a hold made at an event's instant lasts at least
        the shortest `hold_minutes`); sweeps only remove holds. While it is at or after
        `window_end`, no hold ends in the window, and none has ended since the last sweep."""
        if self._hold_floor is not None and self._hold_floor >= window_end:
            return None
        store = self.stack.store
        earliest = store.next_hold_end(-1)  # of every live hold
        self._hold_floor = math.inf if earliest is None else earliest
        if earliest is None or earliest > t0:
            return earliest
        return store.next_hold_end(t0)  # a hold ended by t0 is still live (its release failed)

    def _scheduled(self) -> None:
        event = _schedule_event(self.clock.now_ms())
        _invoke(self._expiry, event, "reservation_expiry")
        if self._evaluator is not None:
            _invoke(self._evaluator, event, "threshold_evaluator")

    def _send(self, batch: list[ScenarioEvent], attempts: int = 5) -> None:
        records = [self._record(e) for e in batch]
        for _ in range(attempts):
            # The handler's clock reads the batch's last instant: processing follows the events.
            self.clock.set(max(e.at_ms for e in batch))
            try:
                response = _invoke(self._order_stream, {"Records": records}, "order_stream")
            except BatchProcessingError:  # every record failed: Lambda retries the whole batch
                continue
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            if not failed:
                return
            # As Lambda does for Kinesis: retry from the first failed record on.
            first = next(i for i, r in enumerate(records) if r["kinesis"]["sequenceNumber"] in failed)
            records = records[first:]
        raise RuntimeError(f"{len(records)} records kept failing after {attempts} attempts")

    def _record(self, event: ScenarioEvent) -> dict[str, Any]:
        self._sequence += 1
        seq = f"{self._sequence:056d}"
        data = base64.b64encode(record_bytes(event.raw)).decode()
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

    def _collect_messages(self) -> None:
        """Drain the feed queue (SNS delivers every message there, unfiltered)."""
        sqs, url = self.stack.backend.sqs, self.stack.alert_feed_url
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return
            for message in batch:
                notice = AlertNotice.model_validate_json(json.loads(message["Body"])["Message"])
                self.notices.setdefault(notice.alert_id, notice)
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def messages(self) -> list[Message]:
        """The report's `messages` (docs/formats.md): time order, then the order they were sent."""
        return [
            message_of(notice, self.routing)
            for notice in sorted(self.notices.values(), key=lambda n: n.at)  # stable: sending order
        ]

    def _check_invariant(self) -> None:
        """Every SKU's ledger state after the batch, as the handlers' own writes returned it: the
        guard's history records each state the ledger passed through, so the check costs no read
        (it was one per SKU per batch). The report checks every stock item in the table itself."""
        for series in self.timeline.samples.values():
            if not series[-1].balanced:
                self.invariant_violations += 1

    # -- the report (contract section 3) ---------------------------------------------------------
    def report(self) -> Report:
        session_id = self.scenario.plan.session.session_id
        store = self.stack.store
        skus: dict[str, SkuReport] = {}
        for sku in self.scenario.plan.skus:
            item = store.stock(session_id, sku.sku_id)
            assert item is not None
            if not item.levels.balanced:
                self.invariant_violations += 1
            skus[sku.sku_id] = sku_report(store, item)
        # Every order's status, read 100 at a time (consistent reads).
        read = store.order_memories(session_id, self.scenario.order_ids)
        orders = {
            order_id: record.status.value if (record := read[order_id].record) else "rejected"
            for order_id in self.scenario.order_ids
        }
        return Report(
            skus=skus,
            orders=orders,
            events=EventCounts(
                processed=self.outcomes.processed,
                duplicate=self.outcomes.duplicate,
                rejected=dict(sorted(self.outcomes.rejected.items())),
            ),
            invariant_violations=self.invariant_violations,
            messages=self.messages(),
        )


def sku_report(store: DynamoLedgerStore, item: StockItem) -> SkuReport:
    """One SKU of the report's `skus`: its stock item's ledger and tier, its alert items' upward
    announcements."""
    lv = item.levels
    alerts = sorted(
        (a for a in store.alerts(item.session_id, item.sku_id) if announces_upward(a)),
        key=lambda a: int(a["at_ms"]),
    )
    return SkuReport(
        **lv.counts(),
        tier=item.tier.tier.value,
        paused=lv.paused,
        alerts=[TierAlert(tier=str(a["tier"]), at=rfc3339(int(a["at_ms"]))) for a in alerts],
    )


def message_of(notice: AlertNotice, routing: Routing) -> Message:
    """One of the report's `messages`: a notice as sent, and the channels that deliver it."""
    return Message(
        at=rfc3339(epoch_ms(notice.at)),
        sku_id=notice.sku_id,
        kind=notice.kind.value,
        tier=notice.tier.value,
        from_tier=notice.previous_tier.value if notice.kind is NoticeKind.RESOLVED else None,
        channels=routing.channels(notice),
        restock_units=notice.restock_quantity or None,
        sellout_eta_minutes=notice.sell_out_eta_minutes,
        text=notice.text_zh,
    )


@dataclass(frozen=True)
class TableReport:
    """A session's report read back from the ledger table alone (`stockpulse session status
    --review`): a live session so far, or a finished one.

    `report` has the replay report's `skus`, `orders` and `messages` (docs/formats.md); what the
    table does not keep is left out: no `events` counts nor `invariant_violations` (a replay's
    tallies), and of each message only what its alert item records: no `text` or
    `sellout_eta_minutes` (null), `restock_units` only for pre-show messages (else null). The
    messages are the published ones: an alert item whose publish is still pending is not yet one.
    `outcomes` holds the units of the refused orders by reason, read from the outcome each order
    item remembers beside its events' ids. `missing`: SKUs of the plan with no stock item (not
    loaded), left out of `skus`."""

    report: ShowReport
    outcomes: OutcomeLog
    missing: list[str]


def table_report(store: DynamoLedgerStore, plan: SessionPlan, routing: Routing) -> TableReport:
    """Reads only: the stock items, their alert items, and the session's order items (a Scan)."""
    session_id = plan.session.session_id
    skus: dict[str, SkuReport] = {}
    messages: list[tuple[int, Message]] = []
    missing: list[str] = []
    for sku in plan.skus:
        item = store.stock(session_id, sku.sku_id)
        if item is None:
            missing.append(sku.sku_id)
            continue
        skus[sku.sku_id] = sku_report(store, item)
        pending = item.tier.pending_alert
        for alert in store.alerts(session_id, sku.sku_id):
            if pending is not None and alert.get("alert_id") == pending.get("alert_id"):
                continue  # stored, not published yet (the next run publishes it): not a message yet
            # Routed as when it was sent: its kind, tier, first and the SKU's importance and
            # channels are on the records; the ledger's numbers of that instant are not.
            notice = notice_for(item, item.levels, alert, sku)
            sent = message_of(notice, routing).model_dump()
            # The alert item keeps no text nor ETA, and a restock only for pre-show messages.
            message = Message.model_validate(
                sent
                | {"restock_units": alert.get("restock_units"), "sellout_eta_minutes": None, "text": None}
            )
            messages.append((int(alert["at_ms"]), message))
    outcomes = OutcomeLog()
    orders: dict[str, str] = {}
    for order_id, memory in store.session_orders(session_id).items():
        record = memory.record
        if record is None:  # only events naming an order never created
            continue
        orders[order_id] = record.status.value
        for code in memory.events.values():
            outcome = Outcome.from_code(code)
            # A refused `order.created`: rejected with its reason and the order left `rejected`.
            if outcome.reason is not None and outcome.order_status is OrderStatus.REJECTED:
                outcomes.refuse(order_id, record.sku_id, outcome.reason.value, record.quantity)
                outcomes.rejected[(record.sku_id, outcome.reason.value)] += 1
    report = ShowReport(
        skus=skus,
        orders=dict(sorted(orders.items())),
        messages=[m for _, m in sorted(messages, key=lambda m: m[0])],
    )
    return TableReport(report, outcomes, missing)


def _invoke(module: ModuleType, event: dict[str, Any], name: str) -> Any:
    """Call a handler as Lambda would. With metrics disabled Powertools never flushes them, and
    prints them to stdout every 100 values: the runner drops them after each invocation."""
    try:
        with warnings.catch_warnings():  # (pytest resets the module-level filter per test)
            warnings.filterwarnings("ignore", message=_EMPTY_METRICS_WARNING, category=UserWarning)
            return module.handler(event, LambdaContext(name))
    finally:
        metrics = getattr(module, "metrics", None)
        if metrics is not None:
            metrics.clear_metrics()


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
    scenario: Scenario,
    backend: str = "moto",
    on_batch: Callable[[Replay], None] | None = None,
    on_finish: Callable[[Replay], None] | None = None,
    on_outcome: Callable[[OrderEvent | None, Outcome], None] | None = None,
) -> Report:
    """Replay `scenario` on a fresh stack; the contract's report. `on_batch` runs after every
    batch, `on_finish` once the clock reached the session's end (both get the `Replay`),
    `on_outcome` for every event's outcome."""
    with open_backend(backend) as opened:
        stack = Stack.create(opened)
        try:
            run = Replay(scenario, stack, on_batch=on_batch, on_outcome=on_outcome)
            report = run.run()
            if on_finish is not None:
                on_finish(run)
            return report
        finally:
            wiring.install(None)
