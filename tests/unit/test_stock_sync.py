"""The platform stock sync feed: sellable quantities, coalescing per batch, and the SNS adapter."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import boto3
from moto import mock_aws

from stockpulse.adapters.sns import SnsStockSyncPublisher
from stockpulse.domain.ledger import StockLevels, reserve, take_refusal
from stockpulse.records import StockItem, parse_stock
from stockpulse.stock_sync import (
    Published,
    StockSyncFeed,
    StockSyncUpdate,
    coalesce,
    sellable,
)

SESSION = "sync"


def levels(**kw: Any) -> StockLevels:
    args: dict[str, Any] = {"on_hand": 100, "held": 0, "reserved": 0, "sold": 0, "available": 100}
    args.update(kw)
    return StockLevels(**args)


def item(version: int, **kw: Any) -> StockItem:
    lv = levels(**kw)
    raw = {
        "session_id": SESSION,
        "sku_id": "a",
        "version": version,
        "hold_minutes": 15,
        "on_hand": lv.on_hand,
        "held": lv.held,
        "reserved": lv.reserved,
        "sold": lv.sold,
        "available": lv.available,
        "paused": lv.paused,
        "headroom": dict(lv.headroom),
        "used": dict(lv.used),
    }
    return parse_stock(raw)


# ---------------------------------------------------------------------------- pure rules
def test_sellable_respects_quotas_holds_and_pause() -> None:
    # 100 on hand, 30 held, 20 reserved: 50 available for everyone.
    lv = levels(
        held=30, reserved=20, available=50, headroom={"douyin": 80, "kuaishou": 5}, used={"taobao": 20}
    )
    assert sellable(lv) == {"douyin": 50, "kuaishou": 5, "taobao": 50}
    assert sellable(levels(available=0, held=100, headroom={"douyin": 80})) == {"douyin": 0}
    assert sellable(levels(paused=True, headroom={"douyin": 80}, used={"taobao": 1})) == {
        "douyin": 0,
        "taobao": 0,
    }
    update = StockSyncUpdate.of(item(3, paused=True))
    assert update.other_platforms == 0 and update.message()["version"] == 3


def test_coalesce_keeps_the_newest_read_and_skips_unchanged() -> None:
    reads = [item(5, available=90, reserved=10), item(7, available=80, reserved=20), item(6, available=85)]
    [update] = coalesce(reads, {})
    assert update.version == 7 and update.other_platforms == 80
    last = {update.key: Published(update.version, update.quantities)}
    assert coalesce([item(8, available=80, reserved=20)], last) == []  # same quantities
    assert coalesce([item(6, available=10)], last) == []  # an older read
    assert [u.version for u in coalesce([item(9, available=79, reserved=21)], last)] == [9]


# ---------------------------------------------------------------------------- a burst
class Recorder:
    def __init__(self) -> None:
        self.updates: list[StockSyncUpdate] = []
        self.requests = 0

    def publish(self, updates: Sequence[StockSyncUpdate]) -> None:
        self.requests += 1
        self.updates.extend(updates)


class Ledger:
    """The ledger's own rules (`take_refusal`, `Move.applied_to`) on stock items, one version per
    change: what the stock items read at the end of each batch look like."""

    def __init__(self, **skus: StockLevels) -> None:
        self.items = {k: _stock_item(k, 0, lv) for k, lv in skus.items()}

    def reserve(self, sku_id: str, platform: str, units: int) -> None:
        current = self.items[sku_id]
        if take_refusal(current.levels, platform, units) is None:
            moved = reserve(platform, units).applied_to(current.levels)
            self.items[sku_id] = _stock_item(sku_id, current.version + 1, moved)


def _stock_item(sku_id: str, version: int, lv: StockLevels) -> StockItem:
    return replace(item(version, **{f: getattr(lv, f) for f in _FIELDS}), sku_id=sku_id)


_FIELDS = ("on_hand", "held", "reserved", "sold", "available", "paused", "headroom", "used")


def test_burst_of_500_orders_in_5_batches() -> None:
    quotas = {"douyin": 300, "kuaishou": 60}
    ledger = Ledger(
        a=levels(on_hand=400, held=50, available=350, headroom=quotas, used=dict.fromkeys(quotas, 0)),
        b=levels(on_hand=150, available=150),
    )
    rng = random.Random(7)
    recorder = Recorder()
    feed = StockSyncFeed(recorder)
    for _batch in range(5):  # five Kinesis batches of 100 orders
        touched = set()
        for _ in range(100):
            sku_id = rng.choice("ab")
            ledger.reserve(sku_id, rng.choice(["douyin", "kuaishou", "taobao"]), rng.randint(1, 3))
            touched.add(sku_id)
        feed.after_batch(ledger.items[s] for s in sorted(touched))

    per_sku = Counter(u.sku_id for u in recorder.updates)
    assert set(per_sku) == {"a", "b"} and max(per_sku.values()) <= 5
    assert recorder.requests <= 5  # the SKUs of one batch go out together
    for sku_id, final in ledger.items.items():
        last = [u for u in recorder.updates if u.sku_id == sku_id][-1]
        assert last.version == final.version
        assert dict(last.sellable) == sellable(final.levels)
        assert last.other_platforms == final.levels.available
    a = ledger.items["a"].levels
    last_a = [u for u in recorder.updates if u.sku_id == "a"][-1]
    # Holds are never sellable; a capped platform never beyond its quota left.
    assert a.held == 50 and a.available == 400 - 50 - a.reserved
    for platform, cap in quotas.items():
        assert last_a.sellable[platform] == min(a.available, cap - a.used[platform])
    assert a.used["kuaishou"] > 50 and last_a.sellable["kuaishou"] < 10  # its quota ran low
    assert last_a.sellable["taobao"] == a.available  # uncapped


def test_a_quiet_batch_publishes_nothing() -> None:
    recorder = Recorder()
    feed = StockSyncFeed(recorder)
    feed.after_batch([item(1, available=90, reserved=10)])
    feed.after_batch([item(1, available=90, reserved=10)])  # a batch of duplicates
    feed.after_batch([])
    assert recorder.requests == 1


def test_sns_publisher_batches_ten_per_request() -> None:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="stock-sync")["TopicArn"]
        url = sqs.create_queue(QueueName="listing")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        updates = [StockSyncUpdate(SESSION, f"sku{i}", i, 10, False, {"douyin": 5}, 10) for i in range(12)]
        SnsStockSyncPublisher(sns, topic).publish(updates)
        bodies = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                bodies.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        assert sorted(b["sku_id"] for b in bodies) == sorted(f"sku{i}" for i in range(12))
        assert bodies[0].keys() == {
            "session_id", "sku_id", "version", "available", "paused", "sellable", "other_platforms",
        }  # fmt: skip
