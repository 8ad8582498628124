"""The ledger under real concurrency, on DynamoDB Local (the real engine's conditional writes).

Every thread has its own boto3 client and its own InventoryGuard; they share the table. A
`TransactionContention` (the guard gave up on a hot item) is what the stream retries, so the
threads retry it too, as Lambda would redeliver the record.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from support import MINUTE, T0, Rig, build_rig, event, outcome_key, session_plan

from stockpulse.adapters.dynamodb_ledger import TransactionContention, from_item, order_key
from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import OrderStatus, Outcome, StockLevels
from stockpulse.guard import InventoryGuard
from stockpulse_local.dynamodb_local import DUMMY_KEY_ID, DUMMY_SECRET, REGION, DynamoDBLocal

PLATFORMS = ("douyin", "kuaishou", "taobao")
HOLD = 15 * MINUTE


def rig_on(local: DynamoDBLocal, skus: list[dict[str, Any]]) -> Rig:
    # No TTL: DynamoDB Local would delete by wall-clock time, against the virtual clock.
    return build_rig(local.client(), session_plan(skus), enable_ttl=False, expiry_shards=16)


def handle(guard: InventoryGuard, e: OrderEvent, retries: list[int]) -> Outcome:
    """Deliver `e` until it is decided, retrying the transient failures as the stream would."""
    for attempt in range(50):
        try:
            return guard.ledger.handle(e)
        except TransactionContention:
            retries.append(1)
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError(f"{e.event_id} never got through")


class Crew:
    """`count` guards on the rig's table, each with its own client (made here, in one thread):
    guard i runs on clients[i]."""

    def __init__(self, rig: Rig, local: DynamoDBLocal, count: int) -> None:
        session = boto3.session.Session()  # one session: the service model is loaded once
        self.clients = [
            session.client(
                "dynamodb",
                endpoint_url=local.endpoint_url,
                region_name=REGION,
                aws_access_key_id=DUMMY_KEY_ID,
                aws_secret_access_key=DUMMY_SECRET,
            )
            for _ in range(count)
        ]
        self.guards = [rig.new_guard(client) for client in self.clients]

    def run(self, work: Callable[[int, InventoryGuard], None], count: int | None = None) -> None:
        """`work(i, guard)` in `count` threads (default: one per guard), started together."""
        count = count or len(self.guards)
        start = threading.Barrier(count)
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                start.wait()
                work(i, self.guards[i])
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "a worker hung"
        if errors:
            raise errors[0]

    def deliver_all(self, events: list[OrderEvent], retries: list[int]) -> list[Outcome]:
        """Every event once, spread over the crew."""
        work, outcomes = Work(events), []

        def deliver(_: int, guard: InventoryGuard) -> None:
            outcomes.extend(handle(guard, e, retries) for e in work)

        self.run(deliver)
        return outcomes


def balanced(levels: StockLevels) -> None:
    assert levels.available >= 0
    assert levels.on_hand == levels.held + levels.reserved + levels.sold + levels.available


class Work:
    """A shared list of items handed out to threads one at a time."""

    def __init__(self, items: list[Any]) -> None:
        self._items = iter(items)
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Any]:
        while True:
            with self._lock:
                item = next(self._items, None)
            if item is None:
                return
            yield item


def reserved_in_index(rig: Rig) -> int:
    """Orders still `reserved`, counted through the sparse by_expiry index (every shard)."""
    total = 0
    for shard in range(rig.store.expiry_shards):
        kwargs: dict[str, Any] = {
            "TableName": rig.table,
            "IndexName": "by_expiry",
            "KeyConditionExpression": "expiry_shard = :s",
            "ExpressionAttributeValues": {":s": {"S": str(shard)}},
            "Select": "COUNT",
        }
        while True:
            page = rig.client.query(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return total


# ============================================================================== oversell race
def test_16_threads_5000_attempts_on_1000_units(dynamodb_local: DynamoDBLocal) -> None:
    rig = rig_on(dynamodb_local, [{"sku_id": "hot", "on_hand": 1000, "forecast": 1000}])
    attempts = [
        event(
            "order.created",
            f"c{i}",
            T0 + i,
            "hot",
            platform=PLATFORMS[i % 3],
            order_id=f"o{i}",
            quantity=1,
        )
        for i in range(5000)
    ]
    retries: list[int] = []
    Crew(rig, dynamodb_local, 16).deliver_all(attempts, retries)

    levels = rig.levels("hot")
    balanced(levels)
    assert (levels.on_hand, levels.reserved, levels.sold, levels.available) == (1000, 1000, 0, 0)
    assert sum(levels.used.values()) == 1000
    assert rig.outcomes.counts() == {"processed": 1000, "rejected:insufficient_stock": 4000}
    statuses = Counter(o.order_status for _, o in rig.outcomes.entries)
    assert statuses == {OrderStatus.RESERVED: 1000, OrderStatus.REJECTED: 4000}
    assert reserved_in_index(rig) == 1000  # exactly the granted orders hold an expiry entry


# ========================================================================== same event, 8 times
def test_the_same_event_delivered_by_8_threads_has_one_effect(dynamodb_local: DynamoDBLocal) -> None:
    rig = rig_on(dynamodb_local, [{"sku_id": "k", "on_hand": 20, "forecast": 100}])
    retries: list[int] = []
    script = [
        (event("order.created", "d1", T0, "k", platform="douyin", order_id="o1", quantity=3), "reserved"),
        (event("stock.restocked", "d2", T0 + 1, "k", quantity=5), None),
        (event("stock.held", "d3", T0 + 2, "k", quantity=4), None),
        (event("order.paid", "d4", T0 + 3, "k", platform="douyin", order_id="o1"), "sold"),
        (event("order.created", "d5", T0 + 4, "k", platform="taobao", order_id="o2", quantity=2), "reserved"),
        (event("order.cancelled", "d6", T0 + 5, "k", platform="taobao", order_id="o2"), "released"),
        (event("order.cancelled", "d7", T0 + 6, "k", platform="douyin", order_id="o1"), "released"),
        (event("order.paid", "d8", T0 + 7, "k", platform="douyin", order_id="o1"), "sold"),  # re-taken
    ]
    crew = Crew(rig, dynamodb_local, 8)
    for e, status in script:
        rig.outcomes.clear()
        crew.run(lambda _, guard, e=e: handle(guard, e, retries))  # type: ignore[misc]
        assert rig.outcomes.counts() == {"processed": 1, "duplicate": 7}, e.event_id
        if status is not None:
            order = rig.order(str(e.order_id))
            assert order is not None and order.status.value == status
        balanced(rig.levels("k"))
    levels = rig.levels("k")
    # 20 + 5 restocked, 4 held, o1 (3 units) sold again after its cancel; o2 released.
    assert (levels.on_hand, levels.held, levels.reserved, levels.sold, levels.available) == (25, 4, 0, 3, 18)
    assert levels.used == {"douyin": 3, "taobao": 0}


# ======================================================================== sweep vs TTL removal
def test_sweep_and_ttl_removal_release_each_reservation_once(dynamodb_local: DynamoDBLocal) -> None:
    n = 80
    rig = rig_on(dynamodb_local, [{"sku_id": "k", "on_hand": n, "forecast": n}])
    retries: list[int] = []
    crew = Crew(rig, dynamodb_local, 8)
    creations = [
        event("order.created", f"c{i}", T0 + i, "k", platform=PLATFORMS[i % 3], order_id=f"o{i}", quantity=1)
        for i in range(n)
    ]
    assert all(o.order_status is OrderStatus.RESERVED for o in crew.deliver_all(creations, retries))
    assert rig.levels("k").available == 0
    rig.clock.set(T0 + HOLD + MINUTE)  # every hold has ended

    swept: list[int] = []
    by_ttl: list[bool] = []
    removals = Work([f"o{i}" for i in range(n)])

    def ttl_delete(client: Any, order_id: str) -> dict[str, Any] | None:
        """What TTL does: delete the item if it still carries the hold's expiry (it is reserved)."""
        try:
            got = client.delete_item(
                TableName=rig.table,
                Key=order_key(rig.session_id, order_id),
                ConditionExpression="#s = :reserved",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":reserved": {"S": "reserved"}},
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None  # swept first: its TTL moved to retention, TTL does not remove it now
        return from_item(got["Attributes"])

    def work(i: int, guard: InventoryGuard) -> None:
        if i < 4:  # four overlapping sweeps (the schedule and its retries)
            for _ in range(3):
                swept.append(guard.expiry.sweep())
            return
        for order_id in removals:
            old = ttl_delete(crew.clients[i], order_id)
            if old is not None:
                # The stream delivers at least once: each removal record arrives twice.
                by_ttl.append(guard.expiry.release_ttl_removed(old))
                by_ttl.append(guard.expiry.release_ttl_removed(dict(old)))

    crew.run(work)
    # Whatever the sweeps left behind (TTL threads may still have been deleting) goes now.
    swept.append(rig.guard.expiry.sweep())

    released = sum(swept) + sum(by_ttl)
    assert released == n, (
        f"released {released} times for {n} reservations (sweep {sum(swept)}, ttl {sum(by_ttl)})"
    )
    assert by_ttl.count(True) * 2 == len(by_ttl), "each TTL removal released once, its redelivery nothing"
    levels = rig.levels("k")
    balanced(levels)
    assert (levels.reserved, levels.available, sum(levels.used.values())) == (0, n, 0)
    for i in range(n):
        order = rig.order(f"o{i}")
        assert order is not None and order.status is OrderStatus.EXPIRED
    assert reserved_in_index(rig) == 0


# ========================================================================= payment vs expiry
def test_payment_racing_expiry_ends_sold_retaken_or_refund_required(dynamodb_local: DynamoDBLocal) -> None:
    n = 80
    rig = rig_on(dynamodb_local, [{"sku_id": "k", "on_hand": n, "forecast": n}])
    retries: list[int] = []
    crew = Crew(rig, dynamodb_local, 12)
    creations = [
        event("order.created", f"c{i}", T0, "k", platform=PLATFORMS[i % 3], order_id=f"a{i}", quantity=1)
        for i in range(n)
    ]
    assert all(o.order_status is OrderStatus.RESERVED for o in crew.deliver_all(creations, retries))
    end = T0 + HOLD
    rig.clock.set(end)
    # Half the payments come 1 ms before the hold end (a live reservation, unless the sweep wins),
    # half exactly at it (the payment finds the hold expired and must re-take the unit).
    payments = Work(
        [
            event(
                "order.paid",
                f"p{i}",
                end - 1 if i % 2 else end,
                "k",
                platform=PLATFORMS[i % 3],
                order_id=f"a{i}",
            )
            for i in range(n)
        ]
    )
    rivals = Work(
        [
            event("order.created", f"r{j}", end + 1000, "k", platform="taobao", order_id=f"b{j}", quantity=1)
            for j in range(n)
        ]
    )
    swept: list[int] = []
    paid: list[Outcome] = []
    rival: list[Outcome] = []

    def work(i: int, guard: InventoryGuard) -> None:
        if i < 2:
            for _ in range(4):
                swept.append(guard.expiry.sweep())
        elif i < 8:
            paid.extend(handle(guard, e, retries) for e in payments)
        else:
            rival.extend(handle(guard, e, retries) for e in rivals)

    crew.run(work)

    statuses = Counter()
    for i in range(n):
        order = rig.order(f"a{i}")
        assert order is not None
        statuses[order.status] += 1
    assert set(statuses) <= {OrderStatus.SOLD, OrderStatus.REFUND_REQUIRED}, statuses
    assert [outcome_key(o) for o in paid] == ["processed"] * n
    assert Counter(o.order_status for o in paid) == statuses

    rivals_reserved = sum(1 for o in rival if o.order_status is OrderStatus.RESERVED)
    assert all(outcome_key(o) in ("processed", "rejected:insufficient_stock") for o in rival)
    levels = rig.levels("k")
    balanced(levels)
    assert levels.sold == statuses[OrderStatus.SOLD]
    assert levels.reserved == rivals_reserved
    assert levels.available == n - levels.sold - rivals_reserved
    # A refund is owed only when someone else took the unit after the hold ended.
    assert statuses[OrderStatus.REFUND_REQUIRED] <= rivals_reserved
    print(f"payments: {dict(statuses)}, swept {sum(swept)}, rivals reserved {rivals_reserved}")
    assert sum(swept) <= n
    usage = Counter(PLATFORMS[i % 3] for i in range(n) if rig.order(f"a{i}").status is OrderStatus.SOLD)  # type: ignore[union-attr]
    usage["taobao"] += rivals_reserved
    assert {p: u for p, u in levels.used.items() if u} == {p: u for p, u in usage.items() if u}


@pytest.fixture(autouse=True)
def _report_duration(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"{request.node.name}: {time.monotonic() - started:.1f} s")
