"""Batched consistent reads (`adapters/batch_read.py`): chunks of 100 keys, unprocessed keys asked
for again, a clear failure when they stay unprocessed; the ledger's `stocks` on top of it."""

from __future__ import annotations

from typing import Any

import pytest
from support import moto_rig, session_plan

from stockpulse.adapters.batch_read import read_items
from stockpulse.adapters.keys import stock_key
from stockpulse.ports import ReadIncomplete

TABLE = "ledger"


def key(n: int) -> dict[str, Any]:
    return stock_key("s", f"k{n}")


class Throttling:
    """A BatchGetItem that answers only the first `per_call` keys of each request, and leaves
    the rest unprocessed; every key exists. `per_call=0` never answers."""

    def __init__(self, per_call: int) -> None:
        self.per_call = per_call
        self.requests: list[int] = []  # keys asked for, per request

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys = RequestItems[TABLE]["Keys"]
        self.requests.append(len(keys))
        answered, left = keys[: self.per_call], keys[self.per_call :]
        response: dict[str, Any] = {"Responses": {TABLE: [{**k, "n": {"N": "1"}} for k in answered]}}
        if left:
            response["UnprocessedKeys"] = {TABLE: {"Keys": left, "ConsistentRead": True}}
        return response


def test_keys_are_read_100_at_a_time_and_unprocessed_ones_asked_for_again() -> None:
    client, log, pauses = Throttling(per_call=60), list[str](), list[float]()
    found = read_items(
        client,
        TABLE,
        [key(n) for n in range(250)],
        request_log=log,
        incomplete=ReadIncomplete,
        sleep=pauses.append,
    )
    assert len(found) == 250 and all(item["n"] == {"N": "1"} for item in found.values())
    assert client.requests == [100, 40, 100, 40, 50]  # each chunk of 100, then what was left of it
    assert log == ["BatchGetItem"] * 5
    assert len(pauses) == 2 and all(0 <= p <= 0.2 for p in pauses)  # a back-off before each repeat


def test_keys_that_stay_unprocessed_raise_what_the_caller_names() -> None:
    client, log = Throttling(per_call=0), list[str]()
    with pytest.raises(ReadIncomplete, match="3 keys still unprocessed after 4 reads"):
        read_items(
            client, TABLE, [key(n) for n in range(3)], request_log=log, incomplete=ReadIncomplete,
            sleep=lambda _: None, attempts=4,
        )  # fmt: skip
    assert client.requests == [3, 3, 3, 3]


def test_no_keys_no_request() -> None:
    client, log = Throttling(per_call=100), list[str]()
    assert read_items(client, TABLE, [], request_log=log, incomplete=ReadIncomplete) == {}
    assert client.requests == [] and log == []


def test_the_ledger_reads_the_stock_items_a_batch_touched_in_one_request() -> None:
    """`stocks` is what the stock sync reads after each order-stream batch: one BatchGetItem
    for every SKU touched (not one GetItem each), in the order asked, absent SKUs left out."""
    plan = session_plan([{"sku_id": f"k{n}", "on_hand": 10 + n} for n in range(12)])
    with moto_rig(plan) as rig:
        rig.store.request_log.clear()
        asked = [(rig.session_id, f"k{n}") for n in (11, 3, 7)] + [(rig.session_id, "gone"), ("other", "k1")]
        items = rig.store.stocks([*asked, asked[0]])  # a repeat is read once
        assert [(i.sku_id, i.levels.on_hand) for i in items] == [("k11", 21), ("k3", 13), ("k7", 17)]
        assert rig.store.request_log == ["BatchGetItem"]
        assert rig.store.stocks([]) == [] and rig.store.request_log == ["BatchGetItem"]
