"""The evaluator's reads and writes on the ledger table: the FORECAST item, its alert-hygiene
writes on the stock item, and quota rebalancing.

Items (docs/architecture.md): `SKU#{session}#{sku}` / `FORECAST`, written once a minute by the
threshold evaluator and read by the dashboard; the stock item `SKU#{session}#{sku}` / `STOCK`
(thresholds go through `DynamoLedgerStore.update_stock_fields`, tier state through
`DynamoLedgerStore.save_tier`; this adapter only adds the writes below, each conditional).
Every key comes from `stockpulse.adapters.keys` (ids escaped there).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore, from_item, to_item
from stockpulse.adapters.keys import alert_key, forecast_key, stock_key

MINUTE_MS = 60_000
_BATCH_GET_ATTEMPTS = 5


def wire(value: Any) -> dict[str, Any]:
    """A plain value in DynamoDB's wire form. The FORECAST item carries 240 samples: boto3's
    TypeSerializer spends ~10x longer on them than this direct mapping."""
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
    if kind in ("S", "BOOL"):
        return value
    if kind == "NULL":
        return None
    return from_item({"v": attribute})["v"]  # sets and binaries: boto3's way


class DynamoForecastStore:
    """Evaluator-specific requests; built beside the guard's ledger store (same client, table and
    request log, so benchmarks count every request)."""

    def __init__(self, client: Any, table_name: str, request_log: list[str] | None = None) -> None:
        self._db = client
        self.table_name = table_name
        self.request_log: list[str] = request_log if request_log is not None else []

    @classmethod
    def beside(cls, ledger: DynamoLedgerStore) -> DynamoForecastStore:
        return cls(ledger._db, ledger.table_name, ledger.request_log)

    # -- reads -------------------------------------------------------------------------------
    def read(self, session_id: str, sku_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The stock item and the FORECAST item in one consistent BatchGetItem."""
        keys = [stock_key(session_id, sku_id), forecast_key(session_id, sku_id)]
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(_BATCH_GET_ATTEMPTS):
            self.request_log.append("BatchGetItem")
            response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table_name, []):
                found[item["sk"]["S"]] = {k: plain(v) for k, v in item.items()}
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise ReadIncomplete(f"{session_id}/{sku_id}: keys still unprocessed")
        return found.get("STOCK"), found.get("FORECAST")

    def stock_raw(self, session_id: str, sku_id: str) -> dict[str, Any] | None:
        self.request_log.append("GetItem")
        response = self._db.get_item(
            TableName=self.table_name, Key=stock_key(session_id, sku_id), ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    # -- writes ------------------------------------------------------------------------------
    def put_forecast(self, session_id: str, sku_id: str, values: Mapping[str, Any]) -> None:
        """The FORECAST item, whole (one writer: the evaluator; last write wins)."""
        self.request_log.append("PutItem")
        self._db.put_item(
            TableName=self.table_name,
            Item={**forecast_key(session_id, sku_id), **{k: wire(v) for k, v in values.items()}},
        )

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
                            **alert_key(session_id, sku_id, minute, str(alert["kind"]), str(alert["tier"])),
                            **to_item(alert),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        self.request_log.append("TransactWriteItems")
        try:
            self._db.transact_write_items(TransactItems=parts)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("TransactionCanceledException", "TransactionConflict"):
                return False
            raise
        return True

    def move_quota(self, session_id: str, sku_id: str, deltas: Mapping[str, int]) -> dict[str, Any] | None:
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
        return from_item(response["Attributes"])


class ReadIncomplete(Exception):
    """BatchGetItem kept returning unprocessed keys (throttling): the next minute tries again."""
