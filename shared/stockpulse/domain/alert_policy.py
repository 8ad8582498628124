"""The message budget: who is told what, and when. Pure; every instant is a parameter.

The tier itself is never delayed (the contract's consumption and available-0 rules are exact);
this module only decides which changes and minutes produce a message (docs/product.md,
"Message budget"):
- an upward change is one ALERT of the new tier (a jump over several tiers: one, the highest),
  unless people were already told this tier or a higher one and it was not resolved since, or
  it comes back within `quiet_after_resolve` of its resolution (then the evaluator announces
  it once that window has passed, if it still stands on this minute's evidence);
- sold out (available 0 with units taken) is one SOLD_OUT message; then silence, resolutions
  included, until a restock, or a resume of a SKU that was paused when it sold out;
- a tier that stays below what people were told for `resolve_after` is RESOLVED, once;
- while red stands on this minute's evidence, a REPEAT every `cooldown` (IM only), never while
  sold out or paused, nor while its stock lasts the show, nor once nothing has sold for
  RECENT_MINUTES ("stop selling, call the supplier" left undone is worth a reminder while the
  sale goes on; "watch", "slow the pitch" and "no need to stop selling" are not);
- `first_of_tier`: the SKU's first announcement of that tier in the show (SMS pages on the
  first red of a core SKU only: the template's filter policy reads it). A red whose stock lasts
  the show (`SkuFacts.stock_lasts`: "no need to stop selling") asks nothing urgent: it is not
  that first red, so the SKU's next red or its sell-out still pages;
- `feed_only`: an orange or red that asks nothing (its stock lasts the show) in the show's last
  `closing_minutes` reaches the big screen's feed only: nobody can act on it before the show
  ends, and the post-show review reports it. Its resolution and repeats go where it went;
- an orange or red people were told asks nothing (an alert or a step down to it whose stock
  lasted the show) that asks to act on a later minute's evidence is announced again, once, as an
  ALERT of the same tier: "no need to slow the pitch" must not be the last word when the pace
  picks up. Not sooner than `reannounce_after` after the calm message (two opposite words within
  minutes read as noise), unless that message reached the feed alone; an orange only once it has
  asked for two evaluations in a row and no red is near (`SkuFacts.red_near`: the red says it
  alone); such a red is the SKU's first red that asks to act, so it pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from stockpulse.domain.alerts import NoticeKind
from stockpulse.domain.events import MINUTE_MS
from stockpulse.domain.tiers import Tier

_ANNOUNCED = (Tier.YELLOW, Tier.ORANGE, Tier.RED)
_LETTER = {Tier.YELLOW: "y", Tier.ORANGE: "o", Tier.RED: "r"}


@dataclass(frozen=True)
class AlertPolicy:
    cooldown_minutes: float = 30  # IM repeats of a standing red
    reannounce_after_minutes: float = 10  # an upward change this soon after a message at that level is silent
    resolve_after_minutes: float = 5  # the tier must stay lower this long before "resolved"
    quiet_after_resolve_minutes: float = 15  # a resolved tier is not announced again this soon
    closing_minutes: float = 10  # an alert that asks nothing this close to the show's end: feed only
    follow_up_after_minutes: float = 1  # a calm orange asking to act a minute later too: said again

    @property
    def cooldown_ms(self) -> int:
        return round(self.cooldown_minutes * MINUTE_MS)

    @property
    def reannounce_after_ms(self) -> int:
        return round(self.reannounce_after_minutes * MINUTE_MS)

    @property
    def follow_up_after_ms(self) -> int:
        return round(self.follow_up_after_minutes * MINUTE_MS)

    @property
    def resolve_after_ms(self) -> int:
        return round(self.resolve_after_minutes * MINUTE_MS)

    @property
    def quiet_after_resolve_ms(self) -> int:
        return round(self.quiet_after_resolve_minutes * MINUTE_MS)

    def closing(self, show_ends_ms: int | None, now_ms: int) -> bool:
        """The show ends within `closing_minutes` of `now_ms`."""
        return show_ends_ms is not None and show_ends_ms - now_ms <= round(self.closing_minutes * MINUTE_MS)


@dataclass(frozen=True)
class SkuFacts:
    """What the policy needs of the ledger at the instant it decides."""

    sold_out: bool  # available 0 with units taken
    restocked: int  # the stock item's cumulative restocked units
    paused: bool
    # The tier this minute's evidence supports by itself (the contract's tier, or the stock-risk
    # signal before its hold time): a tier only held up by hysteresis is neither announced late
    # nor repeated. The hot path does not know it: no limit.
    confirmed: Tier = Tier.RED
    # The orange or red announced, standing or stepped down to now would ask nothing urgent: its
    # stock lasts the show at this pace (messages.stock_lasts). Such a red is announced, but does
    # not page and is not repeated; in the show's last minutes (`show_ends_ms`) an orange or red
    # like it reaches the feed only; one that stops lasting is announced again (`on_tick`).
    stock_lasts: bool = False
    show_ends_ms: int | None = None
    # The stock risk's projection sells out within the red's hold horizon: a red is likely to
    # follow and say it alone, so a calm orange is not announced again the minute before it.
    red_near: bool = False
    # Units were taken in the evaluator's recent minutes (stock_risk.RECENT_MINUTES): "stop
    # selling" is a reminder only for a sale that goes on. The hot path acts on a sale: True.
    selling: bool = True
    # Auto-pause stopped the SKU at this change (the contract's red arrived): however the tier
    # stood, people hear that selling stopped.
    paused_now: bool = False


@dataclass(frozen=True)
class Decision:
    kind: NoticeKind
    tier: Tier  # the tier the message announces (for RESOLVED: the tier now)
    previous: Tier  # for RESOLVED: the tier that was resolved
    first_of_tier: bool = False
    feed_only: bool = False  # for the big screen's feed alone (no channel's subscription takes it)


@dataclass(frozen=True)
class AlertMemory:
    """What a SKU remembers about its messages (instants in epoch ms).

    `announced`: the tier people were last told; `last_*_ms`: the last message claiming that
    tier; `lower_since_ms`: since when the tier has been below `announced`; `resolved_*_ms`: the
    last resolution that took that tier away (a resolution from red to none takes away all
    three, one from yellow to none five minutes later only yellow: red's quiet window still
    counts from the first); `told`: the tiers whose first announcement went out (letters y/o/r; a
    red whose stock lasts the show is not one); `feed_only`: the tiers whose latest announcement
    reached the feed only (same letters); `calm_ms`: when people were told the tier `announced`
    asks nothing (an orange or red whose stock lasted the show), None once any other message
    about it went out; `asking_ms`: since when that calm tier has asked to act (`on_tick`);
    `sold_out_restocked`:
    set while a SOLD_OUT stands (the restocked counter then), `sold_out_paused` whether the
    SKU was paused then.
    """

    announced: Tier = Tier.NONE
    last_yellow_ms: int | None = None
    last_orange_ms: int | None = None
    last_red_ms: int | None = None
    lower_since_ms: int | None = None
    resolved_yellow_ms: int | None = None
    resolved_orange_ms: int | None = None
    resolved_red_ms: int | None = None
    told: str = ""
    feed_only: str = ""
    calm_ms: int | None = None
    asking_ms: int | None = None
    sold_out_restocked: int | None = None
    sold_out_paused: bool = False

    def last_ms(self, tier: Tier) -> int | None:
        return _per_tier(tier, self.last_yellow_ms, self.last_orange_ms, self.last_red_ms)

    def resolved_ms(self, tier: Tier) -> int | None:
        return _per_tier(tier, self.resolved_yellow_ms, self.resolved_orange_ms, self.resolved_red_ms)

    def resolved(self, was: Tier, now_ms: int) -> AlertMemory:
        """Memory after a resolution from `was`: that tier and those under it taken away now."""
        return replace(
            self,
            resolved_yellow_ms=now_ms if was >= Tier.YELLOW else self.resolved_yellow_ms,
            resolved_orange_ms=now_ms if was >= Tier.ORANGE else self.resolved_orange_ms,
            resolved_red_ms=now_ms if was >= Tier.RED else self.resolved_red_ms,
        )

    def last_at_or_above(self, tier: Tier) -> int | None:
        """The last message claiming `tier` or a higher one."""
        times = [t for k in _ANNOUNCED if k >= tier and (t := self.last_ms(k)) is not None]
        return max(times, default=None)

    @property
    def sold_out(self) -> bool:
        return self.sold_out_restocked is not None

    def first(self, tier: Tier) -> bool:
        return tier in _LETTER and _LETTER[tier] not in self.told

    def reached_feed_only(self, tier: Tier) -> bool:
        """The latest announcement of `tier` reached the big screen's feed alone."""
        return tier in _LETTER and _LETTER[tier] in self.feed_only

    def said(
        self, tier: Tier, now_ms: int, *, first: bool = True, feed_only: bool = False, calm: bool = False
    ) -> AlertMemory:
        """Memory after a message claiming `tier` at `now_ms`; `first`: it counts as the tier's
        first announcement (a red that pages), so none after it is; `feed_only`: it reached the
        feed alone; `calm`: it asked nothing (its stock lasted the show)."""
        memory = replace(
            self, announced=tier, lower_since_ms=None, calm_ms=now_ms if calm else None, asking_ms=None
        )
        if tier not in _LETTER:
            return memory
        letter = _LETTER[tier]
        if first:
            memory = replace(memory, told="".join(sorted(set(self.told) | {letter})))
        letters = set(self.feed_only) | {letter} if feed_only else set(self.feed_only) - {letter}
        memory = replace(memory, feed_only="".join(sorted(letters)))
        if tier is Tier.YELLOW:
            return replace(memory, last_yellow_ms=now_ms)
        if tier is Tier.ORANGE:
            return replace(memory, last_orange_ms=now_ms)
        return replace(memory, last_red_ms=now_ms)

    def to_item(self) -> dict[str, int | str | bool]:
        """JSON-able (and DynamoDB-able) dict; absent keys mean None / the default."""
        item: dict[str, int | str | bool] = {"announced": self.announced.value}
        for key in ("last_yellow_ms", "last_orange_ms", "last_red_ms", "lower_since_ms", "resolved_yellow_ms",
                    "resolved_orange_ms", "resolved_red_ms", "calm_ms", "asking_ms",
                    "sold_out_restocked"):  # fmt: skip
            value = getattr(self, key)
            if value is not None:
                item[key] = value
        if self.told:
            item["told"] = self.told
        if self.feed_only:
            item["feed_only"] = self.feed_only
        if self.sold_out_paused:
            item["sold_out_paused"] = True
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

        memory = cls(
            announced=Tier(str(item.get("announced", Tier.NONE.value))),
            last_yellow_ms=ms("last_yellow_ms"),
            last_orange_ms=ms("last_orange_ms"),
            last_red_ms=ms("last_red_ms"),
            lower_since_ms=ms("lower_since_ms"),
            resolved_yellow_ms=ms("resolved_yellow_ms"),
            resolved_orange_ms=ms("resolved_orange_ms"),
            resolved_red_ms=ms("resolved_red_ms"),
            told=str(item.get("told", "")),
            feed_only=str(item.get("feed_only", "")),
            calm_ms=ms("calm_ms"),
            asking_ms=ms("asking_ms"),
            sold_out_restocked=ms("sold_out_restocked"),
            sold_out_paused=bool(item.get("sold_out_paused", False)),
        )
        legacy = ms("resolved_ms")  # written before the per-tier instants: one resolution
        if legacy is not None and memory.resolved_ms(Tier.YELLOW) is None:
            memory = memory.resolved(Tier(str(item.get("resolved_tier", Tier.NONE.value))), legacy)
        return memory


def _per_tier(tier: Tier, yellow: int | None, orange: int | None, red: int | None) -> int | None:
    """The one of three per-tier instants that belongs to `tier` (None for NONE)."""
    return {Tier.YELLOW: yellow, Tier.ORANGE: orange, Tier.RED: red}.get(tier)


def _recent(at: int | None, now_ms: int, window_ms: int) -> bool:
    return at is not None and now_ms - at < window_ms


def _reopened(memory: AlertMemory, facts: SkuFacts) -> AlertMemory:
    """A standing SOLD_OUT ends with a restock, or with the resume of a SKU paused when it sold out."""
    if memory.sold_out_restocked is None:
        return memory
    restocked = facts.restocked > memory.sold_out_restocked
    resumed = memory.sold_out_paused and not facts.paused
    if restocked or resumed:
        return replace(memory, sold_out_restocked=None, sold_out_paused=False)
    return memory


def _sold_out(
    previous: Tier, facts: SkuFacts, now_ms: int, memory: AlertMemory
) -> tuple[Decision, AlertMemory]:
    decision = Decision(NoticeKind.SOLD_OUT, Tier.RED, previous, memory.first(Tier.RED))
    told = memory.said(Tier.RED, now_ms)
    return decision, replace(told, sold_out_restocked=facts.restocked, sold_out_paused=facts.paused)


def _alert(
    tier: Tier, previous: Tier, facts: SkuFacts, now_ms: int, memory: AlertMemory, policy: AlertPolicy
) -> tuple[Decision, AlertMemory]:
    """An upward change announced: the tier's first announcement unless it was made already,
    or it is a red that asks nothing urgent (its stock lasts the show); for the feed alone when
    it asks nothing as the show closes."""
    calm = facts.stock_lasts and tier >= Tier.ORANGE
    first = memory.first(tier) and not (tier is Tier.RED and calm)
    feed_only = calm and policy.closing(facts.show_ends_ms, now_ms)
    decision = Decision(NoticeKind.ALERT, tier, previous, first, feed_only)
    return decision, memory.said(tier, now_ms, first=first, feed_only=feed_only, calm=calm)


def _follow_up(
    current: Tier, facts: SkuFacts, now_ms: int, memory: AlertMemory, policy: AlertPolicy
) -> tuple[Decision | None, AlertMemory]:
    """People were told the standing `current` asks nothing: announce it again once this minute's
    evidence says it asks to act. A red at once; an orange once it has asked for two evaluations
    in a row and no red is near (as the stock risk raises one: the pitch that makes it ask is often
    the red's, which then says it alone). Not within `reannounce_after` of a calm message people
    had. `asking_ms` remembers when it began to ask."""
    calm_ms = memory.calm_ms
    if calm_ms is None or current is not memory.announced or current < Tier.ORANGE:
        return None, memory
    asks = not facts.stock_lasts and facts.confirmed >= current and facts.selling and not facts.paused
    if not asks:
        return None, replace(memory, asking_ms=None)
    since = now_ms if memory.asking_ms is None else memory.asking_ms
    memory = replace(memory, asking_ms=since)
    held = current is Tier.RED or (now_ms - since >= policy.follow_up_after_ms and not facts.red_near)
    soon = _recent(calm_ms, now_ms, policy.reannounce_after_ms) and not memory.reached_feed_only(current)
    if not held or soon:
        return None, memory
    return _alert(current, current, facts, now_ms, memory, policy)


def _quiet(tier: Tier, now_ms: int, memory: AlertMemory, policy: AlertPolicy) -> bool:
    """Announcing `tier` now would repeat a message people just had, or undo a fresh resolution."""
    if _recent(memory.resolved_ms(tier), now_ms, policy.quiet_after_resolve_ms):
        return True
    return _recent(memory.last_at_or_above(tier), now_ms, policy.reannounce_after_ms)


def raises(previous: Tier, current: Tier, memory: AlertMemory) -> bool:
    """An upward change past what people were told: `on_change` announces it unless it comes
    too soon (or the SKU is sold out)."""
    return current > previous and current > memory.announced and current >= Tier.YELLOW


def on_change(
    previous: Tier, current: Tier, facts: SkuFacts, now_ms: int, memory: AlertMemory, policy: AlertPolicy
) -> tuple[Decision | None, AlertMemory]:
    """The hot path, after every stock change: a message to send (or None) and the new memory."""
    memory = _reopened(memory, facts)
    if facts.sold_out and not memory.sold_out:
        return _sold_out(previous, facts, now_ms, memory)
    if memory.sold_out:
        return None, memory  # one sold-out message, then silence until a restock
    if facts.paused_now:
        # Selling stopped: said even under a red people had from the stock risk ("已暂停售卖"),
        # where no tier moves, and never held back for later; from the tier people last heard.
        return _alert(current, min(previous, memory.announced), facts, now_ms, memory, policy)
    if raises(previous, current, memory):
        if _quiet(current, now_ms, memory, policy):
            return None, memory  # the evaluator announces it later if it still stands
        return _alert(current, previous, facts, now_ms, memory, policy)
    if current < memory.announced:
        if memory.lower_since_ms is None:
            memory = replace(memory, lower_since_ms=now_ms)
    elif memory.lower_since_ms is not None:
        memory = replace(memory, lower_since_ms=None)
    return None, memory


def on_tick(
    current: Tier, facts: SkuFacts, now_ms: int, memory: AlertMemory, policy: AlertPolicy
) -> tuple[Decision | None, AlertMemory]:
    """The evaluator, every minute: a RESOLVED, REPEAT, held-back ALERT, an ALERT of a standing
    tier people were told asks nothing and that now asks to act, or a missed SOLD_OUT."""
    memory = _reopened(memory, facts)
    if facts.sold_out and not memory.sold_out:
        return _sold_out(current, facts, now_ms, memory)
    if memory.sold_out:
        return None, memory
    if current < memory.announced:
        since = memory.lower_since_ms
        if since is None:  # a missed downward change: start the clock now
            return None, replace(memory, lower_since_ms=now_ms)
        if now_ms - since < policy.resolve_after_ms:
            return None, memory
        was = memory.announced
        # A resolution goes where the alert went; once the show is over, to the big screen alone:
        # "resume selling when ready" as the show ends asks nobody to do anything.
        over = facts.show_ends_ms is not None and now_ms >= facts.show_ends_ms
        decision = Decision(
            NoticeKind.RESOLVED, current, was, feed_only=memory.reached_feed_only(was) or over
        )
        calm_ms = now_ms if facts.stock_lasts and current >= Tier.ORANGE else None  # "no need to ..."
        told = replace(memory, announced=current, lower_since_ms=None, calm_ms=calm_ms, asking_ms=None)
        told = told.resolved(was, now_ms)
        return decision, told
    if memory.lower_since_ms is not None:
        memory = replace(memory, lower_since_ms=None)
    if current > memory.announced and current >= Tier.YELLOW:
        if _quiet(current, now_ms, memory, policy) or current > facts.confirmed:
            return None, memory
        return _alert(current, memory.announced, facts, now_ms, memory, policy)
    follow_up, memory = _follow_up(current, facts, now_ms, memory, policy)
    if follow_up is not None:
        return follow_up, memory
    if (
        current is Tier.RED
        and facts.confirmed is Tier.RED
        and not facts.paused
        and not facts.stock_lasts
        and facts.selling
        and not _recent(memory.last_at_or_above(current), now_ms, policy.cooldown_ms)
        and not policy.closing(facts.show_ends_ms, now_ms)  # no supplier call lands before the end
    ):
        feed_only = memory.reached_feed_only(current)  # a repeat too
        repeat = Decision(NoticeKind.REPEAT, current, current, feed_only=feed_only)
        return repeat, memory.said(current, now_ms, first=False, feed_only=feed_only)
    return None, memory
