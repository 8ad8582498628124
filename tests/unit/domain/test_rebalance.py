"""Platform quota rebalancing, pure (`domain/rebalance.py`)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from stockpulse.domain.rebalance import plan_rebalance


def test_plan_rebalance_example() -> None:
    moves = plan_rebalance(
        {"douyin": 60, "kuaishou": 300, "taobao": 95},
        {"douyin": 8.0, "kuaishou": 0.0, "taobao": 1.0},
        15,
        {"douyin": 10, "kuaishou": 30, "taobao": 10},
    )
    assert moves == {"douyin": 60, "kuaishou": -60}
    assert plan_rebalance({"a": 50, "b": 50}, {"a": 1.0, "b": 1.0}, 15, {}) == {}  # nobody short


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.tuples(st.integers(0, 500), st.floats(0, 50), st.integers(0, 100)),
        min_size=2,
    ),
    st.floats(0.5, 30),
)
def test_plan_rebalance_conserves_and_keeps_caps_over_usage(
    platforms: dict[str, tuple[int, float, int]], minutes: float
) -> None:
    headroom = {p: h for p, (h, _, _) in platforms.items()}
    velocity = {p: v for p, (_, v, _) in platforms.items()}
    keep = {p: k for p, (_, _, k) in platforms.items()}
    moves = plan_rebalance(headroom, velocity, minutes, keep)
    assert sum(moves.values()) == 0
    for p, delta in moves.items():
        assert headroom[p] + delta >= 0
        need = math.ceil(velocity[p] * minutes - 1e-9)
        if delta < 0:  # a donor keeps its need and its floor
            assert headroom[p] + delta >= max(need, keep[p])
        else:  # a recipient gets no more than it needs
            assert headroom[p] + delta <= need
