"""The ledger on DynamoDB: every stock change is one conditional transaction.

Items (docs/architecture.md): the SKU's stock item, the order item (the reservation while it is
`reserved`, with its TTL and its entry in the sharded `by_expiry` index) and the event marker.
They change together or not at all.

Every applied event id is remembered with the outcome it had, so a redelivered event is a
no-op. An order event is remembered on its order's item (the reservation record is the
idempotency key: no second item on the hot path); a stock event, or one naming no known SKU,
on its own marker item.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from stockpulse.adapters.aws_errors import as_port_error
from stockpulse.adapters.batch_read import read_items
from stockpulse.adapters.keys import (
    ALERT_PREFIX,
    ORDER_SK,
    SESSIONS_PK,
    alert_key,
    alert_labels,
    forecast_key,
    marker_key,
    order_ids_of,
    order_key,
    order_pk,
    session_index_key,
    session_key,
    sku_pk,
    stock_key,
)
from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import MINUTE_MS
from stockpulse.domain.ledger import Move, OrderRecord, OrderStatus, StockLevels
from stockpulse.domain.session import SessionPlan, SkuConfig
from stockpulse.ports import StockItemExists as StockItemExists
from stockpulse.ports import StoreUnavailable
from stockpulse.ports import TransactionContention as TransactionContention
from stockpulse.records import (
    MAX_EVENTS_PER_ORDER,
    ORDER_FIELDS,
    EventMemory,
    OrderMemory,
    OrderWrite,
    PlanCopy,
    StockItem,
    Thresholds,
    TxResult,
    order_of,
    parse_stock,
    stock_attributes,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

DAY_MS = 24 * 60 * MINUTE_MS
# Terminal orders and event markers are garbage-collected by TTL, counted from the processing
# clock (`DynamoLedgerStore.now_ms`), never from an event's own instant: an event 15 days old must
# not write a marker already past its TTL, nor one dated 2030 an order kept until 2060.
ORDER_RETENTION_MS = 30 * DAY_MS
MARKER_RETENTION_MS = 30 * DAY_MS  # far beyond the stream's retention: redeliveries stay duplicates
MEMORY_PREFIX = "ev:"  # an order item's attribute per event applied to it: "ev:{event_id}" = outcome code
MEMORY_COUNT = "ev_count"  # events remembered on an order item (at most records.MAX_EVENTS_PER_ORDER)
TRANSACTION_ATTEMPTS = 8


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_plain(v)) for k, v in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def expiry_shard(session_id: str, order_id: str, shards: int) -> str:
    """Spread reservations over index partitions: a hot SKU's orders must not share one."""
    digest = hashlib.blake2s(f"{session_id}#{order_id}".encode(), digest_size=4).digest()
    return str(int.from_bytes(digest, "big") % shards)


def ttl_seconds(ms: int) -> int:
    return -(-ms // 1000)


def memory_of(raw: Mapping[str, Any]) -> OrderMemory:
    """An order item's order (if it has a status) and the events remembered on it."""
    events = {k.removeprefix(MEMORY_PREFIX): str(v) for k, v in raw.items() if k.startswith(MEMORY_PREFIX)}
    count = int(raw.get(MEMORY_COUNT, len(events)))
    return OrderMemory(order_of(raw) if "status" in raw else None, events, max(count, len(events)))


class DynamoLedgerStore:
    """Reads and conditional writes on the ledger table; decides nothing by itself."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        expiry_shards: int = 16,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = client
        self.table_name = table_name
        self.expiry_shards = expiry_shards
        self._sleep = sleep
        self.request_log: list[str] = []  # every request issued, for cost accounting in benchmarks
        # The processing clock TTLs are counted from (the guard installs its own clock here).
        self.now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000

    # -- reads -------------------------------------------------------------------------------
    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        self.request_log.append("GetItem")
        with as_port_error(StoreUnavailable):
            response = self._db.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def stock(self, session_id: str, sku_id: str) -> StockItem | None:
        raw = self._get(stock_key(session_id, sku_id))
        return parse_stock(raw) if raw else None

    def order(self, session_id: str, order_id: str) -> OrderRecord | None:
        return self.order_memory(session_id, order_id).record

    def order_memory(self, session_id: str, order_id: str) -> OrderMemory:
        return memory_of(self._get(order_key(session_id, order_id)) or {})

    def order_memories(self, session_id: str, order_ids: Sequence[str]) -> dict[str, OrderMemory]:
        """Several orders in one request per 100 (consistent reads); absent ones are empty."""
        keys = [order_key(session_id, order_id) for order_id in order_ids]
        found = self._read_items(keys)
        return {
            order_id: memory_of(from_item(found.get((key["pk"]["S"], key["sk"]["S"])) or {}))
            for key, order_id in zip(keys, order_ids, strict=True)
        }

    def stocks(self, skus: Sequence[tuple[str, str]]) -> list[StockItem]:
        """The stock items of (session, SKU) pairs in one request per 100, in the order given;
        absent ones are left out."""
        keys = [stock_key(session_id, sku_id) for session_id, sku_id in dict.fromkeys(skus)]
        found = self._read_items(keys)
        items = (found.get((key["pk"]["S"], key["sk"]["S"])) for key in keys)
        return [parse_stock(from_item(item)) for item in items if item]

    def _read_items(self, keys: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return read_items(
            self._db,
            self.table_name,
            keys,
            request_log=self.request_log,
            incomplete=TransactionContention,
            sleep=self._sleep,
            attempts=TRANSACTION_ATTEMPTS,  # as many as a conflicting write gets before the record is retried
        )

    def remembered(self, event_id: str) -> str | None:
        """The outcome code remembered on an event's marker item, if it has one."""
        raw = self._get(marker_key(event_id))
        return str(raw["outcome"]) if raw and "outcome" in raw else None

    def session(self, session_id: str) -> dict[str, Any] | None:
        return self._get(session_key(session_id))

    def session_index(self, session_id: str) -> dict[str, Any] | None:
        """The session's entry in the live-sessions index (the minutes the evaluator ran)."""
        return self._get(session_index_key(session_id))

    def forecast_item(self, session_id: str, sku_id: str) -> dict[str, Any] | None:
        """The evaluator's FORECAST item of a SKU, as stored (`sample_log.shown` reads it)."""
        return self._get(forecast_key(session_id, sku_id))

    def session_orders(self, session_id: str) -> dict[str, OrderMemory]:
        """Every order item of a session, by order id: a Scan of the whole table filtered on the
        key prefix (order items have no index by session), for reading after or during a show,
        never on the hot path. Items TTL removed (terminal orders after their retention) are gone."""
        prefix = order_pk(session_id, "")
        found: dict[str, OrderMemory] = {}
        for page in self._paginate(
            "scan",
            TableName=self.table_name,
            FilterExpression="begins_with(pk, :p) AND sk = :order",
            ExpressionAttributeValues={":p": {"S": prefix}, ":order": {"S": ORDER_SK}},
        ):
            self.request_log.append("Scan")
            for item in page.get("Items", []):
                raw = from_item(item)
                ids = order_ids_of(str(raw["pk"]))
                if ids is not None and ids[0] == session_id:
                    found[ids[1]] = memory_of(raw)
        return found

    def live_sessions(self, now_ms: int) -> list[dict[str, Any]]:
        """The index items of the sessions under way (or ended less than an hour ago, so late
        expiries still settle): `session_id`, `starts_ms`, `ends_ms`, the minutes the evaluator
        ran (`evaluated`, `stockpulse.domain.sample_log`) and the process it ran in (`evaluator`:
        consistent, as `DynamoForecastStore.claim` trusts it)."""
        self.request_log.append("Query")
        rows: list[dict[str, Any]] = []
        for page in self._paginate(
            "query",
            TableName=self.table_name,
            ConsistentRead=True,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": SESSIONS_PK}},
        ):
            for item in page["Items"]:
                row = from_item(item)
                if int(row["starts_ms"]) <= now_ms <= int(row["ends_ms"]) + 60 * MINUTE_MS:
                    rows.append(row)
        return rows

    def due_reservations(self, now_ms: int, shard: str, limit: int = 500) -> list[dict[str, Any]]:
        """Reservations of one index shard whose hold ended at or before `now_ms`, oldest first.

        Every page is read (`limit` is the page size): one page used to be all a sweep released,
        leaving a larger backlog reserved after its hold end until later sweeps.
        """
        items: list[dict[str, Any]] = []
        for page in self._paginate(
            "query",
            TableName=self.table_name,
            IndexName="by_expiry",
            KeyConditionExpression="expiry_shard = :s AND hold_until_ms <= :now",
            ExpressionAttributeValues={":s": {"S": shard}, ":now": {"N": str(now_ms)}},
            Limit=limit,
        ):
            self.request_log.append("Query")
            items.extend(from_item(item) for item in page.get("Items", []))
        return items

    def next_hold_end(self, after_ms: int) -> int | None:
        """The earliest hold end after `after_ms` across all shards (the runner plans batches with it)."""
        ends: list[int] = []
        for shard in range(self.expiry_shards):
            self.request_log.append("Query")
            with as_port_error(StoreUnavailable):
                response = self._db.query(
                    TableName=self.table_name,
                    IndexName="by_expiry",
                    KeyConditionExpression="expiry_shard = :s AND hold_until_ms > :t",
                    ExpressionAttributeValues={":s": {"S": str(shard)}, ":t": {"N": str(after_ms)}},
                    Limit=1,
                )
            ends.extend(int(i["hold_until_ms"]["N"]) for i in response.get("Items", []))
        return min(ends) if ends else None

    def _paginate(self, op: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            with as_port_error(StoreUnavailable):
                page = getattr(self._db, op)(**kwargs)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- session set-up ------------------------------------------------------------------------
    def load_session(self, plan: SessionPlan, *, overwrite: bool = False) -> None:
        """Write each SKU's opening stock, then the session's index entry, then the session.

        The session item (with the plan) is written last: once it is there, the load is complete.
        Every item is built and checked (DynamoDB's numbers, the 400 KB item size) before the
        first write: a plan that cannot be stored raises ValueError naming the SKU and writes
        nothing. Stock first: a refused load (StockItemExists) leaves the live session's plan as it
        was. A load interrupted mid-way (a network error, a throttle: StoreUnavailable, with the
        SDK's message) can be run again: a stock item this same plan wrote and nothing has
        touched since (`version` 0, the plan's digest) is written again; any other existing stock
        item is refused unless `overwrite`.
        """
        import json

        max_item_bytes = 400 * 1024
        s = plan.session
        writes: list[tuple[str, dict[str, Any]]] = []
        try:
            for sku in plan.skus:
                where = f"skus.{sku.sku_id}"
                stock = to_item(opening_stock(plan, sku))
                writes.append((where, {**stock_key(s.session_id, sku.sku_id), **stock}))
            where = "session"
            index_item = {
                "session_id": s.session_id,
                "starts_ms": s.starts_ms,
                "ends_ms": s.ends_ms,
                "plan_digest": plan.digest,  # the evaluator keeps its copy of the plan while it matches
            }
            writes.append((where, {**session_index_key(s.session_id), **to_item(index_item)}))
            session_item = {**index_item, "plan": plan.model_dump_json()}
            writes.append((where, {**session_key(s.session_id), **to_item(session_item)}))
        except (ArithmeticError, TypeError, ValueError) as err:  # decimal.Rounded, Infinity, ...
            raise ValueError(f"{where}: cannot be stored in DynamoDB ({err.__class__.__name__})") from None
        for where, item in writes:
            size = sum(len(k.encode()) + len(json.dumps(v).encode()) for k, v in item.items())
            if size > max_item_bytes:
                raise ValueError(f"{where}: about {size // 1024} KB, more than a DynamoDB item holds")
        condition: dict[str, Any] = {}
        if not overwrite:
            condition = {
                "ConditionExpression": "attribute_not_exists(pk) OR (#version = :zero AND #digest = :digest)",
                "ExpressionAttributeNames": {"#version": "version", "#digest": "plan_digest"},
                "ExpressionAttributeValues": {":zero": {"N": "0"}, ":digest": {"S": plan.digest}},
            }
        for (_, item), sku in zip(writes, plan.skus, strict=False):
            self.request_log.append("PutItem")
            with as_port_error(StoreUnavailable):
                try:
                    self._db.put_item(TableName=self.table_name, Item=item, **condition)
                except ClientError as err:
                    if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                    raise StockItemExists(f"{s.session_id}/{sku.sku_id} already has stock") from None
        for _, item in writes[len(plan.skus) :]:
            self.request_log.append("PutItem")
            with as_port_error(StoreUnavailable):
                self._db.put_item(TableName=self.table_name, Item=item)

    def _put(self, key: dict[str, Any], values: Mapping[str, Any], condition: str | None = None) -> bool:
        """False when `condition` failed."""
        self.request_log.append("PutItem")
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": {**key, **to_item(values)}}
        if condition:
            kwargs["ConditionExpression"] = condition
        with as_port_error(StoreUnavailable):
            try:
                self._db.put_item(**kwargs)
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                return False
        return True

    # -- the one write path for stock changes ----------------------------------------------------
    def transact(
        self,
        *,
        session_id: str,
        sku_id: str,
        move: Move | None,
        capped: frozenset[str] = frozenset(),
        order_id: str | None = None,
        order: OrderWrite | None = None,
        memory: EventMemory | None = None,
        at_ms: int,
    ) -> TxResult:
        """Apply `move` to the stock item with the order change and the event's memory, atomically.

        `at_ms` is the change's own instant; retention TTLs count from `now_ms()`, not from it."""
        parts: list[tuple[str, dict[str, Any]]] = []
        if move is not None:
            parts.append(("stock", self._stock_update(session_id, sku_id, move, capped)))
        on_order = [memory] if memory is not None and memory.on_order else []
        if order is not None or on_order:
            assert order_id is not None
            parts.append(("order", self._order_write(session_id, order_id, order, on_order, at_ms)))
        if memory is not None and not memory.on_order:
            parts.append(("marker", self._marker_put(memory, at_ms)))
        return self._transact(parts)

    def _transact(self, parts: Sequence[tuple[str, dict[str, Any]]]) -> TxResult:
        if len(parts) == 1:
            return self._write_one(*parts[0])
        ops = [{spec["_kind"]: {k: v for k, v in spec.items() if k != "_kind"}} for _, spec in parts]
        for attempt in range(TRANSACTION_ATTEMPTS):
            self.request_log.append("TransactWriteItems")
            with as_port_error(StoreUnavailable):
                try:
                    self._db.transact_write_items(TransactItems=ops)
                    return TxResult(ok=True)
                except ClientError as err:
                    if err.response["Error"]["Code"] != "TransactionCanceledException":
                        raise
                    codes = [r.get("Code", "None") for r in err.response.get("CancellationReasons", [])]
                    failed = frozenset(
                        name
                        for (name, _), code in zip(parts, codes, strict=False)
                        if code == "ConditionalCheckFailed"
                    )
                    if failed:
                        return TxResult(ok=False, failed=failed)
            # Conflicts with a concurrent transaction on the same item (or throttling): retry.
            self._sleep(min(0.2, 0.005 * 2**attempt) * random.random())
        raise TransactionContention(f"gave up after {TRANSACTION_ATTEMPTS} conflicting attempts")

    def _write_one(self, name: str, spec: Mapping[str, Any]) -> TxResult:
        """One item alone needs no transaction: a conditional write is as atomic at half the cost."""
        kind = spec["_kind"]
        self.request_log.append(f"{kind}Item")
        call = self._db.put_item if kind == "Put" else self._db.update_item
        with as_port_error(StoreUnavailable):
            try:
                call(**{k: v for k, v in spec.items() if k != "_kind"})
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                return TxResult(ok=False, failed=frozenset({name}))
        return TxResult(ok=True)

    def _stock_update(
        self, session_id: str, sku_id: str, move: Move, capped: frozenset[str]
    ) -> dict[str, Any]:
        sets: list[str] = ["version = version + :one"]
        values: dict[str, Any] = {":one": 1}
        names: dict[str, str] = {}
        conditions = ["attribute_exists(pk)"]
        for counter in ("on_hand", "held", "reserved", "sold", "available", "restocked", "taken"):
            delta = getattr(move, counter)
            if delta:
                sets.append(f"{counter} = {counter} + :d_{counter}")
                values[f":d_{counter}"] = delta
            if delta < 0 and counter in ("held", "reserved", "sold"):
                # A safety net: no counter is ever driven below zero, whatever the stored state.
                conditions.append(f"{counter} >= :floor_{counter}")
                values[f":floor_{counter}"] = -delta
        platform_capped = move.platform is not None and move.platform in capped
        if move.platform is not None and move.platform_usage:
            names["#p"] = move.platform
            values[":usage"] = move.platform_usage
            values[":zero"] = 0
            sets.append("used.#p = if_not_exists(used.#p, :zero) + :usage")
            if platform_capped:
                values[":neg_usage"] = -move.platform_usage
                sets.append("headroom.#p = headroom.#p + :neg_usage")
        if move.paused is not None:
            sets.append("paused = :paused")
            values[":paused"] = move.paused
        if move.take:
            conditions += ["paused = :false", "available >= :take"]
            values[":false"] = False
            values[":take"] = move.take
            if platform_capped:
                names["#p"] = str(move.platform)
                conditions.append("headroom.#p >= :take")
        if move.need_available:
            conditions.append("available >= :need_available")
            values[":need_available"] = move.need_available
        if move.need_held:
            conditions.append("held >= :need_held")
            values[":need_held"] = move.need_held
        return self._stock_item_update(session_id, sku_id, sets, conditions, values, names)

    def _stock_item_update(
        self,
        session_id: str,
        sku_id: str,
        sets: list[str],
        conditions: list[str],
        values: dict[str, Any],
        names: dict[str, str],
    ) -> dict[str, Any]:
        """The stock item's part of a transaction: SET `sets` if every one of `conditions` holds."""
        spec: dict[str, Any] = {
            "_kind": "Update",
            "TableName": self.table_name,
            "Key": stock_key(session_id, sku_id),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": to_item(values),
        }
        if names:
            spec["ExpressionAttributeNames"] = names
        return spec

    def _order_write(
        self,
        session_id: str,
        order_id: str,
        order: OrderWrite | None,
        memories: Sequence[EventMemory],
        at_ms: int,
    ) -> dict[str, Any]:
        """The order item's part: a new order, a status change from `order.expected`, or (no
        `order`) only the memory of events naming it. Written as an update, so a new order keeps
        the memory of events that named it before it was created."""
        sets: list[str] = []
        removes = ""
        conditions: list[str] = []
        values: dict[str, Any] = {}
        names: dict[str, str] = {}
        retain = ttl_seconds(self.now_ms() + ORDER_RETENTION_MS)  # not from `at_ms` (an event's instant)
        if order is None:
            sets.append("expires_at = if_not_exists(expires_at, :retain)")
            values[":retain"] = retain
        elif order.expected is None:
            names["#s"] = "status"
            conditions.append("attribute_not_exists(#s)")
            fields: dict[str, Any] = {"order_id": order_id, "session_id": session_id, "status": order.status}
            fields.update(order.fields)
            if order.status is OrderStatus.RESERVED:
                fields["expiry_shard"] = expiry_shard(session_id, order_id, self.expiry_shards)
                fields["expires_at"] = ttl_seconds(int(fields["hold_until_ms"]))
            else:
                fields["expires_at"] = retain
            for i, (name, value) in enumerate(fields.items()):
                names[f"#f{i}"] = name
                values[f":f{i}"] = value
                sets.append(f"#f{i} = :f{i}")
        else:
            # Leaving `reserved` drops the index entry and turns the TTL into plain retention.
            names["#s"] = "status"
            sets += ["#s = :new", "expires_at = :retain"]
            removes = " REMOVE expiry_shard"
            conditions.append("#s = :expected")
            values.update({":new": order.status, ":expected": order.expected, ":retain": retain})
        for i, memory in enumerate(memories):
            names[f"#ev{i}"] = MEMORY_PREFIX + memory.event_id
            sets.append(f"#ev{i} = :outcome{i}")
            values[f":outcome{i}"] = memory.outcome
            conditions.append(f"attribute_not_exists(#ev{i})")
        if memories:  # the memory stays bounded: the caller reads a full one and uses markers
            names["#evn"] = MEMORY_COUNT
            sets.append("#evn = if_not_exists(#evn, :evzero) + :evn")
            values.update(
                {":evzero": 0, ":evn": len(memories), ":evroom": MAX_EVENTS_PER_ORDER - len(memories)}
            )
            conditions.append("(attribute_not_exists(#evn) OR #evn <= :evroom)")
        spec: dict[str, Any] = {
            "_kind": "Update",
            "TableName": self.table_name,
            "Key": order_key(session_id, order_id),
            "UpdateExpression": "SET " + ", ".join(sets) + removes,
            "ExpressionAttributeValues": to_item(values),
        }
        if names:
            spec["ExpressionAttributeNames"] = names
        if conditions:
            spec["ConditionExpression"] = " AND ".join(conditions)
        return spec

    def _marker_put(self, memory: EventMemory, at_ms: int) -> dict[str, Any]:
        return {
            "_kind": "Put",
            "TableName": self.table_name,
            "Item": {
                **marker_key(memory.event_id),
                **to_item(
                    {
                        "outcome": memory.outcome,
                        "expires_at": ttl_seconds(self.now_ms() + MARKER_RETENTION_MS),
                    }
                ),
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def transact_run(
        self,
        *,
        session_id: str,
        sku_id: str,
        version: int,
        events: int,
        deltas: Mapping[str, int],
        usage: Mapping[str, int],
        capped: frozenset[str],
        orders: Sequence[tuple[str, OrderWrite | None, Sequence[EventMemory], int]],
    ) -> TxResult:
        """Apply a run of one SKU's order events with ONE write to the stock item (hot SKUs).

        `deltas`: the change of each counter (reserved, sold, available, taken); `usage`: of each
        platform's usage. `orders` holds (order_id, write, memories, at_ms), one per order (no
        write: only the memories). The
        stock item must still be at `version`, the state the caller decided on; `version` moves
        by one per event so the tier path evaluated for each event keeps its own version.
        """
        sets = ["version = version + :n"]
        conditions = ["version = :v"]
        values: dict[str, Any] = {":n": events, ":v": version}
        names: dict[str, str] = {}
        for counter, delta in sorted(deltas.items()):
            if delta:
                sets.append(f"{counter} = {counter} + :d_{counter}")
                values[f":d_{counter}"] = delta
        for i, (platform, units) in enumerate(sorted(usage.items())):
            # Even a net zero is written: one by one, the platform's usage entry would exist.
            names[f"#p{i}"] = platform
            values[f":u{i}"] = units
            values[":zero"] = 0
            sets.append(f"used.#p{i} = if_not_exists(used.#p{i}, :zero) + :u{i}")
            if platform in capped:
                values[f":nu{i}"] = -units
                sets.append(f"headroom.#p{i} = headroom.#p{i} + :nu{i}")
        stock = self._stock_item_update(session_id, sku_id, sets, conditions, values, names)
        parts: list[tuple[str, dict[str, Any]]] = [("stock", stock)]
        for order_id, write, memories, at_ms in orders:
            parts.append(("order", self._order_write(session_id, order_id, write, memories, at_ms)))
        return self._transact(parts)

    def restore_ttl_removed(
        self, old_image: Mapping[str, Any], move: Move, capped: frozenset[str]
    ) -> TxResult:
        """TTL deleted a reservation the sweep missed: release its stock and keep the order as expired."""
        order = order_of(old_image)
        session_id = str(old_image["session_id"])
        return self._transact(
            [
                ("stock", self._stock_update(session_id, order.sku_id, move, capped)),
                (
                    "order",
                    self._order_write(
                        session_id,
                        order.order_id,
                        OrderWrite(
                            OrderStatus.EXPIRED,
                            fields={
                                k: v
                                for k, v in old_image.items()
                                if k in ORDER_FIELDS or k == MEMORY_COUNT or k.startswith(MEMORY_PREFIX)
                            },
                        ),
                        (),
                        order.hold_until_ms,
                    ),
                ),
            ]
        )

    # -- tier state ------------------------------------------------------------------------------
    def save_tier(
        self,
        session_id: str,
        sku_id: str,
        *,
        tier: str,
        hard_tier: str,
        seen: str,
        version: int,
        memory: Mapping[str, Any],
        pause: bool,
        alert: Mapping[str, Any] | None,
    ) -> bool:
        """Store the tier evaluated at `version` over the tier `seen`; False when another writer
        changed the tier or stored a newer evaluation first.

        The condition is what makes an announcement exactly-once under concurrency: of all the
        writers that saw the same transition, one stores it (and its alert record); the others
        find the tier changed and evaluate again from the stored state.
        """
        sets = "tier = :tier, hard_tier = :hard, tier_version = :v, alert_memory = :memory"
        values: dict[str, Any] = {
            ":tier": tier, ":hard": hard_tier, ":v": version, ":memory": dict(memory), ":seen": seen,
        }  # fmt: skip
        if pause:
            sets += ", paused = :true"
            values[":true"] = True
        if alert is not None:
            sets += ", pending_alert = :alert"
            values[":alert"] = dict(alert)
        update = {
            "_kind": "Update",
            "TableName": self.table_name,
            "Key": stock_key(session_id, sku_id),
            "UpdateExpression": "SET " + sets,
            "ConditionExpression": "tier = :seen AND tier_version < :v",
            "ExpressionAttributeValues": to_item(values),
        }
        parts: list[tuple[str, dict[str, Any]]] = [("stock", update)]
        if alert is not None:
            parts.append(
                (
                    "alert",
                    {
                        "_kind": "Put",
                        "TableName": self.table_name,
                        "Item": {
                            **alert_key(session_id, sku_id, int(alert["at_ms"]), *alert_labels(alert)),
                            **to_item(alert),
                        },
                    },
                )
            )
        return self._transact(parts).ok

    def record_alert(self, session_id: str, sku_id: str, alert: Mapping[str, Any], key_ms: int) -> bool:
        """Write a message's alert item (keyed at `key_ms`) unless it exists; False when it was
        recorded before."""
        return self._put(
            alert_key(session_id, sku_id, key_ms, *alert_labels(alert)), alert, "attribute_not_exists(pk)"
        )

    def clear_pending_alert(
        self, session_id: str, sku_id: str, alert_id: str, named_restock: tuple[int, int, int]
    ) -> None:
        self._on_pending(
            session_id, sku_id, alert_id, "SET named_restock = :named REMOVE pending_alert",
            {":named": {"L": [{"N": str(n)} for n in named_restock]}},
        )  # fmt: skip

    def note_published(
        self, session_id: str, sku_id: str, alert_id: str, taken: Sequence[str], notice: AlertNotice
    ) -> None:
        self._on_pending(
            session_id, sku_id, alert_id,
            "SET pending_alert.published_to = :to, pending_alert.published_notice = :notice",
            {":to": {"L": [{"S": name} for name in taken]}, ":notice": {"S": notice.model_dump_json()}},
        )  # fmt: skip

    def _on_pending(
        self, session_id: str, sku_id: str, alert_id: str, expression: str, values: dict[str, Any]
    ) -> None:
        """Update the stock item while its pending announcement is still `alert_id` (else: it
        went out or a newer one replaced it, and there is nothing to do)."""
        self.request_log.append("UpdateItem")
        with as_port_error(StoreUnavailable):
            try:
                self._db.update_item(
                    TableName=self.table_name,
                    Key=stock_key(session_id, sku_id),
                    UpdateExpression=expression,
                    ConditionExpression="pending_alert.alert_id = :id",
                    ExpressionAttributeValues={":id": {"S": alert_id}, **values},
                )
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def alerts(self, session_id: str, sku_id: str) -> list[dict[str, Any]]:
        self.request_log.append("Query")
        items: list[dict[str, Any]] = []
        for page in self._paginate(
            "query",
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues={":pk": {"S": sku_pk(session_id, sku_id)}, ":a": {"S": ALERT_PREFIX}},
        ):
            items.extend(from_item(i) for i in page["Items"])
        return items

    def update_stock_fields(self, session_id: str, sku_id: str, values: Mapping[str, Any]) -> StockItem:
        """Thresholds from the evaluator; bumps `version` so the tier is evaluated against them.
        Returns the item as written (the tier is settled on it without reading it again)."""
        self.request_log.append("UpdateItem")
        names = {f"#f{i}": k for i, k in enumerate(values)}
        sets = [f"#f{i} = :v{i}" for i in range(len(values))] + ["version = version + :one"]
        with as_port_error(StoreUnavailable):
            response = self._db.update_item(
                TableName=self.table_name,
                Key=stock_key(session_id, sku_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(
                    {**{f":v{i}": v for i, v in enumerate(values.values())}, ":one": 1}
                ),
                ReturnValues="ALL_NEW",
            )
        return parse_stock(from_item(response["Attributes"]))


def opening_stock(plan: SessionPlan, sku: SkuConfig) -> dict[str, Any]:
    """The stock item `load_session` writes; `plan_digest` lets an interrupted load run again."""
    opening = StockItem(
        session_id=plan.session.session_id,
        sku_id=sku.sku_id,
        levels=StockLevels(
            on_hand=sku.on_hand,
            held=sku.held,
            reserved=0,
            sold=0,
            available=sku.on_hand - sku.held,
            headroom=dict(sku.platform_quotas),
            used={p: 0 for p in sku.platform_quotas},
        ),
        version=0,
        hold_minutes=sku.hold_minutes,
        thresholds=Thresholds(
            forecast_eff=Decimal(sku.forecast),
            ratios=sku.tier_ratios,
            dynamic=sku.dynamic,
            auto_pause_on_red=sku.auto_pause_on_red,
        ),
        plan=PlanCopy(
            name=sku.name,
            importance=sku.importance,
            caps=dict(sku.platform_quotas),
            lead_time_minutes=Decimal(str(sku.lead_time_days * 24 * 60)),
            session_ends_ms=plan.session.ends_ms,
            plan_digest=plan.digest,
        ),
    )
    return stock_attributes(opening)
