"""stockpulse.domain.ledger: the pure decisions, without a database."""

from __future__ import annotations

import pytest

from stockpulse.domain.events import EventType, OrderEvent, parse_event, rfc3339
from stockpulse.domain.ledger import (
    REFUSED_STATUS,
    STEP_STATUS,
    Move,
    OrderRecord,
    OrderStatus,
    Reason,
    Step,
    StockLevels,
    confirm,
    give_back,
    move_refusal,
    order_step,
    release,
    reserve,
    retake,
    step_move,
    stock_move,
    take_refusal,
)

T = 1_795_636_920_000  # 2026-11-25T20:02:00Z
HOLD = 15 * 60_000
S = OrderStatus


def ev(kind: str, at_ms: int = T, *, quantity: int | None = 3, platform: str = "kuaishou") -> OrderEvent:
    raw: dict[str, object] = {
        "event_id": f"e-{kind}-{at_ms}",
        "type": kind,
        "occurred_at": rfc3339(at_ms),
        "session_id": "live-1",
        "sku_id": "other-sku",
        "platform": platform,
        "order_id": "o-1",
    }
    if quantity is not None:
        raw["quantity"] = quantity
    return parse_event(raw)


def order(status: OrderStatus, *, created: int = T - 60_000, hold: int = HOLD) -> OrderRecord:
    return OrderRecord(
        order_id="o-1",
        sku_id="cake",
        platform="douyin",
        quantity=2,
        status=status,
        created_ms=created,
        hold_until_ms=created + hold,
    )


def levels(**kw: object) -> StockLevels:
    base: dict[str, object] = {"on_hand": 10, "held": 1, "reserved": 2, "sold": 3, "available": 4}
    base.update(kw)
    return StockLevels(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- order_step table
CREATED, PAID, CANCELLED = "order.created", "order.paid", "order.cancelled"
STEPS: dict[OrderStatus | None, tuple[Step, Step, Step]] = {
    # status: (created, paid, cancelled) for a reservation still live at the event's instant
    None: (Step.RESERVE, Step.UNKNOWN_ORDER, Step.NO_EFFECT),
    S.RESERVED: (Step.DUPLICATE, Step.CONFIRM, Step.RELEASE),
    S.SOLD: (Step.DUPLICATE, Step.DUPLICATE, Step.GIVE_BACK),
    S.RELEASED: (Step.DUPLICATE, Step.RETAKE, Step.NO_EFFECT),
    S.EXPIRED: (Step.DUPLICATE, Step.RETAKE, Step.NO_EFFECT),
    S.REJECTED: (Step.DUPLICATE, Step.RETAKE, Step.NO_EFFECT),
    S.REFUND_REQUIRED: (Step.DUPLICATE, Step.DUPLICATE, Step.NO_EFFECT),
}


@pytest.mark.parametrize("status", list(STEPS), ids=lambda s: str(s))
@pytest.mark.parametrize("kind", [CREATED, PAID, CANCELLED])
def test_order_step_for_every_status_and_event(status: OrderStatus | None, kind: str) -> None:
    expected = STEPS[status][[CREATED, PAID, CANCELLED].index(kind)]
    record = order(status) if status is not None else None
    assert order_step(ev(kind), record) is expected


def test_every_status_is_in_the_table() -> None:
    assert set(STEPS) == {None, *OrderStatus}


@pytest.mark.parametrize("kind", [PAID, CANCELLED])
def test_a_reservation_past_its_hold_is_expired_first(kind: str) -> None:
    assert order_step(ev(kind, T + HOLD), order(S.RESERVED, created=T)) is Step.EXPIRE_FIRST
    assert order_step(ev(kind, T + 10 * HOLD), order(S.RESERVED, created=T)) is Step.EXPIRE_FIRST


def test_created_again_after_the_hold_is_still_a_duplicate() -> None:
    assert order_step(ev(CREATED, T + HOLD), order(S.RESERVED, created=T)) is Step.DUPLICATE


def test_expiry_boundary_is_exactly_the_hold_end() -> None:
    record = order(S.RESERVED, created=T)
    end = T + HOLD
    assert record.hold_until_ms == end
    assert record.live_at(end - 1)
    assert not record.live_at(end)
    assert order_step(ev(PAID, end - 1), record) is Step.CONFIRM
    assert order_step(ev(PAID, end), record) is Step.EXPIRE_FIRST  # paid at that instant: expired
    assert order_step(ev(CANCELLED, end - 1), record) is Step.RELEASE
    assert order_step(ev(CANCELLED, end), record) is Step.EXPIRE_FIRST


def test_a_payment_earlier_than_the_creation_still_confirms() -> None:
    # Reordered delivery: what matters is the hold end, not the creation instant.
    assert order_step(ev(PAID, T - 5 * 60_000), order(S.RESERVED, created=T)) is Step.CONFIRM


def test_only_reserved_orders_are_ever_live() -> None:
    for status in OrderStatus:
        assert order(status, created=T).live_at(T) is (status is S.RESERVED)


# -------------------------------------------------------------------------------- refusals
def test_take_refusal_checks_paused_then_quota_then_stock() -> None:
    everything_wrong = levels(paused=True, available=0, headroom={"douyin": 0})
    assert take_refusal(everything_wrong, "douyin", 1) is Reason.SKU_PAUSED
    quota_and_stock = levels(available=0, headroom={"douyin": 0})
    assert take_refusal(quota_and_stock, "douyin", 1) is Reason.QUOTA_EXCEEDED
    assert take_refusal(levels(available=0), "douyin", 1) is Reason.INSUFFICIENT_STOCK
    assert take_refusal(levels(available=1), "douyin", 1) is None


def test_quota_allows_usage_up_to_the_cap_exactly() -> None:
    stock = levels(available=10, headroom={"douyin": 3})
    assert take_refusal(stock, "douyin", 3) is None
    assert take_refusal(stock, "douyin", 4) is Reason.QUOTA_EXCEEDED
    assert take_refusal(stock, "kuaishou", 10) is None  # uncapped platform
    assert take_refusal(stock, "kuaishou", 11) is Reason.INSUFFICIENT_STOCK
    assert take_refusal(levels(available=10, headroom={"douyin": 0}), "douyin", 1) is Reason.QUOTA_EXCEEDED


def test_no_partial_reservations() -> None:
    assert take_refusal(levels(available=2), "douyin", 3) is Reason.INSUFFICIENT_STOCK


def test_move_refusal() -> None:
    assert move_refusal(levels(paused=True), reserve("douyin", 1)) is Reason.SKU_PAUSED
    assert move_refusal(levels(paused=True), retake("douyin", 1)) is Reason.SKU_PAUSED
    assert move_refusal(levels(paused=True), confirm(2)) is None  # a live reservation confirms while paused
    assert move_refusal(levels(paused=True), release("douyin", 2)) is None
    held = stock_move(stock_ev("stock.held", 5))
    assert move_refusal(levels(available=4), held) is Reason.INSUFFICIENT_STOCK
    assert move_refusal(levels(available=5), held) is None
    unheld = stock_move(stock_ev("stock.unheld", 2))
    assert move_refusal(levels(held=1), unheld) is Reason.INSUFFICIENT_HELD
    assert move_refusal(levels(held=2), unheld) is None
    assert move_refusal(levels(available=0, paused=True), stock_move(stock_ev("stock.restocked", 9))) is None


# ----------------------------------------------------------------------------------- moves
def stock_ev(kind: str, quantity: int | None = None) -> OrderEvent:
    raw: dict[str, object] = {
        "event_id": "s-1",
        "type": kind,
        "occurred_at": rfc3339(T),
        "session_id": "live-1",
        "sku_id": "cake",
    }
    if quantity is not None:
        raw["quantity"] = quantity
    return parse_event(raw)


@pytest.mark.parametrize(
    ("move", "delta"),
    [
        (reserve("douyin", 2), (0, 0, 2, 0, -2)),
        (confirm(2), (0, 0, -2, 2, 0)),
        (retake("douyin", 2), (0, 0, 0, 2, -2)),
        (release("douyin", 2), (0, 0, -2, 0, 2)),
        (give_back("douyin", 2), (0, 0, 0, -2, 2)),
        (stock_move(stock_ev("stock.restocked", 2)), (2, 0, 0, 0, 2)),
        (stock_move(stock_ev("stock.held", 2)), (0, 2, 0, 0, -2)),
        (stock_move(stock_ev("stock.unheld", 2)), (0, -2, 0, 0, 2)),
        (stock_move(stock_ev("sku.paused")), (0, 0, 0, 0, 0)),
    ],
)
def test_every_move_keeps_the_ledger_balanced(move: Move, delta: tuple[int, ...]) -> None:
    before = levels(on_hand=20, held=3, reserved=4, sold=5, available=8)
    assert before.balanced
    after = move.applied_to(before)
    got = tuple(
        getattr(after, n) - getattr(before, n) for n in ("on_hand", "held", "reserved", "sold", "available")
    )
    assert got == delta
    assert after.balanced


def test_platform_usage_follows_reserve_and_sold_units() -> None:
    s = levels(available=10, headroom={"douyin": 5}, used={"douyin": 0})
    s = reserve("douyin", 2).applied_to(s)
    assert (s.used["douyin"], s.headroom["douyin"], s.taken) == (2, 3, 2)
    s = confirm(2).applied_to(s)  # reserved -> sold: usage unchanged
    assert (s.used["douyin"], s.headroom["douyin"]) == (2, 3)
    s = give_back("douyin", 2).applied_to(s)
    assert (s.used["douyin"], s.headroom["douyin"]) == (0, 5)
    s = retake("kuaishou", 4).applied_to(s)  # uncapped: usage counted, no headroom
    assert (s.used["kuaishou"], "kuaishou" in s.headroom, s.taken) == (4, False, 6)
    s = release("kuaishou", 4).applied_to(s)
    assert s.used["kuaishou"] == 0


def test_pause_and_resume_moves() -> None:
    assert stock_move(stock_ev("sku.paused")).applied_to(levels()).paused is True
    assert stock_move(stock_ev("sku.resumed")).applied_to(levels(paused=True)).paused is False
    assert stock_move(stock_ev("stock.restocked", 1)).applied_to(levels(paused=True)).paused is True


def test_restock_is_counted_as_restocked() -> None:
    assert stock_move(stock_ev("stock.restocked", 7)).applied_to(levels()).restocked == 7


def test_stock_move_of_an_order_event_is_an_error() -> None:
    with pytest.raises(ValueError):
        stock_move(ev(CREATED))


def test_balanced() -> None:
    assert levels().balanced
    assert not levels(available=5).balanced
    assert not StockLevels(on_hand=0, held=0, reserved=1, sold=0, available=-1).balanced


# ------------------------------------------------------------------------------ step moves
def test_steps_act_on_the_order_as_first_created() -> None:
    record = order(S.RESERVED)  # douyin, 2 units
    paid = ev(PAID, platform="kuaishou", quantity=None)
    assert step_move(Step.CONFIRM, record, paid) == confirm(2)
    assert step_move(Step.RELEASE, record, paid) == release("douyin", 2)
    assert step_move(Step.GIVE_BACK, record, paid) == give_back("douyin", 2)
    assert step_move(Step.RETAKE, record, paid) == retake("douyin", 2)
    created = ev(CREATED, platform="kuaishou", quantity=3)
    assert step_move(Step.RESERVE, None, created) == reserve("kuaishou", 3)


def test_step_statuses() -> None:
    assert STEP_STATUS == {
        Step.RESERVE: S.RESERVED,
        Step.CONFIRM: S.SOLD,
        Step.RETAKE: S.SOLD,
        Step.RELEASE: S.RELEASED,
        Step.GIVE_BACK: S.RELEASED,
    }
    # Only taking stock can be refused: a refused creation is remembered, a refused payment needs a refund.
    assert REFUSED_STATUS == {Step.RESERVE: S.REJECTED, Step.RETAKE: S.REFUND_REQUIRED}


def test_event_type_helpers() -> None:
    assert {t for t in EventType if t.is_order} == {
        EventType.ORDER_CREATED,
        EventType.ORDER_PAID,
        EventType.ORDER_CANCELLED,
    }
    assert {t for t in EventType if t.needs_quantity} == {
        EventType.ORDER_CREATED,
        EventType.STOCK_RESTOCKED,
        EventType.STOCK_HELD,
        EventType.STOCK_UNHELD,
    }
