"""Every key of the ledger table, built in one place (docs/architecture.md, "The ledger").

Keys join id components with `#` (`ORDER#{session_id}#{order_id}`), and the contract allows any
1-128-character id, `#` included: sessions `live` / `live#2` with orders `2#o1` / `o1` would
share one key. So each id component is escaped first: `%` becomes `%25` and `#` becomes `%23`
(percent-encoding of just those two). A `#` in a key is then always a separator, a key splits
back into its ids exactly (`order_ids_of`), and an id with neither character keeps the key it
always had (items written before escaping existed are still found).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ESCAPED = re.compile(r"%(25|23)")

# The sort keys and fixed partition key that are not built from ids (queries and scans filter on them).
STOCK_SK = "STOCK"
FORECAST_SK = "FORECAST"
ORDER_SK = "ORDER"
ALERT_PREFIX = "ALERT#"  # every alert item's sort key starts so
SESSIONS_PK = "SESSIONS"  # the live-sessions index
_ORDER_PREFIX = "ORDER#"


def part(value: str) -> str:
    """One id component of a key, escaped: no `#` left in it."""
    return value.replace("%", "%25").replace("#", "%23")


def unpart(value: str) -> str:
    """The inverse of `part` (one pass, so `%2523` comes back as `%23`)."""
    return _ESCAPED.sub(lambda m: "%" if m[1] == "25" else "#", value)


def sku_pk(session_id: str, sku_id: str) -> str:
    return f"SKU#{part(session_id)}#{part(sku_id)}"


def order_pk(session_id: str, order_id: str) -> str:
    return f"{_ORDER_PREFIX}{part(session_id)}#{part(order_id)}"


def stock_key(session_id: str, sku_id: str) -> dict[str, Any]:
    return {"pk": {"S": sku_pk(session_id, sku_id)}, "sk": {"S": STOCK_SK}}


def forecast_key(session_id: str, sku_id: str) -> dict[str, Any]:
    return {"pk": {"S": sku_pk(session_id, sku_id)}, "sk": {"S": FORECAST_SK}}


def alert_key(session_id: str, sku_id: str, at_ms: int, *labels: str) -> dict[str, Any]:
    """An alert item under the SKU: `ALERT#{at_ms:015d}#{label}#...` (e.g. the tier, or kind and tier)."""
    suffix = "".join(f"#{part(label)}" for label in labels)
    return {"pk": {"S": sku_pk(session_id, sku_id)}, "sk": {"S": f"{ALERT_PREFIX}{at_ms:015d}{suffix}"}}


def alert_labels(alert: Mapping[str, Any]) -> tuple[str, ...]:
    """The labels of a message's alert item key: one item per kind and tier at an instant, and a
    tier said again (an auto-pause, or a calm tier that now asks to act) apart from the message
    that raised it, which the same instant can hold (an evaluator's minute and an order at it)."""
    kind, tier = str(alert["kind"]), str(alert["tier"])
    again = kind == "alert" and str(alert.get("previous_tier")) == tier
    return (kind, tier, "again") if again else (kind, tier)


def order_key(session_id: str, order_id: str) -> dict[str, Any]:
    return {"pk": {"S": order_pk(session_id, order_id)}, "sk": {"S": ORDER_SK}}


def marker_key(event_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"EVENT#{part(event_id)}"}, "sk": {"S": "EVENT"}}


def session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{part(session_id)}"}, "sk": {"S": "SESSION"}}


def session_index_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": SESSIONS_PK}, "sk": {"S": f"SESSION#{part(session_id)}"}}


def order_ids_of(pk: str) -> tuple[str, str] | None:
    """(session_id, order_id) of an order item's `pk` (the inverse of `order_pk`); None if it
    is not an order's. A malformed one (no second `#`) gives an empty order id."""
    if not is_order_pk(pk):
        return None
    session, _, order = pk.removeprefix(_ORDER_PREFIX).partition("#")
    return unpart(session), unpart(order)


def is_order_pk(pk: str) -> bool:
    """Whether `pk` is an order item's."""
    return pk.startswith(_ORDER_PREFIX)
