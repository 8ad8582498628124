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

from stockpulse.adapters.keys import ORDER_SK, STOCK_SK

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


def order_change(key: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """`created`: an order item taken from unknown to a status (an `order.created` decided);
    `changed`: another change of an order item; else `other`."""
    if key["sk"]["S"] != ORDER_SK or before == after:
        return "other"
    return "created" if not (before or {}).get("status") and (after or {}).get("status") else "changed"


class MeteredClient:
    """A DynamoDB client that counts requests and the units AWS would bill for them.

    The reservation path is also counted apart: the order items an `order.created` created,
    and the share of the stock item's write that falls to them when one request also changed
    other orders (a hot-SKU run with payments in it).
    """

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self.requests: Counter[str] = Counter()
        self.write_units = 0
        self.read_units = 0
        self.stock_item_writes = 0
        self.reservations = 0
        self.reservation_write_units = 0.0
        self.reservation_stock_writes = 0.0

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

    def _metered(self, ops: list[dict[str, Any]], call: Any, transactional: bool) -> Any:
        """Issue `call` and count what its writes to `ops` cost (a failed condition writes nothing,
        yet costs the units of the item as it is)."""
        keys = [self._key_of(op) for op in ops]
        befores = [self._raw(key) for key in keys]
        try:
            return call()
        finally:
            kinds: Counter[str] = Counter()
            created_units = stock_units = stock_writes = 0
            for key, before in zip(keys, befores, strict=True):
                after = self._raw(key)
                units = (2 if transactional else 1) * write_units(before, after)
                if before != after:
                    units += index_writes(before, after)
                kind = order_change(key, before, after)
                kinds[kind] += 1
                self.write_units += units
                if kind == "created":
                    created_units += units
                elif key["sk"]["S"] == STOCK_SK:
                    stock_units += units
                    stock_writes += before != after
            self.stock_item_writes += stock_writes
            if kinds["created"]:
                share = kinds["created"] / (kinds["created"] + kinds["changed"])
                self.reservations += kinds["created"]
                self.reservation_write_units += created_units + share * stock_units
                self.reservation_stock_writes += share * stock_writes

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.requests["TransactWriteItems"] += 1
        ops = [next(iter(item.values())) for item in kwargs["TransactItems"]]
        return self._metered(ops, lambda: self._client.transact_write_items(**kwargs), True)

    def put_item(self, **kwargs: Any) -> Any:
        self.requests["PutItem"] += 1
        return self._metered([kwargs], lambda: self._client.put_item(**kwargs), False)

    def update_item(self, **kwargs: Any) -> Any:
        self.requests["UpdateItem"] += 1
        return self._metered([kwargs], lambda: self._client.update_item(**kwargs), False)

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
