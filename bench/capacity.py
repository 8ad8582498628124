"""Write and read units counted from the requests actually issued, by AWS's documented rules.

Neither moto nor DynamoDB Local reports transactional capacity correctly, so the benchmarks wrap
the client: every write is sized from the item before and after it (read outside the count),
rounded up to 1 KB, doubled inside a transaction, plus one write per index entry touched.
Reads: 4 KB units, strongly consistent.
"""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal
from typing import Any

INDEX_KEYS = {"by_expiry": ("expiry_shard", "hold_until_ms")}


def _value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = Decimal(v).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: x}) for x in v)
    raise ValueError(kind)


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def write_units(before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    """Base table write units of one item write: the larger of the item before and after."""
    return max(1, math.ceil(max(item_size(before), item_size(after)) / 1024))


def index_writes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    """Index entries touched: a put or a delete each, two when an entry's key changes."""
    total = 0
    for keys in INDEX_KEYS.values():
        had = bool(before) and all(k in before for k in keys)  # type: ignore[operator]
        has = bool(after) and all(k in after for k in keys)  # type: ignore[operator]
        if had and has:
            changed = any(before[k] != after[k] for k in keys)  # type: ignore[index]
            total += 2 if changed else 1
        elif had or has:
            total += 1
    return total


class MeteredClient:
    """A DynamoDB client that counts requests and the units AWS would bill for them."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self.requests: Counter[str] = Counter()
        self.write_units = 0
        self.read_units = 0
        self.stock_item_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _raw(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    @staticmethod
    def _key_of(op: dict[str, Any]) -> dict[str, Any]:
        if "Key" in op:
            return dict(op["Key"])
        return {"pk": op["Item"]["pk"], "sk": op["Item"]["sk"]}

    def _count_write(self, op: dict[str, Any], call: Any, transactional: bool) -> Any:
        key = self._key_of(op)
        before = self._raw(key)
        try:
            return call()
        finally:
            after = self._raw(key)
            if before != after:  # a failed condition writes nothing but still costs
                self.write_units += (2 if transactional else 1) * write_units(before, after)
                self.write_units += index_writes(before, after)
                if key["sk"]["S"] == "STOCK":
                    self.stock_item_writes += 1
            else:
                self.write_units += (2 if transactional else 1) * write_units(before, before)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.requests["TransactWriteItems"] += 1
        items = kwargs["TransactItems"]
        befores = [self._raw(self._key_of(next(iter(i.values())))) for i in items]
        try:
            return self._client.transact_write_items(**kwargs)
        finally:
            for item, before in zip(items, befores, strict=True):
                op = next(iter(item.values()))
                key = self._key_of(op)
                after = self._raw(key)
                self.write_units += 2 * write_units(before, after)
                if before != after:
                    self.write_units += index_writes(before, after)
                    if key["sk"]["S"] == "STOCK":
                        self.stock_item_writes += 1

    def put_item(self, **kwargs: Any) -> Any:
        self.requests["PutItem"] += 1
        return self._count_write(kwargs, lambda: self._client.put_item(**kwargs), False)

    def update_item(self, **kwargs: Any) -> Any:
        self.requests["UpdateItem"] += 1
        return self._count_write(kwargs, lambda: self._client.update_item(**kwargs), False)

    def get_item(self, **kwargs: Any) -> Any:
        self.requests["GetItem"] += 1
        response = self._client.get_item(**kwargs)
        self.read_units += max(1, math.ceil(item_size(response.get("Item")) / 4096))
        return response

    def query(self, **kwargs: Any) -> Any:
        self.requests["Query"] += 1
        response = self._client.query(**kwargs)
        size = sum(item_size(i) for i in response.get("Items", []))
        self.read_units += max(1, math.ceil(size / 4096))
        return response
