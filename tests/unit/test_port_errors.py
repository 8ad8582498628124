"""botocore's errors stop at the adapters: every AWS call of an adapter leaves as an error of
`stockpulse.ports` (StoreUnavailable for the DynamoDB stores, PublishFailed for SNS and SQS), with
the SDK's message and the original as its cause; a failed condition is still an answer the adapter
gives (False, None, a failed TxResult), never an error.

The clients here are tiny fakes whose every request fails; `test_every_client_call_is_translated`
checks the adapters' code itself, so a new call cannot slip past.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from support import make_notice, session_plan

from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.adapters.sns import SnsAlertPublisher, SnsStockSyncPublisher
from stockpulse.adapters.sqs import SqsDeadLetters
from stockpulse.domain.ledger import Move
from stockpulse.ports import PublishFailed, StockItemExists, StoreUnavailable
from stockpulse.records import EventMemory, TxResult
from stockpulse.stock_sync import StockSyncUpdate

ADAPTERS = Path(__file__).resolve().parents[2] / "shared" / "stockpulse" / "adapters"
CLIENTS = {"_db", "_sns", "_sqs"}  # the attributes the adapters keep their boto3 clients in


def client_error(code: str, **response: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}, **response}, "Injected")


AWS_ERRORS = {
    "throttled": client_error("ThrottlingException"),
    "unreachable": EndpointConnectionError(endpoint_url="https://injected.example"),
}


class Failing:
    """A boto3 client whose every request raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(**kwargs: Any) -> Any:
            raise self.error

        return call


ALERT = {"kind": "alert", "tier": "red", "at_ms": 0}
LEDGER_CALLS: dict[str, Callable[[DynamoLedgerStore], object]] = {
    "stock": lambda s: s.stock("s", "k"),
    "stocks": lambda s: s.stocks([("s", "k"), ("s", "m")]),
    "order_memories": lambda s: s.order_memories("s", ["o1"]),
    "remembered": lambda s: s.remembered("e1"),
    "session_orders": lambda s: s.session_orders("s"),
    "live_sessions": lambda s: s.live_sessions(0),
    "due_reservations": lambda s: s.due_reservations(0, "0"),
    "next_hold_end": lambda s: s.next_hold_end(0),
    "alerts": lambda s: s.alerts("s", "k"),
    "load_session": lambda s: s.load_session(session_plan([{"sku_id": "k", "on_hand": 1}])),
    "write_one": lambda s: s.transact(session_id="s", sku_id="k", move=Move(on_hand=1), at_ms=0),
    "transact": lambda s: s.transact(
        session_id="s", sku_id="k", move=Move(on_hand=1), memory=EventMemory("e1", "ok", False), at_ms=0
    ),
    "record_alert": lambda s: s.record_alert("s", "k", ALERT, 0),
    "clear_pending_alert": lambda s: s.clear_pending_alert("s", "k", "a1", (0, 0, 0)),
    "note_published": lambda s: s.note_published("s", "k", "a1", ["alerts"], make_notice()),
    "update_stock_fields": lambda s: s.update_stock_fields("s", "k", {"velocity": 1}),
}
FORECAST_CALLS: dict[str, Callable[[DynamoForecastStore], object]] = {
    "read_many": lambda f: f.read_many("s", ["k"]),
    "stock": lambda f: f.stock("s", "k"),
    "evaluated": lambda f: f.evaluated("s"),
    "put_forecasts": lambda f: f.put_forecasts("s", {"k": {"velocity": 1}}),
    "record_run": lambda f: f.record_run("s", 60_000, known=[], at_ms=60_000, keep_after_ms=0),
    "claim": lambda f: f.claim("s", {}),
    "release": lambda f: f.release("s"),
    "save_tick": lambda f: f.save_tick(
        "s", "k", version=1, tier="red", tier_version=1, memory={}, alert=ALERT
    ),
    "move_quota": lambda f: f.move_quota("s", "k", {"douyin": 1, "kuaishou": -1}),
}
PUBLISHER_CALLS: dict[str, Callable[[Any], object]] = {
    "alerts": lambda c: SnsAlertPublisher(c, "arn:alerts", "arn:supply").publish(make_notice()),
    "stock_sync": lambda c: SnsStockSyncPublisher(c, "arn:sync").publish(
        [StockSyncUpdate("s", "k", 1, 10, False, {"douyin": 5}, 10)]
    ),
    "rejected_events": lambda c: SqsDeadLetters(c, "https://queue").send(
        reason="invalid", field="data", message="not JSON", raw=b"x", source={}
    ),
}


def raised(call: Callable[[], object], port_error: type[Exception], error: Exception) -> None:
    with pytest.raises(port_error) as caught:
        call()
    assert caught.value.__cause__ is error and str(caught.value) == str(error)


@pytest.mark.parametrize("error", AWS_ERRORS.values(), ids=list(AWS_ERRORS))
@pytest.mark.parametrize("name", LEDGER_CALLS)
def test_the_ledger_store_raises_store_unavailable(name: str, error: Exception) -> None:
    store = DynamoLedgerStore(Failing(error), "t", expiry_shards=1)
    raised(lambda: LEDGER_CALLS[name](store), StoreUnavailable, error)


@pytest.mark.parametrize("error", AWS_ERRORS.values(), ids=list(AWS_ERRORS))
@pytest.mark.parametrize("name", FORECAST_CALLS)
def test_the_forecast_store_raises_store_unavailable(name: str, error: Exception) -> None:
    forecasts = DynamoForecastStore(Failing(error), "t")
    raised(lambda: FORECAST_CALLS[name](forecasts), StoreUnavailable, error)


@pytest.mark.parametrize("error", AWS_ERRORS.values(), ids=list(AWS_ERRORS))
@pytest.mark.parametrize("name", PUBLISHER_CALLS)
def test_the_publishers_raise_publish_failed(name: str, error: Exception) -> None:
    raised(lambda: PUBLISHER_CALLS[name](Failing(error)), PublishFailed, error)


def test_a_failed_condition_is_still_an_answer() -> None:
    refused = Failing(client_error("ConditionalCheckFailedException"))
    store, forecasts = DynamoLedgerStore(refused, "t"), DynamoForecastStore(refused, "t")
    assert LEDGER_CALLS["record_alert"](store) is False
    assert LEDGER_CALLS["clear_pending_alert"](store) is None
    assert LEDGER_CALLS["note_published"](store) is None
    assert LEDGER_CALLS["write_one"](store) == TxResult(ok=False, failed=frozenset({"stock"}))
    assert FORECAST_CALLS["move_quota"](forecasts) is None
    with pytest.raises(StockItemExists):
        LEDGER_CALLS["load_session"](store)
    cancelled = client_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": "ConditionalCheckFailed"}, {"Code": "None"}],
    )
    store = DynamoLedgerStore(Failing(cancelled), "t")
    forecasts = DynamoForecastStore(Failing(cancelled), "t")
    assert LEDGER_CALLS["transact"](store) == TxResult(ok=False, failed=frozenset({"stock"}))
    assert FORECAST_CALLS["save_tick"](forecasts) is False


def untranslated_calls(path: Path) -> list[str]:
    """Calls on a client attribute (`self._db.get_item(...)`, `getattr(self._db, op)(...)`) that
    are not inside a `with as_port_error(...)` block, as `line: call`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    inside: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and isinstance(item.context_expr.func, ast.Name)
            and item.context_expr.func.id == "as_port_error"
            for item in node.items
        ):
            inside.update(n for statement in node.body for n in ast.walk(statement))
    return [
        f"{node.lineno}: {ast.unparse(node.func)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node not in inside
        and any(isinstance(n, ast.Attribute) and n.attr in CLIENTS for n in ast.walk(node.func))
    ]


@pytest.mark.parametrize("path", sorted(ADAPTERS.glob("*.py")), ids=lambda p: p.name)
def test_every_client_call_is_translated(path: Path) -> None:
    assert untranslated_calls(path) == [], "wrap it in `with as_port_error(<the port's error>):`"


def test_the_translation_rule_sees_what_it_forbids(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "with as_port_error(StoreUnavailable):\n    self._db.get_item()\n"
        "self._sns.publish()\n"
        "getattr(self._db, 'query')()\n",
        encoding="utf-8",
    )
    assert [line.split(":")[0] for line in untranslated_calls(module)] == ["3", "4"]
