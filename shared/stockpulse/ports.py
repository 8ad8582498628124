"""What the domain needs from outside. Adapters implement these; tests and the runner inject fakes."""

from __future__ import annotations

from typing import Protocol

from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import Outcome


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
