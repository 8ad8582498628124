"""The alert notice: the one message every channel is rendered from, and how SNS routes it.

SNS routes on message attributes (`routing_attributes`); the template's subscription filter
policies decide which channels a notice reaches (docs/product.md, "Who gets what").
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stockpulse.domain.tiers import Tier


class NoticeKind(StrEnum):
    PRE_SHOW = "pre_show"  # before the show: sellable stock is below the warning line
    ALERT = "alert"  # an upward tier transition (listed in reports)
    REPEAT = "repeat"  # the tier still stands after the cooldown (IM only)
    RESOLVED = "resolved"  # the SKU stayed below the announced tier for a while
    SOLD_OUT = "sold_out"  # available reached 0: one message, then silence until a restock
    SLOW = "slow"  # selling under the expected band: a tip for the big screen's feed only


Channel = Literal["im", "sms", "email", "supply_chain"]
CHANNELS: tuple[Channel, ...] = ("im", "sms", "email", "supply_chain")  # `feed` always gets everything


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
    show_minutes_left: float | None = None  # of the show at `at`: an ETA past it "lasts the show"
    restock_quantity: int = 0  # shown only when above zero
    platform_split: dict[str, int] = Field(default_factory=dict)
    forecast: float = 0.0  # the effective forecast F the consumption tiers are judged against
    stock_risk: bool = False  # the tier comes from the sell-out projection, not from consumption
    first_of_tier: bool = False  # the first announcement of this tier for the SKU in the session
    paused: bool = False  # selling is paused as the notice goes out (auto-pause on red, or a person)
    channels: list[Channel] = Field(default_factory=lambda: list(CHANNELS))  # the SKU's allowed channels
    warning_line: float | None = None  # pre_show: the pre-show warning line (units) sellable stock is under
    text_en: str = ""
    text_zh: str = ""
    sms_zh: str = ""

    @property
    def routing_tier(self) -> Tier:
        """The tier a message concerns: for a resolution, the tier that was resolved, so it goes
        to the channels that got the alert."""
        return self.previous_tier if self.kind is NoticeKind.RESOLVED else self.tier

    @property
    def consumption(self) -> int:
        return self.reserved + self.sold


def routing_attributes(notice: AlertNotice) -> dict[str, str | list[str]]:
    """What the subscription filter policies read (SNS message attributes)."""
    return {
        "kind": notice.kind.value,
        "tier": notice.routing_tier.value,
        "importance": notice.importance,
        "first": "true" if notice.first_of_tier else "false",
        "channels": list(notice.channels),
        "sku_id": notice.sku_id,
        "session_id": notice.session_id,
    }


def to_supply_chain(notice: AlertNotice) -> bool:
    """A restock request goes to the supply-chain topic when red is announced (not repeated)."""
    return (
        "supply_chain" in notice.channels
        and notice.tier is Tier.RED
        and notice.kind in (NoticeKind.ALERT, NoticeKind.SOLD_OUT)
    )
