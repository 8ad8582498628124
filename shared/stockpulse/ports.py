"""What the domain needs from outside. Adapters implement these; tests and the runner inject fakes.

The stores (`LedgerStore`, `ForecastStore`, `DashboardStore`) list only the methods the service
modules call; `stockpulse.adapters.dynamodb_ledger.DynamoLedgerStore` and
`stockpulse.adapters.dynamodb_forecast.DynamoForecastStore` implement them (mypy checks it where
`stockpulse.wiring` builds them), and only the wiring and the runner name those classes. Their
test doubles stay moto and DynamoDB Local: there is no in-memory fake of the transactional store.
The values they take and return are in `stockpulse.records`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import Move, Outcome, StockLevels
from stockpulse.domain.tiers import Tier, TierInputs
from stockpulse.records import EventMemory, OrderMemory, OrderWrite, StockItem, TxResult

# -- errors the adapters raise (they let no botocore error out: `adapters/aws_errors.py`) -------


class StoreUnavailable(Exception):
    """The store did not take a request: a network error, or an error the SDK's own retries did
    not absorb (a throttle, a refusal). Its message is the SDK's."""


class StockItemMalformed(Exception):
    """Stock items the store holds that cannot be read as one (a value of the wrong type or
    range), named all at once so the reader can leave them out in one go."""

    def __init__(self, session_id: str, sku_ids: Sequence[str]) -> None:
        super().__init__(f"{session_id}/{','.join(sku_ids)}: stock item malformed")
        self.sku_ids = tuple(sku_ids)


class StockItemExists(Exception):
    """`load_session` refused to overwrite a live session's stock."""


class TransactionContention(Exception):
    """Transient: the batch record is reported failed and retried by the stream."""


class ReadIncomplete(Exception):
    """BatchGetItem kept returning unprocessed keys (throttling): the next minute tries again."""


class WriteIncomplete(Exception):
    """A batch write kept returning unprocessed items, or a conditional write kept conflicting."""


class PublishFailed(Exception):
    """A topic or queue did not take a message (an alert, a stock sync update, a rejected event):
    a network error, or an error the SDK's own retries did not absorb. Its message is the SDK's.

    `taken`: the alert destinations that took the notice before one refused it (a red's notice on
    the alerts topic when its restock request failed), so that a retry sends the rest only.
    """

    def __init__(self, *args: object, taken: frozenset[str] = frozenset()) -> None:
        super().__init__(*args)
        self.taken = taken


# Where an alert goes: the alerts topic (people, IM robots, the big screen) and, at red, the supply
# chain's restock request.
ALERTS_TOPIC = "alerts"
SUPPLY_CHAIN = "supply_chain"


# -- ports ---------------------------------------------------------------------------------------


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        ...


class AlertPublisher(Protocol):
    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        """Send `notice` to each of its destinations but those in `skip` (they took it before)."""
        ...


class OutcomeSink(Protocol):
    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        """Every event ends here exactly once: processed, duplicate or rejected with a reason."""
        ...


class LedgerHistory(Protocol):
    def record(
        self, session_id: str, sku_id: str, at_ms: int, levels: StockLevels, tier: Tier, inputs: TierInputs
    ) -> None:
        """A SKU's ledger after one change, at the change's own instant, with the tier it stands
        in and the thresholds it was judged on; in commit order."""
        ...


# -- stores --------------------------------------------------------------------------------------


class LedgerStore(Protocol):
    """The ledger as `InventoryGuard`'s parts, its `SessionCatalog`, the threshold evaluator, the
    stock sync after a batch and the pre-show check use it."""

    expiry_shards: int
    # The processing clock retention TTLs count from; the guard installs its own clock here.
    now_ms: Callable[[], int]

    # reads
    def session(self, session_id: str) -> dict[str, Any] | None: ...

    def stock(self, session_id: str, sku_id: str) -> StockItem | None: ...

    def stocks(self, skus: Sequence[tuple[str, str]]) -> list[StockItem]: ...

    def order_memory(self, session_id: str, order_id: str) -> OrderMemory: ...

    def order_memories(self, session_id: str, order_ids: Sequence[str]) -> dict[str, OrderMemory]: ...

    def remembered(self, event_id: str) -> str | None: ...

    def live_sessions(self, now_ms: int) -> list[dict[str, Any]]: ...

    def due_reservations(self, now_ms: int, shard: str, limit: int = 500) -> list[dict[str, Any]]: ...

    def alerts(self, session_id: str, sku_id: str) -> list[dict[str, Any]]: ...

    # stock changes: each one conditional transaction
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
    ) -> TxResult: ...

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
    ) -> TxResult: ...

    def restore_ttl_removed(
        self, old_image: Mapping[str, Any], move: Move, capped: frozenset[str]
    ) -> TxResult: ...

    # thresholds, tier state and alert records
    def update_stock_fields(self, session_id: str, sku_id: str, values: Mapping[str, Any]) -> StockItem: ...

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
    ) -> bool: ...

    def clear_pending_alert(
        self, session_id: str, sku_id: str, alert_id: str, named_restock: tuple[int, int, int]
    ) -> None:
        """The announcement `alert_id` went out: clear it, and keep the restock it named, the
        restocked counter then and its instant (`named_restock`)."""
        ...

    def note_published(
        self, session_id: str, sku_id: str, alert_id: str, taken: Sequence[str], notice: AlertNotice
    ) -> None:
        """Mark the pending announcement `alert_id` as taken by the destinations `taken`
        (`published_to`), keeping the `notice` they took (`published_notice`) for the rest."""
        ...

    def record_alert(self, session_id: str, sku_id: str, alert: Mapping[str, Any], key_ms: int) -> bool: ...


class ForecastStore(Protocol):
    """The threshold evaluator's own reads and writes (FORECAST items, run minutes, the minute's
    alert hygiene, quota moves)."""

    def read_many(
        self, session_id: str, sku_ids: Sequence[str], *, forecasts: bool = True
    ) -> dict[str, tuple[StockItem | None, dict[str, Any] | None]]: ...

    def stock(self, session_id: str, sku_id: str) -> StockItem | None: ...

    def claim(self, session_id: str, row: Mapping[str, Any]) -> None: ...

    def forget(self, session_id: str) -> None: ...

    def release(self, session_id: str) -> None: ...

    def put_forecasts(self, session_id: str, items: Mapping[str, Mapping[str, Any]]) -> None: ...

    def record_run(
        self,
        session_id: str,
        minute_ms: int,
        *,
        known: list[tuple[int, int]],
        at_ms: int,
        keep_after_ms: int,
    ) -> None: ...

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
    ) -> bool: ...

    def move_quota(self, session_id: str, sku_id: str, deltas: Mapping[str, int]) -> StockItem | None: ...


class DashboardStore(Protocol):
    """What the big screen's reader (`stockpulse.dashboard.DashboardReader`) reads."""

    def session(self, session_id: str) -> dict[str, Any] | None: ...

    def session_index(self, session_id: str) -> dict[str, Any] | None: ...

    def stock(self, session_id: str, sku_id: str) -> StockItem | None: ...

    def forecast_item(self, session_id: str, sku_id: str) -> dict[str, Any] | None: ...

    def alerts(self, session_id: str, sku_id: str) -> list[dict[str, Any]]: ...
