"""The minute's forecast, pure: per-minute increments from the samples, and the samples stored as
change points beside the session's run minutes (`domain/minute_forecast.py`, `domain/sample_log.py`)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stockpulse.domain import sample_log
from stockpulse.domain.events import MINUTE_MS as MIN
from stockpulse.domain.minute_forecast import per_minute_increments


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
