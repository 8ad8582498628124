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
from botocore.exceptions import ClientError
from support import (
    MINUTE,
    T0,
    OutcomeRecorder,
    event,
    installed_guard,
    kinesis_record,
    moto_rig,
    order_body,
    run_or_each,
    session_plan,
)

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import MEMORY_COUNT, MEMORY_PREFIX, DynamoLedgerStore
from stockpulse.adapters.keys import order_ids_of, order_key, order_pk, stock_key
from stockpulse.domain.ledger import OrderStatus, Result, StockLevels
from stockpulse.expiry import with_order_identity
from stockpulse.guard import InventoryGuard
from stockpulse.records import MAX_EVENTS_PER_ORDER
from stockpulse_local.replay import LambdaContext, Stack, load_handler, open_backend

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SESSION = "live-11"
TEA, CAKE = "tea", "cake"


class Flaky:
    """A DynamoDB client that throttles every write touching the stock item `failing` (a pk)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failing: str | None = None

    def _check(self, op: str, keys: list[str | None]) -> None:
        if self.failing is not None and self.failing in keys:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, op
            )

    def transact_write_items(self, **kwargs: Any) -> Any:
        ops = [next(iter(op.values())) for op in kwargs["TransactItems"]]
        self._check(
            "TransactWriteItems", [op.get("Key", op.get("Item", {})).get("pk", {}).get("S") for op in ops]
        )
        return self._inner.transact_write_items(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        self._check("UpdateItem", [kwargs["Key"]["pk"]["S"]])
        return self._inner.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class Handlers:
    stack: Stack
    store: DynamoLedgerStore
    guard: InventoryGuard
    clock: VirtualClock
    outcomes: OutcomeRecorder
    order_stream: ModuleType
    flaky: Flaky

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
        flaky = Flaky(backend.dynamodb)
        plan = session_plan(
            [
                {"sku_id": TEA, "on_hand": 10, "forecast": 100},
                {"sku_id": CAKE, "on_hand": 5, "forecast": 100},
            ],
            session_id=SESSION,
        )
        with installed_guard(backend, stack, flaky, plan) as g:
            yield Handlers(stack, g.store, g.guard, g.clock, g.outcomes, load_handler("order_stream"), flaky)


def order(
    kind: str, event_id: str, minute: int, sku_id: str, order_id: str, quantity: int | None = None
) -> dict[str, Any]:
    return order_body(SESSION, kind, event_id, minute, sku_id, order_id, quantity)


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


# ==================================================================== item 1: event times
@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+08:00",  # .NET's DateTime.MinValue
        "9999-12-31T23:59:59-23:59",
        "2030-11-25T20:01:00Z",  # an order dated 2030 in a three-hour session
        "2026-11-24T19:59:59Z",  # a day and a second before the session starts
        "2026-11-26T23:00:01Z",  # a day and a second after it ends
    ],
)
def test_an_event_far_outside_its_session_is_invalid_before_any_write(
    handlers: Handlers, occurred_at: str
) -> None:
    """Issue 11, finding 1: `0001-01-01T00:00:00+08:00` parsed, the reservation committed, then
    `from_epoch_ms` overflowed in the alert notice and the record failed on every retry. An event
    outside a day around its session is `invalid`, naming `occurred_at`, and nothing is written."""
    created = {**order("order.created", "e1", 1, CAKE, "o1", 5), "occurred_at": occurred_at}
    paid = {**order("order.paid", "e2", 2, CAKE, "o1"), "occurred_at": occurred_at}
    restock = {**order("stock.restocked", "e3", 3, CAKE, "x", 5), "occurred_at": occurred_at}
    records = [kinesis_record(raw, CAKE, i) for i, raw in enumerate([created, paid, restock], 1)]
    assert handlers.stream(records) == []
    assert handlers.outcomes.counts() == {"rejected:invalid": 3}
    assert [m["field"] for m in handlers.rejected_messages()] == ["occurred_at"] * 3
    assert handlers.status("o1") is None and handlers.levels(CAKE).available == 5
    items = handlers.stack.backend.dynamodb.scan(TableName=handlers.store.table_name)["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith(("ORDER#", "EVENT#"))]


def test_events_within_a_day_of_the_session_apply(handlers: Handlers) -> None:
    """Issue 11, finding 1: the window is generous (a platform's clock may be hours off)."""
    early = {**order("order.created", "e1", 1, CAKE, "o1", 1), "occurred_at": "2026-11-24T20:00:00Z"}
    late = {**order("order.created", "e2", 1, CAKE, "o2", 1), "occurred_at": "2026-11-26T23:00:00Z"}
    assert handlers.stream([kinesis_record(early, CAKE, 1), kinesis_record(late, CAKE, 2)]) == []
    assert handlers.outcomes.counts() == {"processed": 2}


def test_out_of_window_event_inside_a_hot_run_is_rejected_in_its_place(handlers: Handlers) -> None:
    """Issue 11, finding 1: a run of one SKU's orders still applies around an out-of-window record."""
    raws = [order("order.created", f"e{i}", 1, TEA, f"o{i}", 1) for i in range(4)]
    raws[2]["occurred_at"] = "9999-12-31T23:59:59-23:59"
    assert handlers.stream([kinesis_record(r, TEA, i) for i, r in enumerate(raws, 1)]) == []
    assert handlers.levels(TEA).reserved == 3 and handlers.status("o2") is None
    assert handlers.outcomes.counts() == {"processed": 3, "rejected:invalid": 1}


class Exploding:
    """A publisher or outcome sink that fails the way a formatting or metrics bug would."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def publish(self, notice: Any, skip: frozenset[str] = frozenset()) -> None:
        self.calls += 1
        raise self.error

    def record(self, event: Any, outcome: Any) -> None:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize("error", [OverflowError("date value out of range"), ValueError("bad format")])
@pytest.mark.parametrize("batch_size", [1, 3])  # one record alone, and a hot-SKU run
def test_a_failing_notice_after_a_committed_change_does_not_fail_the_record(
    handlers: Handlers, error: Exception, batch_size: int
) -> None:
    """Issue 11, finding 1: `settle` / `apply_run` caught only boto errors, so a notice that failed
    to build or publish after the reservation committed failed the record on every retry (and
    its redelivery was a `duplicate`). The event stays applied and counted; the stream moves on."""
    exploding = Exploding(error)
    handlers.guard.tiers.publisher = exploding
    raws = [order("order.created", "e0", 1, CAKE, "o0", 5)]  # the last units: red
    raws += [order("order.cancelled", f"c{i}", 2, CAKE, "o0") for i in range(1, batch_size)]
    assert handlers.stream([kinesis_record(r, CAKE, i) for i, r in enumerate(raws, 1)]) == []
    assert exploding.calls >= 1  # the last units were taken: red, announced, and the notice failed
    assert handlers.status("o0") == ("reserved" if batch_size == 1 else "released")
    assert handlers.outcomes.counts() == {"processed": batch_size}


def test_a_failing_metric_after_a_committed_change_does_not_fail_the_record(handlers: Handlers) -> None:
    """Issue 11, finding 1: counting the outcome is after the commit, too."""
    exploding = Exploding(RuntimeError("metrics backend down"))
    handlers.guard.ledger.sink = exploding
    raws = [order("order.created", "e1", 1, CAKE, "o1", 1), order("order.created", "e2", 1, CAKE, "o2", 1)]
    assert handlers.stream([kinesis_record(raws[0], CAKE, 1)]) == []
    assert handlers.stream([kinesis_record(r, CAKE, i) for i, r in enumerate(raws, 2)]) == []
    assert handlers.status("o1") == "reserved" and handlers.status("o2") == "reserved"
    assert exploding.calls == 3


# ======================================================================= item 2: ids with '#'
def test_ids_with_the_key_separator_do_not_collide_across_sessions() -> None:
    """Issue 11, finding 2: keys were `ORDER#{session}#{order}` / `SKU#{session}#{sku}`, so session
    `live` with order `2#o1` and session `live#2` with order `o1` shared one order item (the new
    order was a `duplicate`, its cancel failed on every retry), and SKU `2#tea` of `live` shared
    `live#2`'s `tea` stock item. Every id component of every key is escaped."""
    first = session_plan(
        [{"sku_id": "2#tea", "on_hand": 10}, {"sku_id": "tea", "on_hand": 10}], session_id="live"
    )
    second = session_plan([{"sku_id": "tea", "on_hand": 7}], session_id="live#2")
    with moto_rig(first) as rig:
        rig.store.load_session(second)
        g = rig.guard.ledger

        def ev(
            kind: str, eid: str, session: str, sku: str, order_id: str, quantity: int | None = None
        ) -> Any:
            return event(
                kind, eid, T0 + MINUTE, sku, session_id=session, platform="douyin", order_id=order_id,
                quantity=quantity,
            )  # fmt: skip

        assert g.handle(ev("order.created", "a1", "live", "2#tea", "2#o1", 2)).result is Result.PROCESSED
        assert g.handle(ev("order.created", "b1", "live#2", "tea", "o1", 3)).result is Result.PROCESSED
        assert g.handle(ev("order.created", "c1", "live", "tea", "o1", 1)).result is Result.PROCESSED
        assert g.handle(ev("order.cancelled", "b2", "live#2", "tea", "o1")).result is Result.PROCESSED
        # A hot run on `live#2` reads its orders back by key (BatchGetItem).
        run = [ev("order.created", f"r{i}", "live#2", "tea", f"2#r{i}", 1) for i in range(3)]
        run.append(ev("order.paid", "rp", "live#2", "tea", "2#r0"))
        outcomes = g.apply_run(run)
        assert outcomes is not None, "applied as a run"
        assert [o.result for o in outcomes] == [Result.PROCESSED] * 4

        store = rig.store
        assert store.order("live", "2#o1").status is OrderStatus.RESERVED  # type: ignore[union-attr]
        assert store.order("live#2", "o1").status is OrderStatus.RELEASED  # type: ignore[union-attr]
        assert store.order("live", "o1").status is OrderStatus.RESERVED  # type: ignore[union-attr]
        assert store.order("live#2", "2#r0").status is OrderStatus.SOLD  # type: ignore[union-attr]
        levels = {
            (s, k): store.stock(s, k).levels  # type: ignore[union-attr]
            for s, k in [("live", "2#tea"), ("live", "tea"), ("live#2", "tea")]
        }
        assert (levels["live", "2#tea"].reserved, levels["live", "2#tea"].available) == (2, 8)
        assert (levels["live", "tea"].reserved, levels["live", "tea"].available) == (1, 9)
        assert (levels["live#2", "tea"].reserved, levels["live#2", "tea"].sold) == (2, 1)
        assert levels["live#2", "tea"].available == 4
        pks = [i["pk"]["S"] for i in rig.items("ORDER#")]
        assert len(pks) == len(set(pks)) == 6


@pytest.mark.parametrize(
    ("session_id", "order_id"),
    [("live", "2#o1"), ("live#2", "o1"), ("a%23b", "c%25#%"), ("#", "#"), ("%", "%2523")],
)
def test_an_order_key_reads_back_to_its_ids(session_id: str, order_id: str) -> None:
    """Issue 11, finding 2: `with_order_identity` (a TTL removal image without its ids) is the
    exact inverse of the key builder, whatever `#` and `%` the ids hold."""
    image = {"pk": order_key(session_id, order_id)["pk"]["S"], "status": "reserved"}
    assert with_order_identity(image) == {**image, "session_id": session_id, "order_id": order_id}
    assert order_ids_of(order_pk(session_id, order_id)) == (session_id, order_id)
    assert "#" not in order_pk(session_id, order_id).removeprefix("ORDER#").replace("#", "", 1)


def test_plain_ids_keep_their_keys() -> None:
    """Items written before escaping existed are still found: ids without `#` or `%` are unchanged."""
    assert order_key("demo-cakes", "dy1")["pk"]["S"] == "ORDER#demo-cakes#dy1"
    assert stock_key("s1", "sku-1")["pk"]["S"] == "SKU#s1#sku-1"


# ============================================================ item 3: payments under another SKU
@pytest.mark.parametrize("hot", [False, True])
def test_a_payment_under_another_sku_waits_for_its_failed_order(handlers: Handlers, hot: bool) -> None:
    """Issue 11, finding 3: hold-back was per partition key, so a payment naming another SKU (its
    partition key) ran before its order's failed creation: rejected `unknown_order` and
    remembered, a `duplicate` on redelivery; the buyer paid and the hold expired. It now fails
    with its order (and holds back the rest of its own SKU), and applies on the retry."""
    extra = [order("order.created", f"t{i}", 1, TEA, f"t{i}", 1) for i in range(3)] if hot else []
    raws = [
        (TEA, order("order.created", "a1", 1, TEA, "o1", 2)),
        *[(TEA, raw) for raw in extra],
        (CAKE, order("order.created", "c1", 1, CAKE, "c1", 1)),
        (CAKE, order("order.paid", "a2", 2, CAKE, "o1")),  # names o1 under CAKE's partition key
        (CAKE, order("order.created", "c2", 3, CAKE, "c2", 1)),
        (CAKE, order("order.paid", "c3", 3, CAKE, "c1")),
    ]
    records = [kinesis_record(raw, sku, i) for i, (sku, raw) in enumerate(raws, 1)]
    seq = {raw["event_id"]: r["kinesis"]["sequenceNumber"] for (_, raw), r in zip(raws, records, strict=True)}

    handlers.flaky.failing = stock_key(SESSION, TEA)["pk"]["S"]
    failed = handlers.stream(records)
    tea = ["a1", *[raw["event_id"] for raw in extra]]
    assert failed == [seq[e] for e in [*tea, "a2", "c2", "c3"]]
    assert handlers.status("c1") == "reserved" and handlers.status("o1") is None
    assert handlers.outcomes.counts() == {"processed": 1}  # c1 only: no `unknown_order` remembered

    handlers.flaky.failing = None
    handlers.outcomes.clear()
    assert handlers.stream(records) == []
    assert handlers.status("o1") == "sold"
    assert (handlers.status("c1"), handlers.status("c2")) == ("sold", "reserved")
    assert handlers.outcomes.counts() == {"processed": 4 + len(extra), "duplicate": 1}  # c1 again
    tea_levels = handlers.levels(TEA)
    assert (tea_levels.sold, tea_levels.reserved) == (2, len(extra))


def test_a_payment_for_an_order_never_seen_is_still_unknown_order(handlers: Handlers) -> None:
    """Issue 11, finding 3: the contract stands: a payment for an order never created is
    `unknown_order` (nothing failed in the batch, nothing is held back)."""
    raws = [order("order.paid", "p1", 2, CAKE, "ghost"), order("order.created", "c1", 3, CAKE, "c1", 1)]
    assert handlers.stream([kinesis_record(r, CAKE, i) for i, r in enumerate(raws, 1)]) == []
    assert handlers.outcomes.counts() == {"rejected:unknown_order": 1, "processed": 1}


# ================================================================ item 6: stock sync is advisory
class RefusingSns:
    """SNS whose PublishBatch refuses every entry (while `refusing`), else records them."""

    def __init__(self) -> None:
        self.refusing = True
        self.published: list[dict[str, Any]] = []

    def publish_batch(
        self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if self.refusing:
            failed = [
                {"Id": e["Id"], "Code": "InternalError", "SenderFault": False}
                for e in PublishBatchRequestEntries
            ]
            return {"Successful": [], "Failed": failed}
        self.published += [json.loads(e["Message"]) for e in PublishBatchRequestEntries]
        return {"Successful": [{"Id": e["Id"]} for e in PublishBatchRequestEntries], "Failed": []}


def test_a_refused_stock_sync_never_fails_the_applied_batch(
    handlers: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11, finding 6: `StockSyncFailed` (PublishBatch refusing entries) escaped
    `sync_platform_stock` after every record had applied: the batch was retried, every record
    came back a duplicate, and the shard stalled. The sync is advisory: logged, counted
    (`stock_sync_failed`), sent again with the next batch."""
    sns = RefusingSns()
    monkeypatch.setenv("STOCK_SYNC_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:stock-sync")
    monkeypatch.setattr(wiring, "aws_client", lambda service: sns)
    monkeypatch.setattr(wiring, "_stock_sync_feeds", {})
    counted: list[str] = []
    real_add = handlers.order_stream.metrics.add_metric

    def spy(name: str, **kwargs: Any) -> None:
        counted.append(name)
        real_add(name=name, **kwargs)

    monkeypatch.setattr(handlers.order_stream.metrics, "add_metric", spy)

    first = kinesis_record(order("order.created", "e1", 1, TEA, "o1", 2), TEA, 1)
    assert handlers.stream([first]) == []
    assert handlers.status("o1") == "reserved"
    assert handlers.outcomes.counts() == {"processed": 1}
    assert counted.count("stock_sync_failed") == 1 and sns.published == []

    sns.refusing = False
    second = kinesis_record(order("order.created", "e2", 2, CAKE, "o2", 1), CAKE, 2)
    assert handlers.stream([second]) == []
    assert counted.count("stock_sync_failed") == 1
    assert sorted(m["sku_id"] for m in sns.published) == [CAKE]  # only what this batch touched
    third = kinesis_record(order("order.paid", "e3", 3, TEA, "o1"), TEA, 3)
    assert handlers.stream([third]) == []
    assert [m["sku_id"] for m in sns.published] == [CAKE, TEA]


# ======================================================== item 7: bounded memory per order
def _long_id(prefix: str, n: int) -> str:
    return f"{prefix}-{n:06d}-".ljust(128, "x")


def test_thousands_of_long_id_events_on_one_order_never_overflow_its_item() -> None:
    """Issue 11, finding 7: every event naming an order added an `ev:` attribute to its item;
    after ~820 events with 128-character ids the item passed 400 KB and every later event on the
    order failed forever. The memory keeps at most MAX_EVENTS_PER_ORDER ids; later events are
    remembered on their markers and decided exactly once all the same."""
    plan = session_plan([{"sku_id": TEA, "on_hand": 10}], session_id=SESSION)
    with moto_rig(plan) as rig:
        g = rig.guard.ledger

        def ev(kind: str, event_id: str, quantity: int | None = None) -> Any:
            return event(
                kind, event_id, T0 + MINUTE, TEA, session_id=SESSION, platform="douyin", order_id="o1",
                quantity=quantity,
            )  # fmt: skip

        assert g.handle(ev("order.created", _long_id("c", 0), 2)).result is Result.PROCESSED
        payments = [ev("order.paid", _long_id("p", n)) for n in range(1, 1500)]
        # In runs of 99 (the hot path) and one by one, as the stream would send them.
        for first in range(0, 594, 99):
            run_or_each(g, payments[first : first + 99])
        for payment in payments[594:]:
            g.handle(payment)
        cancel = ev("order.cancelled", _long_id("x", 1))  # beyond the cap: on its marker
        assert g.handle(cancel).result is Result.PROCESSED
        assert rig.levels(TEA).available == 10 and rig.order("o1").status is OrderStatus.RELEASED  # type: ignore[union-attr]
        # Redeliveries: within the memory, beyond it, and the cancel: none has a second effect.
        for again in (payments[0], payments[1000], payments[-1], cancel):
            outcome = g.handle(again)
            assert outcome.result is Result.DUPLICATE and outcome.original is not None
        for n in range(1500, 2000):
            g.handle(ev("order.paid", _long_id("q", n)))  # a payment after the cancel re-takes once
        assert rig.order("o1").status is OrderStatus.SOLD  # type: ignore[union-attr]
        levels = rig.levels(TEA)
        assert (levels.sold, levels.reserved, levels.available) == (2, 0, 8)
        counts = rig.outcomes.counts()
        assert sum(counts.values()) == 2 + 1499 + 4 + 500 and set(counts) == {"processed", "duplicate"}
        assert counts["processed"] == 4  # created, first payment, cancel, re-take
        [item] = rig.order_items()
        remembered = [k for k in item if k.startswith(MEMORY_PREFIX)]
        assert len(remembered) == int(item[MEMORY_COUNT]["N"]) <= MAX_EVENTS_PER_ORDER
        assert len(json.dumps(item)) < 40_000


def test_a_hot_run_counts_the_memory_it_adds() -> None:
    """Issue 11, finding 7: the count that bounds an order's memory is kept by the run path too."""
    plan = session_plan([{"sku_id": TEA, "on_hand": 10}], session_id=SESSION)
    with moto_rig(plan) as rig:
        run = [
            event(kind, f"{kind}-{n}", T0 + MINUTE, TEA, session_id=SESSION, platform="douyin",
                  order_id=f"o{n}", quantity=1 if kind == "order.created" else None)
            for n in range(3) for kind in ("order.created", "order.paid")
        ]  # fmt: skip
        assert rig.guard.ledger.apply_run(run) is not None
        for item in rig.order_items():
            assert int(item[MEMORY_COUNT]["N"]) == 2 == len([k for k in item if k.startswith(MEMORY_PREFIX)])
        assert rig.store.order_memory(SESSION, "o1").count == 2


# ============================================================ item 8: holds and TTLs from the clock
DAY = 24 * 60 * MINUTE


@pytest.mark.parametrize("as_run", [False, True])
def test_an_order_dated_ahead_of_the_clock_holds_stock_from_now(as_run: bool) -> None:
    """Issue 11, finding 8: the hold was `occurred_at + hold_minutes`, so an order dated in 2030
    held stock until 2030 (its TTL too). Now a hold ends at most `hold_minutes` after the
    processing clock (2030 itself is `invalid`: finding 1; 20 hours ahead is within the window)."""
    plan = session_plan([{"sku_id": TEA, "on_hand": 10, "hold_minutes": 15}], session_id=SESSION)
    with moto_rig(plan) as rig:
        ahead = T0 + 20 * 60 * MINUTE
        created = [
            event("order.created", f"e{n}", ahead, TEA, session_id=SESSION, platform="douyin",
                  order_id=f"o{n}", quantity=1)
            for n in range(3)
        ]  # fmt: skip
        if as_run:
            assert rig.guard.ledger.apply_run(created) is not None
        else:
            for e in created:
                rig.guard.ledger.handle(e)
        for item in rig.order_items():
            assert int(item["hold_until_ms"]["N"]) == T0 + 15 * MINUTE
            assert int(item["expires_at"]["N"]) == (T0 + 15 * MINUTE) // 1000
        rig.clock.set(T0 + 15 * MINUTE)
        assert rig.guard.expiry.sweep() == 3
        assert rig.levels(TEA).available == 10


def test_retention_ttls_count_from_the_processing_clock() -> None:
    """Issue 11, finding 8: an idempotency marker's TTL was the event's instant + 7 days, so an
    event processed 15 days after it happened wrote a marker already past its TTL (DynamoDB may
    delete it at once, and a redelivery would apply again). Markers and terminal orders are kept
    30 days from the processing clock."""
    plan = session_plan([{"sku_id": TEA, "on_hand": 1}], session_id=SESSION)
    with moto_rig(plan) as rig:
        now = T0 + 15 * DAY
        rig.clock.set(now)
        at = T0 + 60 * MINUTE
        rig.guard.ledger.handle(event("stock.restocked", "r1", at, TEA, session_id=SESSION, quantity=2))
        rig.guard.ledger.handle(
            event("stock.held", "h1", at, "nope", session_id=SESSION, quantity=1)
        )  # unknown SKU
        big = event(
            "order.created", "c1", at, TEA, session_id=SESSION, platform="douyin", order_id="big", quantity=9
        )
        assert rig.guard.ledger.handle(big).reason is not None  # refused: a terminal order at once
        ttl = {i["pk"]["S"]: int(i["expires_at"]["N"]) for i in rig.items("EVENT#") + rig.order_items()}
        assert sorted(ttl) == ["EVENT#h1", "EVENT#r1", order_pk(SESSION, "big")]
        assert all(t == (now + 30 * DAY) // 1000 for t in ttl.values()), ttl
        assert rig.guard.ledger.handle(big).result is Result.DUPLICATE
