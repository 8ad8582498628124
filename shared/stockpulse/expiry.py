"""Expiry of unpaid holds: a reservation whose hold ended releases its stock, found by the
sweep or, as the backstop, by its TTL removal; either way released at most once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stockpulse.adapters.keys import is_order_pk, order_ids_of
from stockpulse.domain.ledger import OrderRecord, OrderStatus, release
from stockpulse.ports import Clock, LedgerStore
from stockpulse.records import OrderWrite, order_of
from stockpulse.session_catalog import SessionCatalog
from stockpulse.tier_settling import TierSettler


@dataclass
class HoldExpiry:
    store: LedgerStore
    clock: Clock
    catalog: SessionCatalog
    tiers: TierSettler

    def expire(self, session_id: str, order: OrderRecord) -> bool:
        """Release a reservation whose hold ended; False if another path released it first."""
        sku = self.catalog.sku(session_id, order.sku_id)
        capped = frozenset(sku.platform_quotas) if sku else frozenset()
        result = self.store.transact(
            session_id=session_id,
            sku_id=order.sku_id,
            move=release(order.platform, order.quantity),
            capped=capped,
            order_id=order.order_id,
            order=OrderWrite(OrderStatus.EXPIRED, expected=OrderStatus.RESERVED),
            at_ms=order.hold_until_ms,
        )
        if result.ok:
            self.tiers.settle(session_id, order.sku_id, order.hold_until_ms)
        return result.ok

    def sweep(self) -> int:
        """Release every reservation whose hold has ended by now; returns how many this call released."""
        now = self.clock.now_ms()
        due: list[dict[str, Any]] = []
        for shard in range(self.store.expiry_shards):
            due.extend(self.store.due_reservations(now, str(shard)))
        due.sort(key=lambda item: (int(item["hold_until_ms"]), str(item["pk"])))
        return sum(self.expire(str(item["session_id"]), order_of(item)) for item in due)

    def release_ttl_removed(self, old_image: dict[str, Any]) -> bool:
        """The TTL deleted an order item: release it if it was still reserved (the sweep missed it)."""
        if old_image.get("status") != OrderStatus.RESERVED.value:
            return False
        old_image = with_order_identity(old_image)
        order = order_of(old_image)
        session_id = str(old_image["session_id"])
        sku = self.catalog.sku(session_id, order.sku_id)
        capped = frozenset(sku.platform_quotas) if sku else frozenset()
        result = self.store.restore_ttl_removed(old_image, release(order.platform, order.quantity), capped)
        if result.ok:
            self.tiers.settle(session_id, order.sku_id, order.hold_until_ms)
        return result.ok


def is_order_image(image: Mapping[str, Any]) -> bool:
    """Whether a removed item's image is an order's (its key says so)."""
    return is_order_pk(str(image.get("pk", "")))


def with_order_identity(image: Mapping[str, Any]) -> dict[str, Any]:
    """An order item's image with `session_id` and `order_id`, read back from its key if absent.

    The store writes both attributes, but a removal record whose image lacks them (as
    events/dynamodb_ttl_removal.json does) must not fail its batch forever: the key
    `ORDER#{session_id}#{order_id}` holds them, each escaped (`stockpulse.adapters.keys`), so it
    splits back exactly whatever `#` the ids contain.
    """
    full = dict(image)
    ids = order_ids_of(str(full.get("pk", "")))
    if ids is not None:
        full.setdefault("session_id", ids[0])
        full.setdefault("order_id", ids[1])
    return full
