"""Notice fields more than one test file renders (pure: no AWS, usable by the domain tests)."""

from __future__ import annotations

from typing import Any

from stockpulse.domain.tiers import Tier

# A SKU short before the show: 40 sellable (45 on hand, 5 held) under a line of 51 (1.2 x 42.5).
PRE_SHOW_FIELDS: dict[str, Any] = {
    "tier": Tier.NONE,
    "previous_tier": Tier.NONE,
    "on_hand": 45,
    "held": 5,
    "reserved": 0,
    "sold": 0,
    "available": 40,
    "velocity_per_minute": 0.0,
    "sell_out_eta_minutes": None,
    "restock_quantity": 11,
    "warning_line": 51.0,
    "forecast": 42.5,
    "platform_split": {},
}
