"""A live session and its SKUs' plans (contract section 2): what a shop prepares before the show."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from stockpulse.domain.alerts import CHANNELS, Channel
from stockpulse.domain.events import Id, epoch_ms, parse_instant
from stockpulse.domain.tiers import TierRatios, exact

# Every number is bounded by what the ledger (DynamoDB numbers: 38 significant digits, exponents
# -130..125; the runner's minute-by-minute clock) and a real live sale can hold (issue 11, item 5).
MAX_UNITS = 1_000_000_000  # on_hand, held, forecast, a platform's cap: a billion units
MAX_LEAD_TIME_DAYS = 365
MIN_RATIO, MAX_RATIO, RATIO_DECIMALS = Decimal("0.01"), Decimal(100), 6
MAX_RATIO_TEXT = 32  # a ratio written as a string: longer is refused before Decimal() reads it
MAX_SKUS = 200  # the session item keeps the whole plan (an item holds at most 400 KB)
MAX_PLATFORMS = 64
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # sessions and events live between these instants
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_SESSION = timedelta(hours=48)  # the runner's clock walks the session minute by minute
EVENT_WINDOW = timedelta(hours=24)  # an event further than this outside its session is malformed

Units = Annotated[int, Field(ge=0, le=MAX_UNITS)]
Ratio = Annotated[
    Decimal, Field(ge=MIN_RATIO, le=MAX_RATIO, decimal_places=RATIO_DECIMALS, allow_inf_nan=False)
]


class TierRatioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    yellow: Ratio = Decimal("0.8")
    orange: Ratio = Decimal("1.0")
    red: Ratio = Decimal("1.2")

    @field_validator("yellow", "orange", "red", mode="before")
    @classmethod
    def _number(cls, value: object) -> Decimal:
        # As written: 1.1 means 11/10 (str() keeps the shortest decimal form of a JSON float).
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError("must be a number")
        text = str(value)
        if len(text) > MAX_RATIO_TEXT:
            raise ValueError(f"must be a number of at most {MAX_RATIO_TEXT} characters")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError("must be a number") from None

    @model_validator(mode="after")
    def _ordered(self) -> TierRatioConfig:
        if not self.yellow <= self.orange <= self.red:
            raise ValueError("tier ratios must satisfy yellow <= orange <= red")
        return self

    def exact(self) -> TierRatios:
        return TierRatios(yellow=exact(self.yellow), orange=exact(self.orange), red=exact(self.red))


class AlertOverrides(BaseModel):
    """Per-SKU message settings (docs/product.md, "Message budget"); absent fields keep the defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    cooldown_minutes: Annotated[int, Field(ge=10, le=1440)] | None = Field(
        default=None, description="minutes between IM repeats of a standing red (default: the stack's, 30)"
    )
    stock_risk: bool = Field(
        default=True, description="the sell-out projection may raise the tier (dynamic SKUs only)"
    )
    channels: list[Channel] = Field(
        default_factory=lambda: list(CHANNELS),
        description="channels besides the big screen's feed that may carry this SKU's messages",
    )

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[Channel]) -> list[Channel]:
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value


class SkuConfig(BaseModel):
    """One SKU's plan for the session."""

    model_config = ConfigDict(strict=True, frozen=True)

    sku_id: Id
    name: Annotated[str, StringConstraints(max_length=256)] = ""
    on_hand: Units
    held: Units = 0
    forecast: Annotated[int, Field(gt=0, le=MAX_UNITS)]
    lead_time_days: Annotated[float, Field(ge=0, le=MAX_LEAD_TIME_DAYS, allow_inf_nan=False)] = 3.0
    has_history: bool = True
    hold_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    tier_ratios: TierRatioConfig = TierRatioConfig()
    dynamic: bool = True
    auto_pause_on_red: bool = False
    importance: Literal["core", "normal"] = "normal"
    platform_quotas: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")], Units] = Field(
        default_factory=dict, max_length=MAX_PLATFORMS
    )
    rebalance_quotas: bool = False
    pack_size: Annotated[int, Field(ge=1, le=100_000)] = 1
    alerts: AlertOverrides = AlertOverrides()

    @field_validator("lead_time_days", mode="before")
    @classmethod
    def _number(cls, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        return float(value)

    @field_validator("tier_ratios", mode="before")
    @classmethod
    def _ratios(cls, value: object) -> object:
        return TierRatioConfig.model_validate(value) if isinstance(value, dict) else value

    @field_validator("alerts", mode="before")
    @classmethod
    def _alerts(cls, value: object) -> object:
        return AlertOverrides.model_validate(value) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _held_fits(self) -> SkuConfig:
        if self.held > self.on_hand:
            raise ValueError("held must not exceed on_hand")
        return self

    @property
    def ratios(self) -> TierRatios:
        return self.tier_ratios.exact()

    @property
    def exact_forecast(self) -> Fraction:
        return Fraction(self.forecast)


class SessionConfig(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)

    session_id: Id
    starts_at: datetime
    ends_at: datetime

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> datetime:
        instant = parse_instant(value)
        if not EARLIEST <= instant < LATEST:
            raise ValueError(f"must be in the years {EARLIEST.year} to {LATEST.year - 1} (UTC)")
        return instant

    @model_validator(mode="after")
    def _ordered(self) -> SessionConfig:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_SESSION:
            hours = MAX_SESSION // timedelta(hours=1)
            raise ValueError(f"ends_at: a session lasts at most {hours} hours")
        return self

    def accepts_event_at(self, ms: int) -> bool:
        """Whether an event dated `ms` is plausible for this session (at most EVENT_WINDOW outside it).

        An event further away is malformed (`invalid`): the runner's clock never walks to it.
        """
        window = EVENT_WINDOW // timedelta(milliseconds=1)
        return self.starts_ms - window <= ms <= self.ends_ms + window

    @property
    def starts_ms(self) -> int:
        return epoch_ms(self.starts_at)

    @property
    def ends_ms(self) -> int:
        return epoch_ms(self.ends_at)


class SessionPlan(BaseModel):
    """A session with its SKUs: what `session load` writes and `replay` starts from."""

    model_config = ConfigDict(strict=True, frozen=True)

    session: SessionConfig
    skus: list[SkuConfig] = Field(max_length=MAX_SKUS)

    @model_validator(mode="after")
    def _unique_skus(self) -> SessionPlan:
        seen: set[str] = set()
        for sku in self.skus:
            if sku.sku_id in seen:
                raise ValueError(f"sku_id {sku.sku_id!r} appears twice")
            seen.add(sku.sku_id)
        return self

    @property
    def digest(self) -> str:
        """Names this exact plan: a stock item written by its load carries it (see load_session)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:32]

    def sku(self, sku_id: str) -> SkuConfig | None:
        return next((s for s in self.skus if s.sku_id == sku_id), None)


# An event's `occurred_at` must fall in a sane window around its session: a platform's clock may
# be off by hours, not by years. Outside it (`0001-01-01`, `9999-12-31`, an order dated 2030 in a
# one-hour session) the event is malformed: rejected `invalid` naming `occurred_at`, before any
# write, so no hold, TTL or alert is ever computed from it. Whatever the session, an instant must
# also lie within these absolute bounds (an event for an unknown session is checked against them).
EARLIEST_EVENT_MS = epoch_ms(datetime(2000, 1, 1, tzinfo=UTC))
LATEST_EVENT_MS = epoch_ms(datetime(2200, 1, 1, tzinfo=UTC))


def event_time_problem(occurred_ms: int, session: SessionConfig | None) -> str | None:
    """Why an event at `occurred_ms` cannot belong to `session` (None if it can)."""
    if not EARLIEST_EVENT_MS <= occurred_ms < LATEST_EVENT_MS:
        return "outside the years 2000-2199"
    if session is not None and not session.accepts_event_at(occurred_ms):
        return "more than a day before the session starts or after it ends"
    return None
