"""Hot-SKU grouping: many reservations of one SKU granted by one write to its stock item.

A famous host sells thousands of one item in minutes; one write per order to the SKU's stock
item caps it near 500 orders/s (1,000 write units per partition, 2 per transactional write).
Within one stream batch, a run of `order.created` events of one SKU is granted together when
sequential processing would grant every one of them; otherwise it falls back to one by one, so
the outcomes are exactly those of sequential processing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stockpulse.domain.events import EventType, OrderEvent
from stockpulse.domain.ledger import StockLevels, reserve, take_refusal
from stockpulse.domain.tiers import Tier

# A transaction takes 100 actions: the stock item + one order item per order (which also
# remembers the event id).
MAX_GROUP = 99


@dataclass(frozen=True)
class GroupGrant:
    """What granting the whole run does: the summed counters and the ledger after each order."""

    quantity: int
    usage: Counter[str]
    steps: list[StockLevels]  # the ledger after each order, for the tier path


def runs(events: Sequence[OrderEvent | None]) -> list[list[int]]:
    """Indexes of runs of `order.created` for one SKU, consecutive in that SKU's own sequence.

    `None` stands for a record that is not a valid event: it breaks no SKU's run.
    Runs longer than MAX_GROUP are split; single events are not runs.
    """
    open_runs: dict[tuple[str, str], list[int]] = {}
    found: list[list[int]] = []
    for index, event in enumerate(events):
        if event is None:
            continue
        key = (event.session_id, event.sku_id)
        if event.type is EventType.ORDER_CREATED:
            run = open_runs.setdefault(key, [])
            run.append(index)
            if len(run) == MAX_GROUP:
                found.append(open_runs.pop(key))
        elif key in open_runs:
            found.append(open_runs.pop(key))
    found.extend(open_runs.values())
    return sorted((r for r in found if len(r) > 1), key=lambda r: r[0])


def grant_whole(
    levels: StockLevels,
    orders: Sequence[OrderEvent],
    *,
    tier: Tier,
    tier_after: Callable[[StockLevels, int], Tier],
    auto_pause_on_red: bool,
) -> GroupGrant | None:
    """The grant of every order in sequence, or None when sequential processing would refuse one.

    A repeated order or event id inside the run, a refusal, or an auto-pause before the last
    order all mean the run must go one by one.
    """
    if len({o.order_id for o in orders}) < len(orders) or len({o.event_id for o in orders}) < len(orders):
        return None
    steps: list[StockLevels] = []
    usage: Counter[str] = Counter()
    for position, order in enumerate(orders):
        assert order.platform is not None
        if take_refusal(levels, order.platform, order.units) is not None:
            return None
        levels = reserve(order.platform, order.units).applied_to(levels)
        usage[order.platform] += order.units
        steps.append(levels)
        after = tier_after(levels, order.occurred_ms)
        if auto_pause_on_red and after is Tier.RED and tier < Tier.RED and position < len(orders) - 1:
            return None  # the SKU pauses here: the rest would be refused as sku_paused
        tier = after
    return GroupGrant(quantity=sum(usage.values()), usage=usage, steps=steps)
