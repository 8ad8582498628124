"""Alert message hygiene: who gets told what, and when. Pure; every instant is a parameter.

The tier itself is never delayed (contract: hysteresis is on *messages*). This module only
decides whether a tier change or a minute tick produces an ALERT, a REPEAT or a RESOLVED.

Rules:
- upward change: ALERT, unless a message claiming the same or a higher tier went out less than
  `reannounce_after` ago (flapping across a line is silent). A jump over several tiers is one
  call with the new tier, hence one ALERT of the highest.
- downward change: silent now; the "lower since" clock starts if the tier is below what people
  were last told.
- tick: RESOLVED (once) when the tier has stayed below the last announced tier for
  `resolve_after`; otherwise REPEAT when the tier (>= yellow) stands and no message claiming it
  or a higher tier went out for `cooldown`.
- a higher tier inhibits lower ones: a SKU has one tier, and only that tier is ever repeated,
  so yellow is never repeated while red stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from stockpulse.domain.alerts import NoticeKind
from stockpulse.domain.tiers import Tier

MINUTE_MS = 60_000
_ANNOUNCED = (Tier.YELLOW, Tier.ORANGE, Tier.RED)


@dataclass(frozen=True)
class AlertPolicy:
    cooldown_minutes: float = 10  # repeat while the tier stands
    reannounce_after_minutes: float = 10  # hysteresis for re-entering a recently announced tier
    resolve_after_minutes: float = 5  # the tier must stay lower this long before "resolved"

    @property
    def cooldown_ms(self) -> int:
        return round(self.cooldown_minutes * MINUTE_MS)

    @property
    def reannounce_after_ms(self) -> int:
        return round(self.reannounce_after_minutes * MINUTE_MS)

    @property
    def resolve_after_ms(self) -> int:
        return round(self.resolve_after_minutes * MINUTE_MS)


@dataclass(frozen=True)
class AlertMemory:
    """What a SKU remembers about its messages (epoch ms).

    `announced` is the tier people were last told (by an ALERT, REPEAT or RESOLVED);
    `last_*_ms` is the last message claiming that tier; `lower_since_ms` is since when the
    current tier has been below `announced` (None when it is not)."""

    announced: Tier = Tier.NONE
    last_yellow_ms: int | None = None
    last_orange_ms: int | None = None
    last_red_ms: int | None = None
    lower_since_ms: int | None = None

    def last_ms(self, tier: Tier) -> int | None:
        return {
            Tier.YELLOW: self.last_yellow_ms,
            Tier.ORANGE: self.last_orange_ms,
            Tier.RED: self.last_red_ms,
        }.get(tier)

    def last_at_or_above(self, tier: Tier) -> int | None:
        """The last message claiming `tier` or a higher one."""
        times = [t for k in _ANNOUNCED if k >= tier and (t := self.last_ms(k)) is not None]
        return max(times, default=None)

    def told(self, tier: Tier, now_ms: int) -> AlertMemory:
        """Memory after a message claiming `tier` at `now_ms`."""
        memory = replace(self, announced=tier, lower_since_ms=None)
        if tier == Tier.YELLOW:
            return replace(memory, last_yellow_ms=now_ms)
        if tier == Tier.ORANGE:
            return replace(memory, last_orange_ms=now_ms)
        if tier == Tier.RED:
            return replace(memory, last_red_ms=now_ms)
        return memory

    def to_item(self) -> dict[str, int | str]:
        """JSON-able (and DynamoDB-able) dict; absent keys mean None."""
        item: dict[str, int | str] = {"announced": self.announced.value}
        for key in ("last_yellow_ms", "last_orange_ms", "last_red_ms", "lower_since_ms"):
            value = getattr(self, key)
            if value is not None:
                item[key] = value
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, object]) -> AlertMemory:
        """Inverse of `to_item`; accepts DynamoDB's Decimal numbers."""

        def ms(key: str) -> int | None:
            value = item.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
                raise ValueError(f"{key} must be an integer, got {value!r}")
            return int(value)

        return cls(
            announced=Tier(str(item.get("announced", Tier.NONE.value))),
            last_yellow_ms=ms("last_yellow_ms"),
            last_orange_ms=ms("last_orange_ms"),
            last_red_ms=ms("last_red_ms"),
            lower_since_ms=ms("lower_since_ms"),
        )


def _recent(at: int | None, now_ms: int, window_ms: int) -> bool:
    return at is not None and now_ms - at < window_ms


def on_tier_change(
    previous: Tier, current: Tier, now_ms: int, memory: AlertMemory, policy: AlertPolicy
) -> tuple[NoticeKind | None, AlertMemory]:
    """The hot path, on every change of tier: an ALERT to send (or None) and the new memory."""
    if current > previous:
        if _recent(memory.last_at_or_above(current), now_ms, policy.reannounce_after_ms):
            # Hysteresis: re-entry soon after a message at this level or above is silent.
            if current >= memory.announced:
                memory = replace(memory, lower_since_ms=None)
            return None, memory
        return NoticeKind.ALERT, memory.told(current, now_ms)
    if current < memory.announced:
        if memory.lower_since_ms is None:
            memory = replace(memory, lower_since_ms=now_ms)
    else:
        memory = replace(memory, lower_since_ms=None)
    return None, memory


def on_tick(
    current: Tier, now_ms: int, memory: AlertMemory, policy: AlertPolicy
) -> tuple[NoticeKind | None, AlertMemory]:
    """The evaluator, every minute: a REPEAT or RESOLVED to send (or None) and the new memory."""
    if current < memory.announced:
        since = memory.lower_since_ms
        if since is None:  # a missed downward change: start the clock now
            return None, replace(memory, lower_since_ms=now_ms)
        if now_ms - since >= policy.resolve_after_ms:
            return NoticeKind.RESOLVED, memory.told(current, now_ms)
        return None, memory
    if memory.lower_since_ms is not None:
        memory = replace(memory, lower_since_ms=None)
    if current >= Tier.YELLOW and not _recent(memory.last_at_or_above(current), now_ms, policy.cooldown_ms):
        return NoticeKind.REPEAT, memory.told(current, now_ms)
    return None, memory
