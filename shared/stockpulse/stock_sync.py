"""Platform stock sync feed: what each platform may still sell of a SKU, published when it changes.

Platform integrations keep their listings' stock in step with the shared pool from this feed
(SNS `StockSyncTopic`, published by `stockpulse.adapters.sns.SnsStockSyncPublisher`). One
message per SKU carries the sellable quantity per platform:

- a capped platform (it has a `headroom` entry) may sell `min(available, headroom)`: its quota
  left and the pool, whichever is smaller; held units are never in `available`;
- any other platform may sell `available` (`other_platforms` in the message, plus an entry for
  every uncapped platform already seen in `used`);
- a paused SKU sells nothing: every quantity is 0.

Coalescing: the order-stream handler calls `StockSyncFeed.after_batch(items)` once per Kinesis
batch with the stock items the batch touched (read after its writes, one BatchGetItem per 100).
At most one message per SKU per batch goes out, and only when the sellable quantities differ
from what this container last published for that SKU; a burst of 500 orders in 5 batches is at
most 5 messages per SKU, the last one carrying the final quantities. `version` (the stock
item's, +1 on every stock change) orders the messages: a consumer keeps the highest version it
has seen, so a stale or duplicated message (SNS is at-least-once, containers restart and
publish again) is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stockpulse.domain.ledger import StockLevels
from stockpulse.records import StockItem


def sellable(levels: StockLevels) -> dict[str, int]:
    """Sellable units per known platform: capped ones min(available, headroom), seen uncapped ones
    `available`; everything 0 while paused."""
    pool = 0 if levels.paused else max(0, levels.available)
    quantities = {p: pool for p in levels.used if p not in levels.headroom}
    quantities.update({p: min(pool, max(0, h)) for p, h in levels.headroom.items()})
    return dict(sorted(quantities.items()))


@dataclass(frozen=True)
class StockSyncUpdate:
    session_id: str
    sku_id: str
    version: int
    available: int
    paused: bool
    sellable: Mapping[str, int]  # per known platform
    other_platforms: int  # any platform not listed in `sellable`

    @classmethod
    def of(cls, item: StockItem) -> StockSyncUpdate:
        levels = item.levels
        return cls(
            session_id=item.session_id,
            sku_id=item.sku_id,
            version=item.version,
            available=levels.available,
            paused=levels.paused,
            sellable=sellable(levels),
            other_platforms=0 if levels.paused else max(0, levels.available),
        )

    @property
    def key(self) -> tuple[str, str]:
        return self.session_id, self.sku_id

    @property
    def quantities(self) -> tuple[tuple[tuple[str, int], ...], int]:
        """What a listing shows: two updates with equal quantities are the same update."""
        return tuple(sorted(self.sellable.items())), self.other_platforms

    def message(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "sku_id": self.sku_id,
            "version": self.version,
            "available": self.available,
            "paused": self.paused,
            "sellable": dict(self.sellable),
            "other_platforms": self.other_platforms,
        }


@dataclass(frozen=True)
class Published:
    version: int
    quantities: tuple[tuple[tuple[str, int], ...], int]


def coalesce(
    items: Iterable[StockItem], last_published: Mapping[tuple[str, str], Published]
) -> list[StockSyncUpdate]:
    """The updates to send for the SKUs a batch touched: the newest read of each SKU, when its
    quantities differ from the last published ones and it is not older than them."""
    newest: dict[tuple[str, str], StockSyncUpdate] = {}
    for item in items:
        update = StockSyncUpdate.of(item)
        seen = newest.get(update.key)
        if seen is None or update.version > seen.version:
            newest[update.key] = update
    updates = []
    for key, update in newest.items():
        last = last_published.get(key)
        if last is not None and (update.version <= last.version or update.quantities == last.quantities):
            continue
        updates.append(update)
    return sorted(updates, key=lambda u: u.key)


class StockSyncPublisher(Protocol):
    def publish(self, updates: Sequence[StockSyncUpdate]) -> None: ...


class StockSyncFailed(Exception):
    """SNS refused some entries: the order stream logs and counts it (the sync is advisory, the
    batch's records stay applied); the feed keeps them unpublished, so the next batch sends them."""


@dataclass
class StockSyncFeed:
    """`StockSyncFeed(publisher).after_batch(stock_items)` at the end of each batch.

    Remembers per container what it published (a new container publishes each SKU once more:
    harmless, consumers keep the highest version)."""

    publisher: StockSyncPublisher
    last_published: dict[tuple[str, str], Published] = field(default_factory=dict)

    def after_batch(self, stock_items: Iterable[StockItem]) -> list[StockSyncUpdate]:
        updates = coalesce(stock_items, self.last_published)
        if updates:
            self.publisher.publish(updates)
            for u in updates:
                self.last_published[u.key] = Published(u.version, u.quantities)
        return updates
