"""parse_event: every malformed field of contract section 1 is an InvalidEvent that names it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stockpulse.domain.events import MAX_EVENT_BYTES, EventType, InvalidEvent, OrderEvent, parse_event

ORDER_TYPES = ["order.created", "order.paid", "order.cancelled"]
QUANTITY_TYPES = ["order.created", "stock.restocked", "stock.held", "stock.unheld"]
ALL_TYPES = [t.value for t in EventType]


class _Missing:
    """A field left out (its repr keeps test ids stable across xdist workers)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def raw(kind: str = "order.created", **changes: Any) -> dict[str, Any]:
    """A valid event of `kind`; a change to MISSING drops the field."""
    data: dict[str, Any] = {
        "event_id": "e-1",
        "type": kind,
        "occurred_at": "2026-11-25T20:02:00+08:00",
        "session_id": "live-1",
        "sku_id": "cake-osmanthus",
    }
    if kind.startswith("order."):
        data |= {"platform": "douyin", "order_id": "dy-1"}
    if kind in QUANTITY_TYPES:
        data["quantity"] = 2
    for name, value in changes.items():
        if value is MISSING:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def invalid(payload: bytes | str | dict[str, Any]) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(payload)
    return caught.value


def field_of(data: dict[str, Any]) -> str:
    """The field named when `data` arrives as a Kinesis record's bytes (and as a dict: same answer)."""
    from_bytes = invalid(json.dumps(data).encode())
    assert invalid(data).field == from_bytes.field
    return from_bytes.field


# ------------------------------------------------------------------------------ valid events
@pytest.mark.parametrize("kind", ALL_TYPES)
def test_every_type_parses(kind: str) -> None:
    event = parse_event(json.dumps(raw(kind)).encode())
    assert event.type is EventType(kind)
    assert event.occurred_at == datetime(2026, 11, 25, 20, 2, tzinfo=timezone(timedelta(hours=8)))
    assert event.occurred_ms == int(datetime(2026, 11, 25, 12, 2, tzinfo=UTC).timestamp() * 1000)


def test_limits_are_inclusive() -> None:
    event = parse_event(
        raw(
            event_id="e" * 128,
            session_id="s" * 128,
            sku_id="k" * 128,
            order_id="o" * 128,
            platform="a" * 32,
            quantity=10000,
        )
    )
    assert (len(event.event_id), len(event.order_id or ""), event.quantity) == (128, 128, 10000)
    assert parse_event(raw(quantity=1)).quantity == 1
    assert parse_event(raw(platform="taobao_2-x")).platform == "taobao_2-x"


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-25T20:02:00Z", datetime(2026, 11, 25, 20, 2, tzinfo=UTC)),
        ("2026-11-25t20:02:00z", datetime(2026, 11, 25, 20, 2, tzinfo=UTC)),
        ("2026-11-25T20:02:00-05:30", datetime(2026, 11, 26, 1, 32, tzinfo=UTC)),
        ("2026-11-25T20:02:00.5+00:00", datetime(2026, 11, 25, 20, 2, 0, 500000, tzinfo=UTC)),
        ("2026-11-25T20:02:00.123456789Z", datetime(2026, 11, 25, 20, 2, 0, 123456, tzinfo=UTC)),
        ("2026-11-25T20:02:00.123456789012Z", datetime(2026, 11, 25, 20, 2, 0, 123456, tzinfo=UTC)),
        ("2026-11-25T20:02:00+23:59", datetime(2026, 11, 24, 20, 3, tzinfo=UTC)),
    ],
)
def test_rfc3339_instants_with_an_offset(text: str, utc: datetime) -> None:
    assert parse_event(raw(occurred_at=text)).occurred_at == utc


def test_unknown_fields_are_ignored() -> None:
    event = parse_event(raw(note="gift wrap", extra={"nested": [1, 2]}, quantity_unit="box"))
    assert event.quantity == 2
    assert "note" not in event.model_dump()


@pytest.mark.parametrize("kind", ["order.paid", "order.cancelled"])
@pytest.mark.parametrize("quantity", [0, 10001, 2.0, True, "2", None, -1, [1], 5])
def test_quantity_is_ignored_for_paid_and_cancelled(kind: str, quantity: Any) -> None:
    event = parse_event(json.dumps(raw(kind, quantity=quantity)).encode())
    assert event.quantity is None
    assert event.type is EventType(kind)


@pytest.mark.parametrize(
    "kind", ["stock.restocked", "stock.held", "stock.unheld", "sku.paused", "sku.resumed"]
)
def test_platform_and_order_id_are_optional_outside_order_events(kind: str) -> None:
    event = parse_event(raw(kind, platform=MISSING, order_id=MISSING))
    assert event.platform is None and event.order_id is None


# ---------------------------------------------------------------------------- the id fields
@pytest.mark.parametrize("name", ["event_id", "session_id", "sku_id", "order_id"])
@pytest.mark.parametrize("value", [MISSING, "", "x" * 129, 7, None, ["a"]], ids=repr)
def test_identifier_fields(name: str, value: Any) -> None:
    assert field_of(raw("order.created", **{name: value})) == name


@pytest.mark.parametrize("kind", ORDER_TYPES)
def test_order_id_is_required_for_every_order_event(kind: str) -> None:
    error = invalid(raw(kind, order_id=MISSING))
    assert error.field == "order_id"
    assert error.event_id == "e-1"


# ------------------------------------------------------------------------------------- type
@pytest.mark.parametrize("value", ["order.refunded", "ORDER.CREATED", "", 3, None, MISSING], ids=repr)
def test_unknown_or_missing_type(value: Any) -> None:
    assert field_of(raw(type=value)) == "type"


# ------------------------------------------------------------------------------ occurred_at
@pytest.mark.parametrize(
    "value",
    [
        "2026-11-25T20:02:00",  # no offset
        "2026-11-25T20:02:00.250",  # no offset, with a fraction
        "2026-11-25",  # a date
        "20:02:00Z",  # a time
        "2026-11-25T20:02Z",  # no seconds
        "2026-02-30T20:02:00Z",  # no such day
        "2026-11-25T25:02:00Z",  # no such hour
        "2026-11-25T20:02:00+0800",  # offset without colon
        "2026-11-25T20:02:00+05:60",  # offset minute out of range
        "2026-11-25T20:02:00+24:00",  # offset hour out of range
        "2026-11-25T20:02:00Z\n",  # trailing newline
        " 2026-11-25T20:02:00Z",  # leading space
        "1795636920",  # epoch seconds as text
        "tomorrow",
        "",
        "\uff12\uff10\uff12\uff16-11-25T20:02:00Z",  # full-width digits
    ],
)
def test_occurred_at_malformed(value: str) -> None:
    assert field_of(raw(occurred_at=value)) == "occurred_at"


@pytest.mark.parametrize("value", [1795636920, 1795636920.5, None, True, ["2026-11-25T20:02:00Z"], MISSING])
def test_occurred_at_not_a_string(value: Any) -> None:
    assert field_of(raw(occurred_at=value)) == "occurred_at"


# ---------------------------------------------------------------------------------- platform
@pytest.mark.parametrize(
    "value",
    ["Douyin", "DOUYIN", "a" * 33, "", "dou yin", "douyin\n", "抖音", "tao.bao", 3, None, MISSING],
    ids=repr,
)
@pytest.mark.parametrize("kind", ORDER_TYPES)
def test_platform_of_order_events(kind: str, value: Any) -> None:
    assert field_of(raw(kind, platform=value)) == "platform"


def test_platform_present_but_malformed_on_a_stock_event_is_rejected() -> None:
    assert field_of(raw("stock.restocked", platform="Douyin")) == "platform"


# ---------------------------------------------------------------------------------- quantity
@pytest.mark.parametrize("kind", QUANTITY_TYPES)
@pytest.mark.parametrize(
    "value", [0, -1, 10001, 2.0, 2.5, True, False, "2", None, MISSING, [2], {"n": 2}], ids=repr
)
def test_quantity_malformed_or_missing(kind: str, value: Any) -> None:
    error = invalid(json.dumps(raw(kind, quantity=value)).encode())
    assert error.field == "quantity"
    assert error.event_id == "e-1"


def test_the_first_malformed_field_is_named() -> None:
    # events/kinesis_orders.json's third record: no offset and quantity "2".
    error = invalid(raw(occurred_at="2026-11-25T20:05:00", quantity="2"))
    assert error.field == "occurred_at"
    assert "offset" in error.message


# ----------------------------------------------------------------------------- whole records
@pytest.mark.parametrize(
    "payload",
    [b"[1, 2]", b'"order.created"', b"42", b"null", b"true", "[]"],
)
def test_non_object_json(payload: bytes | str) -> None:
    assert invalid(payload).field == "record"


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b"{'event_id': 'e-1'}", b"not json", b'{"event_id": "e-1",}', b"\x00", "{"],
)
def test_not_json(payload: bytes | str) -> None:
    error = invalid(payload)
    assert error.field == "record"
    assert error.event_id is None


@pytest.mark.parametrize("depth", [3_000, MAX_EVENT_BYTES // 2 - 1])
def test_nesting_deeper_than_the_parser_is_not_json(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    assert len(nested) <= MAX_EVENT_BYTES
    assert invalid(nested).field == "record"
    hidden = json.dumps(raw()).encode()[:-1] + b', "note": ' + nested[:6000] + nested[-6000:] + b"}"
    assert invalid(hidden).field == "record"


def test_non_utf8_bytes() -> None:
    latin1 = json.dumps(raw(sku_id="crème"), ensure_ascii=False).encode("latin-1")
    assert invalid(latin1).field == "record"
    assert invalid(b"\xff\xfe\xfd").field == "record"


def test_utf16_json_is_not_utf8_json() -> None:
    assert invalid(json.dumps(raw()).encode("utf-16")).field == "record"


def test_utf8_with_non_ascii_text_parses() -> None:
    event = parse_event(json.dumps(raw(sku_id="桂花糕-6枚"), ensure_ascii=False).encode("utf-8"))
    assert event.sku_id == "桂花糕-6枚"


def test_lone_surrogate_escape_names_the_field() -> None:
    assert field_of(raw(event_id="\ud800")) == "event_id"


def test_oversized_record() -> None:
    padded = json.dumps(raw(note="x" * MAX_EVENT_BYTES)).encode()
    assert len(padded) > MAX_EVENT_BYTES
    error = invalid(padded)
    assert error.field == "record"
    assert str(MAX_EVENT_BYTES) in error.message
    # Measured in bytes, not characters: 3-byte characters count three times.
    wide = json.dumps(raw(note="桂" * (MAX_EVENT_BYTES // 3 + 1)), ensure_ascii=False)
    assert len(wide) < MAX_EVENT_BYTES < len(wide.encode())
    assert invalid(wide).field == "record"
    assert invalid(wide.encode()).field == "record"


def test_invalid_event_message_names_the_field() -> None:
    error = invalid(raw(quantity=0))
    assert str(error).startswith("quantity:")
    assert isinstance(error.message, str) and error.message


def test_parsed_event_is_an_order_event() -> None:
    assert isinstance(parse_event(raw()), OrderEvent)


def test_a_rejection_carries_a_bounded_copy_of_what_was_sent() -> None:
    # The reason goes to the logs and the dead-letter queue: never 16 KiB of the sender's text.
    raw = {
        "event_id": "e1", "type": "x" * 9000, "occurred_at": "2026-11-25T20:00:00Z",
        "session_id": "s", "sku_id": "k",
    }  # fmt: skip
    with pytest.raises(InvalidEvent) as rejected:
        parse_event(json.dumps(raw).encode())
    assert rejected.value.field == "type"
    assert "unknown event type 'xxx" in rejected.value.message
    assert len(rejected.value.message) <= 200 and len(str(rejected.value)) <= 210
