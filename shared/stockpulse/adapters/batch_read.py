"""Consistent reads of many items: one BatchGetItem per 100 keys, the only batched read.

The ledger reads the orders a run names and the stock items a batch touched with it, the
evaluator a chunk's stock and FORECAST items. Keys DynamoDB leaves unprocessed (throttling) are
asked for again after a short, jittered back-off; if some are still unprocessed after
`attempts` requests, `incomplete` says what the caller raises (the stream retries its record,
the evaluator its next minute).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from stockpulse.adapters.aws_errors import as_port_error
from stockpulse.ports import StoreUnavailable

BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
READ_ATTEMPTS = 5

ItemKey = tuple[str, str]  # (pk, sk)


def read_items(
    client: Any,
    table_name: str,
    keys: Sequence[dict[str, Any]],
    *,
    request_log: list[str],
    incomplete: Callable[[str], Exception],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = READ_ATTEMPTS,
) -> dict[ItemKey, dict[str, Any]]:
    """The items found for `keys` (in wire form), by (pk, sk); absent keys are left out."""
    found: dict[ItemKey, dict[str, Any]] = {}
    for first in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table_name: {"Keys": list(keys[first : first + BATCH_GET_KEYS]), "ConsistentRead": True}
        }
        for attempt in range(attempts):
            if attempt:
                sleep(min(0.2, 0.005 * 2**attempt) * random.random())
            request_log.append("BatchGetItem")
            with as_port_error(StoreUnavailable):
                response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table_name, []):
                found[item["pk"]["S"], item["sk"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise incomplete(
                f"{len(request[table_name]['Keys'])} keys still unprocessed after {attempts} reads"
            )
    return found
