"""Where event ids are remembered, and what a redelivery reports.

An order event is remembered on its order's item (no second item on the hot path), a stock event
or an event naming no known SKU on a marker item. A redelivered event is a duplicate that carries
the outcome the event had when it applied: the runner counts a replay resumed after a crash with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import MINUTE, T0, Rig, event, moto_rig, session_plan

from stockpulse.adapters.dynamodb_ledger import from_item, order_key
from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import OrderStatus, Outcome, Reason, Result


@pytest.fixture
def rig() -> Iterator[Rig]:
    with moto_rig(session_plan([{"sku_id": "tea", "on_hand": 10, "hold_minutes": 15}])) as built:
        yield built


def created(event_id: str, order_id: str, at_ms: int = T0, quantity: int = 1) -> OrderEvent:
    return event(
        "order.created", event_id, at_ms, "tea", platform="douyin", order_id=order_id, quantity=quantity
    )


def markers(rig: Rig) -> list[str]:
    return sorted(i["pk"]["S"] for i in rig.items("EVENT#"))


def test_a_reservation_writes_the_stock_item_and_the_order_item_only(rig: Rig) -> None:
    rig.store.request_log.clear()
    outcome = rig.guard.ledger.handle(created("e1", "o1"))
    assert outcome == Outcome.processed(OrderStatus.RESERVED, changed_stock=True)
    assert markers(rig) == []
    assert rig.store.order_memory(rig.session_id, "o1").events == {"e1": outcome.code}
    assert rig.store.request_log.count("TransactWriteItems") == 1


def test_a_redelivered_event_is_a_duplicate_carrying_its_first_outcome(rig: Rig) -> None:
    first = rig.guard.ledger.handle(created("e1", "o1"))
    again = rig.guard.ledger.handle(created("e1", "o1"))
    assert again.result is Result.DUPLICATE and again.original == first
    # An order id seen before under a new event id is a duplicate too, with nothing remembered before it.
    other = rig.guard.ledger.handle(created("e2", "o1"))
    assert other == Outcome.duplicate()
    assert rig.levels("tea").reserved == 1


def test_a_refused_reservation_is_remembered_with_its_reason(rig: Rig) -> None:
    refused = rig.guard.ledger.handle(created("e1", "big", quantity=11))
    assert refused == Outcome.rejected(Reason.INSUFFICIENT_STOCK, OrderStatus.REJECTED)
    again = rig.guard.ledger.handle(created("e1", "big", quantity=11))
    assert again.original == refused
    assert markers(rig) == []


def test_a_payment_before_its_order_stays_a_duplicate_once_the_order_exists(rig: Rig) -> None:
    paid = event("order.paid", "p1", T0, "tea", platform="douyin", order_id="o1")
    assert rig.guard.ledger.handle(paid).reason is Reason.UNKNOWN_ORDER
    assert rig.order("o1") is None, "an order never created is not known"
    assert rig.guard.ledger.handle(created("c1", "o1", T0 + 1000)).order_status is OrderStatus.RESERVED
    redelivered = rig.guard.ledger.handle(paid)
    assert redelivered.result is Result.DUPLICATE
    assert redelivered.original == Outcome.rejected(Reason.UNKNOWN_ORDER)
    order = rig.order("o1")
    assert order is not None and order.status is OrderStatus.RESERVED


def test_a_cancel_of_an_unknown_order_does_not_make_it_known(rig: Rig) -> None:
    cancel = event("order.cancelled", "x1", T0, "tea", platform="douyin", order_id="o1")
    assert rig.guard.ledger.handle(cancel) == Outcome.processed(changed_stock=False)
    assert rig.guard.ledger.handle(created("c1", "o1", T0 + 1000)).result is Result.PROCESSED
    assert rig.guard.ledger.handle(cancel).result is Result.DUPLICATE
    assert rig.levels("tea").reserved == 1


def test_stock_events_and_unknown_skus_are_remembered_on_markers(rig: Rig) -> None:
    restock = event("stock.restocked", "r1", T0, "tea", quantity=5)
    stranger = event("order.created", "s1", T0, "coffee", platform="douyin", order_id="o9", quantity=1)
    first = [rig.guard.ledger.handle(restock), rig.guard.ledger.handle(stranger)]
    again = [rig.guard.ledger.handle(restock), rig.guard.ledger.handle(stranger)]
    assert [o.original for o in again] == first
    assert markers(rig) == ["EVENT#r1", "EVENT#s1"]
    assert rig.levels("tea").on_hand == 15


def test_memory_survives_an_expiry_by_ttl_removal(rig: Rig) -> None:
    rig.guard.ledger.handle(created("e1", "o1"))
    key = order_key(rig.session_id, "o1")
    image = rig.client.get_item(TableName=rig.table, Key=key, ConsistentRead=True)["Item"]
    rig.client.delete_item(TableName=rig.table, Key=key)  # as the TTL does, later than the sweep
    assert rig.guard.expiry.release_ttl_removed(from_item(image))
    rig.clock.set(T0 + 20 * MINUTE)
    assert rig.guard.ledger.handle(created("e1", "o1")).result is Result.DUPLICATE
    assert rig.levels("tea").available == 10
