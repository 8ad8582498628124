"""Expiry of unpaid holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stockpulse.adapters.keys import order_ids_of


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
