"""The evaluator's reads and writes on the ledger table: the FORECAST item, its alert-hygiene
writes on the stock item, and quota rebalancing.

The FORECAST items a process wrote or read are remembered (a warm Lambda's, a runner's), so a
minute reads only the stock items (`read_many`). What is remembered holds while the session's
index item names this process as its `evaluator`: a process claims a session before it writes a
FORECAST item there (`claim`), so any other writer shows up at the next minute's `live_sessions`
read, and two runs of one minute that overlapped find each other when recording it (`record_run`)
and make the next minute read everything again.

Items (docs/architecture.md): `SKU#{session}#{sku}` / `FORECAST`, written by the threshold
evaluator when it changed and read by the dashboard (samples: `sample_log`); the session index
item's run minutes (`record_run`); the stock item `SKU#{session}#{sku}` / `STOCK`
(thresholds go through `DynamoLedgerStore.update_stock_fields`, tier state through
`DynamoLedgerStore.save_tier`; this adapter only adds the writes below, each conditional).
Every key comes from `stockpulse.adapters.keys` (ids escaped there).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from stockpulse.adapters.aws_errors import as_port_error
from stockpulse.adapters.batch_read import read_items
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore, from_item, to_item
from stockpulse.adapters.keys import (
    FORECAST_SK,
    STOCK_SK,
    alert_key,
    alert_labels,
    forecast_key,
    session_index_key,
    sku_pk,
    stock_key,
)
from stockpulse.domain import sample_log
from stockpulse.domain.events import MINUTE_MS
from stockpulse.ports import ReadIncomplete as ReadIncomplete
from stockpulse.ports import StockItemMalformed, StoreUnavailable
from stockpulse.ports import WriteIncomplete as WriteIncomplete
from stockpulse.records import StockItem, parse_stock

BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
_BATCH_ATTEMPTS = 5


def wire(value: Any) -> dict[str, Any]:
    """A plain value in DynamoDB's wire form (boto3's TypeSerializer is ~10x slower)."""
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(Decimal(str(value)))}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [wire(v) for v in value]}
    if isinstance(value, Mapping):
        return {"M": {str(k): wire(v) for k, v in value.items()}}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"cannot store {type(value).__name__}")


def plain(attribute: Mapping[str, Any]) -> Any:
    """The inverse of `wire` (numbers come back as Decimal, like boto3's TypeDeserializer)."""
    ((kind, value),) = attribute.items()
    if kind == "N":
        return Decimal(value)
    if kind == "L":
        return [plain(v) for v in value]
    if kind == "M":
        return {k: plain(v) for k, v in value.items()}
    if kind in ("S", "BOOL", "B"):
        return value
    if kind == "NULL":
        return None
    return from_item({"v": attribute})["v"]  # sets and binaries: boto3's way


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A whole item from its wire form (`plain` of each attribute)."""
    return {k: plain(v) for k, v in item.items()}


class DynamoForecastStore:
    """Evaluator-specific requests; built beside the guard's ledger store (same client, table and
    request log, so benchmarks count every request)."""

    def __init__(self, client: Any, table_name: str, request_log: list[str] | None = None) -> None:
        self._db = client
        self.table_name = table_name
        self.request_log: list[str] = request_log if request_log is not None else []
        self.evaluator_id = uuid.uuid4().hex  # this process, as the index item names it
        # session -> sku -> the FORECAST item as stored (None: there is none), while claimed
        self._stored: dict[str, dict[str, dict[str, Any] | None]] = {}

    @classmethod
    def beside(cls, ledger: DynamoLedgerStore) -> DynamoForecastStore:
        return cls(ledger._db, ledger.table_name, ledger.request_log)

    # -- reads -------------------------------------------------------------------------------
    def read_many(
        self, session_id: str, sku_ids: Sequence[str], *, forecasts: bool = True
    ) -> dict[str, tuple[StockItem | None, dict[str, Any] | None]]:
        """Each SKU's stock item and (with `forecasts`) FORECAST item, consistent reads, one
        BatchGetItem per 100 keys: sku_id -> (stock, forecast), None where absent. A FORECAST
        item remembered for a claimed session is not read again. Stock items that cannot be read
        raise one `StockItemMalformed` naming them all."""
        remembered = self._stored.get(session_id)
        keys = [stock_key(session_id, k) for k in sku_ids]
        unknown = [k for k in sku_ids if remembered is None or k not in remembered] if forecasts else []
        keys += [forecast_key(session_id, k) for k in unknown]
        found = read_items(
            self._db, self.table_name, keys, request_log=self.request_log, incomplete=ReadIncomplete
        )
        read: dict[str, tuple[StockItem | None, dict[str, Any] | None]] = {}
        malformed: list[str] = []
        for sku_id in sku_ids:
            pk = sku_pk(session_id, sku_id)
            stock, forecast = found.get((pk, STOCK_SK)), found.get((pk, FORECAST_SK))
            try:
                parsed = parse_stock(plain_item(stock)) if stock else None
            except (KeyError, TypeError, ValueError, ArithmeticError):
                malformed.append(sku_id)
                continue
            if forecasts and remembered is not None and sku_id in remembered:
                read[sku_id] = parsed, remembered[sku_id]
                continue
            read[sku_id] = parsed, plain_item(forecast) if forecast else None
            if forecasts and remembered is not None:
                remembered[sku_id] = read[sku_id][1]
        if malformed:
            raise StockItemMalformed(session_id, malformed)
        return read

    def stock(self, session_id: str, sku_id: str) -> StockItem | None:
        self.request_log.append("GetItem")
        with as_port_error(StoreUnavailable):
            response = self._db.get_item(
                TableName=self.table_name, Key=stock_key(session_id, sku_id), ConsistentRead=True
            )
        item = response.get("Item")
        return parse_stock(from_item(item)) if item else None

    def evaluated(self, session_id: str) -> dict[str, Any]:
        """The session index item (its run minutes: `sample_log`); {} when there is none."""
        self.request_log.append("GetItem")
        with as_port_error(StoreUnavailable):
            response = self._db.get_item(
                TableName=self.table_name, Key=session_index_key(session_id), ConsistentRead=True
            )
        return plain_item(response.get("Item", {}))

    # -- writes ------------------------------------------------------------------------------
    def put_forecasts(self, session_id: str, items: Mapping[str, Mapping[str, Any]]) -> None:
        """FORECAST items (sku_id -> values), whole, one BatchWriteItem per 25 (one writer: the
        evaluator; last write wins). Remembered as written; all forgotten when a write fails."""
        puts = [
            {
                "PutRequest": {
                    "Item": {**forecast_key(session_id, k), **{n: wire(v) for n, v in values.items()}}
                }
            }
            for k, values in items.items()
        ]
        try:
            for first in range(0, len(puts), BATCH_WRITE_ITEMS):
                request: dict[str, Any] = {self.table_name: puts[first : first + BATCH_WRITE_ITEMS]}
                for _ in range(_BATCH_ATTEMPTS):
                    self.request_log.append("BatchWriteItem")
                    with as_port_error(StoreUnavailable):
                        request = (
                            self._db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                        )
                    if not request:
                        break
                else:
                    raise WriteIncomplete(f"{session_id}: FORECAST items still unprocessed")
        except BaseException:
            self.forget(session_id)  # some may be written, some not
            raise
        remembered = self._stored.get(session_id)
        if remembered is not None:
            for sku_id, put in zip(items, puts, strict=True):
                remembered[sku_id] = plain_item(put["PutRequest"]["Item"])

    def claim(self, session_id: str, row: Mapping[str, Any]) -> None:
        """Before this process evaluates `session_id` this minute. Its remembered FORECAST items
        hold only while the session's index item (`row`, read consistently this minute) names
        it; otherwise another process may have written since: forget them and name this one."""
        if row.get("evaluator") == self.evaluator_id and session_id in self._stored:
            return
        self.forget(session_id)
        if self._update_index(
            session_id, "SET evaluator = :me", "attribute_exists(pk)", {":me": self.evaluator_id}
        ):
            self._stored[session_id] = {}  # else the session is gone

    def forget(self, session_id: str) -> None:
        """Read the session's FORECAST items again from its next claim on."""
        self._stored.pop(session_id, None)

    def release(self, session_id: str) -> None:
        """A minute not recorded (`record_run`): forget, and unname this process, so a run that
        overlapped it reads everything again next minute too."""
        self.forget(session_id)
        self._update_index(session_id, "REMOVE evaluator", "attribute_exists(pk)")

    def _update_index(
        self, session_id: str, update: str, condition: str, values: Mapping[str, Any] | None = None
    ) -> bool:
        """One conditional UpdateItem of the session index item; False when `condition` failed."""
        self.request_log.append("UpdateItem")
        extra = {"ExpressionAttributeValues": to_item(values)} if values else {}
        with as_port_error(StoreUnavailable):
            try:
                self._db.update_item(
                    TableName=self.table_name,
                    Key=session_index_key(session_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    **extra,
                )
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                return False
        return True

    def record_run(
        self, session_id: str, minute_ms: int, *, known: sample_log.Runs, at_ms: int, keep_after_ms: int
    ) -> None:
        """Add `minute_ms` to the session's run minutes (`evaluated`) and set `evaluated_ms` = `at_ms`.
        Conditional on the runs as read (`known`), so a concurrent run's minute is never lost:
        on a conflict the item is read again and the minute added to what is there. Also on the
        index naming this process (`claim`): when another process claimed the session meanwhile,
        both wrote FORECAST items this minute, so neither's memory holds: this one forgets and
        unnames whoever is named, and that one forgets at its next claim."""
        named = True
        for _ in range(_BATCH_ATTEMPTS):
            runs = sample_log.with_run(known, minute_ms, keep_after_ms=keep_after_ms)
            values: dict[str, Any] = {":runs": sample_log.runs_item(runs), ":at": at_ms}
            conditions = ["attribute_exists(pk) AND attribute_not_exists(evaluated)"]
            if known:
                conditions = ["evaluated = :known"]
                values[":known"] = sample_log.runs_item(known)
            update = "SET evaluated = :runs, evaluated_ms = :at"
            if named:
                conditions.append("evaluator = :me")
                values[":me"] = self.evaluator_id
            else:
                update += " REMOVE evaluator"
            if self._update_index(session_id, update, " AND ".join(conditions), values):
                return
            row = self.evaluated(session_id)
            if not row:
                return  # the session is gone
            known = sample_log.runs_of(row.get("evaluated"))
            if named and row.get("evaluator") != self.evaluator_id:
                named = False
                self.forget(session_id)
        raise WriteIncomplete(f"{session_id}: run minute not recorded (contention)")

    def save_tick(
        self,
        session_id: str,
        sku_id: str,
        *,
        version: int,
        tier: str,
        tier_version: int,
        memory: Mapping[str, Any],
        alert: Mapping[str, Any] | None,
    ) -> bool:
        """Store the minute's alert memory (and its REPEAT/RESOLVED as an alert item and the stock
        item's `pending_alert`) if the stock item is still as read; False when it moved on.

        Conditions: `version` and `tier_version` unchanged, so this memory was computed from the
        current tier and no concurrent stock change can have started a hot-path `save_tier` that
        would overwrite it; no `pending_alert` (a hot-path announcement still in flight keeps its
        slot). The alert item's key is minute-aligned and must be new, so two evaluator runs in the
        same minute send one notice, not two.
        """
        sets = "alert_memory = :memory"
        values: dict[str, Any] = {":memory": dict(memory), ":v": version, ":tv": tier_version, ":tier": tier}
        if alert is not None:
            sets += ", pending_alert = :alert"
            values[":alert"] = dict(alert)
        parts: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": stock_key(session_id, sku_id),
                    "UpdateExpression": "SET " + sets,
                    "ConditionExpression": (
                        "version = :v AND tier_version = :tv AND tier = :tier "
                        "AND attribute_not_exists(pending_alert)"
                    ),
                    "ExpressionAttributeValues": to_item(values),
                }
            }
        ]
        if alert is not None:
            minute = int(alert["at_ms"]) - int(alert["at_ms"]) % MINUTE_MS
            parts.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            **alert_key(session_id, sku_id, minute, *alert_labels(alert)),
                            **to_item(alert),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        self.request_log.append("TransactWriteItems")
        with as_port_error(StoreUnavailable):
            try:
                self._db.transact_write_items(TransactItems=parts)
            except ClientError as err:
                if err.response["Error"]["Code"] in ("TransactionCanceledException", "TransactionConflict"):
                    return False
                raise
        return True

    def move_quota(self, session_id: str, sku_id: str, deltas: Mapping[str, int]) -> StockItem | None:
        """Move quota between capped platforms: `deltas` (platform -> units, summing to 0) are added
        to both `headroom` (cap - usage) and `caps`. Relative updates, so concurrent reservations
        and releases are never overwritten; the condition keeps every donor's headroom >= what it
        gives (its cap stays >= its usage) and every platform capped. Bumps `version` (sellable
        quantities change). Returns the new stock item, or None when the condition failed."""
        if sum(deltas.values()) != 0:
            raise ValueError(f"quota moves must conserve the total: {dict(deltas)}")
        names: dict[str, str] = {}
        values: dict[str, Any] = {":one": 1}
        sets = ["version = version + :one"]
        conditions = ["attribute_exists(pk)", "attribute_exists(caps)"]
        for i, (platform, delta) in enumerate(sorted(deltas.items())):
            if delta == 0:
                continue
            names[f"#p{i}"] = platform
            values[f":d{i}"] = delta
            sets.append(f"headroom.#p{i} = headroom.#p{i} + :d{i}")
            sets.append(f"caps.#p{i} = caps.#p{i} + :d{i}")
            conditions.append(f"attribute_exists(headroom.#p{i})")
            if delta < 0:
                values[f":g{i}"] = -delta
                conditions.append(f"headroom.#p{i} >= :g{i}")
        if not names:
            return None
        self.request_log.append("UpdateItem")
        with as_port_error(StoreUnavailable):
            try:
                response = self._db.update_item(
                    TableName=self.table_name,
                    Key=stock_key(session_id, sku_id),
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=" AND ".join(conditions),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_item(values),
                    ReturnValues="ALL_NEW",
                )
            except ClientError as err:
                if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return None
                raise
        return parse_stock(from_item(response["Attributes"]))
