"""forecast.py: velocity, the dynamic forecast rules, ETA, restock quantity and the band."""

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockpulse.domain.forecast import (
    RESTOCK_HALF_LIFE_MINUTES,
    SkuPlan,
    effective_forecast,
    expected_band,
    is_hot_start,
    margin_forecast,
    pre_show_shortfall,
    pulled_forward,
    restock_pace,
    restock_quantity,
    sell_out_eta_minutes,
    velocity_per_minute,
)
from stockpulse.domain.tiers import Tier, TierInputs, TierRatios, tier_of

START = 1_700_000_000_000
MIN = 60_000


def plan(**kw: object) -> SkuPlan:
    args: dict[str, object] = {"forecast": 100, "starts_ms": START, "ends_ms": START + 180 * MIN}
    args.update(kw)
    return SkuPlan(**args)  # type: ignore[arg-type]


def f_at(p: SkuPlan, consumption: int, elapsed: float, velocity: float = 0.0, **kw: bool) -> Fraction:
    return effective_forecast(
        p,
        consumption=consumption,
        minutes_elapsed=elapsed,
        minutes_left=p.session_minutes - elapsed,
        velocity=velocity,
        **kw,
    )


# --- plan and session minutes


def test_session_minutes_from_epoch_ms() -> None:
    p = plan()
    assert p.session_minutes == 180
    assert p.minutes_elapsed(START + 30 * MIN) == 30
    assert p.minutes_left(START + 30 * MIN) == 150
    assert p.minutes_elapsed(START - MIN) == 0 and p.minutes_left(START - MIN) == 180
    assert p.minutes_left(START + 999 * MIN) == 0
    assert plan(lead_time_days=7).lead_time_minutes == 7 * 1440


# --- velocity


def test_velocity_empty_and_steady() -> None:
    assert velocity_per_minute([], half_life_minutes=5) == 0.0
    assert velocity_per_minute([4] * 30, half_life_minutes=5) == pytest.approx(4.0)


def test_recent_burst_outweighs_a_quiet_first_hour() -> None:
    taken = [0] * 60 + [120, 0, 0]  # burst two minutes ago
    lifetime = sum(taken) / len(taken)
    assert velocity_per_minute(taken, half_life_minutes=5) > 5 * lifetime


def test_quiet_spell_decays_velocity() -> None:
    burst = [10] * 20
    v0 = velocity_per_minute(burst, half_life_minutes=5)
    v5 = velocity_per_minute([*burst, *[0] * 5], half_life_minutes=5)
    v10 = velocity_per_minute([*burst, *[0] * 10], half_life_minutes=5)
    assert v0 > v5 > v10 > 0
    assert v5 == pytest.approx(v0 / 2, rel=0.05)  # one half-life


def test_half_life_controls_memory() -> None:
    taken = [10] * 20 + [0] * 5
    assert velocity_per_minute(taken, half_life_minutes=1) < velocity_per_minute(taken, half_life_minutes=20)
    with pytest.raises(ValueError):
        velocity_per_minute(taken, half_life_minutes=0)


def test_long_history_is_cheap_and_finite() -> None:
    assert velocity_per_minute([1] * 100_000, half_life_minutes=5) == pytest.approx(1.0)


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=200))
def test_velocity_is_within_the_samples(taken: list[int]) -> None:
    v = velocity_per_minute(taken, half_life_minutes=5)
    assert 0.0 <= v <= (max(taken) if taken else 0) + 1e-9


# --- effective forecast


def test_static_plan_is_exactly_the_forecast() -> None:
    p = plan(dynamic=False, lead_time_days=14, has_history=False)
    assert f_at(p, 90, 10, velocity=50) == Fraction(100)
    assert f_at(p, 0, 120) == Fraction(100)


def test_margins_warn_earlier() -> None:
    assert margin_forecast(plan()) == 100
    assert margin_forecast(plan(lead_time_days=6.9)) == 100
    assert margin_forecast(plan(lead_time_days=7)) == 85
    assert margin_forecast(plan(has_history=False)) == 90
    assert margin_forecast(plan(lead_time_days=10, has_history=False)) == Fraction(153, 2)
    # A smaller F crosses the yellow line sooner: 70 units is yellow only with the margin.
    f = f_at(plan(lead_time_days=7), 70, 40)
    assert tier_of(TierInputs(0, 70, 500, 0, f, TierRatios())) == Tier.YELLOW
    assert tier_of(TierInputs(0, 70, 500, 0, Fraction(100), TierRatios())) == Tier.NONE


def test_hot_start_raises_f_halfway_toward_the_trend() -> None:
    p = plan()
    # 40 of 100 within 20 minutes at 2/min with 160 minutes left: trend 360, F -> (100 + 360) / 2.
    assert is_hot_start(p, consumption=40, minutes_elapsed=20)
    assert f_at(p, 40, 20, velocity=2.0) == 230
    assert f_at(p, 39, 20, velocity=2.0) == 100  # under 40%: no raise
    assert f_at(p, 40, 30, velocity=2.0) > 100  # minute 30 still counts


def test_hot_start_never_lowers_f() -> None:
    # Burst over, velocity 0: trend 45 < F, so F stays at 100.
    assert f_at(plan(), 45, 25, velocity=0.0) == 100


def test_hot_start_is_latched_by_the_caller() -> None:
    p = plan()
    assert not is_hot_start(p, consumption=90, minutes_elapsed=31)
    assert f_at(p, 90, 45, velocity=1.0) == 100  # unknown history: plain F
    assert f_at(p, 90, 45, velocity=1.0, hot_start=True) == Fraction(100 + 90 + 135, 2)


def test_hot_start_compares_against_the_margined_f() -> None:
    p = plan(has_history=False)  # F 90: 36 units is 40%
    assert is_hot_start(p, consumption=36, minutes_elapsed=10)
    assert f_at(p, 36, 10, velocity=1.0) == Fraction(90 + 36 + 170, 2)


def test_slow_start_drops_the_margins_but_never_exceeds_the_forecast() -> None:
    p = plan(lead_time_days=10, has_history=False)  # margined F 76.5
    assert f_at(p, 7, 59) == Fraction(153, 2)  # not yet an hour
    assert f_at(p, 7, 60) == 100  # under 10% after an hour: back to the plan
    assert f_at(p, 8, 60) == Fraction(153, 2)  # 8 >= 7.65: margins stay
    assert f_at(plan(), 0, 120) == 100  # no margins to drop: unchanged


def test_slow_starter_does_not_alert_early_and_a_late_surge_still_alerts() -> None:
    p = plan(lead_time_days=10, has_history=False)

    def tier(consumption: int, elapsed: float, velocity: float) -> Tier:
        f = f_at(p, consumption, elapsed, velocity)
        return tier_of(TierInputs(0, consumption, 200, 0, f, TierRatios()))

    assert tier(5, 90, 0.1) == Tier.NONE  # slow: judged against the full plan
    # A late surge restores the margins, so the lines come earlier, never later than the plan.
    assert tier(62, 150, 8.0) == Tier.YELLOW  # 62 >= 0.8 x 76.5
    assert tier(80, 150, 8.0) == Tier.ORANGE
    assert tier(92, 150, 8.0) == Tier.RED


@given(
    forecast=st.integers(1, 10_000),
    consumption=st.integers(0, 20_000),
    elapsed=st.floats(0, 180),
    velocity=st.floats(0, 1000),
    lead=st.sampled_from([0.0, 3.0, 7.0, 14.0]),
    history=st.booleans(),
    hot=st.booleans(),
)
def test_effective_forecast_bounds(
    forecast: int, consumption: int, elapsed: float, velocity: float, lead: float, history: bool, hot: bool
) -> None:
    p = plan(forecast=forecast, lead_time_days=lead, has_history=history)
    f = f_at(p, consumption, elapsed, velocity, hot_start=hot)
    assert f >= margin_forecast(p) > 0  # never below the margined plan
    trend = consumption + velocity * (180 - elapsed)
    assert f <= max(Fraction(forecast), Fraction(trend) + 1)  # above the plan only toward a trend


# --- ETA, cover, restock, band


def test_sell_out_eta_and_cover() -> None:
    assert sell_out_eta_minutes(24, 2.0) == 12.0
    assert sell_out_eta_minutes(0, 2.0) == 0.0
    assert sell_out_eta_minutes(24, 0.0) is None
    assert sell_out_eta_minutes(24, -1.0) is None


def test_restock_lasts_to_the_end_at_the_plans_pace_plus_a_fading_pitch() -> None:
    def units(available: int, pace: float, left: float, kept_share: float = 1.0, pack_size: int = 1) -> int:
        return restock_quantity(
            available=available,
            pace=pace,
            plan_pace=1.0,
            minutes_left=left,
            kept_share=kept_share,
            pack_size=pack_size,
        )

    # At the plan's pace: 1/min over the 30 minutes left, less the 10 available.
    assert units(10, 1.0, 30) == 20
    # A pitch selling 5/min: the plan's 1/min for 30 minutes, plus the extra 4/min wearing off
    # over 15 minutes: 30 + 4 x 15 x (1 - e^-2) = 81.9, less 10 available.
    assert units(10, 5.0, 30) == math.ceil(30 + 4 * 15 * (1 - math.exp(-2)) - 10)
    # Selling slower than planned: the slower pace is expected, not the plan's.
    assert units(10, 0.5, 30) == 5
    # Unpaid holds come back: only the kept share of what sells is needed.
    assert units(0, 1.0, 30, kept_share=0.8) == 24
    assert units(10, 1.0, 30, pack_size=6) == 24  # whole packs, rounded up
    assert units(100, 5.0, 30) == 0  # never negative
    assert units(10, 0.0, 30) == 0  # not selling
    assert units(10, 2.0, 0) == 0  # the show is over


def test_a_pitchs_burst_moves_the_restock_far_less_than_the_pace() -> None:
    """The complaint: a burst multiplied the suggestion by 10. A pace 10x the plan's, an hour
    before the end, must not ask for anywhere near 10x the plan's remaining units."""
    calm = restock_quantity(available=0, pace=1.0, plan_pace=1.0, minutes_left=60)
    burst = restock_quantity(available=0, pace=10.0, plan_pace=1.0, minutes_left=60)
    assert calm == 60
    assert calm < burst < 4 * calm


def test_an_opening_rush_sizes_the_restock_at_no_more_than_the_plans_pace() -> None:
    """In a hot start the rush is the plan's demand come early: the restock's pace is capped at
    the plan's. Outside one it is the measured pace, faster or slower than the plan."""
    rush = [12, 15, 14]
    measured = velocity_per_minute(rush, half_life_minutes=RESTOCK_HALF_LIFE_MINUTES)
    assert measured > 12
    assert restock_pace(rush, plan_pace=2.0, hot_start=True, measured=True) == 2.0
    assert restock_pace(rush, plan_pace=2.0, hot_start=False, measured=True) == measured
    # Before the pace has its evidence: no number, but a hot start is already faster than the plan.
    assert restock_pace(rush, plan_pace=2.0, hot_start=False, measured=False) == 0
    assert restock_pace(rush, plan_pace=2.0, hot_start=True, measured=False) == 2.0
    # Slower than the plan: the measured pace either way (the cap only lowers).
    assert restock_pace([1, 0, 1], plan_pace=2.0, hot_start=True, measured=True) == velocity_per_minute(
        [1, 0, 1], half_life_minutes=RESTOCK_HALF_LIFE_MINUTES
    )


def test_a_hot_starts_rush_took_part_of_the_plans_demand_early() -> None:
    """Half the units taken ahead of the plan's pace come off the rest of the plan: in full through
    the hot start's 30 minutes, fading out over the next 20; none without a hot start, none for a
    SKU behind its plan."""
    rush = {"taken": 110, "plan_pace": 1.0, "hot_start": True}
    assert pulled_forward(minutes_elapsed=10, **rush) == (110 - 10) / 2
    assert pulled_forward(minutes_elapsed=30, **rush) == (110 - 30) / 2
    assert pulled_forward(minutes_elapsed=40, **rush) == (110 - 40) / 2 / 2
    assert pulled_forward(minutes_elapsed=50, **rush) == pulled_forward(minutes_elapsed=70, **rush) == 0
    assert pulled_forward(taken=110, plan_pace=1.0, minutes_elapsed=10, hot_start=False) == 0
    assert pulled_forward(taken=5, plan_pace=1.0, minutes_elapsed=10, hot_start=True) == 0
    # The restock: the plan's 100 minutes less the 50 taken early, less the 10 available; never
    # more than half the plan's remaining demand comes off.
    assert restock_quantity(available=10, pace=1.0, plan_pace=1.0, minutes_left=100, early_units=50) == 40
    assert restock_quantity(available=10, pace=1.0, plan_pace=1.0, minutes_left=100, early_units=500) == 40
    assert restock_quantity(available=10, pace=1.0, plan_pace=1.0, minutes_left=100, early_units=20) == 70


@given(
    available=st.integers(0, 10_000),
    pace=st.floats(0, 500, allow_nan=False),
    plan_pace=st.floats(0, 50, allow_nan=False),
    left=st.floats(0, 600, allow_nan=False),
    kept=st.floats(0, 1, allow_nan=False),
    pack=st.integers(1, 50),
    early=st.floats(0, 5_000, allow_nan=False),
)
def test_restock_is_whole_packs_never_negative_and_grows_with_pace(
    available: int, pace: float, plan_pace: float, left: float, kept: float, pack: int, early: float
) -> None:
    def units(p: float, early_units: float = 0.0) -> int:
        return restock_quantity(
            available=available,
            pace=p,
            plan_pace=plan_pace,
            minutes_left=left,
            kept_share=kept,
            pack_size=pack,
            early_units=early_units,
        )

    assert units(pace) >= 0 and units(pace) % pack == 0
    assert units(pace * 2) >= units(pace)
    assert 0 <= units(pace, early) <= units(pace)  # demand taken early never asks for more


@pytest.mark.parametrize(
    ("forecast", "lead", "history", "line"),
    [
        (500, 3, True, 600),  # the article: 500 expected, warn under 600
        (500, 1, True, 600),
        (100, 7, True, 150),  # a week to resupply: 1.5 x
        (100, 5, True, 135),  # half-way to a week
        (100, 3, False, 140),  # never sold before: + 0.2
        (30, 7, False, 51),  # the contract example's tea
    ],
)
def test_pre_show_line(forecast: int, lead: float, history: bool, line: int) -> None:
    assert (
        pre_show_shortfall(forecast=forecast, lead_time_days=lead, has_history=history, sellable=0)[0] == line
    )


def test_pre_show_shortfall_in_whole_packs() -> None:
    assert pre_show_shortfall(forecast=30, lead_time_days=7, has_history=False, sellable=40) == (51, 11)
    assert pre_show_shortfall(forecast=30, lead_time_days=7, has_history=False, sellable=40, pack_size=6) == (
        51,
        12,
    )
    assert pre_show_shortfall(forecast=30, lead_time_days=3, has_history=True, sellable=40) == (36, 0)


def test_a_hot_start_never_lifts_the_red_line_above_the_stock() -> None:
    p = plan(forecast=100)
    raised = f_at(p, 60, 20, velocity=10.0)  # 60% in 20 minutes, 10/min: the trend says 1660
    assert raised > 100
    capped = effective_forecast(
        p, consumption=60, minutes_elapsed=20, minutes_left=160, velocity=10.0, sellable=150
    )
    assert capped * p.ratios.red <= Fraction(9, 10) * 150  # red comes before the last unit goes
    assert (
        effective_forecast(  # never below the plan, whatever the stock
            p, consumption=60, minutes_elapsed=20, minutes_left=160, velocity=10.0, sellable=10
        )
        == 100
    )


def test_expected_band_follows_the_plan_line_between_yellow_and_red() -> None:
    p = plan(forecast=100)
    assert expected_band(p, 0, 180) == (0.0, 0.0)
    assert expected_band(p, 90, 180) == pytest.approx((40.0, 60.0))
    assert expected_band(p, 180, 180) == pytest.approx((80.0, 120.0))
    assert expected_band(p, 400, 180) == pytest.approx((80.0, 120.0))  # clamped to the session
    assert expected_band(p, -5, 180) == (0.0, 0.0)
    assert expected_band(p, 10, 0) == pytest.approx((80.0, 120.0))
    custom = plan(forecast=10, ratios=TierRatios(yellow=Fraction(1, 2), red=Fraction(11, 10)))
    assert expected_band(custom, 60, 60) == pytest.approx((5.0, 11.0))
