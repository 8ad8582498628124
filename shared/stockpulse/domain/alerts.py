"""The alert notice: the one message body every channel is rendered from (SNS message, JSON)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from stockpulse.domain.tiers import Tier


class NoticeKind(StrEnum):
    ALERT = "alert"  # an upward tier transition (listed in reports)
    REPEAT = "repeat"  # the tier still stands after the cooldown
    RESOLVED = "resolved"  # restock or releases brought the SKU back down


class AlertNotice(BaseModel):
    """Everything a person needs to act, in one message; channels only change its format."""

    model_config = ConfigDict(frozen=True)

    alert_id: str = Field(description="stable id: retries of the same announcement carry the same id")
    kind: NoticeKind
    session_id: str
    sku_id: str
    sku_name: str
    importance: str = "normal"
    tier: Tier
    previous_tier: Tier
    at: datetime
    on_hand: int
    held: int
    reserved: int
    sold: int
    available: int
    velocity_per_minute: float = 0.0
    sell_out_eta_minutes: float | None = None
    restock_quantity: int = 0
    platform_split: dict[str, int] = Field(default_factory=dict)
    text_en: str = ""
    text_zh: str = ""
    sms_zh: str = ""
