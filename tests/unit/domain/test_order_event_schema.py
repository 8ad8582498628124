"""The published JSON Schema of the order event is OrderEvent's, and it agrees with parse_event.

Regenerate the committed file after a model change with:
    STOCKPULSE_WRITE_SCHEMA=1 .venv/bin/pytest tests/unit/domain/test_order_event_schema.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # pinned through cfn-lint
from support import check_committed_schema

from stockpulse.domain.events import EventType, InvalidEvent, OrderEvent, parse_event

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "order-event.schema.json"


def generated() -> dict[str, Any]:
    return OrderEvent.model_json_schema()


def test_committed_schema_is_the_models() -> None:
    check_committed_schema(SCHEMA_PATH, generated(), __file__)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"event_id", "type", "occurred_at", "session_id", "sku_id"}
    assert schema["$defs"]["EventType"]["enum"] == [t.value for t in EventType]
    assert "additionalProperties" not in schema  # unknown fields are ignored


# --------------------------------------------------------------- the schema says what the parser does
def base(kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": "e-1",
        "type": kind,
        "occurred_at": "2026-11-25T20:02:00+08:00",
        "session_id": "live-1",
        "sku_id": "cake",
    }
    if kind.startswith("order."):
        data |= {"platform": "douyin", "order_id": "dy-1"}
    if EventType(kind).needs_quantity:
        data["quantity"] = 2
    return data


class _Drop:
    def __repr__(self) -> str:  # stable test ids across xdist workers
        return "DROP"


DROP = _Drop()
VARIANTS: list[tuple[str, Any]] = [
    ("event_id", DROP),
    ("event_id", ""),
    ("event_id", "x" * 129),
    ("event_id", None),
    ("session_id", "x" * 128),
    ("session_id", 3),
    ("sku_id", ""),
    ("sku_id", "cake\r\nSubject: free"),  # control characters: SNS and e-mail refuse them
    ("sku_id", "蛋糕 6寸"),
    ("order_id", "dy\x00-1"),
    ("type", "order.refunded"),
    ("type", None),
    ("occurred_at", "2026-11-25T20:02:00"),
    ("occurred_at", "2026-11-25T20:02:00Z"),
    ("occurred_at", "2026-11-25T20:02:00.123456789-03:30"),
    ("occurred_at", "2026-11-25"),
    ("occurred_at", 1795636920),
    ("platform", DROP),
    ("platform", None),
    ("platform", "Douyin"),
    ("platform", "a" * 32),
    ("platform", "a" * 33),
    ("order_id", DROP),
    ("order_id", None),
    ("order_id", "o" * 129),
    ("quantity", DROP),
    ("quantity", None),
    ("quantity", 0),
    ("quantity", 1),
    ("quantity", 10000),
    ("quantity", 10001),
    ("quantity", 2.0),
    ("quantity", 2.5),
    ("quantity", True),
    ("quantity", "2"),
    ("note", "unknown fields are ignored"),
]


def cases() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for kind in EventType:
        out.append((f"{kind.value}", base(kind.value)))
        for name, value in VARIANTS:
            data = base(kind.value)
            if value is DROP:
                data.pop(name, None)
            else:
                data[name] = value
            out.append((f"{kind.value}:{name}={value!r:.20}", data))
    return out


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize(("label", "data"), cases(), ids=[label for label, _ in cases()])
def test_schema_and_parser_agree(validator: Draft202012Validator, label: str, data: dict[str, Any]) -> None:
    try:
        parse_event(data)
    except InvalidEvent as invalid:
        parsed: str | None = invalid.field
    else:
        parsed = None
    errors = [e.message for e in validator.iter_errors(data)]
    if isinstance(data.get("quantity"), float) and data["quantity"].is_integer() and parsed == "quantity":
        # JSON Schema's "integer" is any number with a zero fraction: 2.0 passes the schema, and the
        # contract makes it malformed. The schema's description says so; the parser enforces it.
        assert not errors
        return
    assert (parsed is None) == (not errors), (
        f"{label}: parser {parsed or 'accepts'}, schema {errors or 'accepts'}"
    )


@pytest.mark.parametrize("payload", [[1], "x", 3, None])
def test_schema_rejects_non_objects(validator: Draft202012Validator, payload: Any) -> None:
    assert not validator.is_valid(payload)
