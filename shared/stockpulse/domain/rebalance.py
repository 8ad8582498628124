"""Quota rebalancing between a SKU's capped platforms (pure): `plan_rebalance`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

REBALANCE_HORIZON_MINUTES = 15.0  # a platform should have quota for this long at its pace
REBALANCE_KEEP_SHARE = Fraction(1, 10)  # a donor always keeps 10% of its planned quota


def plan_rebalance(
    headroom: Mapping[str, int],
    velocity: Mapping[str, float],
    minutes_ahead: float,
    keep: Mapping[str, int],
) -> dict[str, int]:
    """Quota moves between capped platforms (platform -> units, summing to 0); {} for none.

    The rule: a platform *needs* quota for `minutes_ahead` minutes at its own recent pace
    (ceil(velocity x minutes)). A platform whose headroom (cap - usage) is below its need is
    short; one whose headroom exceeds both its need and its `keep` floor has spare. The smaller
    of total shortage and total spare moves: to the short platforms fastest first, each up to its
    shortage; from the spare ones slowest first, each up to its spare. So quota flows only toward
    platforms about to hit their cap, only out of quota nobody is about to use, every donor keeps
    a floor for a sudden pitch on its own channel, and nothing moves while everyone has enough.
    The write (`DynamoForecastStore.move_quota`) adds the deltas relatively with a condition that
    every donor's headroom covers what it gives: caps never drop below usage and the total of
    the caps is conserved.
    """
    if minutes_ahead <= 0:
        return {}
    need = {p: max(0, math.ceil(max(0.0, velocity.get(p, 0.0)) * minutes_ahead - 1e-9)) for p in headroom}
    short = {p: need[p] - h for p, h in headroom.items() if need[p] > h}
    spare = {
        p: h - max(need[p], keep.get(p, 0)) for p, h in headroom.items() if h > max(need[p], keep.get(p, 0))
    }
    total = min(sum(short.values()), sum(spare.values()))
    if total <= 0:
        return {}
    deltas: dict[str, int] = {}
    left = total
    for p in sorted(short, key=lambda p: (-velocity.get(p, 0.0), p)):
        got = min(short[p], left)
        deltas[p] = got
        left -= got
        if not left:
            break
    left = total
    for p in sorted(spare, key=lambda p: (velocity.get(p, 0.0), -spare[p], p)):
        given = min(spare[p], left)
        deltas[p] = deltas.get(p, 0) - given
        left -= given
        if not left:
            break
    return {p: d for p, d in sorted(deltas.items()) if d}
