"""The inventory guard: the order ledger, hold expiry and tier settling, built on one store.

Handlers build one `InventoryGuard` and call its parts; the runner builds the same one on its
own backend.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field

from stockpulse.domain import alert_policy
from stockpulse.expiry import HoldExpiry
from stockpulse.order_ledger import OrderLedger
from stockpulse.ports import AlertPublisher, Clock, LedgerHistory, LedgerStore, OutcomeSink
from stockpulse.session_catalog import SessionCatalog
from stockpulse.tier_settling import TierSettler


@dataclass
class InventoryGuard:
    store: LedgerStore
    clock: Clock
    publisher: InitVar[AlertPublisher]
    sink: InitVar[OutcomeSink]
    policy: InitVar[alert_policy.AlertPolicy | None] = None
    # Every ledger state the tier is judged on (the local runner draws its pictures from it).
    history: InitVar[LedgerHistory | None] = None
    catalog: SessionCatalog = field(init=False)
    tiers: TierSettler = field(init=False)
    expiry: HoldExpiry = field(init=False)
    ledger: OrderLedger = field(init=False)

    def __post_init__(
        self,
        publisher: AlertPublisher,
        sink: OutcomeSink,
        policy: alert_policy.AlertPolicy | None,
        history: LedgerHistory | None,
    ) -> None:
        self.catalog = SessionCatalog(self.store)
        self.store.now_ms = self.clock.now_ms  # TTLs count from the processing clock, not event times
        self.tiers = TierSettler(
            self.store, self.catalog, publisher, policy or alert_policy.AlertPolicy(), history
        )
        self.expiry = HoldExpiry(self.store, self.clock, self.catalog, self.tiers)
        self.ledger = OrderLedger(self.store, self.clock, self.catalog, self.tiers, self.expiry, sink)
