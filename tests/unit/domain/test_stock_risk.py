"""stock_risk.py: the sell-out projection raises orange / red only on evidence, after a pending
period, and lets go only with a margin held for minutes; a restock judges afresh."""

import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockpulse.domain import stock_risk as sr
from stockpulse.domain.tiers import Tier

LEAD = 3 * 1440.0


def inputs(available: int, velocity: float | None, left: float = 100.0, **kw: object) -> sr.RiskInputs:
    args: dict[str, object] = {
        "available": available, "velocity": velocity, "minutes_left": left, "lead_time_minutes": LEAD,
        "restocked": 0,
    }  # fmt: skip
    args.update(kw)
    return sr.RiskInputs(**args)  # type: ignore[arg-type]


def run(minutes: list[sr.RiskInputs], state: sr.RiskState | None = None) -> list[Tier]:
    state = state or sr.RiskState()
    tiers = []
    for step in minutes:
        state = sr.evaluate(state, step)
        tiers.append(state.tier)
    return tiers


def test_pace_needs_minutes_and_units_of_evidence() -> None:
    assert sr.pace([5] * (sr.MIN_OBSERVED_MINUTES - 1)) is None  # too early in the show
    assert sr.pace([0] * 30 + [1, 0, 2, 0, 1]) is None  # 4 units in 10 minutes: no trend
    assert sr.pace([2] * 30) == pytest.approx(2.0)


def test_a_restock_pace_is_measured_once_the_show_has_given_the_evidence() -> None:
    """`measured` (what a restock is sized on) asks the same minutes and units as `pace`, but over
    the show so far: a trickle after the evidence is a slow pace, not none."""
    assert not sr.measured([5] * (sr.MIN_OBSERVED_MINUTES - 1))  # too early in the show
    assert not sr.measured([0] * 30 + [1, 0, 2, 0, 1])  # 4 units in all
    trickle = [2] * 10 + [0, 0, 1] * 10
    assert sr.pace(trickle) is None and sr.measured(trickle)


@pytest.mark.parametrize(
    ("available", "velocity", "left", "signal"),
    [
        (80, 10.0, 100.0, Tier.RED),  # within 10 minutes: 30 x 10 x (1 - e^-1/3) = 85 > 80
        (100, 10.0, 100.0, Tier.ORANGE),  # ... 85 < 100, but the show sells 30 x 10 x (1 - e^-97/30) = 288
        (130, 1.0, 100.0, Tier.NONE),  # 29 units to come: it lasts
        (100, 10.0, 3.0, Tier.NONE),  # selling out as the show ends costs nothing
        (0, 10.0, 100.0, Tier.NONE),  # sold out: the contract's red, not a projection
        (100, None, 100.0, Tier.NONE),  # no evidence, no projection
    ],
)
def test_signal(available: int, velocity: float | None, left: float, signal: Tier) -> None:
    assert sr.signal(inputs(available, velocity, left)) is signal


def test_a_red_is_held_over_a_longer_horizon_than_raises_it() -> None:
    # 85 units within 10 minutes do not sell out 100; 118 within 15 do: not raised, but held
    assert sr.signal(inputs(100, 10.0)) is Tier.ORANGE
    assert sr.signal(inputs(100, 10.0), red_horizon=sr.RED_HOLD_HORIZON_MINUTES) is Tier.RED
    assert sr.RED_HOLD_HORIZON_MINUTES > sr.RED_HORIZON_MINUTES


def test_a_falling_pace_is_projected_as_fading() -> None:
    steady = inputs(80, 5.0, velocity_before=5.0)
    fading = inputs(80, 5.0, velocity_before=10.0)  # half the pace of three minutes ago
    assert not steady.fading and fading.fading
    assert sr.signal(steady) is Tier.ORANGE  # 30 x 5 x (1 - e^-97/30) = 144 > 80
    assert sr.signal(fading) is Tier.NONE  # 10 x 5 = 50 < 80: the flash is wearing off


def test_orange_waits_for_the_pending_period() -> None:
    risky = inputs(130, 10.0)
    pending = sr.RAISE_AFTER_MINUTES
    assert run([risky] * (pending + 1)) == [Tier.NONE] * (pending - 1) + [Tier.ORANGE] * 2
    assert run([risky, inputs(400, 10.0)] * pending) == [Tier.NONE] * 2 * pending  # must hold in a row


def test_red_is_raised_at_once_unless_the_pitch_is_fading() -> None:
    imminent = inputs(50, 10.0)
    assert run([imminent]) == [Tier.RED]
    fading = inputs(50, 10.0, velocity_before=20.0)  # 10 x 10 x (1 - e^-1.5) = 78 > 50: still red
    assert run([fading]) == [Tier.NONE]
    assert run([fading, fading]) == [Tier.NONE, Tier.RED]


def test_a_red_gathering_evidence_holds_the_orange_back() -> None:
    """Orange signalled, then a fading red: one message (red a minute later), not orange then red."""
    orange, fading_red = inputs(130, 10.0), inputs(50, 10.0, velocity_before=20.0)
    assert sr.signal(orange) is Tier.ORANGE and sr.signal(fading_red) is Tier.RED
    assert run([orange, fading_red, fading_red]) == [Tier.NONE, Tier.NONE, Tier.RED]
    # the red never comes: the orange is raised a minute later, not lost
    assert run([orange, fading_red, orange]) == [Tier.NONE, Tier.NONE, Tier.ORANGE]


def test_an_orange_near_red_waits_a_minute_for_the_red() -> None:
    near = inputs(100, 10.0)  # orange; but 118 units within the 15-minute hold horizon sell out 100
    assert sr.signal(near) is Tier.ORANGE
    assert sr.signal(near, red_horizon=sr.RED_HOLD_HORIZON_MINUTES) is Tier.RED
    assert run([near, near, inputs(80, 10.0)]) == [Tier.NONE, Tier.NONE, Tier.RED]  # the red alone
    wait = sr.RAISE_AFTER_MINUTES + sr.NEAR_RED_WAIT_MINUTES
    assert run([near] * wait) == [Tier.NONE] * (wait - 1) + [Tier.ORANGE]  # no red: a minute late
    assert run([inputs(130, 10.0)] * sr.RAISE_AFTER_MINUTES)[-1] is Tier.ORANGE  # far from red: no wait


def test_an_opening_flash_has_a_pace_for_red_before_the_pace_has_its_minutes() -> None:
    assert sr.opening_pace([36]) == pytest.approx(36.0)
    assert sr.opening_pace([2, 1, 2]) is None  # 5 units: no flash
    assert sr.opening_pace([5] * sr.MIN_OBSERVED_MINUTES) is None  # `pace` judges from here
    assert sr.pace([5] * sr.MIN_OBSERVED_MINUTES) is not None


@pytest.mark.parametrize(
    ("available", "signal"),
    [
        (85, Tier.RED),  # 36/min fading over 5 minutes: 3 x 36 x (1 - e^-5/3) = 87.6 > 85
        (90, Tier.NONE),  # ... 87.6 < 90: it may fade first
        (20, Tier.RED),
    ],
)
def test_an_opening_flash_is_red_when_it_sells_out_within_minutes(available: int, signal: Tier) -> None:
    flash = inputs(available, None, opening=36.0)
    assert sr.signal(flash) is signal
    assert run([flash]) == [signal]  # at once: in a minute it may be gone


def test_an_opening_flash_is_never_orange() -> None:
    """A flash that would sell out before the show ends, but not within minutes, waits for the
    pace's evidence: most openings fade long before."""
    flash = inputs(400, None, opening=36.0)
    assert sr.signal(inputs(400, 36.0)) is Tier.ORANGE  # the same pace, measured
    assert sr.signal(flash) is Tier.NONE
    assert run([flash] * 5) == [Tier.NONE] * 5


def test_an_opening_red_is_held_while_the_flash_still_sells_out_what_is_left() -> None:
    state = sr.evaluate(sr.RiskState(), inputs(60, None, opening=36.0))
    assert state.tier is Tier.RED
    # 30/min over the 7.5-minute hold horizon: 3 x 30 x (1 - e^-2.5) = 82.6, over 90 / 1.25
    assert run([inputs(90, None, opening=30.0)] * sr.CLEAR_AFTER_MINUTES, state)[-1] is Tier.RED
    calm = inputs(90, None, opening=5.0)
    assert run([calm] * sr.CLEAR_AFTER_MINUTES, state)[-1] is Tier.NONE


def test_a_raised_risk_needs_a_margin_held_for_minutes_to_clear() -> None:
    state = sr.evaluate(sr.RiskState(), inputs(50, 10.0))
    assert state.tier is Tier.RED
    barely = inputs(110, 10.0)  # 118 still to come in 15 minutes: within the 25% margin
    assert run([barely] * 30, state)[-1] is Tier.RED
    calm = inputs(1000, 1.0)
    tiers = run([calm] * sr.CLEAR_AFTER_MINUTES, state)
    assert tiers[:-1] == [Tier.RED] * (sr.CLEAR_AFTER_MINUTES - 1)
    assert tiers[-1] is Tier.NONE


def test_the_sustained_pace_is_the_mean_minute_of_the_last_45() -> None:
    assert sr.sustained_pace([]) is None
    assert sr.sustained_pace([6, 0, 0]) == pytest.approx(2.0)  # the show so far, when shorter
    assert sr.sustained_pace([100] * 10 + [3] * sr.SUSTAINED_MINUTES) == pytest.approx(3.0)


def pitches_every(minutes: int, units: int, show: int) -> list[int]:
    """Per-minute units of a SKU the host pitches every `minutes`: a burst, then quiet."""
    return [units if m % minutes == 0 else 0 for m in range(show)]


def walk(taken: list[int], available: int, show: int, *, hold: bool = True, hold_red: bool = True) -> str:
    """The raised risk minute by minute (n, o, r) of a SKU taking `taken` from `available`;
    `hold=False` leaves the 45-minute pace out, as before it held a raised orange; `hold_red=False`
    the 10-minute pace, as before it held a raised red."""
    state, tiers = sr.RiskState(), ""
    for m in range(1, len(taken) + 1):
        past = taken[:m]
        available -= past[-1]
        step = inputs(
            available,
            sr.pace(past),
            show - m,
            velocity_before=sr.pace_before(past),
            sustained=sr.sustained_pace(past) if hold else None,
            recent=sr.mean_pace(past, sr.RECENT_MINUTES) if hold_red else None,
        )
        state = sr.evaluate(state, step)
        tiers += state.tier.value[0]
    return tiers


def test_an_orange_stands_through_the_quiet_between_pitches_of_a_sku_selling_out() -> None:
    """A pitch every 20 minutes selling 30 units (1.5 a minute on average) in a 3-hour show, 260
    available: 270 wanted, it sells out at the last pitch. The pace falls to nothing between
    pitches, but the last 45 minutes' pace still sells it out: once raised, orange stands, red at
    each pitch once little is left; never "back to normal" in between, which the next pitch
    would only contradict."""
    taken = pitches_every(20, 30, 180)[:150]
    tiers = walk(taken, 260, 180)
    first = tiers.index("o")
    assert first <= 45
    assert "n" not in tiers[first:]
    assert "n" in walk(taken, 260, 180, hold=False)[first:]  # what the shop got before


def test_a_pitch_that_fades_clears_once_the_last_45_minutes_no_longer_sell_it_out() -> None:
    """A 45-unit pitch in minutes 30-32 of a SKU that otherwise sells one unit every 5 minutes,
    150 available: orange at the pitch (the 105 left outlast ten minutes of a fading pitch, so
    no red, no page), standing while the last 45 minutes' pace would still sell it out, then
    clear for good; at the latest once the pitch has left the last 45 minutes. With 120
    available the pitch does near a sell-out: red, then one step down at a time."""
    quiet = [1 if m % 5 == 0 else 0 for m in range(30)]
    taken = quiet + [15, 15, 15] + quiet * 2
    tiers = walk(taken, 150, 120)
    assert "r" not in tiers and tiers.index("o") in (31, 32, 33)
    cleared = tiers.index("n", tiers.index("o"))
    assert cleared <= 33 + sr.SUSTAINED_MINUTES
    assert set(tiers[cleared:]) == {"n"}
    assert walk(taken, 150, 120, hold=False).index("n", 33) < cleared  # the hold costs some minutes
    assert re.fullmatch("n{31,33}o?r+o+n+", walk(taken, 120, 120))


def test_a_red_stands_while_the_last_ten_minutes_still_sell_it_out_within_the_horizon() -> None:
    """A quiet half hour at one a minute, a 45-unit pitch at minute 30, then 3 a minute to the
    sell-out of the 160 available. The fading projection would step red down to orange beside
    "sells out in ~12 min" and raise it again a few minutes later: two messages that tell the
    reader nothing. The last 10 minutes' pace, held, still sells it out within the hold horizon."""
    taken = [1] * 30 + [15] * 3 + [3] * 40
    last = 33 + (160 - 75) // 3  # the minute the last unit goes
    tiers = walk(taken, 160, 120)[:last]
    first = tiers.index("r")
    assert first <= 33 and set(tiers[first:]) == {"r"}
    before = walk(taken, 160, 120, hold_red=False)[:last]
    assert "o" in before[first:] and before.rstrip("r").endswith("o")  # what the shop got before


def test_a_restock_that_covers_the_demand_clears_the_risk_at_once() -> None:
    state = sr.evaluate(sr.RiskState(), inputs(50, 10.0))
    assert state.tier is Tier.RED
    after = sr.evaluate(state, inputs(500, 10.0, restocked=450))
    assert after.tier is Tier.NONE and after.restocked == 450


def test_a_restock_short_of_the_demand_is_not_back_to_normal() -> None:
    """A red SKU selling 3 a minute for the last 45 minutes, 40 minutes of show left, gets 40 units
    (70 available). The projection no longer sells out within the red's horizon, but the last 45
    minutes' pace, held, still sells out what is there before the show ends: the red steps down to
    orange at once, not to "back to normal" with a red at the next pitch (four rehearsals, seed 31:
    each restocked cake read "恢复正常，无需操作" about six minutes after its restock, and three were
    raised again 2, 13 and 15 minutes later). The counters start again on the new stock."""
    red = sr.RiskState(Tier.RED, orange_runs=5, red_runs=3, clear_runs=4, restocked=0)
    now = inputs(70, 2.0, left=40.0, restocked=40, sustained=3.0, recent=2.0)
    assert sr.signal(now) is Tier.NONE  # what the projection says of the new stock by itself
    after = sr.evaluate(red, now)
    assert after == sr.RiskState(Tier.ORANGE, orange_runs=0, red_runs=0, clear_runs=0, restocked=40)
    # Enough stock for that pace too: cleared at once, as before.
    assert sr.evaluate(red, inputs(200, 2.0, left=40.0, restocked=170, sustained=3.0)).tier is Tier.NONE


def test_a_late_surge_restocked_in_a_lull_stays_orange() -> None:
    """An orange SKU in a late surge: 5 a minute over the last 10 minutes, 1.4 over the last 45
    (mostly quiet before the surge), 1 a minute in the lull between two pitches. A restock brings
    110 units with 30 minutes left. The 45-minute pace alone would call that back to normal (the
    late-surge rehearsal, seed 31, read "恢复正常，无需操作" two minutes before its red); the last 10
    minutes' pace, held, still sells it out, so the orange stands."""
    orange = sr.RiskState(Tier.ORANGE, orange_runs=4, restocked=0)
    lull = inputs(110, 1.0, left=30.0, restocked=50, sustained=1.4, recent=5.0)
    assert sr.signal(lull) is Tier.NONE
    assert sr.evaluate(orange, lull).tier is Tier.ORANGE
    assert sr.evaluate(orange, replace(lull, recent=1.4)).tier is Tier.NONE  # no surge: cleared


def test_state_round_trips() -> None:
    state = sr.RiskState(Tier.ORANGE, 3, 1, 2, 40)
    assert sr.RiskState.from_item(state.to_item()) == state
    assert sr.RiskState.from_item(None) == sr.RiskState()
    assert sr.RiskState.from_item({}) == sr.RiskState()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.one_of(st.none(), st.floats(0, 50, allow_nan=False))),
        min_size=1,
        max_size=60,
    )
)
def test_never_raised_without_the_signal_in_a_row(steps: list[tuple[int, float | None]]) -> None:
    """Any raise is backed by the raw signal on the evaluations before it (the pending period)."""
    state, signals = sr.RiskState(), []
    for available, velocity in steps:
        step = inputs(available, velocity)
        signals.append(sr.signal(step))
        before = state.tier
        state = sr.evaluate(state, step)
        if state.tier > before:
            needed = sr.RED_RAISE_AFTER_MINUTES if state.tier is Tier.RED else sr.RAISE_AFTER_MINUTES
            assert all(s >= state.tier for s in signals[-needed:])
        if state.tier is Tier.ORANGE and before is Tier.NONE:
            assert signals[-1] is Tier.ORANGE  # never while a red gathers its evidence
