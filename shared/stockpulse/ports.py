"""What the domain needs from outside. Adapters implement these; tests and the runner inject fakes."""

from __future__ import annotations

from typing import Protocol

from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import Outcome, StockLevels
from stockpulse.domain.tiers import Tier, TierInputs

# -- errors the stores raise (their adapters define nothing else for callers to catch) -----------


class StoreUnavailable(Exception):
    """The store did not take a request: a network error, or an error the SDK's own retries did
    not absorb (a throttle, a refusal). Its message is the SDK's."""


class StockItemExists(Exception):
    """`load_session` refused to overwrite a live session's stock."""


class TransactionContention(Exception):
    """Transient: the batch record is reported failed and retried by the stream."""


class ReadIncomplete(Exception):
    """BatchGetItem kept returning unprocessed keys (throttling): the next minute tries again."""


class WriteIncomplete(Exception):
    """A batch write kept returning unprocessed items, or a conditional write kept conflicting."""


# -- ports ---------------------------------------------------------------------------------------


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        ...


class AlertPublisher(Protocol):
    def publish(self, notice: AlertNotice) -> None: ...


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
