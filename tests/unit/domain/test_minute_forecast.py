"""The minute's forecast, pure: per-minute increments from the samples, and the samples stored as
change points beside the session's run minutes (`domain/minute_forecast.py`, `domain/sample_log.py`)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockpulse.domain import sample_log, stock_risk
from stockpulse.domain.events import MINUTE_MS as MIN
from stockpulse.domain.forecast import SkuPlan
from stockpulse.domain.ledger import StockLevels
from stockpulse.domain.minute_forecast import MinuteForecast, compute_forecast, per_minute_increments
from stockpulse.domain.stock_risk import RiskState
from stockpulse.domain.tiers import Tier


def test_per_minute_increments_spread_gaps() -> None:
    assert per_minute_increments([(0, 0), (MIN, 5), (4 * MIN, 11), (5 * MIN, 9)]) == [5, 2, 2, 2, 0]


# ---------------------------------------------------------------------------- dynamic thresholds


@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(-3, 400), st.integers(-50, 50), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
def test_change_points_and_run_minutes_give_the_samples_back(
    steps: list[tuple[int, int, int, bool]],
) -> None:
    """Any samples (gaps, decreases, repeats), stored as packed change points beside the run
    minutes, expand to exactly the same list; usage per platform likewise."""
    minute, taken, consumption = 29_000_000 * MIN, 0, 0
    samples: list[list[Any]] = []
    platforms: list[list[Any]] = []
    runs: sample_log.Runs = []
    for gap, dt, dc, kuaishou in steps:
        minute, taken, consumption = minute + gap * MIN, max(0, taken + dt), consumption + dc
        samples.append([minute, taken, consumption])
        platforms.append([minute, {"douyin": taken, **({"kuaishou": dc % 7} if kuaishou else {})}])
        runs = sample_log.with_run(runs, minute, keep_after_ms=0)
    stored = sample_log.unpack_samples(sample_log.pack_samples(sample_log.change_points(samples)))
    assert sample_log.expand(stored, runs, after_ms=0, before_ms=minute + MIN) == samples
    stored = sample_log.unpack_platforms(sample_log.pack_platforms(sample_log.change_points(platforms)))
    assert sample_log.expand(stored, runs, after_ms=0, before_ms=minute + MIN) == platforms


# ---------------------------------------------------------------------------- a minute run twice
def stored_as(view: MinuteForecast) -> dict[str, Any]:
    """The FORECAST item as the next minute reads it (samples expanded)."""
    return {**view.item(Tier.NONE, platforms=False), "samples": view.samples}


@pytest.mark.parametrize(("per_minute", "after"), [(6, 10), (1, 0)], ids=["selling-out", "selling-slowly"])
def test_a_minute_evaluated_again_steps_from_where_it_stood_before_it(per_minute: int, after: int) -> None:
    """A minute evaluated a second time (a repeated scheduled invocation; a replay resumed after a
    kill between the FORECAST write and its checkpoint) gives what one evaluation gives: the
    pending and hold counters of the stock risk and the slow-seller count step once, not twice
    (twice raised orange a minute early in the kill-and-resume test); the slow tip is not sent
    again."""
    plan = SkuPlan(forecast=200, starts_ms=0, ends_ms=120 * MIN)
    stored: dict[str, Any] | None = None
    taken, moved = 0, 0
    for m in range(1, 60):
        taken += per_minute if m > after else 0
        levels = StockLevels(on_hand=300, held=0, reserved=taken, sold=0, available=300 - taken, taken=taken)
        once = compute_forecast(plan, levels, stored, m * MIN)
        again = compute_forecast(plan, levels, stored_as(once), m * MIN)
        assert (again.risk, again.slow_runs, again.slow_sent) == (once.risk, once.slow_runs, once.slow_sent)
        assert not again.slow_tip  # the tip went out with the first evaluation
        moved += once.risk != RiskState.from_item((stored or {}).get("risk")) or once.slow_runs > 0
        stored = stored_as(once)
    assert moved >= 10  # the counters did move: the test would see a double step


# ---------------------------------------------------------------------------- restock
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic-without-stock-risk"])
def test_a_minute_whose_projection_sells_out_names_a_restock_whatever_the_tier(dynamic: bool) -> None:
    """A SKU long past its forecast of 12, selling a unit a minute with 18 left and 36 minutes to
    go: the plan-anchored estimate lets the pace fall back to the plan (16 more units), the pace's
    own projection sells 20. Its red ("stop selling, call the supplier") says how many, though no
    stock-risk warning is raised (a static SKU has none; this dynamic one opted out)."""
    plan = SkuPlan(
        forecast=12, starts_ms=0, ends_ms=120 * MIN, dynamic=dynamic, pack_size=2, stock_risk=False
    )
    stored: dict[str, Any] | None = None
    for m in range(1, 85):
        levels = StockLevels(on_hand=102, held=0, reserved=m, sold=0, available=102 - m, taken=m)
        view = compute_forecast(plan, levels, stored, m * MIN)
        stored = stored_as(view)
    assert (view.velocity, view.eta_minutes, view.minutes_left) == (1, 18, 36)
    assert view.risk.tier is Tier.NONE
    left = 36 - stock_risk.END_GRACE_MINUTES
    sold = stock_risk.projected_units(1.0, left, stock_risk.PACE_FADE_MINUTES)  # 20.01
    assert view.restock_quantity == 4  # 3 units, in packs of 2
    assert view.restock_quantity - 2 < sold - 18 <= view.restock_quantity


def opening_rush(*, on_hand: int, minutes: int) -> dict[int, MinuteForecast]:
    """Each minute's view of a show that opens at 12 units a minute against a plan of one a minute
    (forecast 120 over two hours) until its `on_hand` is gone, stored as the evaluator stores it."""
    plan = SkuPlan(forecast=120, starts_ms=0, ends_ms=120 * MIN)
    stored: dict[str, Any] | None = None
    views: dict[int, MinuteForecast] = {}
    for m in range(1, minutes):
        taken = min(on_hand, 12 * m)
        levels = StockLevels(
            on_hand=on_hand, held=0, reserved=taken, sold=0, available=on_hand - taken, taken=taken
        )
        views[m] = compute_forecast(plan, levels, stored, m * MIN)
        stored = stored_as(views[m])
    return views


def test_an_opening_rush_is_the_plans_demand_come_early_not_demand_on_top() -> None:
    """200 units, a hot start by minute 4. At minute 9 the restock counts the rest of the show at
    the plan's pace (111 minutes, 111 units) less the 92 available: 19, where the rush counted on
    top asked 184 (the bench's opening rushes asked 4.8x what the shows lacked). Half the 99 units
    taken ahead of the plan would say the stock lasts; the red beside "sells out in 8 min" names
    the 19 without that credit. Sold out at minute 17, the number counts half the plan's remaining
    demand (the credit's cap: the rush took the rest early), where it counted all of it, and holds
    there as the minutes run out: no jump when the hot start's window closes at minute 30, and no
    climb as the credit's fade would have it (nothing sells while sold out)."""
    views = opening_rush(on_hand=200, minutes=60)
    assert [m for m, view in views.items() if view.hot_start] == list(range(4, 60))
    restock = {m: view.restock_quantity for m, view in views.items()}
    assert views[9].risk.tier is Tier.RED and restock[9] == 111 - 92
    assert restock[17] == math.ceil((120 - 17) / 2)  # was 103
    sold_out = [restock[m] for m in range(17, 60)]
    assert all(0 <= a - b <= 1 for a, b in itertools.pairwise(sold_out))


def test_an_opening_rush_that_sells_out_before_its_pace_has_evidence_names_the_plans_number() -> None:
    """60 units, gone in five minutes: a hot start from minute 4, three minutes before the pace
    has its evidence (minute 8). Its warnings and the sold-out message name the plan's remaining
    demand less half the units the rush took ahead of the plan and less what is left, and the
    number stays on the plan's pace while sold out (it used to be none, frozen at no pace)."""
    restock = {m: view.restock_quantity for m, view in opening_rush(on_hand=60, minutes=20).items()}
    assert [restock[m] for m in (1, 2, 3)] == [0, 0, 0]  # no hot start yet: no pace, no number
    assert restock[4] == (120 - 4) - (48 - 4) // 2 - 12
    early = (60 - 5) / 2  # as it sold out at minute 5
    assert [restock[m] for m in range(5, 20)] == [math.ceil(120 - m - early) for m in range(5, 20)]


def test_the_minutes_a_sku_was_sold_out_are_not_read_as_demand_once_its_stock_is_back() -> None:
    """6 a minute against a plan of 5 until the 240 units are gone at minute 40; sold out for 15
    minutes; then 30 unpaid holds come back and it sells 2 a minute until they are gone again at
    minute 70. The number is frozen while sold out; when the stock is back it starts from that
    number (less what came back, on the new kept share) and follows the new pace minute by minute.
    The minutes with nothing to sell used to count as minutes of no demand: here the number fell
    from 345 to 0 as the stock came back and climbed again to 82 (a rehearsal's cake read
    "补货100件后恢复售卖" sold out and "准备补货3件" eight minutes later, after a restock; now 13)."""
    plan = SkuPlan(forecast=600, starts_ms=0, ends_ms=120 * MIN, stock_risk=False)
    stored: dict[str, Any] | None = None
    restock: dict[int, int] = {}
    hot_start = False
    for m in range(1, 80):
        taken = min(240, 6 * m) + min(30, 2 * max(0, m - 55))
        back = 30 if m >= 55 else 0  # unpaid holds that ended
        levels = StockLevels(
            on_hand=240, held=0, reserved=taken - back, sold=0, available=240 - taken + back, taken=taken
        )
        view = compute_forecast(plan, levels, stored, m * MIN)
        restock[m], hot_start = view.restock_quantity, hot_start or view.hot_start
        stored = stored_as(view)
    assert not hot_start  # the plan's pace is not capped: this is about the sold-out minutes only
    frozen = [restock[m] for m in range(40, 55)]
    assert all(b == a - 5 for a, b in itertools.pairwise(frozen))  # the plan's pace as minutes run out
    kept_share = (240 - 30) / 240
    assert restock[55] == pytest.approx(kept_share * (restock[54] - 5) - 30, abs=2)
    back = [restock[m] for m in range(55, 71)]
    assert all(0 <= a - b <= 0.15 * a for a, b in itertools.pairwise(back))  # follows, no cliff
    assert back[-1] < back[0] / 2  # and it does follow the new pace
    again = [restock[m] for m in range(70, 80)]
    assert all(0 <= a - b <= 5 for a, b in itertools.pairwise(again))  # frozen again


def test_a_trickle_after_the_evidence_is_a_slow_pace_to_restock_on_not_none() -> None:
    """5 a minute (the plan's pace) for half an hour, then one order every three minutes: the last
    ten minutes hold under the stock risk's 6 units, so there is no "sells out in N minutes"; but
    the show has given its evidence, and the trickle is a pace to size the rest of the show on.
    The restock used to be none as soon as the trickle began, and the sold-out message named no
    number (instant-15-3 in the alert bench: 25, 20, none, 39, 43, 38, none, none while it
    trickled out its last five units; its show lacked 21)."""
    plan = SkuPlan(forecast=600, starts_ms=0, ends_ms=120 * MIN, stock_risk=False)
    stored: dict[str, Any] | None = None
    views: dict[int, MinuteForecast] = {}
    for m in range(1, 70):
        taken = min(160, 5 * min(m, 30) + max(0, m - 30) // 3)
        levels = StockLevels(on_hand=160, held=0, reserved=taken, sold=0, available=160 - taken, taken=taken)
        views[m] = compute_forecast(plan, levels, stored, m * MIN)
        stored = stored_as(views[m])
    trickle = range(40, 70)
    assert all(views[m].velocity == 0 and views[m].eta_minutes is None for m in trickle)  # no ETA: too thin
    assert all(views[m].restock_quantity > 0 for m in trickle)
    # Sold out at minute 60: the trickle (a third of a unit a minute) for the hour left is 20 units.
    assert abs(views[60].restock_quantity - 20) <= 0.5 * 20
    frozen = [views[m].restock_quantity for m in range(60, 70)]
    assert all(0 <= a - b <= 1 for a, b in itertools.pairwise(frozen))  # held, not decaying to none
