"""Scenario files (contract section 2): a session, its SKUs and the events to replay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stockpulse.domain.events import EventType, InvalidEvent, OrderEvent, epoch_ms, parse_event, parse_instant
from stockpulse.domain.session import SessionPlan


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
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot read {path}: {err}") from None
    except ValueError as err:
        raise ScenarioError(f"{path} is not JSON: {err}") from None
    return parse_scenario(data)


def parse_scenario(data: Any) -> Scenario:
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
    return Scenario(plan=plan, events=_ordered(data["events"], plan.session.starts_ms))


def _ordered(raw_events: list[Any], start_ms: int) -> list[ScenarioEvent]:
    events: list[ScenarioEvent] = []
    last_ms = start_ms
    for index, raw in enumerate(raw_events):
        problem: str | None = None
        try:
            # Exactly what the handler will get: the record's bytes (size limit included).
            parsed: OrderEvent | None = parse_event(record_bytes(raw))
        except InvalidEvent as err:
            parsed, problem = None, str(err)
        at_ms = parsed.occurred_ms if parsed else _instant_or(raw, last_ms)
        last_ms = at_ms
        events.append(ScenarioEvent(index=index, raw=raw, at_ms=at_ms, parsed=parsed, problem=problem))
    # Stable sort: ties keep file order. A malformed event is replayed where its instant says,
    # or right after the event before it in the file when it has no readable instant.
    return sorted(events, key=lambda e: e.at_ms)


def record_bytes(raw: Any) -> bytes:
    """An event as a platform writes it to the stream: its JSON, UTF-8."""
    return json.dumps(raw, ensure_ascii=False).encode()


def _instant_or(raw: Any, fallback_ms: int) -> int:
    try:
        return epoch_ms(parse_instant(raw.get("occurred_at"))) if isinstance(raw, dict) else fallback_ms
    except ValueError:
        return fallback_ms
