"""Scenario files (contract section 2): a session, its SKUs and the events to replay."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from stockpulse.domain.events import EventType, InvalidEvent, OrderEvent, epoch_ms, parse_event, parse_instant
from stockpulse.domain.session import SessionConfig, SessionPlan

MAX_DEPTH = 64  # arrays and objects inside one another; deeper is refused (exit 2), never a RecursionError


def _scenario_schema(schema: dict[str, Any]) -> None:
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://stockpulse.example/schemas/scenario.schema.json"


class ScenarioFile(SessionPlan):
    """A scenario file (contract section 2), the model of docs/schemas/scenario.schema.json.

    `parse_scenario` reads files with SessionPlan for `session` and `skus` (refused whole: exit 2)
    and each event on its own (a malformed event is one `invalid` rejection, so any JSON value is
    accepted in `events`).
    """

    model_config = ConfigDict(strict=True, frozen=True, title="Scenario", json_schema_extra=_scenario_schema)

    events: list[Any] = Field(
        description="order events (docs/schemas/order-event.schema.json), in any order: replayed by"
        " occurred_at; a malformed one is one `invalid` rejection, not a refused file"
    )


class ScenarioError(Exception):
    """The file is refused whole (exit status 2); the message names the field."""


@dataclass(frozen=True)
class ScenarioEvent:
    index: int  # position in the file
    raw: dict[str, Any] | Any
    at_ms: int  # the instant it is replayed at
    parsed: OrderEvent | None  # None: malformed, the handler will reject it as `invalid`
    problem: str | None = None  # why it is malformed ("quantity: Input should be ..."), for people

    @property
    def partition_key(self) -> str:
        sku = self.raw.get("sku_id") if isinstance(self.raw, dict) else None
        return sku if isinstance(sku, str) and 0 < len(sku) <= 256 else "_malformed"


@dataclass(frozen=True)
class Scenario:
    plan: SessionPlan
    events: list[ScenarioEvent]  # in processing order: by instant, ties in file order

    @property
    def order_ids(self) -> list[str]:
        """Every order id of a valid `order.created` for a known SKU, first seen first."""
        known = {s.sku_id for s in self.plan.skus}
        session_id = self.plan.session.session_id
        ids: dict[str, None] = {}
        for e in self.events:
            p = e.parsed
            if p and p.type is EventType.ORDER_CREATED and p.session_id == session_id and p.sku_id in known:
                ids.setdefault(str(p.order_id))
        return list(ids)


def load_scenario(path: Path | str) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot read {path}: {err}") from None
    try:
        # An integer too long for int() (4300 digits) reads as a float, and a decimal that a float
        # would round as its text: both are then refused with their field named.
        data = json.loads(text, parse_int=_integer, parse_float=_decimal)
    except RecursionError:  # deeper than the parser's stack: say where it got too deep
        raise ScenarioError(f"{_too_deep_at(text)}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise ScenarioError(f"{path} is not JSON: {err}") from None
    return parse_scenario(data)


def _integer(text: str) -> int | float:
    return int(text) if len(text) <= 100 else float(text)


class NumberText(str):
    """A JSON number that no float holds exactly (`1.00000000000000000001`), kept as written."""


def _decimal(text: str) -> float | NumberText:
    value = float(text)
    try:
        exact = Decimal(text) == Decimal(repr(value))
    except InvalidOperation:
        exact = False
    return value if exact else NumberText(text)


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


def _where(path: list[str]) -> str:
    """A path to a value, shortened for one line: its first levels and how deep it is."""
    shown = ".".join(s[:40] for s in path[:6])
    return f"{shown}... ({len(path)} levels)" if len(path) > 6 else shown or "scenario"


def _too_deep_at(text: str) -> str:
    """Where a JSON text first nests deeper than MAX_DEPTH, read off its tokens (no recursion)."""
    path: list[str] = []  # the key or index of each open container's current member
    kinds: list[str] = []
    last_string = ""
    for token in _TOKENS.finditer(text):
        kind = token.group()
        if kind in "[{":
            if len(kinds) >= MAX_DEPTH:
                return _where(path)
            kinds.append(kind)
            path.append("0" if kind == "[" else "")
        elif kind in "]}":
            if kinds:
                kinds.pop()
                path.pop()
        elif kind == ",":
            if kinds and kinds[-1] == "[":
                path[-1] = str(int(path[-1]) + 1)
        elif kind == ":":
            if kinds:
                path[-1] = last_string
        else:
            last_string = kind[1:-1]
    return "scenario"


def _too_deep(data: Any) -> str | None:
    """The path of the first value nested deeper than MAX_DEPTH (iteratively: no recursion)."""
    stack: list[tuple[Any, list[str]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list):
            if len(path) >= MAX_DEPTH:
                return _where(path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, [*path, str(k)]) for k, v in items)
    return None


def parse_scenario(data: Any) -> Scenario:
    deep = _too_deep(data)
    if deep is not None:
        raise ScenarioError(f"{deep}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise ScenarioError("the scenario must be a JSON object with session, skus and events")
    for name in ("session", "skus", "events"):
        if name not in data:
            raise ScenarioError(f"{name}: missing")
    if not isinstance(data["events"], list):
        raise ScenarioError("events: must be a list")
    try:
        plan = SessionPlan.model_validate({"session": data["session"], "skus": data["skus"]})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "scenario"
        raise ScenarioError(f"{where}: {first['msg']}") from None
    return Scenario(plan=plan, events=_ordered(data["events"], plan.session))


def _ordered(raw_events: list[Any], session: SessionConfig) -> list[ScenarioEvent]:
    events: list[ScenarioEvent] = []
    last_ms = session.starts_ms
    for index, raw in enumerate(raw_events):
        problem: str | None = None
        try:
            # Exactly what the handler will get: the record's bytes (size limit included).
            parsed: OrderEvent | None = parse_event(record_bytes(raw))
        except InvalidEvent as err:
            parsed, problem = None, str(err)
        if parsed is not None and not session.accepts_event_at(parsed.occurred_ms):
            # Far outside the session (a year-1 or 2030 date): malformed, and the clock never walks
            # there; it is replayed right after the event before it in the file.
            parsed, problem = None, "occurred_at: too far outside the session"
        at_ms = parsed.occurred_ms if parsed else _instant_or(raw, last_ms, session)
        last_ms = at_ms
        events.append(ScenarioEvent(index=index, raw=raw, at_ms=at_ms, parsed=parsed, problem=problem))
    # Stable sort: ties keep file order. A malformed event is replayed where its instant says,
    # or right after the event before it in the file when it has no readable instant.
    return sorted(events, key=lambda e: e.at_ms)


def record_bytes(raw: Any) -> bytes:
    """An event as a platform writes it to the stream: its JSON, UTF-8."""
    return json.dumps(raw, ensure_ascii=False).encode()


def _instant_or(raw: Any, fallback_ms: int, session: SessionConfig) -> int:
    try:
        at_ms = epoch_ms(parse_instant(raw.get("occurred_at"))) if isinstance(raw, dict) else fallback_ms
    except ValueError:
        return fallback_ms
    return at_ms if session.accepts_event_at(at_ms) else fallback_ms
