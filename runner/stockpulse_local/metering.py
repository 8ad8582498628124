"""Requests and capacity units of a real DynamoDB client, counted from its own responses.

A botocore event hook on the client (no wrapper, so the code under test is unchanged): every
request is counted by operation, `ReturnConsumedCapacity=TOTAL` is added to it, and the units
the engine reports are summed, writes and reads apart. DynamoDB Local sizes single-item writes
like DynamoDB (the larger of the item before and after, per started KB); benchmarks and tests
use it for the evaluator's writes, which are never transactional on the quiet path.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
_ids = itertools.count()


class Meter:
    """Attach to a boto3 DynamoDB client; `reset()` between the spans you measure."""

    def __init__(self, client: Any) -> None:
        self.requests: Counter[str] = Counter()
        self.write_units = 0.0
        self.read_units = 0.0
        self.units: defaultdict[str, float] = defaultdict(float)  # capacity units by operation
        events = client.meta.events
        uid = f"stockpulse-meter-{next(_ids)}"
        for op in WRITES | READS:
            events.register(f"provide-client-params.dynamodb.{op}", self._ask, unique_id=f"{uid}-{op}")
        events.register("after-call.dynamodb", self._count, unique_id=f"{uid}-after")

    def reset(self) -> None:
        self.requests.clear()
        self.write_units = self.read_units = 0.0
        self.units.clear()

    @staticmethod
    def _ask(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _count(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        op = model.name
        self.requests[op] += 1
        consumed = parsed.get("ConsumedCapacity") or []
        units = sum(
            float(c.get("CapacityUnits", 0)) for c in (consumed if isinstance(consumed, list) else [consumed])
        )
        self.units[op] += units
        if op in WRITES:
            self.write_units += units
        elif op in READS:
            self.read_units += units

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())
