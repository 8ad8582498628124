"""The Lambda handlers on moto, fed the sample events of events/ (real AWS shapes).

order_stream: valid records applied, malformed ones rejected as `invalid` (dead-letter queue,
field named, counted) without failing the batch; a transient failure fails that record and the
rest of its SKU's records, never another SKU's; a redelivered batch has no second effect.
reservation_expiry: the schedule sweeps due holds; a TTL removal releases a reservation the sweep
missed, once.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from support import (
    OutcomeRecorder,
    event,
    installed_guard,
    kinesis_record,
    order_body,
    outcome_key,
    session_plan,
)  # fmt: skip

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore, marker_key, order_key, stock_key
from stockpulse.domain.events import epoch_ms, parse_instant
from stockpulse.domain.ledger import OrderStatus, StockLevels
from stockpulse.ports import StoreUnavailable
from stockpulse_local.replay import LambdaContext, Stack, load_handler, open_backend

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

EVENTS = Path(__file__).resolve().parents[2] / "events"
SESSION = "demo-cakes"  # the sample events' session and SKU
OSMANTHUS, LOTUS = "cake-osmanthus", "cake-lotus"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def ms(text: str) -> int:
    return epoch_ms(parse_instant(text))


class FlakyDynamoDB:
    """A DynamoDB client that throttles transactions touching one SKU while `failing` is set."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failing: str | None = None  # a stock item pk
        self.failing_tier_writes = 0  # throttle this many tier updates (after the ledger's own write)
        self.throttled = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        ops = [next(iter(op.values())) for op in kwargs["TransactItems"]]
        keys = [op.get("Key", {}).get("pk", {}).get("S") for op in ops]
        if self.failing_tier_writes > 0 and any(
            "tier = :tier" in op.get("UpdateExpression", "") for op in ops
        ):
            self.failing_tier_writes -= 1
            keys.append(self.failing)
        if self.failing is not None and self.failing in keys:
            self.throttled += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
                "TransactWriteItems",
            )
        return self._inner.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class Lambdas:
    stack: Stack
    store: DynamoLedgerStore
    flaky: FlakyDynamoDB
    clock: VirtualClock
    outcomes: OutcomeRecorder
    order_stream: ModuleType
    expiry: ModuleType

    def levels(self, sku_id: str) -> StockLevels:
        item = self.store.stock(SESSION, sku_id)
        assert item is not None
        return item.levels

    def status(self, order_id: str) -> str | None:
        order = self.store.order(SESSION, order_id)
        return order.status.value if order else None

    def stream(self, batch: dict[str, Any]) -> list[str]:
        response = self.order_stream.handler(batch, LambdaContext("order_stream"))
        return [f["itemIdentifier"] for f in response["batchItemFailures"]]

    def rejected_messages(self) -> list[dict[str, Any]]:
        sqs, url = self.stack.backend.sqs, self.stack.rejected_queue_url
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            for m in got:
                messages.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def has_marker(self, event_id: str) -> bool:
        db = self.stack.backend.dynamodb
        got = db.get_item(TableName=self.store.table_name, Key=marker_key(event_id))
        return "Item" in got


@pytest.fixture
def lambdas() -> Iterator[Lambdas]:
    with open_backend("moto") as backend:
        stack = Stack.create(backend, prefix=f"h{uuid.uuid4().hex[:8]}-")
        flaky = FlakyDynamoDB(backend.dynamodb)
        plan = session_plan(
            [
                {"sku_id": OSMANTHUS, "on_hand": 10, "forecast": 100, "platform_quotas": {"kuaishou": 2}},
                {"sku_id": LOTUS, "on_hand": 5, "forecast": 100},
            ],
            session_id=SESSION,
        )
        with installed_guard(backend, stack, flaky, plan) as g:
            yield Lambdas(
                stack, g.store, flaky, g.clock, g.outcomes,
                load_handler("order_stream"), load_handler("reservation_expiry"),
            )  # fmt: skip


# ================================================================================ order_stream
def test_sample_batch_applies_valid_records_and_rejects_the_malformed_one(lambdas: Lambdas) -> None:
    batch = sample("kinesis_orders.json")
    assert lambdas.stream(batch) == []

    assert lambdas.status("dy1") == "sold"  # created at 20:02, paid at 20:04
    assert lambdas.status("dy2") is None  # its record is malformed: never applied
    lv = lambdas.levels(OSMANTHUS)
    assert (lv.on_hand, lv.reserved, lv.sold, lv.available) == (10, 0, 1, 9)
    assert lambdas.outcomes.counts() == {"processed": 2, "rejected:invalid": 1}

    [rejected] = lambdas.rejected_messages()
    assert rejected["reason"] == "invalid"
    assert rejected["field"] == "occurred_at"  # no offset (its quantity "2" is malformed too)
    third = batch["Records"][2]["kinesis"]
    assert base64.b64decode(rejected["raw_base64"]) == base64.b64decode(third["data"])
    assert rejected["source"]["sequence_number"] == third["sequenceNumber"]
    assert rejected["source"]["partition_key"] == OSMANTHUS


def test_redelivered_batch_has_no_second_effect(lambdas: Lambdas) -> None:
    batch = sample("kinesis_orders.json")
    assert lambdas.stream(batch) == []
    before = (lambdas.levels(OSMANTHUS), lambdas.status("dy1"))
    lambdas.outcomes.clear()

    assert lambdas.stream(copy.deepcopy(batch)) == []
    assert (lambdas.levels(OSMANTHUS), lambdas.status("dy1")) == before
    assert lambdas.outcomes.counts() == {"duplicate": 2, "rejected:invalid": 1}


def test_malformed_records_never_fail_the_batch(lambdas: Lambdas) -> None:
    good = {
        "event_id": "g1",
        "type": "order.created",
        "occurred_at": "2026-11-25T20:10:00+08:00",
        "session_id": SESSION,
        "sku_id": LOTUS,
        "platform": "taobao",
        "order_id": "tb1",
        "quantity": 2,
    }
    payloads: list[bytes | dict[str, Any]] = [
        b"not json",
        b"[1, 2]",
        b"\xff\xfe\x00garbage",
        json.dumps({**good, "note": "x" * 20_000}).encode(),  # oversized
        {**good, "event_id": "g0", "quantity": True},
        {**good, "event_id": "g2", "platform": "TAOBAO"},
        {**good, "event_id": "g3", "type": "order.refunded"},
        {**good, "event_id": "g4", "sku_id": ""},
        good,
    ]
    records = [kinesis_record(p, LOTUS, i + 1) for i, p in enumerate(payloads)]
    assert lambdas.stream({"Records": records}) == []
    assert lambdas.status("tb1") == "reserved"
    assert lambdas.outcomes.counts() == {"processed": 1, "rejected:invalid": 8}
    fields = sorted(m["field"] for m in lambdas.rejected_messages())
    assert fields == sorted(
        ["record", "record", "record", "record", "quantity", "platform", "type", "sku_id"]
    )
    for name in ("g0", "g2", "g3", "g4"):
        assert not lambdas.has_marker(name), "a malformed event's id is not remembered"


def _order(
    kind: str, event_id: str, minute: int, sku_id: str, order_id: str, quantity: int | None = None
) -> dict[str, Any]:
    return order_body(SESSION, kind, event_id, minute, sku_id, order_id, quantity)


def test_transient_failure_holds_back_the_rest_of_that_skus_records_only(lambdas: Lambdas) -> None:
    events = [
        (OSMANTHUS, _order("order.created", "a1", 1, OSMANTHUS, "o-a1", 1)),
        (LOTUS, _order("order.created", "b1", 1, LOTUS, "o-b1", 2)),
        (OSMANTHUS, _order("order.paid", "a2", 2, OSMANTHUS, "o-a1")),
        (LOTUS, _order("order.paid", "b2", 2, LOTUS, "o-b1")),
        (OSMANTHUS, _order("order.created", "a3", 3, OSMANTHUS, "o-a2", 3)),
        (LOTUS, _order("order.created", "b3", 3, LOTUS, "o-b2", 1)),
    ]
    records = [kinesis_record(raw, sku, i + 1) for i, (sku, raw) in enumerate(events)]
    batch = {"Records": records}
    ids = [r["kinesis"]["sequenceNumber"] for r in records]

    lambdas.flaky.failing = stock_key(SESSION, OSMANTHUS)["pk"]["S"]
    failed = lambdas.stream(batch)
    # a1 was throttled; a2 (its payment) and a3 were held back unprocessed, in order.
    assert failed == [ids[0], ids[2], ids[4]]
    throttled = lambdas.order_stream.processor.exceptions[0][1]  # the port's error, not botocore's
    assert isinstance(throttled, StoreUnavailable) and isinstance(throttled.__cause__, ClientError)
    assert lambdas.flaky.throttled >= 1
    assert lambdas.status("o-b1") == "sold" and lambdas.status("o-b2") == "reserved"
    assert lambdas.status("o-a1") is None and lambdas.status("o-a2") is None
    assert lambdas.levels(OSMANTHUS).available == 10
    assert not any(lambdas.has_marker(e) for e in ("a1", "a2", "a3"))
    assert [e.event_id for e, _ in lambdas.outcomes.entries if e] == ["b1", "b2", "b3"]
    assert lambdas.outcomes.counts() == {"processed": 3}

    # The stream redelivers (here: the whole batch); the throttling is over.
    lambdas.flaky.failing = None
    lambdas.outcomes.clear()
    assert lambdas.stream(copy.deepcopy(batch)) == []
    assert lambdas.status("o-a1") == "sold"  # created before paid: the order held
    assert lambdas.status("o-a2") == "reserved"
    a, b = lambdas.levels(OSMANTHUS), lambdas.levels(LOTUS)
    assert (a.reserved, a.sold, a.available) == (3, 1, 6)
    assert (b.reserved, b.sold, b.available) == (1, 2, 2)
    # Each SKU's events form one run, applied when its first record comes up.
    assert [(e.event_id if e else None, o.result.value) for e, o in lambdas.outcomes.entries] == [
        ("a1", "processed"),
        ("a2", "processed"),
        ("a3", "processed"),
        ("b1", "duplicate"),
        ("b2", "duplicate"),
        ("b3", "duplicate"),
    ]

    # And once more: nothing changes.
    lambdas.outcomes.clear()
    assert lambdas.stream(copy.deepcopy(batch)) == []
    assert (lambdas.levels(OSMANTHUS), lambdas.levels(LOTUS)) == (a, b)
    assert lambdas.outcomes.counts() == {"duplicate": 6}


def test_a_failed_tier_write_after_the_ledger_write_does_not_fail_the_event(lambdas: Lambdas) -> None:
    # Taking the last unit turns the SKU red; storing that tier is throttled. The reservation is
    # committed by then: failing the record would bring it back as a `duplicate`, so the event
    # would never be counted as processed (the evaluator re-evaluates the tier within a minute).
    lambdas.flaky.failing = "tier-writes-only"
    lambdas.flaky.failing_tier_writes = 100
    record = kinesis_record(_order("order.created", "b1", 1, LOTUS, "o-b1", 5), LOTUS, 1)
    assert lambdas.stream({"Records": [record]}) == []
    assert lambdas.flaky.throttled >= 1
    assert lambdas.status("o-b1") == "reserved"
    assert lambdas.outcomes.counts() == {"processed": 1}
    assert lambdas.levels(LOTUS).available == 0


def test_a_run_of_one_skus_orders_is_processed_as_in_sequence(lambdas: Lambdas) -> None:
    # Consecutive order events of one SKU (other SKUs' records between them) form a run that the
    # stream may apply with one write; outcomes must be those of one-by-one processing. This run
    # sells out midway, so the guard declines it and each record goes in its place.
    events = [
        (LOTUS, _order("order.created", "r1", 1, LOTUS, "o-r1", 2)),
        (OSMANTHUS, _order("order.created", "x1", 1, OSMANTHUS, "o-x1", 1)),
        (LOTUS, _order("order.created", "r2", 1, LOTUS, "o-r2", 2)),
        (LOTUS, _order("order.created", "r3", 2, LOTUS, "o-r3", 1)),
        (LOTUS, _order("order.paid", "r4", 3, LOTUS, "o-r2")),
        (LOTUS, _order("order.created", "r5", 4, LOTUS, "o-r5", 1)),  # sold out: refused
        (LOTUS, _order("order.created", "r6", 4, LOTUS, "o-r1", 1)),  # a known order: duplicate
        (LOTUS, _order("order.cancelled", "r7", 5, LOTUS, "o-r3")),
        (LOTUS, _order("order.created", "r8", 6, LOTUS, "o-r8", 2)),  # the cancel freed 1 unit only
        (LOTUS, _order("order.created", "r9", 6, LOTUS, "o-r9", 1)),
    ]
    batch = {"Records": [kinesis_record(raw, sku, i + 1) for i, (sku, raw) in enumerate(events)]}
    assert lambdas.stream(batch) == []
    assert [(e.event_id if e else None, outcome_key(o)) for e, o in lambdas.outcomes.entries] == [
        ("r1", "processed"),
        ("x1", "processed"),
        ("r2", "processed"),
        ("r3", "processed"),
        ("r4", "processed"),
        ("r5", "rejected:insufficient_stock"),
        ("r6", "duplicate"),
        ("r7", "processed"),
        ("r8", "rejected:insufficient_stock"),
        ("r9", "processed"),
    ]
    statuses = {o: lambdas.status(o) for o in ("o-r1", "o-r2", "o-r3", "o-r5", "o-r8", "o-r9")}
    assert statuses == {
        "o-r1": "reserved",
        "o-r2": "sold",
        "o-r3": "released",
        "o-r5": "rejected",
        "o-r8": "rejected",
        "o-r9": "reserved",
    }
    lv = lambdas.levels(LOTUS)
    assert (lv.reserved, lv.sold, lv.available, lv.used.get("douyin")) == (3, 2, 0, 5)

    lambdas.outcomes.clear()
    assert lambdas.stream(copy.deepcopy(batch)) == []
    assert lambdas.levels(LOTUS) == lv
    assert lambdas.outcomes.counts() == {"duplicate": 10}


def test_a_run_throttled_midway_is_retried_whole_and_in_order(lambdas: Lambdas) -> None:
    events = [_order("order.created", f"h{i}", 1, LOTUS, f"o-h{i}", 1) for i in range(4)]
    events.append(_order("order.paid", "h-pay", 2, LOTUS, "o-h0"))
    records = [kinesis_record(raw, LOTUS, i + 1) for i, raw in enumerate(events)]
    records.append(kinesis_record(_order("order.created", "x1", 1, OSMANTHUS, "o-x1", 1), OSMANTHUS, 9))
    batch = {"Records": records}
    lambdas.flaky.failing = stock_key(SESSION, LOTUS)["pk"]["S"]
    assert lambdas.stream(batch) == [r["kinesis"]["sequenceNumber"] for r in records[:5]]
    assert lambdas.levels(LOTUS).available == 5
    assert lambdas.outcomes.counts() == {"processed": 1}  # only the other SKU's record
    lambdas.flaky.failing = None
    lambdas.outcomes.clear()
    assert lambdas.stream(copy.deepcopy(batch)) == []
    assert lambdas.outcomes.counts() == {"processed": 5, "duplicate": 1}
    assert [lambdas.status(f"o-h{i}") for i in range(4)] == ["sold", "reserved", "reserved", "reserved"]


def test_a_failed_tier_write_after_a_run_does_not_fail_the_run(lambdas: Lambdas) -> None:
    lambdas.flaky.failing = "tier-writes-only"
    lambdas.flaky.failing_tier_writes = 100
    records = [
        kinesis_record(_order("order.created", f"t{i}", 1, LOTUS, f"o-t{i}", q), LOTUS, i + 1)
        for i, q in enumerate([3, 2])  # the second takes the last unit: red
    ]
    assert lambdas.stream({"Records": records}) == []
    assert lambdas.flaky.throttled >= 1
    assert lambdas.outcomes.counts() == {"processed": 2}
    assert lambdas.levels(LOTUS).available == 0


def test_a_malformed_record_after_a_failed_one_waits_its_turn(lambdas: Lambdas) -> None:
    records = [
        kinesis_record(_order("order.created", "a1", 1, OSMANTHUS, "o-a1", 1), OSMANTHUS, 1),
        kinesis_record(b"not json", OSMANTHUS, 2),
        kinesis_record(_order("order.created", "b1", 1, LOTUS, "o-b1", 1), LOTUS, 3),
    ]
    lambdas.flaky.failing = stock_key(SESSION, OSMANTHUS)["pk"]["S"]
    failed = lambdas.stream({"Records": records})
    assert failed == [records[0]["kinesis"]["sequenceNumber"], records[1]["kinesis"]["sequenceNumber"]]
    assert lambdas.rejected_messages() == []
    assert lambdas.status("o-b1") == "reserved"


# ========================================================================== reservation_expiry
def _reserve(lambdas: Lambdas, order_id: str, at: str, sku_id: str = OSMANTHUS, quantity: int = 1) -> None:
    # Processed when it happened: a hold ends at most hold_minutes after the clock (issue 11, finding 8).
    lambdas.clock.set(max(lambdas.clock.now_ms(), ms(at)))
    outcome = wiring.dependencies().guard.ledger.handle(
        event(
            "order.created",
            f"e-{order_id}",
            ms(at),
            sku_id,
            session_id=SESSION,
            platform="douyin",
            order_id=order_id,
            quantity=quantity,
        )
    )
    assert outcome.result.value == "processed"


def test_schedule_sweeps_the_holds_that_ended(lambdas: Lambdas) -> None:
    schedule = sample("schedule.json")  # 20:41:00Z
    _reserve(lambdas, "early", "2026-11-25T20:02:00Z", quantity=2)  # hold ends 20:17
    _reserve(lambdas, "edge", "2026-11-25T20:26:00Z")  # hold ends 20:41:00 exactly: expired then
    _reserve(lambdas, "late", "2026-11-25T20:30:00Z", quantity=3)  # hold ends 20:45
    assert lambdas.levels(OSMANTHUS).reserved == 6

    lambdas.clock.set(ms(schedule["time"]))
    assert lambdas.expiry.handler(schedule, LambdaContext("reservation_expiry")) == {"released": 2}
    assert (lambdas.status("early"), lambdas.status("edge"), lambdas.status("late")) == (
        "expired",
        "expired",
        "reserved",
    )
    lv = lambdas.levels(OSMANTHUS)
    assert (lv.reserved, lv.available, lv.used.get("douyin")) == (3, 7, 3)

    # The next minute's run finds nothing new; after 20:45 the last one goes.
    assert lambdas.expiry.handler(schedule, LambdaContext("reservation_expiry")) == {"released": 0}
    lambdas.clock.set(ms("2026-11-25T20:45:00Z"))
    assert lambdas.expiry.handler(schedule, LambdaContext("reservation_expiry")) == {"released": 1}
    assert lambdas.levels(OSMANTHUS).available == 10


def test_schedule_sweeps_every_due_hold_beyond_one_page(
    lambdas: Lambdas, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Queries of the expiry index come back in pages (500 items here, 1 MB in DynamoDB); a backlog
    # larger than one page per shard must still be released by one sweep. Pages of 2 show it cheaply.
    monkeypatch.setattr(
        lambdas.store, "due_reservations", functools.partial(lambdas.store.due_reservations, limit=2)
    )
    for i in range(9):
        _reserve(lambdas, f"bulk{i}", "2026-11-25T20:02:00Z")
    lambdas.clock.set(ms("2026-11-25T20:30:00Z"))
    assert lambdas.expiry.handler(sample("schedule.json"), LambdaContext("reservation_expiry")) == {
        "released": 9
    }
    assert {lambdas.status(f"bulk{i}") for i in range(9)} == {"expired"}
    assert lambdas.levels(OSMANTHUS).available == 10


def _ttl_delete(lambdas: Lambdas, order_id: str) -> dict[str, Any]:
    """What DynamoDB TTL does: delete the item (and stream its old image)."""
    got = lambdas.stack.backend.dynamodb.delete_item(
        TableName=lambdas.store.table_name, Key=order_key(SESSION, order_id), ReturnValues="ALL_OLD"
    )
    old: dict[str, Any] = got["Attributes"]
    return old


def _ttl_record(old_image: dict[str, Any]) -> dict[str, Any]:
    event = sample("dynamodb_ttl_removal.json")
    event["Records"][0]["dynamodb"]["OldImage"] = old_image
    event["Records"][0]["dynamodb"]["Keys"] = {"pk": old_image["pk"], "sk": old_image["sk"]}
    return event


def test_ttl_removal_of_a_reservation_the_sweep_missed_releases_it_once(lambdas: Lambdas) -> None:
    removal = sample("dynamodb_ttl_removal.json")  # order dy9, 1 unit, douyin, hold 20:26 -> 20:41
    image = removal["Records"][0]["dynamodb"]["OldImage"]
    assert removal["Records"][0]["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"
    _reserve(lambdas, "dy9", "2026-11-25T20:26:00Z")
    stored = lambdas.store.order(SESSION, "dy9")
    assert stored is not None and stored.hold_until_ms == int(image["hold_until_ms"]["N"])
    _ttl_delete(lambdas, "dy9")
    assert lambdas.levels(OSMANTHUS).reserved == 1  # deleted, but its unit is still reserved

    context = LambdaContext("reservation_expiry")
    assert lambdas.expiry.handler(removal, context) == {"batchItemFailures": []}
    lv = lambdas.levels(OSMANTHUS)
    assert (lv.reserved, lv.available, lv.used.get("douyin")) == (0, 10, 0)
    assert lambdas.status("dy9") == "expired"  # kept, so a late payment finds it expired

    # A second delivery of the same stream record does nothing.
    assert lambdas.expiry.handler(copy.deepcopy(removal), context) == {"batchItemFailures": []}
    assert lambdas.levels(OSMANTHUS) == lv

    # And a payment after all that re-takes the unit (expired -> sold).
    paid = event(
        "order.paid",
        "pay-dy9",
        ms("2026-11-25T20:50:00Z"),
        OSMANTHUS,
        session_id=SESSION,
        platform="douyin",
        order_id="dy9",
    )
    assert wiring.dependencies().guard.ledger.handle(paid).order_status is OrderStatus.SOLD
    assert lambdas.status("dy9") == "sold"
    assert lambdas.levels(OSMANTHUS).available == 9


def test_ttl_removal_with_the_items_full_image(lambdas: Lambdas) -> None:
    _reserve(lambdas, "full", "2026-11-25T20:26:00Z", quantity=2)
    old = _ttl_delete(lambdas, "full")
    context = LambdaContext("reservation_expiry")
    assert lambdas.expiry.handler(_ttl_record(old), context) == {"batchItemFailures": []}
    assert lambdas.levels(OSMANTHUS).available == 10
    assert lambdas.expiry.handler(_ttl_record(old), context) == {"batchItemFailures": []}
    assert lambdas.levels(OSMANTHUS).available == 10
    assert lambdas.status("full") == "expired"


def test_ttl_removal_of_a_reservation_already_swept_does_nothing(lambdas: Lambdas) -> None:
    _reserve(lambdas, "swept", "2026-11-25T20:02:00Z")
    reserved_image = lambdas.stack.backend.dynamodb.get_item(
        TableName=lambdas.store.table_name, Key=order_key(SESSION, "swept"), ConsistentRead=True
    )["Item"]
    lambdas.clock.set(ms("2026-11-25T20:20:00Z"))
    assert wiring.dependencies().guard.expiry.sweep() == 1
    # A stale removal record carrying the reserved image (the sweep got there first): no second release.
    assert lambdas.expiry.handler(_ttl_record(reserved_image), LambdaContext("reservation_expiry")) == {
        "batchItemFailures": []
    }
    lv = lambdas.levels(OSMANTHUS)
    assert (lv.reserved, lv.available) == (0, 10)
    assert lambdas.status("swept") == "expired"


@pytest.mark.parametrize("status", ["sold", "released", "expired", "rejected", "refund_required"])
def test_ttl_removal_of_a_non_reserved_order_does_nothing(lambdas: Lambdas, status: str) -> None:
    _reserve(lambdas, "dy9", "2026-11-25T20:26:00Z")
    before = lambdas.levels(OSMANTHUS)
    removal = sample("dynamodb_ttl_removal.json")
    removal["Records"][0]["dynamodb"]["OldImage"]["status"] = {"S": status}
    _ttl_delete(lambdas, "dy9")
    assert lambdas.expiry.handler(removal, LambdaContext("reservation_expiry")) == {"batchItemFailures": []}
    assert lambdas.levels(OSMANTHUS) == before
    assert lambdas.status("dy9") is None


def test_ttl_removal_of_other_items_does_nothing(lambdas: Lambdas) -> None:
    _reserve(lambdas, "dy9", "2026-11-25T20:26:00Z")
    before = lambdas.levels(OSMANTHUS)
    marker = {"pk": {"S": "EVENT#e-dy9"}, "sk": {"S": "EVENT"}, "expires_at": {"N": "1796243160"}}
    assert lambdas.expiry.handler(_ttl_record(marker), LambdaContext("reservation_expiry")) == {
        "batchItemFailures": []
    }
    assert lambdas.levels(OSMANTHUS) == before
    assert lambdas.status("dy9") == "reserved"


def test_a_burst_sends_one_platform_stock_update_per_sku_per_batch(
    lambdas: Lambdas, monkeypatch: pytest.MonkeyPatch
) -> None:
    sns, sqs = lambdas.stack.backend.sns, lambdas.stack.backend.sqs
    topic = sns.create_topic(Name="stock-sync")["TopicArn"]
    queue = sqs.create_queue(QueueName="stock-sync-feed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("STOCK_SYNC_TOPIC_ARN", topic)
    monkeypatch.setattr(wiring, "aws_client", lambda service: sns)
    monkeypatch.setattr(wiring, "_stock_sync_feeds", {})
    for n in range(3):  # three batches of a burst on one SKU (and one order of another)
        events = [
            (OSMANTHUS, _order("order.created", f"b{n}-{i}", n, OSMANTHUS, f"o-b{n}-{i}", 1))
            for i in range(3)
        ]
        events.append((LOTUS, _order("order.created", f"l{n}", n, LOTUS, f"o-l{n}", 1)))
        batch = {"Records": [kinesis_record(raw, sku, 100 * n + i) for i, (sku, raw) in enumerate(events)]}
        assert lambdas.stream(batch) == []
    bodies = []
    while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for m in got:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    per_sku = {sku: [b for b in bodies if b["sku_id"] == sku] for sku in (OSMANTHUS, LOTUS)}
    assert [len(updates) for updates in per_sku.values()] == [3, 3]  # one per batch, not per order
    assert (
        per_sku[OSMANTHUS][-1]["sellable"]["douyin"]
        == lambdas.store.stock(SESSION, OSMANTHUS).levels.available
    )


def test_the_deployed_ledger_client_leaves_validation_to_dynamodb_and_the_tests_clients_keep_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path's client skips botocore's client-side validation (its CPU cost:
    bench/hot_sku.py): a malformed request reaches the engine, which refuses it. The clients these
    tests run on keep botocore's, so a malformed request from the code fails here first."""
    monkeypatch.setenv("LEDGER_TABLE", "t")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:a")
    monkeypatch.setenv("REJECTED_EVENTS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/q")
    made: dict[str, Any] = {}  # the clients the wiring builds, by service
    build = wiring.aws_client

    def recording(service: str, config: Any = wiring.RETRY_CONFIG, **kwargs: Any) -> Any:
        made[service] = client = build(service, config, **kwargs)
        return client

    monkeypatch.setattr(wiring, "aws_client", recording)
    with open_backend("moto") as backend:
        wiring.from_environment()
        ledger = made["dynamodb"]
        with pytest.raises(ClientError):  # refused by the engine (moto here)
            ledger.get_item(TableName="", Key={"pk": {"S": "x"}})
        with pytest.raises(ParamValidationError):
            backend.dynamodb.get_item(TableName="", Key={"pk": {"S": "x"}})
