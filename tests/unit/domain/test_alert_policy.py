"""alert_policy.py: the message budget. One ALERT per upward change, red repeats every 30
minutes, one SOLD_OUT then silence until a restock, resolutions once and never undone within 15
minutes, `first_of_tier` for the SMS page."""

from dataclasses import dataclass, field, replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stockpulse.domain.alert_policy import AlertMemory, AlertPolicy, Decision, SkuFacts, on_change, on_tick
from stockpulse.domain.alerts import NoticeKind
from stockpulse.domain.tiers import Tier

MIN = 60_000
T0 = 1_700_000_000_000
POLICY = AlertPolicy()
NONE, YELLOW, ORANGE, RED = Tier.NONE, Tier.YELLOW, Tier.ORANGE, Tier.RED
SELLING = SkuFacts(sold_out=False, restocked=0, paused=False)


class Sku:
    """Drives the policy like the hot path (`change`) and the evaluator (`tick`) do."""

    def __init__(self, policy: AlertPolicy = POLICY) -> None:
        self.policy, self.tier, self.memory = policy, NONE, AlertMemory()
        self.facts = SELLING
        self.sent: list[Decision] = []

    def _keep(self, decision: Decision | None) -> NoticeKind | None:
        if decision is not None:
            self.sent.append(decision)
        return decision.kind if decision else None

    def change(self, tier: Tier, minute: float, facts: SkuFacts | None = None) -> NoticeKind | None:
        self.facts = facts or self.facts
        decision, self.memory = on_change(
            self.tier, tier, self.facts, T0 + round(minute * MIN), self.memory, self.policy
        )
        self.tier = tier
        return self._keep(decision)

    def tick(self, minute: float) -> NoticeKind | None:
        decision, self.memory = on_tick(
            self.tier, self.facts, T0 + round(minute * MIN), self.memory, self.policy
        )
        return self._keep(decision)


def sold_out(restocked: int = 0, paused: bool = False) -> SkuFacts:
    return SkuFacts(sold_out=True, restocked=restocked, paused=paused)


def test_defaults_are_the_documented_budget() -> None:
    assert (
        POLICY.cooldown_minutes,
        POLICY.reannounce_after_minutes,
        POLICY.resolve_after_minutes,
        POLICY.quiet_after_resolve_minutes,
        POLICY.closing_minutes,
        POLICY.follow_up_after_minutes,
    ) == (30, 10, 5, 15, 10, 1)


def test_upward_change_alerts_once_and_a_jump_announces_the_highest() -> None:
    sku = Sku()
    assert sku.change(RED, 0) == NoticeKind.ALERT
    assert sku.sent[-1] == Decision(NoticeKind.ALERT, RED, NONE, first_of_tier=True)
    assert sku.memory.announced == RED and sku.memory.last_red_ms == T0
    assert sku.memory.last_yellow_ms is None  # the skipped tiers are not announced


def test_each_higher_tier_is_announced_and_a_return_under_it_is_silent() -> None:
    sku = Sku()
    assert [sku.change(t, m) for t, m in ((YELLOW, 0), (ORANGE, 1), (RED, 2))] == [NoticeKind.ALERT] * 3
    assert sku.change(ORANGE, 3) is None
    assert sku.change(RED, 4) is None  # told red, never resolved: nothing new to say


def test_only_red_is_repeated_every_cooldown() -> None:
    sku = Sku()
    sku.change(ORANGE, 0)
    assert [sku.tick(m) for m in range(1, 90)] == [None] * 89  # "slow the pitch" is not repeated
    sku.change(RED, 90)
    assert [sku.tick(m) for m in range(91, 120)] == [None] * 29
    assert sku.tick(120) == NoticeKind.REPEAT
    assert sku.tick(121) is None
    assert sku.tick(150) == NoticeKind.REPEAT


def test_no_repeat_in_the_shows_closing_minutes() -> None:
    """ "Still red: call the supply chain for 7" four minutes before the end asks for a call whose
    goods cannot arrive in time (rehearsal multi-platform, seed 9): not repeated then."""
    sku = Sku()
    sku.facts = SkuFacts(sold_out=False, restocked=0, paused=False, show_ends_ms=T0 + 90 * MIN)
    sku.change(RED, 40)
    assert sku.tick(70) == NoticeKind.REPEAT  # 20 minutes before the end
    assert [sku.tick(m) for m in range(71, 91)] == [None] * 20  # due at 100: after the end anyway
    early = Sku()
    early.facts = SkuFacts(sold_out=False, restocked=0, paused=False, show_ends_ms=T0 + 90 * MIN)
    early.change(RED, 50)
    assert [early.tick(m) for m in range(51, 91)] == [None] * 40  # due at 80, within the last 10


def test_no_repeat_while_paused() -> None:
    sku = Sku()
    sku.change(RED, 0, SkuFacts(sold_out=False, restocked=0, paused=True))
    assert [sku.tick(m) for m in range(1, 120)] == [None] * 119


def test_a_red_is_repeated_only_while_the_sale_goes_on() -> None:
    """ "Still red: stop selling" to a group whose SKU has sold nothing for ten minutes asks to stop
    a sale that is not happening: not repeated then, and repeated again once it sells."""
    sku = Sku()
    sku.change(RED, 0)
    sku.facts = SkuFacts(sold_out=False, restocked=0, paused=False, selling=False)
    assert [sku.tick(m) for m in range(1, 90)] == [None] * 89
    sku.facts = SELLING
    assert sku.tick(90) == NoticeKind.REPEAT


def test_sold_out_is_one_message_then_silence_until_a_restock() -> None:
    sku = Sku()
    sku.change(ORANGE, 0)
    assert sku.change(RED, 5, sold_out()) == NoticeKind.SOLD_OUT
    assert sku.sent[-1] == Decision(NoticeKind.SOLD_OUT, RED, ORANGE, first_of_tier=True)
    # Expired holds come back and sell again: the tier flaps, nobody hears about it.
    for minute in range(6, 60, 3):
        assert sku.change(ORANGE, minute, SELLING) is None
        assert sku.tick(minute + 1) is None
        assert sku.change(RED, minute + 2, sold_out()) is None
    # A restock reopens it: the drop is resolved once, the next sell-out is told again.
    assert sku.change(NONE, 61, SkuFacts(sold_out=False, restocked=50, paused=False)) is None
    assert [sku.tick(m) for m in range(62, 66)] == [None] * 4
    assert sku.tick(66) == NoticeKind.RESOLVED
    assert sku.change(RED, 90, sold_out(restocked=50)) == NoticeKind.SOLD_OUT
    assert sku.sent[-1].first_of_tier is False  # red was told before: no second page


def test_an_auto_pause_under_a_red_already_said_is_told() -> None:
    """The stock risk's red went out; then the contract's red arrives and auto-pause stops the
    SKU. No tier moves, but selling stopped: people hear it, even within the quiet window of a
    red just resolved, and a pause at the sell-out is the sold-out message alone."""
    pausing = SkuFacts(sold_out=False, restocked=0, paused=False, paused_now=True)
    sku = Sku()
    assert sku.change(RED, 0) == NoticeKind.ALERT
    assert sku.change(RED, 5, pausing) == NoticeKind.ALERT
    assert sku.sent[-1] == Decision(NoticeKind.ALERT, RED, RED)  # the first red paged already
    stepped = Sku()
    stepped.change(RED, 0)
    stepped.change(ORANGE, 1)
    assert stepped.tick(7) == NoticeKind.RESOLVED
    assert stepped.change(RED, 8, pausing) == NoticeKind.ALERT  # 1 minute after the resolution
    held = Sku()
    held.change(RED, 0)
    held.change(ORANGE, 1)
    held.tick(7)  # resolved to orange
    assert held.change(RED, 8) is None  # the stock risk's red again, held back by the quiet window
    assert held.change(RED, 9, pausing) == NoticeKind.ALERT
    assert held.sent[-1].previous is ORANGE  # from what people last heard: a tier change they read
    at_sell_out = Sku()
    at_sell_out.change(RED, 0)
    assert at_sell_out.change(RED, 5, replace(sold_out(), paused_now=True)) == NoticeKind.SOLD_OUT
    assert len(at_sell_out.sent) == 2


def test_a_sold_out_sku_paused_then_resumed_is_reopened() -> None:
    sku = Sku()
    assert sku.change(RED, 0, sold_out(paused=True)) == NoticeKind.SOLD_OUT
    sku.change(RED, 1, SkuFacts(sold_out=False, restocked=0, paused=False))  # resumed: holds came back
    assert sku.memory.sold_out is False


def test_sold_out_is_caught_on_a_tick_if_the_hot_path_missed_it() -> None:
    sku = Sku()
    sku.tier, sku.facts = RED, sold_out()
    assert sku.tick(1) == NoticeKind.SOLD_OUT
    assert sku.tick(2) is None


def test_drop_is_silent_then_resolved_once() -> None:
    sku = Sku()
    sku.change(RED, 0)
    assert sku.change(YELLOW, 2) is None
    assert sku.memory.lower_since_ms == T0 + 2 * MIN
    assert [sku.tick(m) for m in range(3, 7)] == [None] * 4
    assert sku.tick(7) == NoticeKind.RESOLVED
    assert sku.sent[-1] == Decision(NoticeKind.RESOLVED, YELLOW, RED)
    assert sku.memory.announced == YELLOW and sku.memory.resolved_ms(RED) == T0 + 7 * MIN
    assert [sku.tick(m) for m in range(8, 60)] == [None] * 52  # once; yellow is never repeated


def test_a_resolution_once_the_show_is_over_reaches_the_big_screen_only() -> None:
    sku = Sku()
    sku.facts = SkuFacts(sold_out=False, restocked=0, paused=True, show_ends_ms=T0 + 90 * MIN)
    sku.change(RED, 80)
    sku.change(ORANGE, 85)
    assert sku.tick(89) is None
    assert sku.tick(90) == NoticeKind.RESOLVED
    assert sku.sent[-1] == Decision(NoticeKind.RESOLVED, ORANGE, RED, feed_only=True)


def test_a_resolved_tier_is_not_announced_again_within_the_quiet_window() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(NONE, 1)
    assert sku.tick(6) == NoticeKind.RESOLVED
    assert sku.change(ORANGE, 8) is None  # 2 minutes after "all clear"
    assert [sku.tick(m) for m in range(9, 21)] == [None] * 12
    assert sku.tick(21) == NoticeKind.ALERT  # still standing after 15 minutes: told, once
    assert sku.sent[-1].tier == ORANGE and sku.sent[-1].first_of_tier is True
    assert sku.tick(22) is None


def test_a_silenced_tier_that_went_away_is_never_told() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(NONE, 1)
    sku.tick(6)
    sku.change(RED, 8)
    sku.change(NONE, 9)
    assert [sku.tick(m) for m in range(10, 60)] == [None] * 50


def test_missed_drop_starts_the_clock_on_tick() -> None:
    memory = AlertMemory(announced=RED, last_red_ms=T0, told="r")
    decision, memory = on_tick(YELLOW, SELLING, T0 + MIN, memory, POLICY)
    assert decision is None and memory.lower_since_ms == T0 + MIN


def test_first_of_tier_marks_only_the_first_announcement_of_each_tier() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(NONE, 1)
    sku.tick(6)
    sku.change(RED, 40)
    assert [d.first_of_tier for d in sku.sent if d.kind is NoticeKind.ALERT] == [True, False]


def test_a_red_whose_stock_lasts_the_show_does_not_page_so_the_next_urgent_one_does() -> None:
    """Consumption past 120% of the plan with stock to spare says "no need to stop selling": it
    goes to IM and e-mail, is not repeated, and is not the red that pages the on-call phone. The
    SKU's next red that asks to act, or its sell-out, is."""
    lasts = SkuFacts(sold_out=False, restocked=0, paused=False, stock_lasts=True)
    sku = Sku()
    assert sku.change(RED, 0, lasts) == NoticeKind.ALERT
    assert sku.sent[-1] == Decision(NoticeKind.ALERT, RED, NONE, first_of_tier=False)
    assert [sku.tick(m) for m in range(1, 90)] == [None] * 89  # nothing urgent to remind of
    assert sku.change(RED, 90, sold_out()) == NoticeKind.SOLD_OUT
    assert sku.sent[-1].first_of_tier  # the sell-out pages
    again = Sku()
    again.change(RED, 0, lasts)
    again.change(NONE, 1, SELLING)
    assert again.tick(6) == NoticeKind.RESOLVED
    assert again.change(RED, 30) == NoticeKind.ALERT and again.sent[-1].first_of_tier  # now it asks
    assert again.change(NONE, 31) is None and again.tick(36) == NoticeKind.RESOLVED
    assert again.change(RED, 60) == NoticeKind.ALERT and not again.sent[-1].first_of_tier  # paged once


def test_an_alert_that_asks_nothing_as_the_show_closes_reaches_the_feed_only() -> None:
    """A show ending at minute 120. At minute 115 the contract's orange comes to a SKU whose stock
    lasts the show ("no need to slow the pitch"): the big screen's feed shows it, nobody is
    messaged (nothing to do before the show ends; the review reports it), and so does the red
    after it that says "no need to stop selling". Its resolution goes where it went. At minute
    105 the same orange still reaches people; an orange that asks to act, and a red that does
    (it sells out), reach people in the closing minutes too."""
    ends = T0 + 120 * MIN
    lasts = SkuFacts(sold_out=False, restocked=0, paused=False, stock_lasts=True, show_ends_ms=ends)
    acting = replace(lasts, stock_lasts=False)
    calm = Sku()
    assert calm.change(ORANGE, 115, lasts) == NoticeKind.ALERT and calm.sent[-1].feed_only
    assert calm.memory.reached_feed_only(ORANGE)
    assert calm.change(RED, 117) == NoticeKind.ALERT and calm.sent[-1].feed_only
    assert not calm.sent[-1].first_of_tier  # and it pages nobody
    assert calm.change(ORANGE, 117.5) is None and calm.tick(118) is None
    assert calm.tick(122.5) == NoticeKind.RESOLVED and calm.sent[-1].feed_only  # where the red went
    early = Sku()
    assert early.change(ORANGE, 105, lasts) == NoticeKind.ALERT and not early.sent[-1].feed_only
    urgent = Sku()
    assert urgent.change(ORANGE, 115, acting) == NoticeKind.ALERT and not urgent.sent[-1].feed_only
    assert urgent.change(RED, 116) == NoticeKind.ALERT and not urgent.sent[-1].feed_only
    told = Sku()  # people had the orange; the calm red as the show closes is for the feed
    told.change(ORANGE, 100, acting)
    assert told.change(RED, 115, lasts) == NoticeKind.ALERT and told.sent[-1].feed_only
    assert told.change(RED, 116, acting) is None  # one message per upward change
    assert told.change(RED, 118, sold_out()) == NoticeKind.SOLD_OUT
    assert not told.sent[-1].feed_only and not told.memory.reached_feed_only(RED)


def test_a_tier_people_were_told_asks_nothing_is_announced_again_once_it_asks_to_act() -> None:
    """A red that says "no need to stop selling" at minute 60 of a 120-minute show does not page.
    When a later minute's evidence says its stock no longer lasts, people hear red again, once, and
    this time it pages (the SKU's first red that asks to act); not within 10 minutes of the calm
    word (two opposite words minutes apart read as noise), not while paused or not selling, nor
    while only hysteresis holds the tier. A calm orange in the closing minutes reached the feed
    alone: people hear it once it has asked to act for two evaluations in a row and no red is near
    (a red that follows says it alone). A step down to an orange that asks nothing is followed up
    the same way."""
    ends = T0 + 120 * MIN
    lasts = SkuFacts(sold_out=False, restocked=0, paused=False, stock_lasts=True, show_ends_ms=ends)
    acting = replace(lasts, stock_lasts=False)
    red = Sku()
    assert red.change(RED, 60, lasts) == NoticeKind.ALERT and not red.sent[-1].first_of_tier
    red.facts = acting
    assert [red.tick(m) for m in range(61, 70)] == [None] * 9  # within 10 minutes of the calm red
    for held in ({"paused": True}, {"selling": False}, {"confirmed": ORANGE}):
        red.facts = replace(acting, **held)
        assert red.tick(70) is None
    red.facts = acting
    assert red.tick(70) == NoticeKind.ALERT
    assert (red.sent[-1].tier, red.sent[-1].previous, red.sent[-1].first_of_tier) == (RED, RED, True)
    assert not red.sent[-1].feed_only
    assert [red.tick(m) for m in range(71, 100)] == [None] * 29  # then repeats on the cooldown
    assert red.tick(100) == NoticeKind.REPEAT
    still = Sku()  # a calm red whose stock goes on lasting: nothing more
    still.change(RED, 60, lasts)
    assert [still.tick(m) for m in range(61, 110)] == [None] * 49
    closing = Sku()
    assert closing.change(ORANGE, 111, lasts) == NoticeKind.ALERT and closing.sent[-1].feed_only
    closing.facts = acting
    assert closing.tick(112) is None  # an orange asks for two evaluations in a row, as the risk's
    closing.facts = lasts
    assert closing.tick(113) is None
    closing.facts = replace(acting, red_near=True)
    assert closing.tick(114) is None and closing.tick(115) is None  # the red says it alone
    closing.facts = acting
    assert closing.tick(116) == NoticeKind.ALERT and not closing.sent[-1].feed_only
    assert closing.sent[-1].tier == ORANGE and not closing.memory.reached_feed_only(ORANGE)
    assert closing.tick(117) is None  # once
    closing.facts = lasts
    assert closing.tick(118) is None
    closing.facts = acting
    assert closing.tick(119) is None and closing.tick(120) is None  # no flapping back and forth
    stepped = Sku()
    stepped.change(RED, 20, acting)
    stepped.change(ORANGE, 30)
    stepped.facts = lasts
    assert stepped.tick(35) == NoticeKind.RESOLVED  # red -> orange, "no need to slow the pitch"
    stepped.facts = acting
    assert stepped.tick(44) is None
    assert stepped.tick(45) == NoticeKind.ALERT and stepped.sent[-1].tier == ORANGE
    told = Sku()  # an orange that asked to act is not announced again
    told.change(ORANGE, 20, acting)
    assert [told.tick(m) for m in range(21, 60)] == [None] * 39


def test_a_second_resolution_keeps_the_first_ones_quiet_window() -> None:
    """Red resolved to yellow, then yellow to none five minutes later: red and orange stay quiet
    for 15 minutes from their own resolution, not from the later one, nor not at all."""
    sku = Sku()
    sku.change(RED, 0)
    sku.change(YELLOW, 1)
    assert sku.tick(6) == NoticeKind.RESOLVED  # red -> yellow
    sku.change(NONE, 6)
    assert sku.tick(11) == NoticeKind.RESOLVED  # yellow -> none
    assert sku.change(ORANGE, 12) is None  # 6 minutes after orange was taken away
    assert [sku.tick(m) for m in range(13, 21)] == [None] * 8
    assert sku.tick(21) == NoticeKind.ALERT and sku.sent[-1].tier == ORANGE  # 15 minutes from 6


def test_memory_written_with_one_resolution_instant_reads_as_before() -> None:
    legacy = {"announced": "none", "resolved_ms": T0, "resolved_tier": "orange"}
    memory = AlertMemory.from_item(legacy)
    assert [memory.resolved_ms(t) for t in (YELLOW, ORANGE, RED)] == [T0, T0, None]


def test_memory_round_trips_through_a_json_and_dynamodb_item() -> None:
    memory = AlertMemory(
        announced=ORANGE, last_yellow_ms=T0, last_orange_ms=T0 + 5, lower_since_ms=T0 + 9,
        resolved_yellow_ms=T0 + 4, resolved_orange_ms=T0 + 3, resolved_red_ms=T0 + 3, told="or",
        feed_only="r", calm_ms=T0 + 5, asking_ms=T0 + 6, sold_out_restocked=12, sold_out_paused=True,
    )  # fmt: skip
    item = memory.to_item()
    assert AlertMemory.from_item(item) == memory
    assert (
        AlertMemory.from_item({k: Decimal(v) if isinstance(v, int) and not isinstance(v, bool) else v
                               for k, v in item.items()}) == memory
    )  # fmt: skip
    assert AlertMemory.from_item({}) == AlertMemory()
    assert AlertMemory().to_item() == {"announced": "none"}


# --- property: any sequence of tier changes, sell-outs, restocks and ticks keeps the budget


@dataclass
class Log:
    """What people received, judged independently of the memory."""

    messages: list[tuple[int, Decision]] = field(default_factory=list)
    calm: list[bool] = field(default_factory=list)  # per message: it said the tier asks nothing
    reds: list[tuple[Decision, bool]] = field(default_factory=list)  # red alerts and sell-outs, stock_lasts


steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=7 * MIN),  # time advance
        st.one_of(st.none(), st.sampled_from(list(Tier))),  # None = tick, else a tier change
        st.sampled_from(("selling", "sold_out", "restock", "stock_lasts", "auto_pause")),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps)
def test_the_budget_holds_for_any_history(steps: list[tuple[int, Tier | None, str]]) -> None:
    memory, tier, now, restocked = AlertMemory(), NONE, T0, 0
    log = Log()
    latched_at_restock: int | None = None
    for advance, new, what in steps:
        now += advance
        if what == "restock":
            restocked += 10
        facts = SkuFacts(
            sold_out=what == "sold_out", restocked=restocked, paused=False, stock_lasts=what == "stock_lasts",
            paused_now=what == "auto_pause",
        )  # fmt: skip
        if facts.sold_out or facts.paused_now:
            new = RED  # nothing available, or the contract's red that auto-pause follows
        if new is not None:
            decision, memory = on_change(tier, new, facts, now, memory, POLICY)
            if decision is not None:
                assert decision.kind in (NoticeKind.ALERT, NoticeKind.SOLD_OUT)
                # Only upward moves speak, and a pause (selling stopped).
                assert new > tier or decision.kind is NoticeKind.SOLD_OUT or facts.paused_now
            elif facts.paused_now:  # a pause is always told, but in the sold-out silence
                assert latched_at_restock == restocked
            tier = new
        else:
            decision, memory = on_tick(tier, facts, now, memory, POLICY)
        if decision is None:
            continue
        kind = decision.kind
        # Sold out is one message, then nothing but silence until a restock.
        if latched_at_restock is not None and restocked == latched_at_restock:
            raise AssertionError(f"{kind} while sold out and not restocked")
        latched_at_restock = restocked if kind is NoticeKind.SOLD_OUT else None
        if facts.stock_lasts and decision.tier is RED:  # a red that asks nothing urgent
            assert kind is not NoticeKind.REPEAT and not (kind is NoticeKind.ALERT and decision.first_of_tier)
        if kind is NoticeKind.REPEAT:
            assert decision.tier is RED
            previous = [at for at, d in log.messages if d.tier >= RED and d.kind is not NoticeKind.RESOLVED]
            assert not previous or now - max(previous) >= POLICY.cooldown_ms
        if kind is NoticeKind.ALERT and decision.previous == decision.tier and not facts.paused_now:
            # The same tier again: only from the evaluator, only once it asks to act, and only
            # right after a message that said it asks nothing.
            assert new is None and not facts.stock_lasts and log.calm and log.calm[-1]
            assert log.messages[-1][1].tier == tier and log.messages[-1][1].kind is not NoticeKind.REPEAT
        if kind is NoticeKind.ALERT and not facts.paused_now:
            # Never the same tier again within 15 minutes of its resolution.
            for at, d in log.messages:
                if d.kind is NoticeKind.RESOLVED and d.tier < decision.tier <= d.previous:
                    assert now - at >= POLICY.quiet_after_resolve_ms
        # Every message claims the tier in force (a resolution: the tier now).
        assert decision.tier == tier
        log.messages.append((now, decision))
        said_calm = kind in (NoticeKind.ALERT, NoticeKind.RESOLVED) and decision.tier >= ORANGE
        log.calm.append(said_calm and facts.stock_lasts)
        if decision.tier is RED and kind in (NoticeKind.ALERT, NoticeKind.SOLD_OUT):
            log.reds.append((decision, facts.stock_lasts and kind is NoticeKind.ALERT))
        assert AlertMemory.from_item(memory.to_item()) == memory
    firsts = [d.tier for _, d in log.messages if d.first_of_tier]
    assert len(firsts) == len(set(firsts))  # each tier pages at most once
    # The first red that asks to act (an alert whose stock does not last, or the sell-out) pages.
    asking = [d for d, lasts in log.reds if not lasts]
    assert not asking or asking[0].first_of_tier


def test_a_tier_held_up_only_by_hysteresis_is_neither_announced_late_nor_repeated() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(NONE, 1)
    assert sku.tick(6) == NoticeKind.RESOLVED
    sku.change(RED, 8)  # silent: 2 minutes after "all clear"
    held = SkuFacts(sold_out=False, restocked=0, paused=False, confirmed=ORANGE)
    for minute in range(21, 80):  # the projection that raised it is gone; its hold keeps red
        decision, sku.memory = on_tick(RED, held, T0 + minute * MIN, sku.memory, POLICY)
        assert decision is None
    decision, sku.memory = on_tick(RED, SELLING, T0 + 80 * MIN, sku.memory, POLICY)
    assert decision is not None and decision.kind is NoticeKind.ALERT  # confirmed again: told once
    for minute in range(81, 200):
        decision, sku.memory = on_tick(RED, held, T0 + minute * MIN, sku.memory, POLICY)
        assert decision is None  # and never repeated while only held
