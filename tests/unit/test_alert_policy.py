"""alert_policy.py: one ALERT per upward change, cooldown repeats, hysteresis, resolution."""

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stockpulse.domain.alert_policy import AlertMemory, AlertPolicy, on_tick, on_tier_change
from stockpulse.domain.alerts import NoticeKind
from stockpulse.domain.tiers import Tier

MIN = 60_000
T0 = 1_700_000_000_000
POLICY = AlertPolicy()
NONE, YELLOW, ORANGE, RED = Tier.NONE, Tier.YELLOW, Tier.ORANGE, Tier.RED


class Sku:
    """Drives the policy like the hot path and the evaluator do."""

    def __init__(self, policy: AlertPolicy = POLICY) -> None:
        self.policy, self.tier, self.memory = policy, NONE, AlertMemory()

    def change(self, tier: Tier, minute: float) -> NoticeKind | None:
        kind, self.memory = on_tier_change(
            self.tier, tier, T0 + round(minute * MIN), self.memory, self.policy
        )
        self.tier = tier
        return kind

    def tick(self, minute: float) -> NoticeKind | None:
        kind, self.memory = on_tick(self.tier, T0 + round(minute * MIN), self.memory, self.policy)
        return kind


def test_defaults() -> None:
    assert (POLICY.cooldown_minutes, POLICY.reannounce_after_minutes, POLICY.resolve_after_minutes) == (
        10,
        10,
        5,
    )


def test_upward_change_alerts_once_and_jump_announces_the_highest() -> None:
    sku = Sku()
    assert sku.change(RED, 0) == NoticeKind.ALERT
    assert sku.memory.announced == RED and sku.memory.last_red_ms == T0
    assert sku.memory.last_yellow_ms is None  # the skipped tiers are not announced


def test_each_higher_tier_is_announced() -> None:
    sku = Sku()
    assert sku.change(YELLOW, 0) == NoticeKind.ALERT
    assert sku.change(ORANGE, 1) == NoticeKind.ALERT
    assert sku.change(RED, 2) == NoticeKind.ALERT


def test_repeat_after_cooldown_while_the_tier_stands() -> None:
    sku = Sku()
    sku.change(ORANGE, 0.5)
    assert [sku.tick(m) for m in range(1, 11)] == [None] * 10  # 9.5 min < cooldown
    assert sku.tick(11) == NoticeKind.REPEAT
    assert [sku.tick(m) for m in range(12, 21)] == [None] * 9
    assert sku.tick(21) == NoticeKind.REPEAT


def test_no_repeat_at_none() -> None:
    sku = Sku()
    assert all(sku.tick(m) is None for m in range(0, 60))


def test_higher_tier_inhibits_lower_repeats() -> None:
    sku = Sku()
    sku.change(YELLOW, 0)
    sku.change(RED, 3)
    assert sku.tick(11) is None  # yellow's cooldown is over, but red stands
    assert sku.tick(13) == NoticeKind.REPEAT
    assert sku.memory.last_red_ms == T0 + 13 * MIN
    assert sku.memory.last_yellow_ms == T0


def test_drop_is_silent_then_resolved_once_after_resolve_after() -> None:
    sku = Sku()
    sku.change(RED, 0)
    assert sku.change(YELLOW, 2) is None
    assert sku.memory.lower_since_ms == T0 + 2 * MIN
    assert [sku.tick(m) for m in range(3, 7)] == [None] * 4
    assert sku.tick(7) == NoticeKind.RESOLVED
    assert sku.memory.announced == YELLOW and sku.memory.lower_since_ms is None
    assert sku.tick(8) is None  # once
    assert sku.tick(17) == NoticeKind.REPEAT  # yellow stands: the resolution told it at minute 7


def test_a_further_drop_keeps_the_lower_since_clock() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(ORANGE, 2)
    sku.change(NONE, 4)
    assert sku.tick(6) is None
    assert sku.tick(7) == NoticeKind.RESOLVED
    assert sku.memory.announced == NONE


def test_resolution_needs_the_tier_to_stay_lower() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(ORANGE, 2)
    assert sku.change(RED, 4) is None  # hysteresis: red told 4 minutes ago
    assert sku.memory.lower_since_ms is None
    assert sku.tick(7) is None  # no resolution: red is back
    assert sku.tick(10) == NoticeKind.REPEAT


def test_reentry_within_hysteresis_is_silent_after_it_is_announced() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(NONE, 1)
    sku.tick(6)  # resolved
    assert sku.change(RED, 9.9) is None  # 9.9 min after the last red message
    sku.change(NONE, 10)
    assert sku.tick(15) is None  # nothing to resolve: the silent red was never told
    assert sku.change(RED, 20) == NoticeKind.ALERT  # 20 min later: announced


def test_silent_reentry_is_caught_up_by_a_repeat_after_cooldown() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(NONE, 1)
    assert sku.tick(6) == NoticeKind.RESOLVED
    assert sku.change(RED, 8) is None
    assert sku.tick(9) is None
    assert sku.tick(10) == NoticeKind.REPEAT  # people hear red again within one cooldown
    assert sku.memory.announced == RED


def test_reentry_of_a_lower_tier_under_a_recent_higher_one_is_silent() -> None:
    sku = Sku()
    sku.change(RED, 0)
    sku.change(NONE, 1)
    assert sku.change(YELLOW, 2) is None  # red was told 2 minutes ago
    assert sku.tick(6) == NoticeKind.RESOLVED  # lower than red since minute 1
    assert sku.memory.announced == YELLOW


def test_missed_drop_starts_the_clock_on_tick() -> None:
    memory = AlertMemory(announced=RED, last_red_ms=T0)
    kind, memory = on_tick(YELLOW, T0 + MIN, memory, POLICY)
    assert kind is None and memory.lower_since_ms == T0 + MIN


def test_memory_round_trips_through_a_json_and_dynamodb_item() -> None:
    memory = AlertMemory(announced=ORANGE, last_yellow_ms=T0, last_orange_ms=T0 + 5, lower_since_ms=T0 + 9)
    item = memory.to_item()
    assert item == {
        "announced": "orange",
        "last_yellow_ms": T0,
        "last_orange_ms": T0 + 5,
        "lower_since_ms": T0 + 9,
    }
    assert AlertMemory.from_item(item) == memory
    assert (
        AlertMemory.from_item({k: Decimal(v) if isinstance(v, int) else v for k, v in item.items()}) == memory
    )
    assert AlertMemory.from_item({}) == AlertMemory()
    assert AlertMemory().to_item() == {"announced": "none"}


# --- property: any sequence of tier changes and ticks


@dataclass
class Model:
    """An independent statement of the rules, from the message log only."""

    policy: AlertPolicy
    messages: list[tuple[int, Tier]] = field(default_factory=list)  # (at, tier claimed)
    told: Tier = NONE
    lower_since: int | None = None

    def last_at_or_above(self, tier: Tier) -> int | None:
        return max((at for at, t in self.messages if t >= tier and t != NONE), default=None)


steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=7 * MIN),  # time advance
        st.one_of(st.none(), st.sampled_from(list(Tier))),  # None = tick, else a tier change
    ),
    max_size=60,
)
policies = st.builds(
    AlertPolicy,
    cooldown_minutes=st.integers(1, 15),
    reannounce_after_minutes=st.integers(0, 15),
    resolve_after_minutes=st.integers(0, 10),
)


@settings(max_examples=400, deadline=None)
@given(steps=steps, policy=policies)
def test_message_hygiene_invariants(steps: list[tuple[int, Tier | None]], policy: AlertPolicy) -> None:
    model, memory, tier, now = Model(policy), AlertMemory(), NONE, T0
    for advance, new in steps:
        now += advance
        if new is not None:
            if new == tier:
                continue
            kind, memory = on_tier_change(tier, new, now, memory, policy)
            upward = new > tier
            tier = new
            if upward:
                last = model.last_at_or_above(tier)
                recent = last is not None and now - last < policy.reannounce_after_ms
                # Exactly one ALERT per upward change, unless it re-enters within hysteresis.
                assert kind == (None if recent else NoticeKind.ALERT)
            else:
                assert kind is None  # a drop never speaks immediately
        else:
            kind, memory = on_tick(tier, now, memory, policy)
            assert kind != NoticeKind.ALERT  # ticks never announce transitions
            if kind == NoticeKind.REPEAT:
                last = model.last_at_or_above(tier)
                assert tier >= YELLOW
                assert last is None or now - last >= policy.cooldown_ms
            if kind == NoticeKind.RESOLVED:
                assert tier < model.told  # resolves only what people were told
                assert model.lower_since is not None and now - model.lower_since >= policy.resolve_after_ms
        if kind is not None:
            # Every message claims the tier in force right now.
            model.messages.append((now, tier))
            model.told = tier
        # The model's "lower since" clock: reset whenever the tier is not below what was told.
        if tier >= model.told:
            model.lower_since = None
        elif model.lower_since is None:
            model.lower_since = now
        assert memory.announced == model.told
        assert AlertMemory.from_item(memory.to_item()) == memory

    # Liveness: with the tier standing, a minute tick tells people the truth within the windows.
    horizon = max(policy.cooldown_ms, policy.resolve_after_ms) + 2 * MIN
    for minute in range(1, horizon // MIN + 1):
        _, memory = on_tick(tier, now + minute * MIN, memory, policy)
    assert memory.announced == tier
