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
    Reason,
    Step,
    StockLevels,
    hold_until,
    order_step,
    step_move,
    take_refusal,
)
from stockpulse.domain.tiers import Tier

# A transaction takes 100 actions: the stock item + at most one item per order, which also
# remembers the ids of the events applied to it.
MAX_GROUP = 99
ORDER_EVENTS = frozenset({EventType.ORDER_CREATED, EventType.ORDER_PAID, EventType.ORDER_CANCELLED})
# Steps a run applies itself: those that move stock (refusals aside), and those that only
# remember the event on its order. An expired hold (expire first) sends the run one by one.
MOVES = frozenset({Step.RESERVE, Step.CONFIRM, Step.RETAKE, Step.RELEASE, Step.GIVE_BACK})
TAKES = frozenset({Step.RESERVE, Step.RETAKE})
ONLY_REMEMBERED = {
    Step.DUPLICATE: Outcome.duplicate(),
    Step.NO_EFFECT: Outcome.processed(changed_stock=False),
    Step.UNKNOWN_ORDER: Outcome.rejected(Reason.UNKNOWN_ORDER),
}


@dataclass
class OrderChange:
    """One order item's write in a run: as read (None: no order yet) and after the run, with the
    outcome of each event to remember on it, by event id."""

    before: OrderRecord | None
    after: OrderRecord | None
    outcomes: dict[str, Outcome] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupPlan:
    """What applying the whole run does to the stock item and to each order it names."""

    reserved: int
    sold: int
    available: int
    taken: int
    usage: Counter[str]  # per platform: change of reserved + sold units
    steps: list[tuple[int, StockLevels]]  # (event's place in the run, ledger after it) per stock change
    outcomes: list[Outcome]
    orders: dict[str, OrderChange]


@dataclass
class Run:
    """A run's records (indexes in the batch), and the orders that other SKUs' payments and
    cancels between its first and last record name: if one is this SKU's, moving the run ahead
    of that record could change who gets the last units, so the guard reads them and declines."""

    indexes: list[int] = field(default_factory=list)
    crossed: list[tuple[int, str]] = field(default_factory=list)  # (index, order id)
    orders: set[str] = field(default_factory=set)  # order ids its events name
    named_elsewhere: set[str] = field(default_factory=set)  # by other SKUs' records since it opened

    @property
    def crossed_orders(self) -> list[str]:
        return sorted({order_id for index, order_id in self.crossed if index < self.indexes[-1]})


def runs(events: Sequence[OrderEvent | None]) -> list[Run]:
    """Runs of one SKU's order events, consecutive in that SKU's own sequence.

    A run is applied when its first record comes up, ahead of other SKUs' records between its
    events; so it never reaches across another SKU's record that names one of its orders (a
    payment may name an order under another SKU's partition key). `None` stands for a record that
    is not a valid event: it breaks no run; a stock or pause event ends its SKU's run. Runs longer
    than MAX_GROUP are split; single events are not runs.
    """
    open_runs: dict[tuple[str, str], Run] = {}
    found: list[Run] = []
    for index, event in enumerate(events):
        if event is None:
            continue
        key = (event.session_id, event.sku_id)
        order_id = event.order_id
        for other_key, other in list(open_runs.items()):
            if other_key == key or order_id is None:
                continue
            if order_id in other.orders:
                found.append(open_runs.pop(other_key))
                continue
            other.named_elsewhere.add(order_id)
            if event.type is not EventType.ORDER_CREATED:
                other.crossed.append((index, order_id))
        if event.type not in ORDER_EVENTS:
            if key in open_runs:
                found.append(open_runs.pop(key))
            continue
        run = open_runs.get(key)
        if run is not None and order_id in run.named_elsewhere:
            found.append(open_runs.pop(key))
            run = None
        if run is None:
            run = open_runs[key] = Run()
        run.indexes.append(index)
        run.orders.add(str(order_id))
        if len(run.indexes) == MAX_GROUP:
            found.append(open_runs.pop(key))
    found.extend(open_runs.values())
    return sorted((r for r in found if len(r.indexes) > 1), key=lambda r: r.indexes[0])


def plan_group(
    levels: StockLevels,
    events: Sequence[OrderEvent],
    known: Mapping[str, OrderRecord | None],
    *,
    remembered: Mapping[str, Mapping[str, str]],
    hold_ms: int,
    tier: Tier,
    tier_after: Callable[[StockLevels, int], Tier],
    auto_pause_on_red: bool,
    now_ms: int | None = None,
) -> GroupPlan | None:
    """Every event of the run decided in sequence, or None when one would be refused, finds its
    hold expired, acts on another SKU's order, or pauses the SKU before the run's end.

    `known`: orders as read (None: no order); an order not in it is taken to be new, which its
    write checks. `remembered`: per order, the outcome codes of events already applied to it.
    `now_ms`: the processing clock; a hold never ends later than `hold_ms` after it (an order
    dated in the future holds stock from now, as `domain.ledger.hold_until` decides).
    """
    state: dict[str, OrderRecord | None] = dict(known)
    memory: dict[tuple[str, str], Outcome] = {
        (order_id, event_id): Outcome.from_code(code)
        for order_id, codes in remembered.items()
        for event_id, code in codes.items()
    }
    orders: dict[str, OrderChange] = {}
    steps: list[tuple[int, StockLevels]] = []
    outcomes: list[Outcome] = []
    usage: Counter[str] = Counter()
    start = levels
    for position, event in enumerate(events):
        order_id = str(event.order_id)
        first = memory.get((order_id, event.event_id))
        if first is not None:  # delivered before: no second effect, nothing written
            outcomes.append(Outcome.duplicate(first))
            continue
        record = state.get(order_id)
        step = order_step(event, record)
        if record is not None and record.sku_id != event.sku_id:
            return None
        change = orders.setdefault(order_id, OrderChange(before=known.get(order_id), after=record))
        if step in ONLY_REMEMBERED:
            outcome = ONLY_REMEMBERED[step]
        elif step in MOVES:
            if step is Step.RESERVE:
                assert event.platform is not None
                record = OrderRecord(
                    order_id=order_id, sku_id=event.sku_id, platform=event.platform, quantity=event.units,
                    status=STEP_STATUS[step], created_ms=event.occurred_ms,
                    hold_until_ms=hold_until(event.occurred_ms, hold_ms, now_ms),
                )  # fmt: skip
            elif record is not None:
                record = replace(record, status=STEP_STATUS[step])
            assert record is not None
            if step in TAKES and take_refusal(levels, record.platform, record.quantity) is not None:
                return None
            move = step_move(step, state.get(order_id), event)
            levels = move.applied_to(levels)
            if move.platform is not None:
                usage[move.platform] += move.platform_usage
            state[order_id] = change.after = record
            outcome = Outcome.processed(record.status, changed_stock=True)
            steps.append((position, levels))
            now = tier_after(levels, event.occurred_ms)
            if auto_pause_on_red and now is Tier.RED and tier < Tier.RED and position < len(events) - 1:
                return None  # the SKU pauses here: what follows must be decided one by one
            tier = now
        else:
            return None
        change.outcomes[event.event_id] = outcome
        memory[(order_id, event.event_id)] = outcome
        outcomes.append(outcome)
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
