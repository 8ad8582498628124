"""The order event: what platform integrations write to the `orders` stream (contract section 1).

Parsing is strict: `quantity` 2.0, true or "2" are malformed, a timestamp without an offset is
malformed, and a malformed event becomes a typed `InvalidEvent` that names the field.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

# Size limits: a record larger than this is rejected before JSON parsing (Kinesis allows 1 MiB).
MAX_EVENT_BYTES = 16 * 1024

# RFC 3339 section 5.6: any number of fraction digits (time-secfrac = "." 1*DIGIT), and an offset
# whose hour is 00-23 and minute 00-59 (fromisoformat would read "+05:60" as +06:00); ASCII digits.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)", re.ASCII
)


class EventType(StrEnum):
    ORDER_CREATED = "order.created"
    ORDER_PAID = "order.paid"
    ORDER_CANCELLED = "order.cancelled"
    STOCK_RESTOCKED = "stock.restocked"
    STOCK_HELD = "stock.held"
    STOCK_UNHELD = "stock.unheld"
    SKU_PAUSED = "sku.paused"
    SKU_RESUMED = "sku.resumed"

    @property
    def is_order(self) -> bool:
        return self.value.startswith("order.")

    @property
    def needs_quantity(self) -> bool:
        return self in _NEEDS_QUANTITY


_NEEDS_QUANTITY = {
    EventType.ORDER_CREATED,
    EventType.STOCK_RESTOCKED,
    EventType.STOCK_HELD,
    EventType.STOCK_UNHELD,
}

# No control characters: ids travel as SNS message attributes, e-mail subjects and DynamoDB keys,
# and AWS refuses control characters in the first two (a refused red alert would be lost).
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
Platform = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]


def parse_instant(value: object) -> datetime:
    """An RFC 3339 timestamp with an offset; anything else is malformed."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value  # built in code, not parsed from JSON
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-25T20:00:00+08:00")
    text = value.replace("z", "Z").replace("t", "T")
    # Python 3.11 takes at most 6 fractional digits.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    return datetime.fromisoformat(text.replace(" ", "T"))


def _type_rules(schema: dict[str, Any]) -> None:
    """Add to the published JSON Schema what field types alone cannot say (contract section 1).

    `platform` and `order_id` are required for order.*; `quantity` is required for order.created
    and stock.*, and ignored (any value passes) for order.paid / order.cancelled, as parse_event does.
    """
    props = schema["properties"]
    quantity = props["quantity"]
    whole, _null = quantity["anyOf"]
    props["quantity"] = {
        "title": quantity["title"],
        "description": "1-10000, written as an integer (2.0 is malformed: JSON Schema cannot tell it "
        "from 2); required for order.created and stock.*, ignored for order.paid and order.cancelled",
    }

    def when(types: list[str], then: dict[str, Any]) -> dict[str, Any]:
        return {"if": {"required": ["type"], "properties": {"type": {"enum": types}}}, "then": then}

    string = {"type": "string"}
    schema["allOf"] = [
        when(
            [t.value for t in EventType if t.is_order],
            {"required": ["platform", "order_id"], "properties": {"platform": string, "order_id": string}},
        ),
        when(
            [t.value for t in EventType if t.needs_quantity],
            {"required": ["quantity"], "properties": {"quantity": whole}},
        ),
        when(
            [t.value for t in EventType if not t.is_order and not t.needs_quantity],
            {"properties": {"quantity": {"anyOf": [whole, {"type": "null"}]}}},
        ),
    ]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"


class OrderEvent(BaseModel):
    """One order or stock event. Unknown fields are ignored."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", json_schema_extra=_type_rules)

    event_id: Id
    type: EventType
    occurred_at: datetime
    session_id: Id
    sku_id: Id
    platform: Platform | None = None
    order_id: Id | None = None
    quantity: Annotated[int, Field(ge=1, le=10000)] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> EventType:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        try:
            return EventType(value)
        except ValueError:
            raise ValueError(f"unknown event type {value!r}") from None

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> datetime:
        return parse_instant(value)

    @property
    def occurred_ms(self) -> int:
        return epoch_ms(self.occurred_at)

    @property
    def units(self) -> int:
        """The quantity of an event that must carry one (validated on parse)."""
        assert self.quantity is not None, "validated: this event type carries a quantity"
        return self.quantity


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_MS = 60_000  # instants are epoch milliseconds everywhere; the evaluator runs once a minute


def epoch_ms(instant: datetime) -> int:
    """Whole milliseconds since the epoch, computed exactly (no float rounding)."""
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def rfc3339(ms: int) -> str:
    """The instant as the reports print it: UTC, 'Z', milliseconds only when needed."""
    instant = from_epoch_ms(ms)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


class InvalidEvent(Exception):
    """A malformed event: rejected with reason `invalid`, naming the field."""

    def __init__(self, field: str, message: str, event_id: str | None = None) -> None:
        # A field name can be any key of the sender's JSON: logs and dead letters get a bounded copy.
        field, message = _bounded(field, MAX_FIELD_TEXT), _bounded(message, MAX_FIELD_TEXT)
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.event_id = event_id


MAX_FIELD_TEXT = 200


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_event(raw: bytes | str | dict[str, Any]) -> OrderEvent:
    """Parse one record's payload into an `OrderEvent`, or raise `InvalidEvent`."""
    if isinstance(raw, bytes | str):
        # The limit is on bytes: a str is measured as the UTF-8 it would travel as.
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
        if size > MAX_EVENT_BYTES:
            raise InvalidEvent("record", f"larger than {MAX_EVENT_BYTES} bytes")
        try:
            # Strictly UTF-8 (a BOM tolerated): json.loads(bytes) would also take UTF-16/32.
            data = json.loads(raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            # RecursionError: nesting deeper than the parser's stack ("[[[[...]]]]" fits in 16 KiB);
            # left uncaught it would fail the record on every retry and hold its shard back.
            raise InvalidEvent("record", f"not UTF-8 JSON ({err.__class__.__name__})") from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise InvalidEvent("record", "must be a JSON object")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    # Fields that an event type ignores are dropped before validation (contract: "ignored").
    kind = data.get("type")
    if kind in (EventType.ORDER_PAID.value, EventType.ORDER_CANCELLED.value):
        data = {k: v for k, v in data.items() if k != "quantity"}
    data = {k: v for k, v in data.items() if v is not None or k in _REQUIRED}
    try:
        event = OrderEvent.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "record"
        raise InvalidEvent(field, first["msg"], event_id) from None
    if event.type.is_order:
        for name in ("platform", "order_id"):
            if getattr(event, name) is None:
                raise InvalidEvent(name, f"required for {event.type.value}", event.event_id)
    if event.type.needs_quantity and event.quantity is None:
        raise InvalidEvent("quantity", f"required for {event.type.value}", event.event_id)
    return event


_REQUIRED = {"event_id", "type", "occurred_at", "session_id", "sku_id"}
