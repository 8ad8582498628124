"""Make moto cheaper per call, with the same responses: `install()` (TransactWriteItems) and
`install_call_speedups()` (Query, the wire form, streams; below). Embedded backend only.

TransactWriteItems: O(items touched) instead of O(table).

moto backs up every table a transaction names with `copy.deepcopy` before it starts, so a
replay slows down with every order it has stored (a 135-event demo spent half its time there).
This version checks every condition first and only then writes, backing up just the items it
touches. moto serves one request at a time, so check-then-write is atomic here as it is in
DynamoDB. Used only by the embedded backend; DynamoDB Local is the real engine.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend

_original = DynamoDBBackend.transact_write_items


def _key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    planned: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        key = _key(self, op_type, op)
        marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            expr = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not expr.expr(current):
                old = (
                    current.to_json()["Attributes"]
                    if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                    else None
                )
                errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
                continue
        errors.append((None, None, None))
        planned.append((op_type, op, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    applied: list[tuple[dict[str, Any], dict[str, Any], Any]] = []
    try:
        for op_type, op, key, before in planned:
            table_name = op["TableName"]
            names, values = (
                op.get("ExpressionAttributeNames") or {},
                op.get("ExpressionAttributeValues") or {},
            )
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            applied.append((op, key, before))
    except Exception:
        for op, key, before in reversed(applied):  # undo what was written, item by item
            if before is None:
                self.delete_item(op["TableName"], key)
            else:
                self.put_item(op["TableName"], before.to_json()["Attributes"])
        raise


def install() -> None:
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def uninstall() -> None:
    DynamoDBBackend.transact_write_items = _original  # type: ignore[method-assign]


# -- moto, made cheaper per call -------------------------------------------------------------------
# Two costs dominated an embedded replay, both in moto rather than in the ledger:
# 1. every Query sorted *all* items of the table (Table.all_items, comparing DynamoType keys), so
#    a replay slowed down with every order and event marker it stored. During a Query only the
#    partition asked for is handed over; for an index, only the items that may be in it (moto
#    filters and sorts them itself): the keys of items written with a global index's hash
#    attribute are remembered as they are put or updated (the `by_expiry` index is sparse: the
#    live reservations among all orders and event markers).
# 2. every DynamoDB request and response went through moto's shape-driven parser and serializer
#    (two thirds of a GetItem; most of a PutItem of a FORECAST item with its samples). DynamoDB's
#    item operations speak JSON that is already in wire form, so it is loaded and dumped
#    directly; binary values (and anything else json cannot take as is) go the original way.
# 3. every write built a stream record (both images, copied and measured) and kept it forever.
#    Nothing in a replay reads the table's stream: expiry is the sweep's job on the virtual clock
#    (the TTL-removal path is covered by the handler's own tests), so moto records nothing.
# Responses are identical; only the work changes. Embedded backend only.
# Table.query(hash_key, range_comparison, range_objs, limit, start_key, forward, projection, index_name)
_QUERY_INDEX_ARG = 6
_WIRE_FORM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
_DYNAMODB_CONTENT_TYPE = "application/x-amz-json-1.0"
_ORIGINALS: list[tuple[Any, str, Any]] = []  # (class, attribute, own value or None)


def install_call_speedups() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    if _ORIGINALS:
        return
    original_query, original_all_items = Table.query, Table.all_items
    original_put_item, original_update_item = Table.put_item, DynamoDBBackend.update_item
    original_execute = DynamoResult.execute_result
    original_parse = DynamoHandler.parse_parameters

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[_QUERY_INDEX_ARG] if len(args) > _QUERY_INDEX_ARG else kwargs.get("index_name")
        self._stockpulse_scope = ("index", None) if index_name else ("partition", hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            self._stockpulse_scope = None

    def all_items(self: Any) -> list[Any]:
        scope = getattr(self, "_stockpulse_scope", None)
        if scope is None:
            return original_all_items(self)  # type: ignore[no-any-return]
        if scope[0] == "partition":
            part = self.items.get(scope[1])
            if part is None:
                return []
            return list(part.values()) if self.range_key_attr else [part]
        return _index_candidates(self)

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put_item(self, *args, **kwargs)
        _remember_indexed(self, item)
        return item

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        item = original_update_item(self, table_name, *args, **kwargs)
        _remember_indexed(self.get_table(table_name), item)
        return item

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in _WIRE_FORM_OPERATIONS and isinstance(self.result, dict):
            try:
                body = json.dumps(self.result)
            except (TypeError, ValueError):
                pass
            else:
                return 200, {"Content-Type": _DYNAMODB_CONTENT_TYPE}, body
        return original_execute(self, context)

    def parse_parameters(self: Any, request: Any) -> None:
        data = request.data
        if (
            self._get_action() in _WIRE_FORM_OPERATIONS
            and isinstance(data, bytes)
            and data
            and b'"B"' not in data
            and b'"BS"' not in data
        ):
            self.params = json.loads(data)
        else:
            original_parse(self, request)

    def stream_add(self: Any, old: Any, new: Any) -> None:
        return None

    for owner, name, replacement in (
        (Table, "query", query),
        (Table, "all_items", all_items),
        (Table, "put_item", put_item),
        (DynamoDBBackend, "update_item", update_item),
        (DynamoResult, "execute_result", execute_result),
        (DynamoHandler, "parse_parameters", parse_parameters),
        (StreamShard, "add", stream_add),
    ):
        _ORIGINALS.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, replacement)


def _index_hash_attributes(table: Any) -> tuple[str, ...]:
    names = getattr(table, "_stockpulse_index_hash", None)
    if names is None:
        names = tuple(
            k["AttributeName"]
            for index in table.global_indexes
            for k in index.schema
            if k["KeyType"] == "HASH"
        )
        table._stockpulse_index_hash = names
    return names  # type: ignore[no-any-return]


def _item_key(table: Any, item: Any) -> tuple[Any, Any]:
    return (item.hash_key, item.range_key if table.range_key_attr else None)


def _remember_indexed(table: Any, item: Any) -> None:
    indexed = getattr(table, "_stockpulse_indexed", None)
    if item is None or indexed is None:
        return  # not tracked yet: the first index query looks at every item once
    if any(name in item.attrs for name in _index_hash_attributes(table)):
        indexed.add(_item_key(table, item))


def _index_candidates(table: Any) -> list[Any]:
    """The items that may be in one of the table's global indexes (a superset, filtered by moto)."""
    names = _index_hash_attributes(table)
    indexed: set[tuple[Any, Any]] | None = getattr(table, "_stockpulse_indexed", None)
    if indexed is None:  # first index query on this table: look at every item once
        everything = (
            [item for part in table.items.values() for item in part.values()]
            if table.range_key_attr
            else list(table.items.values())
        )
        indexed = {_item_key(table, item) for item in everything if any(n in item.attrs for n in names)}
        table._stockpulse_indexed = indexed
    found: list[Any] = []
    for key in list(indexed):
        hash_key, range_key = key
        item = table.get_item(hash_key, range_key)
        if item is None or not any(n in item.attrs for n in names):
            indexed.discard(key)  # deleted, or left the index (a reservation paid or released)
        else:
            found.append(item)
    return found


def uninstall_call_speedups() -> None:
    while _ORIGINALS:
        owner, name, original = _ORIGINALS.pop()
        if original is None:  # inherited: uncover the base class's again
            delattr(owner, name)
        else:
            setattr(owner, name, original)
