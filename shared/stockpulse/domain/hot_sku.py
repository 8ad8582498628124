"""Hot-SKU grouping: many order events of one SKU applied by one write to its stock item.

A famous host sells thousands of one item in minutes; one write per event to the SKU's stock
item caps it near 500 events/s (1,000 write units per partition, 2 per transactional write), and
in a live sale payments interleave with new orders. Within one stream batch, a run of one SKU's
order events (created, paid, cancelled) is applied together when sequential processing would
apply each of them plainly: a reservation granted, a live reservation paid, a reservation or a
sale cancelled. Anything else (a refusal, a duplicate, an unknown order, an expired hold, an
auto-pause before the end) sends the run one by one, so the outcomes are exactly those of
sequential processing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from stockpulse.domain.events import EventType, OrderEvent
from stockpulse.domain.ledger import (
    STEP_STATUS,
    OrderRecord,
    Outcome,
    Step,
    StockLevels,
    order_step,
    step_move,
    take_refusal,
)
from stockpulse.domain.tiers import Tier

# A transaction takes 100 actions: the stock item + at most one item per order, which also
# remembers the ids of the events applied to it.
MAX_GROUP = 99
ORDER_EVENTS = frozenset({EventType.ORDER_CREATED, EventType.ORDER_PAID, EventType.ORDER_CANCELLED})
GROUPED_STEPS = frozenset({Step.RESERVE, Step.CONFIRM, Step.RELEASE, Step.GIVE_BACK})


@dataclass
class OrderChange:
    """One order item's write in a group: its state as read (None: new) and after the group."""

    before: OrderRecord | None
    after: OrderRecord
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by event id, in order


@dataclass(frozen=True)
class GroupPlan:
    """What applying the whole run does to the stock item and to each order it names."""

    reserved: int
    sold: int
    available: int
    taken: int
    usage: Counter[str]  # per platform: change of reserved + sold units
    steps: list[StockLevels]  # the ledger after each event, for the tier path
    outcomes: list[Outcome]
    orders: dict[str, OrderChange]


@dataclass
class _OpenRun:
    indexes: list[int] = field(default_factory=list)
    orders: set[str] = field(default_factory=set)  # order ids its events name
    named_elsewhere: set[str] = field(default_factory=set)  # by other SKUs' records since it opened


def runs(events: Sequence[OrderEvent | None]) -> list[list[int]]:
    """Indexes of runs of one SKU's order events, consecutive in that SKU's own sequence.

    A run is applied when its first record comes up, ahead of other SKUs' records between its
    events; so it never reaches across another SKU's record that names one of its orders (a
    payment may name an order under another SKU's partition key). `None` stands for a record that
    is not a valid event: it breaks no run; a stock or pause event ends its SKU's run. Runs longer
    than MAX_GROUP are split; single events are not runs.
    """
    open_runs: dict[tuple[str, str], _OpenRun] = {}
    found: list[list[int]] = []
    for index, event in enumerate(events):
        if event is None:
            continue
        key = (event.session_id, event.sku_id)
        order_id = event.order_id
        for other_key, other in list(open_runs.items()):
            if other_key == key or order_id is None:
                continue
            if order_id in other.orders:
                found.append(open_runs.pop(other_key).indexes)
            else:
                other.named_elsewhere.add(order_id)
        if event.type not in ORDER_EVENTS:
            if key in open_runs:
                found.append(open_runs.pop(key).indexes)
            continue
        run = open_runs.get(key)
        if run is not None and order_id in run.named_elsewhere:
            found.append(open_runs.pop(key).indexes)
            run = None
        if run is None:
            run = open_runs[key] = _OpenRun()
        run.indexes.append(index)
        run.orders.add(str(order_id))
        if len(run.indexes) == MAX_GROUP:
            found.append(open_runs.pop(key).indexes)
    found.extend(r.indexes for r in open_runs.values())
    return sorted((r for r in found if len(r) > 1), key=lambda r: r[0])


def plan_group(
    levels: StockLevels,
    events: Sequence[OrderEvent],
    known: Mapping[str, OrderRecord | None],
    *,
    remembered: frozenset[str],
    hold_ms: int,
    tier: Tier,
    tier_after: Callable[[StockLevels, int], Tier],
    auto_pause_on_red: bool,
) -> GroupPlan | None:
    """Every event of the run applied in sequence, or None when sequential processing would do
    anything but apply each one plainly.

    `known`: the orders named by the run's payments and cancels, as read (None: never created);
    an order created in the run need not be read: its write is conditional on not existing.
    `remembered`: event ids already applied to those orders.
    """
    if len({e.event_id for e in events}) < len(events) or remembered.intersection(e.event_id for e in events):
        return None
    state: dict[str, OrderRecord | None] = dict(known)
    orders: dict[str, OrderChange] = {}
    steps: list[StockLevels] = []
    outcomes: list[Outcome] = []
    usage: Counter[str] = Counter()
    start = levels
    for position, event in enumerate(events):
        order_id = str(event.order_id)
        record = state.get(order_id)
        step = order_step(event, record)
        if step not in GROUPED_STEPS or (record is not None and record.sku_id != event.sku_id):
            return None
        if step is Step.RESERVE:
            assert event.platform is not None
            if take_refusal(levels, event.platform, event.units) is not None:
                return None
            after = OrderRecord(
                order_id=order_id, sku_id=event.sku_id, platform=event.platform, quantity=event.units,
                status=STEP_STATUS[step], created_ms=event.occurred_ms,
                hold_until_ms=event.occurred_ms + hold_ms,
            )  # fmt: skip
        else:
            assert record is not None
            after = replace(record, status=STEP_STATUS[step])
        move = step_move(step, record, event)
        levels = move.applied_to(levels)
        if move.platform is not None:
            usage[move.platform] += move.platform_usage
        state[order_id] = after
        change = orders.setdefault(order_id, OrderChange(before=known.get(order_id), after=after))
        change.after = after
        outcome = Outcome.processed(after.status, changed_stock=True)
        change.outcomes[event.event_id] = outcome
        outcomes.append(outcome)
        steps.append(levels)
        now = tier_after(levels, event.occurred_ms)
        if auto_pause_on_red and now is Tier.RED and tier < Tier.RED and position < len(events) - 1:
            return None  # the SKU pauses here: what follows must be decided one by one
        tier = now
    return GroupPlan(
        reserved=levels.reserved - start.reserved,
        sold=levels.sold - start.sold,
        available=levels.available - start.available,
        taken=levels.taken - start.taken,
        usage=usage,
        steps=steps,
        outcomes=outcomes,
        orders=orders,
    )
